"""Events waiting to be published: written in the partition of the state they describe, in the
same transaction (a transactional outbox), and announced by a hint the publisher reads.

An event row lives next to its state (`~e.` rows sort after every row of messages, threads
and the ledger), so a crash can neither lose an event nor leave one for a change that did not
happen. The publisher cannot scan every partition, so the writer first upserts a hint (table and
partition) into `eventHints`: write-ahead, so a crash between the two leaves a hint that leads
to nothing, never an event nobody finds.

A hint may be reused by its writer for `HINT_REUSE` (one round trip for many changes to one
partition), and the publisher deletes a hint only when it found nothing pending and the hint
is older than `HINT_SETTLE`. Every write that relies on a hint starts within `HINT_REUSE` of it
and ends (or is abandoned by the server) within about a minute, so by `HINT_SETTLE` whatever
relied on a hint is visible to the publisher's read.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import EdmType, EntityProperty, UpdateMode

from shared.errors import ConcurrentUpdateError
from shared.ids import new_batch_id
from shared.status_events import StatusEvent, pack, unpack
from shared.tables.gateway import Operation, TableGateway, etag_of, translated

HINTS = "eventHints"
EVENT_ROW = "~e."  # event rows sort after every state row of their partition
EVENT_ROW_END = "~f"
STATE_ROWS_END = "~"  # state listings stop here, so they never see event rows
HINT_SHARDS = 16
HINT_REUSE = 60.0  # seconds
HINT_SETTLE = timedelta(minutes=3)
MAX_PACKED = 60_000  # Table Storage: a binary property holds at most 64 KiB
_REUSE_CACHE_SIZE = 10_000


def hint_shard(table: str, partition: str) -> str:
    return f"h{zlib.crc32(f'{table}|{partition}'.encode()) % HINT_SHARDS:02d}"


def event_rows(
    partition: str, events: Sequence[StatusEvent], row: str | None = None
) -> list[dict[str, Any]]:
    """The rows holding `events` (usually one; split when one would be too big). `row` gives a
    repeatable key (a repeated write then rewrites the same row); else each write gets its own."""
    if not events:
        return []
    blob = pack(events)
    if len(blob) > MAX_PACKED and len(events) > 1:
        half = len(events) // 2
        first = event_rows(partition, events[:half], None if row is None else row + ".a")
        return first + event_rows(partition, events[half:], None if row is None else row + ".b")
    key = EVENT_ROW + (row if row is not None else new_batch_id())
    return [
        {
            "PartitionKey": partition,
            "RowKey": key,
            "Events": EntityProperty(blob, EdmType.BINARY),
        }
    ]


def upserts(rows: Sequence[dict[str, Any]]) -> list[Operation]:
    return [("upsert", r, {"mode": UpdateMode.REPLACE}) for r in rows]


@dataclass(frozen=True, slots=True)
class Hint:
    shard: str
    table: str
    partition: str
    written: datetime | None
    etag: str | None

    @property
    def key(self) -> str:
        return f"{self.shard}|{self.table}|{self.partition}"


@dataclass(frozen=True, slots=True)
class PendingRows:
    """What waits in one partition: the event rows (key, events) and the row asked for along
    (a send's header, without which its events are not yet real)."""

    rows: list[tuple[str, list[StatusEvent]]]
    companion: dict[str, Any] | None


class PendingEvents:
    def __init__(self, gateway: TableGateway) -> None:
        self._tables = gateway
        self._announced: dict[tuple[str, str], float] = {}

    async def transact(
        self,
        table: str,
        operation: Operation,
        events: Sequence[StatusEvent],
        *,
        row: str | None = None,
    ) -> str:
        """One state row's write and, in the same transaction, the rows of the events it
        makes (announced first); answers the state row's new ETag. No events: the write alone."""
        partition = operation[1]["PartitionKey"]
        if events:
            await self.announce(table, partition)
        rows = upserts(event_rows(partition, events, row=row))
        return (await self._tables.transact(table, [operation, *rows]))[0]

    async def announce(self, table: str, partition: str) -> None:
        """The write-ahead hint, before a transaction that holds event rows of `partition`."""
        key = (table, partition)
        now = time.monotonic()
        written = self._announced.get(key)
        if written is not None and now - written < HINT_REUSE:
            return
        await self._tables.upsert(
            HINTS,
            {"PartitionKey": hint_shard(table, partition), "RowKey": f"{table}|{partition}"},
        )
        if len(self._announced) >= _REUSE_CACHE_SIZE:
            self._announced.clear()
        self._announced[key] = now

    def forget_announcements(self) -> None:
        """Write every hint again from now on (as a process that has not written lately)."""
        self._announced.clear()

    @translated
    async def hints(self, limit: int) -> list[Hint]:
        rows = await self._tables.query_all(
            HINTS,
            "PartitionKey ge @low and PartitionKey lt @high",
            {"low": "h", "high": "i"},
            select=["PartitionKey", "RowKey", "Timestamp"],
            limit=limit,
        )
        out: list[Hint] = []
        for row in rows:
            table, _, partition = str(row["RowKey"]).partition("|")
            stamp = (getattr(row, "metadata", None) or {}).get("timestamp")
            out.append(Hint(row["PartitionKey"], table, partition, stamp, etag_of(row)))
        return out

    @translated
    async def read(
        self, table: str, partition: str, companion: str | None = None, *, limit: int = 60
    ) -> PendingRows:
        """The oldest `limit` event rows of the partition (a row holds up to 99 events), and
        the companion row (which sorts before them) when asked for."""
        query = "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high"
        params: dict[str, Any] = {"pk": partition, "low": EVENT_ROW, "high": EVENT_ROW_END}
        if companion is not None:
            query = "PartitionKey eq @pk and ( RowKey eq @row or ( RowKey ge @low and RowKey lt @high ) )"
            params["row"] = companion
        rows: list[tuple[str, list[StatusEvent]]] = []
        found: dict[str, Any] | None = None
        for entity in await self._tables.query_all(table, query, params, limit=limit + 1):
            if entity["RowKey"] == companion:
                found = entity
                continue
            blob = entity["Events"]
            blob = blob.value if isinstance(blob, EntityProperty) else blob
            rows.append((entity["RowKey"], unpack(bytes(blob))))
        return PendingRows(rows, found)

    async def forget(self, table: str, partition: str, row_keys: Sequence[str]) -> None:
        """Published: the rows go (already gone is fine)."""
        await self._tables.delete_rows(table, [(partition, k) for k in row_keys])

    @translated
    async def drop_hint(self, hint: Hint) -> bool:
        """Delete the hint unless it was written again since it was read."""
        operation: Operation = (
            "delete",
            {"PartitionKey": hint.shard, "RowKey": f"{hint.table}|{hint.partition}"},
            {"etag": hint.etag, "match_condition": MatchConditions.IfNotModified}
            if hint.etag
            else {},
        )
        try:
            await self._tables.transact(HINTS, [operation])
        except (ConcurrentUpdateError, ResourceNotFoundError):
            return False  # written again since it was read (or gone): kept for the next tick
        return True
