"""The one conflict-retry idiom: save ETag-conditionally; where a row changed meanwhile, read it
again and re-apply the change to its current state (which only ever moves forward)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from shared.records import MessageRecord
from shared.tables.messages import MessageRepository

MAX_ROUNDS = 5

# (the row as it is now, the change wanted) -> what to save, or None to leave the row alone
Reapply = Callable[[MessageRecord, MessageRecord], MessageRecord | None]


def leave_alone(current: MessageRecord, wanted: MessageRecord) -> MessageRecord | None:
    """For changes only valid on the state they were decided on (a claim, a cancel)."""
    return None


async def save_reapplying(
    messages: MessageRepository, wanted: Sequence[MessageRecord], reapply: Reapply
) -> list[MessageRecord]:
    """Answers what was saved (or found already so); rows whose change was dropped are left out."""
    result = await messages.update(wanted)
    saved = list(result.saved)
    pending = result.conflicted
    for _ in range(MAX_ROUNDS):
        if not pending:
            break
        retry: list[MessageRecord] = []
        for current in await _reread(messages, pending):
            change = reapply(current, _find(pending, current))
            if change is None:
                continue
            if change is current:
                saved.append(current)  # the change is there already
            else:
                retry.append(change)
        result = await messages.update(retry)
        saved += result.saved
        pending = result.conflicted
    return saved


async def _reread(
    messages: MessageRepository, pending: Sequence[MessageRecord]
) -> list[MessageRecord]:
    by_batch: dict[str, list[int]] = defaultdict(list)
    for message in pending:
        by_batch[message.batch_id].append(message.index)
    current: list[MessageRecord] = []
    for batch_id, indexes in by_batch.items():
        current += await messages.get_many(batch_id, indexes)
    return current


def _find(pending: Sequence[MessageRecord], current: MessageRecord) -> MessageRecord:
    return next(m for m in pending if (m.batch_id, m.index) == (current.batch_id, current.index))
