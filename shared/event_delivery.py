"""From the event log to each destination, in order per subject, retried for days.

Each destination reads the log from its own cursor. Events of one subject (a message, a
person's consent) form a chain: while one of them waits for a retry, the later ones wait behind
it, so a receiver sees a subject's events in `sequence` order once it drops repeats by `id`.
Other subjects go on. A retry waits exponentially longer (`retry_base_seconds`, doubling, at
most `retry_max_seconds`), and an event still refused after `retry_hours` is dead-lettered.
A webhook that answers `410 Gone` is disabled until its URL changes or a redrive names it, and
an event says so.

Every write is ordered for a crash: retry rows before the cursor moves past their events, so
an event is always either ahead of the cursor or in the retries (at least once, never lost).
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.event_senders import MAX_PUBLISH, Attempt, EventGridSender, Result, WebhookSender
from shared.events_config import CALLBACK, Destination, EventSettings
from shared.status_events import destination_disabled_event, type_matches
from shared.tables.event_deliveries import (
    MAX_RETRY_ROWS,
    DestinationState,
    EventDeliveries,
    RetryRow,
)
from shared.tables.event_log import LogEntry
from shared.tables.gateway import gather_bounded

log = logging.getLogger("sms.events")

READ_PER_TICK = 1000
WEBHOOKS_IN_FLIGHT = 16


def backoff(attempts: int, base: float, cap: float) -> timedelta:
    """The wait after the `attempts`-th failure: base, 2×base, 4×base, ... at most cap."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


@dataclass(slots=True)
class Item:
    entry: LogEntry
    retry: RetryRow | None = None


@dataclass(slots=True)
class Outcome:
    """What one destination's tick did, to be written down."""

    keep: list[RetryRow]
    done: list[str]
    bury: list[RetryRow]
    delivered: int = 0
    failed: int = 0
    gone: str | None = None


RoundSender = Callable[[Sequence[LogEntry]], Awaitable[list[Attempt]]]


def chains_of(
    retries: Sequence[RetryRow], entries: Sequence[LogEntry]
) -> OrderedDict[str, deque[Item]]:
    """Per subject, its retried events first (log order), then its new ones."""
    chains: OrderedDict[str, deque[Item]] = OrderedDict()
    queued = {r.entry.cursor for r in retries}
    for row in sorted(retries, key=lambda r: r.entry.cursor):
        chains.setdefault(row.key, deque()).append(Item(row.entry, row))
    for entry in entries:
        if entry.cursor not in queued:
            chains.setdefault(entry.event.key, deque()).append(Item(entry))
    return chains


async def run_chains(
    chains: OrderedDict[str, deque[Item]],
    send: RoundSender,
    now: datetime,
    settings: EventSettings,
    *,
    destination: str,
    can_be_gone: bool,
) -> Outcome:
    """Round after round, the head of every chain that may go is attempted; a chain stops at
    its first refusal, and the events behind it wait in the retries."""
    out = Outcome([], [], [])
    window = timedelta(hours=settings.retry_hours)

    def wait_behind(chain: deque[Item]) -> None:
        for waiting in chain:
            if waiting.retry is None:
                out.keep.append(RetryRow(destination, waiting.entry, now, 0, None))

    active = list(chains)
    while active:
        heads: list[tuple[str, Item]] = []
        for key in active:
            item = chains[key][0]
            if item.retry is not None and item.retry.due_at > now:
                chains[key].popleft()
                wait_behind(chains[key])
                continue
            heads.append((key, item))
        if not heads:
            break
        attempts = await send([item.entry for _, item in heads])
        active = []
        for (key, item), attempt in zip(heads, attempts, strict=True):
            chain = chains[key]
            if attempt.result is Result.TAKEN:
                out.delivered += 1
                chain.popleft()
                if item.retry is not None:
                    out.done.append(item.entry.cursor)
                if chain:
                    active.append(key)
                continue
            out.failed += 1
            tried = item.retry.attempts + 1 if item.retry else 1
            first = (item.retry.first_failed_at if item.retry else None) or now
            row = RetryRow(
                destination,
                item.entry,
                now + backoff(tried, settings.retry_base_seconds, settings.retry_max_seconds),
                tried,
                first,
                attempt.detail,
            )
            if attempt.result is Result.GONE and can_be_gone:
                out.gone = attempt.detail
                out.keep.append(replace(row, due_at=now, attempts=row.attempts - 1))
                chain.popleft()
                wait_behind(chain)
                continue
            if attempt.result is Result.GONE or now - first >= window:
                out.bury.append(row)  # given up on: the rest of its chain goes on
                chain.popleft()
                if chain:
                    active.append(key)
                continue
            out.keep.append(row)
            chain.popleft()
            wait_behind(chain)
        if out.gone is not None:
            for key in active:
                wait_behind(chains[key])
            break
    return out


