"""The event log: every published event in one order, kept for the replay API and read by each
destination from its own cursor.

Partition = the hour (UTC) of the cursor, row = the cursor: 13 digits of Unix milliseconds and
6 of a counter, so key order is time order and one range query reads any span. Only one
publisher appends at a time: the `head` row in `eventState` is taken with an ETag-conditional
write that reserves the cursors, and readers see the log only up to `Committed`. A publisher
that died after reserving leaves a gap, never a reordering: the next one waits out its lease.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import AlreadyExistsError, ConcurrentUpdateError
from shared.status_events import StatusEvent
from shared.tables.gateway import TableGateway, etag_of, translated

LOG, STATE = "eventLog", "eventState"
HEAD = ("log", "head")
ZERO = "0" * 19
HEAD_LEASE = timedelta(minutes=2)
_HOUR_MS = 3_600_000


def cursor_millis(cursor: str) -> int:
    return int(cursor[:13])


def hour_of(cursor: str) -> str:
    return f"{cursor_millis(cursor) // _HOUR_MS:08d}"


def is_cursor(text: str) -> bool:
    return len(text) == 19 and text.isascii() and text.isdigit()


def cursor_at(at: datetime) -> str:
    """The cursor just before anything logged at `at`."""
    return f"{int(at.timestamp() * 1000):013d}{0:06d}"


def next_cursors(after: str, now: datetime, count: int) -> list[str]:
    """`count` cursors after `after`, at `now` (or later, if the clock is behind the log)."""
    millis = int(now.timestamp() * 1000)
    start = 0
    if millis <= cursor_millis(after):
        millis, start = cursor_millis(after), int(after[13:]) + 1
    return [f"{millis:013d}{start + n:06d}" for n in range(count)]


@dataclass(frozen=True, slots=True)
class Head:
    reserved: str
    committed: str
    lease_until: datetime | None
    etag: str | None

    @property
    def busy(self) -> bool:
        return self.reserved != self.committed


@dataclass(frozen=True, slots=True)
class LogEntry:
    cursor: str
    event: StatusEvent
    callback_url: str | None = None

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": hour_of(self.cursor),
            "RowKey": self.cursor,
            "Type": self.event.type,
            "EventId": self.event.id,
            "Event": json.dumps(self.event.to_json(), separators=(",", ":"), ensure_ascii=False),
        }
        if self.callback_url:
            entity["CallbackUrl"] = self.callback_url
        return entity

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> LogEntry:
        return cls(
            cursor=entity["RowKey"],
            event=StatusEvent.from_json(json.loads(entity["Event"])),
            callback_url=entity.get("CallbackUrl"),
        )


def _head_entity(head: Head) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": HEAD[0],
        "RowKey": HEAD[1],
        "Reserved": head.reserved,
        "Committed": head.committed,
    }
    if head.lease_until is not None:
        entity["LeaseUntil"] = head.lease_until
    return entity


class EventLog:
    def __init__(self, gateway: TableGateway) -> None:
        self._tables = gateway

    async def head(self) -> Head:
        entity = await self._tables.get(STATE, *HEAD)
        if entity is None:
            return Head(ZERO, ZERO, None, None)
        lease = entity.get("LeaseUntil")
        return Head(
            entity["Reserved"],
            entity["Committed"],
            lease if lease is None or lease.tzinfo else lease.replace(tzinfo=UTC),
            etag_of(entity),
        )

    async def _save_head(self, head: Head) -> Head | None:
        """The head after a conditional write; None when another publisher wrote it first."""
        try:
            if head.etag is None:
                etag = await self._tables.create(STATE, _head_entity(head))
            else:
                etag = await self._tables.replace_if(STATE, _head_entity(head), head.etag)
        except (ConcurrentUpdateError, AlreadyExistsError):
            return None
        return replace(head, etag=etag)

    async def reserve(self, head: Head, count: int, now: datetime) -> tuple[Head, list[str]] | None:
        """Cursors for `count` entries, or None when another publisher holds the log."""
        if head.busy and head.lease_until is not None and head.lease_until > now:
            return None
        cursors = next_cursors(max(head.reserved, head.committed), now, count)
        taken = await self._save_head(
            Head(cursors[-1], head.committed, now + HEAD_LEASE, head.etag)
        )
        return None if taken is None else (taken, cursors)

    async def commit(self, head: Head) -> Head | None:
        """Make everything up to the reservation visible to readers; the head now, or None
        when another publisher wrote it first."""
        return await self._save_head(replace(head, committed=head.reserved, lease_until=None))

    @translated
    async def append(self, entries: Sequence[LogEntry]) -> None:
        await self._tables.upsert_rows(LOG, [e.to_entity() for e in entries])

    @translated
    async def read(self, after: str, until: str, limit: int) -> list[LogEntry]:
        """Entries after `after` up to `until` (the committed head), in order."""
        if until <= after:
            return []
        rows = await self._tables.query_all(
            LOG,
            "PartitionKey ge @low and PartitionKey le @high and RowKey gt @after "
            "and RowKey le @until",
            {"low": hour_of(after), "high": hour_of(until), "after": after, "until": until},
            limit=limit,
        )
        return [LogEntry.from_entity(r) for r in rows]

    @translated
    async def purge(self, before: datetime, limit: int = 1000) -> int:
        """Delete entries older than `before` (at most `limit` a call)."""
        rows = await self._tables.query_all(
            LOG,
            "PartitionKey lt @hour",
            {"hour": hour_of(cursor_at(before))},
            select=["PartitionKey", "RowKey"],
            limit=limit,
        )
        await self._tables.delete_rows(LOG, [(r["PartitionKey"], r["RowKey"]) for r in rows])
        return len(rows)
