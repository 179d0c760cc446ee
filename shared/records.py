"""What the app stores about a send, and its mapping to Table entities (pure, no I/O).

One partition per batch (the batch id): a header row `batch` with what all its messages share
(text, encoding, tag) and one row per recipient. Every ACS request carries the tag
`<batchId>.<first row>.<last row>`, which ACS echoes in delivery reports: a report finds its
message with one query bounded to at most 100 rows, and no index has to be written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from azure.data.tables import EdmType, EntityProperty

from shared.clock import aware, iso, parse_iso
from shared.encoding import Encoding
from shared.ids import is_batch_id, message_id, row_key
from shared.status import Status, can_advance

BATCH_ROW = "batch"


@dataclass(frozen=True, slots=True)
class BatchRecord:
    batch_id: str
    message: str
    encoding: Encoding
    segments: int
    recipient_count: int
    created_at: datetime
    tag: str | None = None
    delivery_report: bool = True
    requested_from: str | None = None
    send_at: datetime | None = None
    valid_until: datetime | None = None
    text_ref: str | None = None  # `message` is masked; the text to send comes from here
    priority: bool = False
    callback_url: str | None = None  # this send's message events also go here
    # The text to send, when it must not be stored: held in memory by the request that made
    # it, never written (the outbox gets it again through `text_ref`).
    private_text: str | None = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> str | None:
        """What to send: the message, or the private text (None: only `text_ref` knows)."""
        return self.private_text if self.text_ref is not None else self.message


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    status: Status
    at: datetime
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status.value, "at": iso(self.at)}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True, slots=True)
class MessageRecord:
    batch_id: str
    index: int
    to: str  # E.164, or the text given when it is not a number
    sender: str | None
    status: Status
    created_at: datetime
    repeatability_request_id: str | None = None
    repeatability_first_sent: str | None = None
    tag: str | None = None  # the batch's tag, kept here too so a report needs no second read
    acs_message_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    delivery_status_details: str | None = None
    delivery_status_raw: str | None = None  # as the last report said it, even if unknown to us
    last_report_at: datetime | None = None
    delivery_attempts: int | None = None
    segments_succeeded: int | None = None
    segments_failed: int | None = None
    delivery_ms: int | None = None  # from sentAt to the report's receivedTimestamp
    due_at: datetime | None = None  # scheduled or queued: when it may go
    valid_until: datetime | None = None  # not sent by then: expired
    claim_until: datetime | None = None  # a sender holds it until then: nobody else sends it
    # An attempt may have reached ACS (no answer, a timeout, a 5xx after the body left): from
    # then on every resend carries the same repeatability ids, whatever a later attempt answers.
    maybe_sent: bool = False
    history: tuple[HistoryEntry, ...] = ()
    etag: str | None = field(default=None, compare=False)
    # How many status changes already have their event written (None: none, a new record).
    events_written: int | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return message_id(self.batch_id, self.index)

    def status_changes(self) -> list[HistoryEntry]:
        """The history entries that moved the message to another status (a note, such as a
        requeue or an unrecognised report, keeps the status)."""
        changes: list[HistoryEntry] = []
        for entry in self.history:
            if not changes or entry.status is not changes[-1].status:
                changes.append(entry)
        return changes

    def advance(
        self, status: Status, at: datetime, detail: str | None = None, **changes: Any
    ) -> MessageRecord:
        """The record after a move to `status`; unchanged if the move would go backwards."""
        if not can_advance(self.status, status):
            return self
        entry = HistoryEntry(status, at, detail)
        return replace(self, status=status, history=(*self.history, entry), **changes)


def batch_to_entity(batch: BatchRecord) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": batch.batch_id,
        "RowKey": BATCH_ROW,
        "Message": batch.message,
        "Encoding": batch.encoding,
        "Segments": batch.segments,
        "RecipientCount": batch.recipient_count,
        "CreatedAt": batch.created_at,
        "DeliveryReport": batch.delivery_report,
    }
    if batch.tag is not None:
        entity["Tag"] = batch.tag
    if batch.requested_from is not None:
        entity["RequestedFrom"] = batch.requested_from
    if batch.send_at is not None:
        entity["SendAt"] = batch.send_at
    if batch.valid_until is not None:
        entity["ValidUntil"] = batch.valid_until
    if batch.text_ref is not None:
        entity["TextRef"] = batch.text_ref
    if batch.priority:
        entity["Priority"] = True
    if batch.callback_url is not None:
        entity["CallbackUrl"] = batch.callback_url
    return entity


def batch_from_entity(entity: dict[str, Any]) -> BatchRecord:
    return BatchRecord(
        batch_id=entity["PartitionKey"],
        message=entity["Message"],
        encoding=entity["Encoding"],
        segments=int(entity["Segments"]),
        recipient_count=int(entity["RecipientCount"]),
        created_at=aware(entity["CreatedAt"]),
        tag=entity.get("Tag"),
        delivery_report=bool(entity.get("DeliveryReport", True)),
        requested_from=entity.get("RequestedFrom"),
        send_at=aware(entity["SendAt"]) if entity.get("SendAt") else None,
        valid_until=aware(entity["ValidUntil"]) if entity.get("ValidUntil") else None,
        text_ref=entity.get("TextRef"),
        priority=bool(entity.get("Priority", False)),
        callback_url=entity.get("CallbackUrl"),
    )


_OPTIONAL_TEXT = {
    "From": "sender",
    "RepeatabilityRequestId": "repeatability_request_id",
    "RepeatabilityFirstSent": "repeatability_first_sent",
    "Tag": "tag",
    "AcsMessageId": "acs_message_id",
    "ErrorCode": "error_code",
    "ErrorMessage": "error_message",
    "DeliveryStatusDetails": "delivery_status_details",
    "DeliveryStatusRaw": "delivery_status_raw",
}
_OPTIONAL_TIME = {
    "SentAt": "sent_at",
    "DeliveredAt": "delivered_at",
    "LastReportAt": "last_report_at",
    "DueAt": "due_at",
    "ValidUntil": "valid_until",
    "ClaimUntil": "claim_until",
}
_OPTIONAL_INT = {
    "DeliveryAttempts": "delivery_attempts",
    "SegmentsSucceeded": "segments_succeeded",
    "SegmentsFailed": "segments_failed",
    "DeliveryMs": "delivery_ms",
}


def message_to_entity(message: MessageRecord) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": message.batch_id,
        "RowKey": row_key(message.index),
        "To": message.to,
        "Status": message.status.value,
        "CreatedAt": message.created_at,
        "History": json.dumps([h.to_json() for h in message.history], separators=(",", ":")),
        "EventSeq": len(message.status_changes()),  # saved with the events of every change
    }
    if message.maybe_sent:
        entity["MaybeSent"] = True
    for name, attr in (*_OPTIONAL_TEXT.items(), *_OPTIONAL_TIME.items()):
        value = getattr(message, attr)
        if value is not None:
            entity[name] = value
    for name, attr in _OPTIONAL_INT.items():
        value = getattr(message, attr)
        if value is not None:  # Int64: plain ints are sent as Int32 and would overflow
            entity[name] = EntityProperty(value, EdmType.INT64)
    return entity


def message_from_entity(entity: dict[str, Any], etag: str | None = None) -> MessageRecord:
    history = tuple(
        HistoryEntry(Status(h["status"]), parse_iso(h["at"]), h.get("detail"))
        for h in json.loads(entity.get("History") or "[]")
    )
    fields: dict[str, Any] = {attr: entity.get(name) for name, attr in _OPTIONAL_TEXT.items()}
    fields.update(
        {attr: aware(entity[name]) for name, attr in _OPTIONAL_TIME.items() if entity.get(name)}
    )
    fields.update(
        {attr: _int(entity[name]) for name, attr in _OPTIONAL_INT.items() if name in entity}
    )
    record = MessageRecord(
        batch_id=entity["PartitionKey"],
        index=int(entity["RowKey"]),
        to=entity["To"],
        status=Status(entity["Status"]),
        created_at=aware(entity["CreatedAt"]),
        history=history,
        maybe_sent=bool(entity.get("MaybeSent", False)),
        etag=etag,
        **fields,
    )
    # A row from before events were kept has no EventSeq: its past is not told again.
    written = entity.get("EventSeq")
    written = _int(written) if written is not None else len(record.status_changes())
    return replace(record, events_written=written)


_KEY_FORBIDDEN = frozenset("/\\#?%") | frozenset(map(chr, [*range(0x20), *range(0x7F, 0xA0)]))


def key_safe(text: str) -> str:
    """Table keys may not hold `/ \\ # ?` or control characters: percent-encode them."""
    return "".join(f"%{ord(c):02X}" if c in _KEY_FORBIDDEN else c for c in text)


MAX_KEY_TEXT = 200  # Table Storage allows 1 KiB keys; percent-encoding can triple a text


def bounded_key(text: str) -> str:
    """A key-safe form of any text (an event's id, an ACS message id) that fits in a key: a
    long one keeps a prefix and a hash of the whole, so it stays distinct and repeatable."""
    safe = key_safe(text or "no-id")
    if len(safe) <= MAX_KEY_TEXT:
        return safe
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{safe[: MAX_KEY_TEXT - 33]}~{digest}"


def acs_tag(batch_id: str, indexes: Sequence[int]) -> str:
    return f"{batch_id}.{min(indexes)}.{max(indexes)}"


def parse_acs_tag(tag: str | None) -> tuple[str, int, int] | None:
    """The batch and row range of a report's request, or None for a tag that is not ours."""
    parts = (tag or "").split(".")
    if (
        len(parts) != 3
        or not is_batch_id(parts[0])
        or not all(p.isascii() and p.isdigit() for p in parts[1:])
    ):
        return None
    low, high = int(parts[1]), int(parts[2])
    return (parts[0], low, high) if low <= high else None


def _int(value: Any) -> int:
    """Int64 properties come back wrapped in an EntityProperty."""
    return int(value.value if isinstance(value, EntityProperty) else value)
