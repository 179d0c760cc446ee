"""Cancelling messages that have not gone out: by request (DELETE) or because of an opt-out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from shared.records import MessageRecord
from shared.status import Status
from shared.store import ConcurrentUpdateError, SmsStore

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


async def cancel_pending_for(
    store: SmsStore, recipient: str, now: datetime, reason: str
) -> list[MessageRecord]:
    """Cancel every scheduled or queued message to `recipient` (after an opt-out)."""
    by_batch: dict[str, list[int]] = defaultdict(list)
    for entry in await store.find_outbox_for(recipient):
        by_batch[entry.batch_id].append(entry.index)
    done: list[MessageRecord] = []
    for batch_id, indexes in by_batch.items():
        waiting: Sequence[MessageRecord] = [
            m
            for m in await store.get_messages(batch_id, indexes)
            if why_not_cancelable(m, now) is None
        ]
        for message in waiting:
            try:
                done += await store.update_messages([canceled(message, now, reason)])
            except ConcurrentUpdateError:
                continue  # taken meanwhile; the send-time opt-out check stops it anyway
    return done
