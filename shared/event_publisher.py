"""The publisher's tick (`publish_events`): move waiting events into the log, then let every
destination take what is new for it, then forget what is older than the retention."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.clock import utcnow
from shared.event_delivery import EventDelivery
from shared.event_relay import MAX_EVENTS, EventRelay
from shared.event_senders import EventGridSender, WebhookSender
from shared.events_config import Destination, EventSettings
from shared.storage import Storage
from shared.tables.event_deliveries import DestinationState
from shared.tables.event_log import LogEntry
from shared.usage import UsageEvent, UsageKind

log = logging.getLogger("sms.events")

PURGE_EVERY = 600.0  # seconds
TICK_BUDGET = 20.0  # seconds a tick goes on while a backlog lasts (then the next tick)


@dataclass(frozen=True, slots=True)
class TickReport:
    logged: int
    destinations: dict[str, DestinationState] = field(default_factory=dict)
    purged: int = 0


def counted(before: DestinationState, after: DestinationState, now: datetime) -> list[UsageEvent]:
    """A tick's deliveries as usage rows (analytics per destination), keyed by the tick."""
    key = f"{after.name}.{int(now.timestamp() * 1000)}"
    figures: tuple[tuple[UsageKind, int], ...] = (
        ("eventDelivered", after.delivered - before.delivered),
        ("eventFailed", after.failed - before.failed),
        ("eventDeadLettered", after.dead_lettered - before.dead_lettered),
    )
    return [UsageEvent(kind, now, key, reason=after.name, count=n) for kind, n in figures if n > 0]


class EventPublisher:
    def __init__(
        self,
        settings: EventSettings,
        storage: Storage,
        *,
        webhooks: WebhookSender | None = None,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._relay = EventRelay(storage.pending_events, storage.event_log)
        self._webhooks = webhooks or WebhookSender()
        self._grids = {
            d.name: EventGridSender(d.url, d.secrets[0] if d.secrets else None)
            for d in settings.destinations
            if d.kind == "eventgrid"
        }
        self._delivery = EventDelivery(
            settings, storage.event_deliveries, self._webhooks, self._grids
        )
        self._purged_at = 0.0

    async def aclose(self) -> None:
        await self._webhooks.aclose()
        for grid in self._grids.values():
            await grid.aclose()

    async def tick(self, now: datetime | None = None) -> TickReport:
        now = now or utcnow()
        states = await self._storage.event_deliveries.states()
        destinations = self._delivery.destinations()
        # A destination seen for the first time starts here, with this tick's events; that
        # start is saved first, so a tick that fails later cannot move it past them.
        head = await self._storage.event_log.head()
        start = head.committed
        for destination in destinations:
            if destination.name not in states:
                state = DestinationState(destination.name, start, destination.fingerprint)
                await self._storage.event_deliveries.save_state(state)
                states[destination.name] = state
        began = time.monotonic()
        logged = 0
        while True:
            moved, head = await self._relay.relay(now, head)
            logged += moved
            if moved < MAX_EVENTS or time.monotonic() - began > TICK_BUDGET / 2:
                break

        async def read_log(after: str, limit: int) -> list[LogEntry]:
            return await self._storage.event_log.read(after, head.committed, limit)

        async def catch_up(destination: Destination) -> DestinationState:
            state, more = await self._delivery.deliver(
                destination, states[destination.name], read_log, now
            )
            while more and time.monotonic() - began < TICK_BUDGET:
                state, more = await self._delivery.deliver(destination, state, read_log, utcnow())
            return state

        results = await asyncio.gather(*(catch_up(d) for d in destinations), return_exceptions=True)
        done: dict[str, DestinationState] = {}
        usage: list[UsageEvent] = []
        for destination, result in zip(destinations, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("events to %s not delivered this tick: %r", destination.name, result)
            else:
                done[destination.name] = result
                usage += counted(states[destination.name], result, now)
        if usage:
            await self._storage.usage.record(usage)
        purged = 0
        if time.monotonic() - self._purged_at > PURGE_EVERY:
            purged = await self._storage.event_log.purge(
                now - timedelta(days=self._settings.retention_days)
            )
            self._purged_at = time.monotonic()
        return TickReport(logged, done, purged)
