"""From the partitions where events were written with their state into the one event log.

A tick reads the hinted partitions, appends what waits there to the log under cursors it has
reserved, commits them, and only then deletes the rows it moved: a crash at any point repeats
work (an event logged twice keeps its `id`), and never loses an event. A send's events are
moved only once its header (the commit point of the send) exists.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.records import BATCH_ROW
from shared.status_events import StatusEvent
from shared.tables.event_log import EventLog, Head, LogEntry
from shared.tables.gateway import gather_bounded
from shared.tables.messages import MESSAGES
from shared.tables.pending_events import HINT_SETTLE, Hint, PendingEvents, PendingRows

log = logging.getLogger("sms.events")

MAX_HINTS = 500  # partitions read a tick
MAX_HINT_ROWS = 20_000  # hints listed a tick (keys only): the turn goes round all of them
# A send's rows without a header this long after their hint belong to a send that died before
# its commit point and was never repeated: they are dropped, never published.
UNCOMMITTED_AFTER = timedelta(hours=1)
MAX_EVENTS = 5000  # per tick; the rest waits for the next one


@dataclass(frozen=True, slots=True)
class Found:
    hint: Hint
    rows: PendingRows


def in_subject_order(
    entries: Sequence[tuple[StatusEvent, str | None]],
) -> list[tuple[StatusEvent, str | None]]:
    """Each subject's events in `sequence` order, in the places its events already hold: rows
    written within the same millisecond may be read in either order."""
    places: dict[str, list[int]] = defaultdict(list)
    for position, (event, _) in enumerate(entries):
        places[event.key].append(position)
    out = list(entries)
    for positions in places.values():
        ordered = sorted(
            (entries[p] for p in positions), key=lambda e: e[0].data.get("sequence", 0)
        )
        for position, entry in zip(positions, ordered, strict=True):
            out[position] = entry
    return out


def in_turn(hints: Sequence[Hint], after: str, limit: int) -> list[Hint]:
    """`limit` hints, starting after the one read last and wrapping round: with more hints than
    a tick reads, every partition still gets its turn within a few ticks."""
    ordered = sorted(hints, key=lambda h: h.key)
    start = next((i for i, h in enumerate(ordered) if h.key > after), 0)
    return (ordered[start:] + ordered[:start])[:limit]


class EventRelay:
    def __init__(self, pending: PendingEvents, event_log: EventLog) -> None:
        self._pending = pending
        self._log = event_log
        self._held: str | None = None  # the ETag of a reservation this process made
        self._turn = ""  # the last hint read: the next tick starts after it

    async def _read(self, hint: Hint) -> Found:
        companion = BATCH_ROW if hint.table == MESSAGES else None
        return Found(hint, await self._pending.read(hint.table, hint.partition, companion))

    async def relay(self, now: datetime, head: Head) -> tuple[int, Head]:
        """Move what waits into the log, from the log's `head` as last read; answers how many
        events were logged and the head as it stands after (readers see up to its commit)."""
        read = head
        if head.busy and head.etag == self._held:
            head = replace(head, lease_until=None)  # our own tick that failed: take it up again
        if head.busy and head.lease_until is not None and head.lease_until > now:
            return 0, read  # another publisher is appending
        hints = in_turn(await self._pending.hints(MAX_HINT_ROWS), self._turn, MAX_HINTS)
        if hints:
            self._turn = hints[-1].key
        found: list[Found] = []
        total = 0
        for start in range(0, len(hints), 16):
            if total >= MAX_EVENTS:
                break
            for item in await gather_bounded(self._read(h) for h in hints[start : start + 16]):
                found.append(item)
                total += sum(len(events) for _, events in item.rows.rows)
        entries: list[tuple[StatusEvent, str | None]] = []
        moved: list[Found] = []
        settled: list[Hint] = []
        seen: set[str] = set()
        for item in found:
            if not item.rows.rows:
                if item.hint.written is None or now - item.hint.written > HINT_SETTLE:
                    settled.append(item.hint)
                continue
            callback: str | None = None
            if item.hint.table == MESSAGES:
                header = item.rows.companion
                if header is None:  # the send has not committed (yet, or ever): nothing happened
                    written = item.hint.written
                    if written is not None and now - written > UNCOMMITTED_AFTER:
                        await self._pending.forget(
                            item.hint.table, item.hint.partition, [k for k, _ in item.rows.rows]
                        )
                    continue
                callback = header.get("CallbackUrl")
            moved.append(item)
            for _, events in item.rows.rows:
                for event in events:
                    if event.id not in seen:
                        seen.add(event.id)
                        entries.append((event, callback))
        for hint in settled:
            await self._pending.drop_hint(hint)
        if not entries:
            return 0, read
        taken = await self._log.reserve(head, len(entries), now)
        if taken is None:
            return 0, read
        head, cursors = taken
        self._held = head.etag
        ordered = in_subject_order(entries)
        await self._log.append(
            [LogEntry(c, e, cb) for c, (e, cb) in zip(cursors, ordered, strict=True)]
        )
        committed = await self._log.commit(head)
        if committed is None:
            log.warning("event log head changed while appending; the next tick repeats it")
            return 0, read
        await gather_bounded(
            self._pending.forget(i.hint.table, i.hint.partition, [k for k, _ in i.rows.rows])
            for i in moved
        )
        return len(entries), committed
