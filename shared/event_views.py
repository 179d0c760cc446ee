"""What the events routes answer: the log read from a cursor (replay), the destinations and
their dead letters, and a redrive. Parameters are checked here, with errors that name them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from shared.clock import utcnow
from shared.errors import NotFoundError, ValidationError
from shared.events_config import CALLBACK, EventSettings
from shared.status_events import type_matches
from shared.storage import Storage
from shared.tables.event_log import ZERO, cursor_at, is_cursor

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
SCAN_FACTOR = 5  # a sparse `types` filter reads at most this many rows per one it returns
_TYPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.*_-")


def _limit(raw: str | None, name: str = "limit") -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationError(name, f"'{name}' must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _types(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    types = tuple(t.strip() for t in raw.split(",") if t.strip())
    if not types or len(types) > 20 or any(len(t) > 100 or set(t) - _TYPE_CHARS for t in types):
        raise ValidationError(
            "types", "'types' is a comma-separated list of event types like sms.message.*"
        )
    return types


def _after(raw: str | None, settings: EventSettings) -> str:
    if raw is None or raw == "":
        return cursor_at(utcnow() - timedelta(days=settings.retention_days))
    if not is_cursor(raw):
        raise ValidationError("after", "'after' is a cursor this API gave out (19 digits)")
    return raw


async def replay(storage: Storage, settings: EventSettings, params: Mapping[str, str]) -> Any:
    """Events after the cursor, in log order, up to what is committed; `next` is the cursor to
    ask from next time (it moves on even when a filter matched nothing in what was read)."""
    after = _after(params.get("after"), settings)
    types = _types(params.get("types"))
    limit = _limit(params.get("limit"))
    head = await storage.event_log.head()
    scan = limit if not types else min(MAX_LIMIT * SCAN_FACTOR, limit * SCAN_FACTOR)
    rows = await storage.event_log.read(after, head.committed, scan)
    out: list[dict[str, Any]] = []
    last = after
    for entry in rows:
        if len(out) >= limit:
            break
        last = entry.cursor
        if type_matches(entry.event.type, types):
            out.append(
                {
                    "cursor": entry.cursor,
                    "event": entry.event.cloud_event(
                        settings.source, full_numbers=settings.full_numbers
                    ),
                }
            )
    more = len(rows) >= scan or (bool(rows) and last != rows[-1].cursor)
    return {"value": out, "next": last if last != ZERO else after, "more": more}


def _destination(settings: EventSettings, raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    names = {d.name for d in settings.destinations} | {CALLBACK}
    if raw not in names:
        raise NotFoundError(f"no event destination named {raw!r}", target="destination")
    return raw


async def destinations(storage: Storage, settings: EventSettings) -> Any:
    states = await storage.event_deliveries.states()
    head = await storage.event_log.head()
    out = []
    for destination in [*settings.destinations, None]:
        name = destination.name if destination else CALLBACK
        state = states.get(name)
        retrying = len(await storage.event_deliveries.retries(name))
        out.append(
            {
                "name": name,
                "kind": destination.kind if destination else "callback",
                "types": list(destination.types) if destination else [],
                "cursor": state.cursor if state else None,
                "disabled": state.disabled if state else False,
                "reason": state.reason if state else None,
                "delivered": state.delivered if state else 0,
                "failed": state.failed if state else 0,
                "deadLettered": state.dead_lettered if state else 0,
                "retrying": retrying,
            }
        )
    return {"head": head.committed, "value": out}


async def dead_letters(storage: Storage, settings: EventSettings, params: Mapping[str, str]) -> Any:
    name = _destination(settings, params.get("destination"))
    rows = await storage.event_deliveries.dead_letters(name, _limit(params.get("limit")))
    return {"value": [r.to_json() for r in rows]}


async def redrive(storage: Storage, settings: EventSettings, body: Any) -> Any:
    """Dead letters back to their destination's retries, due now; a destination named here
    that `410 Gone` had disabled runs again."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ValidationError("body", 'send a JSON object, e.g. {"destination": "crm"}')
    unknown = set(body) - {"destination", "limit"}
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown field; expected destination, limit")
    raw_name = body.get("destination")
    if raw_name is not None and not isinstance(raw_name, str):
        raise ValidationError("destination", "'destination' is a destination's name")
    raw_limit = body.get("limit", DEFAULT_LIMIT)
    if (
        isinstance(raw_limit, bool)
        or not isinstance(raw_limit, int)
        or not 1 <= raw_limit <= MAX_LIMIT
    ):
        raise ValidationError("limit", f"'limit' must be a whole number from 1 to {MAX_LIMIT}")
    name = _destination(settings, raw_name)
    rows = await storage.event_deliveries.dead_letters(name, raw_limit)
    now = utcnow()
    await storage.event_deliveries.redrive(rows, now)
    enabled = False
    if name is not None:
        states = await storage.event_deliveries.states()
        state = states.get(name)
        if state is not None and state.disabled:
            state.disabled, state.reason = False, None
            await storage.event_deliveries.save_state(state)
            enabled = True
    return {"redriven": len(rows), "destination": name, "enabled": enabled}
