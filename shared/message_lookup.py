"""One message by its public id: read it, or cancel it while it still waits."""

from __future__ import annotations

from shared.cancel import canceled, why_not_cancelable
from shared.clock import utcnow
from shared.errors import ConcurrentUpdateError, ConflictError, NotCancelableError, NotFoundError
from shared.ids import parse_message_id
from shared.records import BatchRecord, MessageRecord
from shared.tables.messages import MessageRepository


async def find_message(
    messages: MessageRepository, message_id: str
) -> tuple[BatchRecord, MessageRecord]:
    parsed = parse_message_id(message_id)
    found = await messages.get_message(*parsed) if parsed else None
    if found is None:
        raise NotFoundError("no message has this id", target="id")
    return found


async def cancel_message(
    messages: MessageRepository, message_id: str
) -> tuple[BatchRecord, MessageRecord]:
    batch, message = await find_message(messages, message_id)
    now = utcnow()
    problem = why_not_cancelable(message, now)
    if problem is not None:
        raise NotCancelableError(problem, target="id")
    try:
        saved = await messages.update_one(canceled(message, now, "canceled by request"))
    except ConcurrentUpdateError:
        raise ConflictError(
            "the message changed meanwhile; read it and retry", target="id"
        ) from None
    return batch, saved