class EventDelivery:
    """One tick of every destination: its due retries, then the log after its cursor."""

    def __init__(
        self,
        settings: EventSettings,
        deliveries: EventDeliveries,
        webhooks: WebhookSender,
        grids: dict[str, EventGridSender],
    ) -> None:
        self._settings = settings
        self._deliveries = deliveries
        self._webhooks = webhooks
        self._grids = grids

    def destinations(self) -> list[Destination]:
        callback = Destination(CALLBACK, "callback", "", (), self._settings.callback_secrets)
        return [*self._settings.destinations, callback]

    def _sender(self, destination: Destination) -> RoundSender:
        source = self._settings.source
        full = self._settings.full_numbers

        if destination.kind == "eventgrid":
            grid = self._grids[destination.name]

            async def publish(entries: Sequence[LogEntry]) -> list[Attempt]:
                out: list[Attempt] = []
                for start in range(0, len(entries), MAX_PUBLISH):
                    part = entries[start : start + MAX_PUBLISH]
                    attempt = await grid.publish(
                        [e.event.cloud_event(source, full_numbers=full) for e in part]
                    )
                    out += [attempt] * len(part)
                return out

            return publish

        public_only = destination.kind == "callback" and not self._settings.callback_allow_private

        async def post(entries: Sequence[LogEntry]) -> list[Attempt]:
            return await gather_bounded(
                (
                    self._webhooks.deliver(
                        (e.callback_url or "")
                        if destination.kind == "callback"
                        else destination.url,
                        destination.secrets,
                        e.event.cloud_event(source, full_numbers=full),
                        public_only=public_only,
                    )
                    for e in entries
                ),
                WEBHOOKS_IN_FLIGHT,
            )

        return post

    def _wanted(self, destination: Destination, entry: LogEntry) -> bool:
        if destination.kind == "callback":
            return bool(entry.callback_url)
        return type_matches(entry.event.type, destination.types)

    async def deliver(
        self,
        destination: Destination,
        state: DestinationState,
        read_log: Callable[[str, int], Awaitable[list[LogEntry]]],
        now: datetime,
    ) -> tuple[DestinationState, bool]:
        """One round for one destination; answers its new state and whether more is waiting
        in the log (a full page was read)."""
        before = state
        if state.fingerprint != destination.fingerprint:
            state = replace(state, fingerprint=destination.fingerprint, disabled=False, reason=None)
        if state.disabled:
            return state, False
        retries = await self._deliveries.retries(destination.name)
        entries: list[LogEntry] = []
        if len(retries) < MAX_RETRY_ROWS:  # a full backlog stops reading: order stays whole
            entries = await read_log(state.cursor, READ_PER_TICK)
        wanted = [e for e in entries if self._wanted(destination, e)]
        chains = chains_of(retries, wanted)
        outcome = await run_chains(
            chains,
            self._sender(destination),
            now,
            self._settings,
            destination=destination.name,
            can_be_gone=destination.kind != "callback",
        )
        await self._deliveries.keep(outcome.keep)
        await self._deliveries.bury(outcome.bury, now)
        state = replace(
            state,
            cursor=entries[-1].cursor if entries else state.cursor,
            delivered=state.delivered + outcome.delivered,
            failed=state.failed + outcome.failed,
            dead_lettered=state.dead_lettered + len(outcome.bury),
        )
        if outcome.gone is not None:
            state = replace(state, disabled=True, reason=outcome.gone)
            log.warning("event destination %s disabled: %s", destination.name, outcome.gone)
            await self._deliveries.save_state(
                state, destination_disabled_event(state.name, now, outcome.gone)
            )
        elif state != before:  # an idle tick writes nothing
            await self._deliveries.save_state(state)
        await self._deliveries.done(destination.name, outcome.done)
        return state, len(entries) >= READ_PER_TICK
