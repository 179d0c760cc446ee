"""The Event Grid edge: read an event into a record, or park it as poison and acknowledge it.

A malformed event is never retried into a loop (Event Grid would retry it for 24 hours and put
the endpoint on probation); a transient failure (Table Storage down) is raised instead, so the
host answers 500 and Event Grid retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TypeVar

from shared.clock import utcnow
from shared.events import Envelope, MalformedEventError, TriggerEvent, read_envelope
from shared.tables.parked_events import ParkedEvents

log = logging.getLogger("sms.events")

T = TypeVar("T")


async def read_or_park(
    event: TriggerEvent, reader: Callable[[Envelope], T], parked: ParkedEvents
) -> T | None:
    try:
        return reader(read_envelope(event))
    except MalformedEventError as exc:
        event_id = getattr(event, "id", None) or ""
        event_type = getattr(event, "event_type", None) or getattr(event, "type", None) or ""
        try:
            body = json.dumps(event.get_json(), default=str)
        except ValueError:
            body = ""
        await parked.park_poison(
            event_id=str(event_id),
            event_type=str(event_type),
            reason=str(exc),
            body=body,
            at=utcnow(),
        )
        log.warning("malformed %s event %s parked: %s", event_type, event_id, exc)
        return None
