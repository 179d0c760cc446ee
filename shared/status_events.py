"""The events the app tells its customer's systems about (CloudEvents 1.0), built from the state
change they describe (pure, no I/O).

Every event has an `id` derived from that change alone (a message's id and the position of the
status change in its history, a ledger row, an inbound ACS id), so a retry, a repeated write or
a replay carries the same `id`, and a consumer deduplicates on it. `data.sequence` orders the
events of one subject: for a message it counts its status changes (1, 2, ...); for a person's
consent it is the change's time in microseconds.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.clock import iso, parse_iso
from shared.ledger import ConsentEntry, ThreadEntry
from shared.phone import mask
from shared.records import HistoryEntry, MessageRecord
from shared.verification import Verification, VerifyStatus

SPEC_VERSION = "1.0"
MESSAGE_TYPE = "sms.message."  # + the status: sms.message.accepted, .delivered, ...
CONSENT_TYPE = "sms.consent."  # + optOut, optIn, help
INBOUND_TYPE = "sms.inbound.received"
DESTINATION_DISABLED_TYPE = "sms.destination.disabled"
MAX_REASON = 300  # an error text is cut here: an event is a notice, not the whole record


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One event: its CloudEvents attributes and data, and the subject whose events are kept in
    order (`key`: one message, one person's consent, one conversation)."""

    id: str
    type: str
    subject: str
    time: datetime
    data: dict[str, Any]

    @property
    def key(self) -> str:
        return self.subject

    def cloud_event(self, source: str, *, full_numbers: bool = True) -> dict[str, Any]:
        """The structured-mode CloudEvent (what webhooks get as their body)."""
        data = self.data if full_numbers else masked_data(self.data)
        subject = self.subject
        if not full_numbers and subject.startswith(_NUMBERED_SUBJECTS):
            kind, _, number = subject.partition("/")
            subject = f"{kind}/{mask(number)}"
        return {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": source,
            "type": self.type,
            "subject": subject,
            "time": iso(self.time),
            "datacontenttype": "application/json",
            "data": data,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "subject": self.subject,
            "time": iso(self.time),
            "data": self.data,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> StatusEvent:
        return cls(
            id=str(value["id"]),
            type=str(value["type"]),
            subject=str(value["subject"]),
            time=parse_iso(str(value["time"])),
            data=dict(value["data"]),
        )


_NUMBER_FIELDS = ("to", "from", "recipient", "ourNumber")
_NUMBERED_SUBJECTS = ("consent/", "conversations/")


def masked_data(data: dict[str, Any]) -> dict[str, Any]:
    return {
        k: mask(v) if k in _NUMBER_FIELDS and isinstance(v, str) else v for k, v in data.items()
    }


def message_events(message: MessageRecord, already: int) -> list[StatusEvent]:
    """The events of the status changes after the first `already` ones."""
    changes = message.status_changes()
    return [
        _message_event(message, sequence, entry)
        for sequence, entry in enumerate(changes, start=1)
        if sequence > already
    ]


def _message_event(message: MessageRecord, sequence: int, entry: HistoryEntry) -> StatusEvent:
    data: dict[str, Any] = {
        "messageId": message.id,
        "batchId": message.batch_id,
        "to": message.to,
        "from": message.sender,
        "status": entry.status.value,
        "sequence": sequence,
        "at": iso(entry.at),
        "createdAt": iso(message.created_at),
    }
    optional = {
        "reason": entry.detail[:MAX_REASON] if entry.detail else None,
        "tag": message.tag,
        "acsMessageId": message.acs_message_id,
        "sentAt": iso(message.sent_at),
        "deliveredAt": iso(message.delivered_at),
        "errorCode": message.error_code,
    }
    data.update({k: v for k, v in optional.items() if v is not None})
    return StatusEvent(
        id=f"{message.id}.{sequence}",
        type=MESSAGE_TYPE + entry.status.value,
        subject=f"messages/{message.id}",
        time=entry.at,
        data=data,
    )


def _opaque(*parts: str) -> str:
    """A stable id part that does not show the phone number it is derived from."""
    return hashlib.sha256("|".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _micros(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def consent_event(entry: ConsentEntry) -> StatusEvent:
    data: dict[str, Any] = {
        "recipient": entry.recipient,
        "action": entry.action,
        "scope": entry.scope,
        "source": entry.source,
        "sequence": _micros(entry.at),
        "at": iso(entry.at),
    }
    optional = {
        "keyword": entry.keyword,
        "ourNumber": entry.our_number,
        "needsReview": entry.needs_review or None,
        "lastMessageId": entry.last_message_id,
    }
    data.update({k: v for k, v in optional.items() if v is not None})
    return StatusEvent(
        id=f"consent.{_opaque(entry.recipient, entry.row_key)}",
        type=CONSENT_TYPE + entry.action,
        subject=f"consent/{entry.recipient}",
        time=entry.at,
        data=data,
    )


def inbound_event(entry: ThreadEntry) -> StatusEvent:
    """A message a person sent that is not a keyword: what customer service answers."""
    data: dict[str, Any] = {
        "from": entry.their,
        "to": entry.our,
        "text": entry.text,
        "acsMessageId": entry.ref,
        "sequence": _micros(entry.at),
        "at": iso(entry.at),
    }
    return StatusEvent(
        id=f"inbound.{_opaque(entry.their, entry.row_key)}",
        type=INBOUND_TYPE,
        subject=f"conversations/{entry.their}",
        time=entry.at,
        data=data,
    )


VERIFICATION_TYPE = "sms.verification."  # + started, approved, expired, exhausted, canceled


def verification_events(verification: Verification) -> list[StatusEvent]:
    """Its start, and its end once it ended (never its code, nor anything that leads to it)."""
    ended = verification.status is not VerifyStatus.PENDING
    written = verification.events_written or 0
    out: list[StatusEvent] = []
    for sequence, status in ((1, "started"), (2, verification.status.value)):
        if sequence <= written or (sequence == 2 and not ended):
            continue
        at = verification.created_at if sequence == 1 else verification.ended_at
        at = at or verification.expires_at  # an end is always stamped; this only types it
        data: dict[str, Any] = {
            "verificationId": verification.id,
            "to": verification.to,
            "status": status,
            "sequence": sequence,
            "at": iso(at),
            "createdAt": iso(verification.created_at),
            "expiresAt": iso(verification.expires_at),
        }
        optional = {
            "endReason": verification.end_reason if sequence == 2 else None,
            "checks": verification.checks if sequence == 2 else None,
            "sends": verification.sends if sequence == 2 else None,
            "userId": verification.user_id,
            "session": verification.session,
        }
        data.update({k: v for k, v in optional.items() if v is not None})
        out.append(
            StatusEvent(
                id=f"verification.{verification.id}.{sequence}",
                type=VERIFICATION_TYPE + status,
                subject=f"verifications/{verification.id}",
                time=at,
                data=data,
            )
        )
    return out


def destination_disabled_event(name: str, at: datetime, reason: str) -> StatusEvent:
    return StatusEvent(
        id=f"destination.{name}.{_micros(at)}",
        type=DESTINATION_DISABLED_TYPE,
        subject=f"destinations/{name}",
        time=at,
        data={"destination": name, "reason": reason, "at": iso(at), "sequence": _micros(at)},
    )


def pack(events: Iterable[StatusEvent]) -> bytes:
    """Events as one compressed binary property: a transaction's worth fits in one row."""
    text = json.dumps([e.to_json() for e in events], separators=(",", ":"), ensure_ascii=False)
    return zlib.compress(text.encode("utf-8"), 6)


def unpack(blob: bytes) -> list[StatusEvent]:
    return [StatusEvent.from_json(v) for v in json.loads(zlib.decompress(blob).decode("utf-8"))]


def type_matches(event_type: str, patterns: Sequence[str]) -> bool:
    """`sms.message.*`-style filters; no patterns means every type."""
    return not patterns or any(fnmatch.fnmatchcase(event_type, p) for p in patterns)
