"""Cancelling messages that have not gone out (pure): which may be, and the record after."""

from __future__ import annotations

from datetime import datetime

from shared.records import MessageRecord
from shared.status import Status

CANCELABLE = (Status.SCHEDULED, Status.QUEUED)


def why_not_cancelable(message: MessageRecord, now: datetime) -> str | None:
    if message.status not in CANCELABLE:
        return (
            f"the message is {message.status.value}: only scheduled or queued ones can be canceled"
        )
    if message.claim_until is not None and message.claim_until > now:
        return "the message is being sent right now"
    return None


def canceled(message: MessageRecord, now: datetime, reason: str) -> MessageRecord:
    return message.advance(
        Status.CANCELED, now, reason, error_code="Canceled", error_message=reason, due_at=None
    )
