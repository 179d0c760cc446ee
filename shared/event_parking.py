"""The Event Grid edge: read an event into a record, or park it as poison and acknowledge it.

A malformed event is never retried into a loop (Event Grid would retry it for 24 hours and put
the endpoint on probation); a transient failure (Table Storage down) is raised instead, so the
host answers 500 and Event Grid retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.clock import utcnow
from shared.errors import StoreRejectedError
from shared.events import Envelope, MalformedEventError, TriggerEvent, read_envelope
from shared.tables.parked_events import ParkedEvents

log = logging.getLogger("sms.events")

T = TypeVar("T")


async def handle_or_park(
    event: TriggerEvent,
    reader: Callable[[Envelope], T],
    handler: Callable[[T], Awaitable[object]],
    parked: ParkedEvents,
) -> None:
    """Read the event and hand it on; an event that cannot be read, or that storage refuses
    to keep as it is (a value over a limit), is parked and acknowledged. A transient failure
    raises."""
    try:
        record = reader(read_envelope(event))
    except MalformedEventError as exc:
        await _park(event, parked, str(exc))
        return
    try:
        await handler(record)
    except StoreRejectedError as exc:
        await _park(event, parked, f"storage refused it: {exc}")


async def _park(event: TriggerEvent, parked: ParkedEvents, reason: str) -> None:
    event_id = getattr(event, "id", None) or ""
    event_type = getattr(event, "event_type", None) or getattr(event, "type", None) or ""
    try:
        body = json.dumps(event.get_json(), default=str)
    except ValueError:
        body = ""
    await parked.park_poison(
        event_id=str(event_id), event_type=str(event_type), reason=reason, body=body, at=utcnow()
    )
    log.warning("%s event %s parked: %s", event_type, event_id, reason)
