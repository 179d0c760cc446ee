"""The outbox index: partition = the minute a row is due, row = the message (or batch sweep).

The timer reads only partitions that are due; a row only says "look here then", so writing a row
twice, or one that turns out stale, is harmless: the drainer checks the message itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.outbox_entry import OutboxEntry, due_bucket
from shared.tables.gateway import TableGateway, translated

OUTBOX = "outbox"


class OutboxRepository:
    def __init__(self, gateway: TableGateway) -> None:
        self._tables = gateway

    @translated
    async def add(self, entries: Sequence[OutboxEntry]) -> None:
        """Upsert, per due-minute partition: a repeat writes the same row."""
        if entries:
            await self._tables.upsert_rows(OUTBOX, [e.to_entity() for e in entries])

    @translated
    async def remove(self, entries: Sequence[OutboxEntry]) -> None:
        if entries:
            await self._tables.delete_rows(OUTBOX, [(e.bucket, e.row_key) for e in entries])

    async def list_due(self, now: datetime, *, limit: int) -> list[OutboxEntry]:
        """Entries of every due-minute partition up to now, oldest first."""
        rows = await self._tables.query_all(
            OUTBOX, "PartitionKey le @bucket", {"bucket": due_bucket(now)}, limit=limit
        )
        return [OutboxEntry.from_entity(e) for e in rows]

    async def find_for(self, recipient: str) -> list[OutboxEntry]:
        """Everything waiting for one recipient (a scan: opt-outs are rare, sends are not)."""
        rows = await self._tables.query_all(OUTBOX, "To eq @to", {"to": recipient})
        return [OutboxEntry.from_entity(e) for e in rows]
