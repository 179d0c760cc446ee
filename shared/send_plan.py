"""The pure steps of a send: decide each recipient's fate, then read ACS's answer into records."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from shared.acs_auth import rfc1123_now
from shared.acs_client import AcsError, ChunkOutcome, OutgoingSms, SmsSendResult
from shared.encoding import segment_info
from shared.phone import ParsedNumber
from shared.records import BatchRecord, HistoryEntry, MessageRecord
from shared.send_request import SendRequest
from shared.status import Status
from shared.usage import UsageEvent, country_of

# ACS keeps repeatability ids for 5 minutes; past this age a resend could text twice.
REPEATABILITY_SAFE_AGE = timedelta(minutes=4)


def plan_batch(
    request: SendRequest,
    recipients: Sequence[ParsedNumber],
    opted_out: set[str],
    *,
    batch_id: str,
    sender: str,
    now: datetime,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> tuple[BatchRecord, list[MessageRecord]]:
    info = segment_info(request.message)
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
    )
    first_sent = rfc1123_now(lambda: now.timestamp())
    messages = []
    for index, recipient in enumerate(recipients):
        base = MessageRecord(
            batch_id=batch_id,
            index=index,
            to=recipient.e164 or recipient.raw,
            sender=sender,
            status=Status.QUEUED,
            created_at=now,
        )
        if recipient.e164 is None:
            message = replace(
                base,
                status=Status.INVALID,
                sender=None,
                error_code="InvalidNumber",
                error_message=recipient.reason,
            )
        elif recipient.e164 in opted_out:
            message = replace(
                base,
                status=Status.OPTED_OUT,
                error_code="OptedOut",
                error_message="the recipient opted out of messages from this sender",
            )
        else:
            message = replace(
                base, repeatability_request_id=new_id(), repeatability_first_sent=first_sent
            )
        messages.append(replace(message, history=(HistoryEntry(message.status, now),)))
    return batch, messages


def recheck_before_send(
    messages: Sequence[MessageRecord], opted_out: set[str], now: datetime
) -> list[MessageRecord]:
    """Queued messages of a resumed send: an opt-out since wins, and a resend that ACS could no
    longer recognise as a repeat becomes `unknown` rather than a possible second text."""
    out = []
    for message in messages:
        if message.status is Status.QUEUED and message.to in opted_out:
            message = message.advance(
                Status.OPTED_OUT,
                now,
                error_code="OptedOut",
                error_message="the recipient opted out of messages from this sender",
            )
        elif message.status is Status.QUEUED and _too_old(message, now):
            message = message.advance(
                Status.UNKNOWN,
                now,
                "an earlier attempt may have sent it; not sent again",
                error_code="OutcomeUnknown",
                error_message="an earlier attempt may have sent it; not sent again",
            )
        out.append(message)
    return out


def _too_old(message: MessageRecord, now: datetime) -> bool:
    if not message.repeatability_first_sent:
        return True
    first = parsedate_to_datetime(message.repeatability_first_sent)
    return now - first > REPEATABILITY_SAFE_AGE


def outgoing(message: MessageRecord) -> OutgoingSms:
    assert message.repeatability_request_id and message.repeatability_first_sent
    return OutgoingSms(
        message.to, message.repeatability_request_id, message.repeatability_first_sent
    )


def apply_outcomes(
    messages: Sequence[MessageRecord], outcomes: Sequence[ChunkOutcome], now: datetime
) -> list[MessageRecord]:
    """Each sent message with what ACS said about it, in the order given."""
    by_to: dict[str, SmsSendResult] = {}
    errors: dict[str, AcsError] = {}
    for outcome in outcomes:
        for recipient in outcome.recipients:
            if outcome.error is not None:
                errors[recipient.to] = outcome.error
        for item in outcome.results:
            by_to[item.to] = item
    updated = []
    for message in messages:
        result = by_to.get(message.to)
        error = errors.get(message.to)
        if result is not None and result.successful and result.message_id:
            message = message.advance(
                Status.ACCEPTED, now, acs_message_id=result.message_id, sent_at=now
            )
        elif result is not None:
            detail = result.error_message or f"ACS refused it ({result.http_status_code})"
            message = message.advance(
                Status.REJECTED,
                now,
                detail,
                error_code=f"Acs{result.http_status_code}",
                error_message=detail,
            )
        elif error is not None and error.ambiguous:
            message = message.advance(
                Status.UNKNOWN,
                now,
                error.message,
                error_code=error.code,
                error_message=error.message,
            )
        else:
            detail = error.message if error else "ACS did not answer for this recipient"
            code = error.code if error else "AcsNoResult"
            message = message.advance(
                Status.REJECTED, now, detail, error_code=code, error_message=detail
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
    """One usage row per message that has a send outcome, keyed by the message id."""
    events = []
    for message in messages:
        kind = _SEND_OUTCOMES.get(message.status)
        if kind is None:
            continue
        sent = kind in ("accepted", "rejected", "unknown")
        events.append(
            UsageEvent(
                kind=kind,  # type: ignore[arg-type]
                at=message.sent_at or message.created_at,
                key=message.id,
                sender=message.sender,
                country=country_of(message.to) if message.status is not Status.INVALID else None,
                tag=batch.tag,
                segments=batch.segments if sent else 0,
                reason=message.error_code if kind == "rejected" else None,
            )
        )
    return events
