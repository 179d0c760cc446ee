"""The pure steps of a send: decide each recipient's fate, then read ACS's answer into records.

What ACS's answer means for a message:
- accepted: ACS took it;
- refused for this recipient, or for a reason a retry will not fix (401, 400): `rejected`;
- throttled (429): back to the outbox after Retry-After, with fresh repeatability ids later —
  unless an earlier attempt may have reached ACS;
- 5xx, no connection or no answer: back to the outbox soon, keeping its repeatability ids, so
  if ACS did act, the retry is recognised as a repeat; once those ids are too old to be
  recognised, it becomes `unknown` instead of risking a second text.
- withdrawn before a retry (the recipient opted out meanwhile): `optedOut`, never sent again.

Once any attempt may have reached ACS (`maybe_sent`), the message keeps its repeatability ids
and first-sent time for good: a fresh id is only ever given to a message no attempt could have
delivered.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from shared.acs_auth import rfc1123_now
from shared.acs_errors import (
    AcsError,
    AcsThrottledError,
    AcsTimeoutError,
    AcsUnavailableError,
)
from shared.acs_messages import (
    ChunkOutcome,
    OutgoingSms,
    SmsSendResult,
)
from shared.encoding import segment_info
from shared.pacing import sticky_sender
from shared.phone import ParsedNumber
from shared.records import BatchRecord, HistoryEntry, MessageRecord
from shared.send_request import SendRequest
from shared.status import Status
from shared.usage import UsageEvent, country_of

# ACS keeps repeatability ids for 5 minutes; past this age a resend could text twice.
REPEATABILITY_SAFE_AGE = timedelta(minutes=4)
TRANSIENT_RETRY = timedelta(seconds=20)
DEFAULT_THROTTLE_WAIT = timedelta(seconds=30)
OPTED_OUT_MESSAGE = "the recipient opted out of messages from this sender"


def is_opted_out(opt_outs: set[tuple[str, str]], sender: str, recipient: str) -> bool:
    return ("*", recipient) in opt_outs or (sender, recipient) in opt_outs


def plan_batch(
    request: SendRequest,
    recipients: Sequence[ParsedNumber],
    opt_outs: set[tuple[str, str]],
    *,
    batch_id: str,
    pool: Sequence[str],
    now: datetime,
) -> tuple[BatchRecord, list[MessageRecord]]:
    """Every recipient's record: invalid, opted out, scheduled, or queued to go now."""
    info = segment_info(request.private_text or request.message)
    batch = BatchRecord(
        batch_id=batch_id,
        message=request.message,
        encoding=info.encoding,
        segments=info.segments,
        recipient_count=len(recipients),
        created_at=now,
        tag=request.tag,
        delivery_report=request.delivery_report,
        requested_from=request.sender,
        send_at=request.send_at,
        valid_until=request.valid_until,
        text_ref=request.text_ref,
        priority=request.priority,
        private_text=request.private_text,
        callback_url=request.callback_url,
    )
    messages = []
    for index, recipient in enumerate(recipients):
        sender = request.sender or sticky_sender(pool, recipient.e164 or recipient.raw)
        message = MessageRecord(
            batch_id=batch_id,
            index=index,
            to=recipient.e164 or recipient.raw,
            sender=sender,
            status=Status.QUEUED,
            created_at=now,
            tag=request.tag,
            due_at=request.send_at or now,
            valid_until=request.valid_until,
        )
        if recipient.e164 is None:
            message = replace(
                message,
                status=Status.INVALID,
                sender=None,
                due_at=None,
                error_code="InvalidNumber",
                error_message=recipient.reason,
            )
        elif is_opted_out(opt_outs, sender, recipient.e164):
            message = replace(
                message,
                status=Status.OPTED_OUT,
                due_at=None,
                error_code="OptedOut",
                error_message=OPTED_OUT_MESSAGE,
            )
        elif request.send_at is not None:
            message = replace(message, status=Status.SCHEDULED)
        messages.append(replace(message, history=(HistoryEntry(message.status, now),)))
    return batch, messages


def claim(
    message: MessageRecord,
    now: datetime,
    lease: timedelta,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> MessageRecord:
    """The message taken for sending: queued, held until `now + lease`, with repeatability ids
    (new ones, unless an earlier attempt's ids are still young enough to be recognised)."""
    claimed = message.advance(Status.QUEUED, now) if message.status is Status.SCHEDULED else message
    fields: dict[str, object] = {"claim_until": now + lease}
    if claimed.repeatability_request_id is None:
        fields["repeatability_request_id"] = new_id()
        fields["repeatability_first_sent"] = rfc1123_now(lambda: now.timestamp())
    return replace(claimed, **fields)  # type: ignore[arg-type]


def recheck_before_send(
    messages: Sequence[MessageRecord], opt_outs: set[tuple[str, str]], now: datetime
) -> list[MessageRecord]:
    """Waiting messages about to go: an opt-out since wins, a validity past expires them, and a
    retry that ACS could no longer recognise as a repeat becomes `unknown` instead."""
    out = []
    for message in messages:
        if message.status in (Status.QUEUED, Status.SCHEDULED):
            if is_opted_out(opt_outs, message.sender or "", message.to):
                message = message.advance(
                    Status.OPTED_OUT, now, error_code="OptedOut", error_message=OPTED_OUT_MESSAGE
                )
            elif message.valid_until is not None and now >= message.valid_until:
                message = message.advance(
                    Status.EXPIRED,
                    now,
                    "not sent before validUntil",
                    error_code="Expired",
                    error_message="not sent before validUntil",
                )
            elif _too_old(message, now):
                note = "an earlier attempt may have sent it; not sent again"
                message = message.advance(
                    Status.UNKNOWN, now, note, error_code="OutcomeUnknown", error_message=note
                )
        out.append(message)
    return out


def _too_old(message: MessageRecord, now: datetime) -> bool:
    if not message.repeatability_first_sent:
        return False  # never attempted
    first = parsedate_to_datetime(message.repeatability_first_sent)
    return now - first > REPEATABILITY_SAFE_AGE


def outgoing(message: MessageRecord) -> OutgoingSms:
    assert message.repeatability_request_id and message.repeatability_first_sent
    return OutgoingSms(
        message.to, message.repeatability_request_id, message.repeatability_first_sent
    )


def _requeue(
    message: MessageRecord, now: datetime, wait: timedelta, detail: str, *, maybe_sent: bool
) -> MessageRecord:
    entry = HistoryEntry(message.status, now, detail)
    maybe_sent = maybe_sent or message.maybe_sent
    fields: dict[str, object] = {
        "due_at": now + wait,
        "claim_until": None,
        "maybe_sent": maybe_sent,
    }
    if not maybe_sent:
        fields["repeatability_request_id"] = None
        fields["repeatability_first_sent"] = None
    return replace(message, history=(*message.history, entry), **fields)  # type: ignore[arg-type]


def apply_outcomes(
    messages: Sequence[MessageRecord], outcomes: Sequence[ChunkOutcome], now: datetime
) -> list[MessageRecord]:
    """Each sent message with what ACS said about it, in the order given."""
    by_to: dict[str, SmsSendResult] = {}
    errors: dict[str, AcsError] = {}
    withdrawn: set[str] = set()
    for outcome in outcomes:
        withdrawn |= outcome.withdrawn
        for recipient in outcome.recipients:
            if outcome.error is not None:
                errors[recipient.to] = outcome.error
        for item in outcome.results:
            by_to[item.to] = item
    updated = []
    for message in messages:
        result = by_to.get(message.to)
        error = errors.get(message.to)
        if message.to in withdrawn and result is None:
            note = OPTED_OUT_MESSAGE + " (while the send was being retried)"
            message = message.advance(
                Status.OPTED_OUT,
                now,
                note,
                error_code="OptedOut",
                error_message=note,
                claim_until=None,
                due_at=None,
            )
        elif result is not None and result.successful and result.message_id:
            message = message.advance(
                Status.ACCEPTED,
                now,
                acs_message_id=result.message_id,
                sent_at=now,
                claim_until=None,
                due_at=None,
            )
        elif result is not None and result.maybe_processed:
            message = _requeue(
                message,
                now,
                TRANSIENT_RETRY,
                f"ACS: {result.error_message or 'unavailable'}",
                maybe_sent=True,
            )
        elif result is not None:
            detail = result.error_message or f"ACS refused it ({result.http_status_code})"
            message = message.advance(
                Status.REJECTED,
                now,
                detail,
                error_code=f"Acs{result.http_status_code}",
                error_message=detail,
                claim_until=None,
                due_at=None,
            )
        elif isinstance(error, AcsThrottledError):
            wait = (
                timedelta(seconds=error.retry_after) if error.retry_after else DEFAULT_THROTTLE_WAIT
            )
            message = _requeue(
                message, now, wait, "ACS throttled the sender", maybe_sent=error.ambiguous
            )
        elif isinstance(error, AcsUnavailableError | AcsTimeoutError) or error is None:
            detail = error.message if error else "ACS did not answer for this recipient"
            maybe = error is None or error.ambiguous or error.server_side
            message = _requeue(message, now, TRANSIENT_RETRY, detail, maybe_sent=maybe)
        else:
            message = message.advance(
                Status.REJECTED,
                now,
                error.message,
                error_code=error.code,
                error_message=error.message,
                claim_until=None,
                due_at=None,
            )
        updated.append(message)
    return updated


_SEND_OUTCOMES = {
    Status.ACCEPTED: "accepted",
    Status.DELIVERED: "accepted",
    Status.FAILED: "accepted",
    Status.REJECTED: "rejected",
    Status.UNKNOWN: "unknown",
    Status.INVALID: "invalid",
    Status.OPTED_OUT: "optedOut",
}


def send_usage(batch: BatchRecord, messages: Sequence[MessageRecord]) -> list[UsageEvent]:
    """The send outcomes of these messages as usage rows: one per (outcome, sender, country,
    hour, reason), counting its messages. The key names the batch and exactly which messages
    the row counts, so recording the same messages again rewrites the same row, while another
    set of the batch's messages (a later outbox tick) gets rows of its own."""
    groups: dict[tuple[str, str | None, str | None, str, str | None], list[MessageRecord]] = {}
    for message in messages:
        kind = _SEND_OUTCOMES.get(message.status)
        if kind is None or (kind == "unknown" and message.sent_at is not None):
            continue  # an accepted message whose report never came was counted when accepted
        at = message.sent_at or message.created_at
        country = country_of(message.to) if message.status is not Status.INVALID else None
        reason = message.error_code if kind == "rejected" else None
        key = (kind, message.sender, country, at.strftime("%Y%m%d%H"), reason)
        groups.setdefault(key, []).append(message)
    events = []
    for (kind, sender, country, _, reason), group in groups.items():
        sent = kind in ("accepted", "rejected", "unknown")
        members = hashlib.blake2b(
            ",".join(str(m.index) for m in sorted(group, key=lambda m: m.index)).encode(),
            digest_size=8,
        ).hexdigest()
        events.append(
            UsageEvent(
                kind=kind,  # type: ignore[arg-type]
                at=max(m.sent_at or m.created_at for m in group),
                key=f"{batch.batch_id}.{sender or '-'}.{country or '-'}.{reason or '-'}.{members}",
                sender=sender,
                country=country,
                tag=batch.tag,
                segments=batch.segments * len(group) if sent else 0,
                reason=reason,
                count=len(group),
            )
        )
    return events
