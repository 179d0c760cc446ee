"""Usage rows and their hourly rollups: what analytics writes and reads.

Usage rows are keyed by what they count (partition = UTC hour), so a repeat rewrites its own
row; rollups (partition = UTC day) are recomputed from them, never patched.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from azure.data.tables import UpdateMode

from shared.clock import aware
from shared.rollups import (
    DIMENSIONS,
    Dimension,
    HourMarker,
    HourRollup,
    Rollup,
    hour_key_range,
    marker_from_entity,
)
from shared.tables.gateway import Operation, TableGateway, chunks, translated
from shared.usage import UsageEvent

USAGE, ROLLUPS = "usageEvents", "usageRollups"


class UsageRepository:
    def __init__(self, gateway: TableGateway) -> None:
        self._tables = gateway

    @translated
    async def record(self, events: Sequence[UsageEvent]) -> None:
        """Upsert usage rows, per hour partition: a repeated event overwrites its own row."""
        if events:
            await self._tables.upsert_rows(USAGE, [e.to_entity() for e in events])

    @translated
    async def roll_up_hour(self, hour: str, through: datetime) -> tuple[list[Rollup], int, int]:
        """Stream one hour's usage rows into its rollups. Answers the rollups, the rows read, and
        how many of them Table Storage wrote (or rewrote) at or after `through`."""
        builder = HourRollup(hour)
        rows = recent = 0
        async for entity in self._tables.query(USAGE, "PartitionKey eq @pk", {"pk": hour}):
            builder.add(UsageEvent.from_entity(entity))
            stamp = (getattr(entity, "metadata", None) or {}).get("timestamp")
            rows += 1
            recent += not isinstance(stamp, datetime) or aware(stamp) >= through
        return builder.rollups(), rows, recent

    async def count_since(self, hour: str, since: datetime) -> int:
        """How many of the hour's rows were written (or rewritten) at or after `since`: a key-only
        query over one partition, usually answering a handful of rows."""
        rows = await self._tables.query_all(
            USAGE,
            "PartitionKey eq @pk and Timestamp ge @since",
            {"pk": hour, "since": since},
            select=["RowKey"],
        )
        return len(rows)

    async def earliest_hour(self) -> str | None:
        """The oldest hour with usage: tables list in key order, so it is the first row."""
        rows = await self._tables.first_rows(USAGE, 1, select=["PartitionKey"])
        return str(rows[0]["PartitionKey"]) if rows else None

    @translated
    async def write_hour_rollups(self, rollups: Sequence[Rollup], marker: HourMarker) -> None:
        """Replace one hour's rollups. The `all` row (the marker) is written last, so an attempt
        that dies half-way leaves the old marker and the hour is recomputed next time."""
        day = marker.hour[:10]
        low, high = hour_key_range(marker.hour)
        existing = {
            e["RowKey"]
            for e in await self._tables.query_all(
                ROLLUPS,
                "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                {"pk": day, "low": low, "high": high},
                select=["RowKey"],
            )
        }
        marker_row = next(r for r in rollups if r.dimension == "all")
        others = [r.to_entity() for r in rollups if r is not marker_row]
        transactions: list[list[Operation]] = [
            [("upsert", e, {"mode": UpdateMode.REPLACE}) for e in chunk] for chunk in chunks(others)
        ]
        await self._tables.transact_all(ROLLUPS, transactions)
        stale = existing - {r.row_key for r in rollups}  # rare: only if usage rows were removed
        await self._tables.delete_rows(ROLLUPS, [(day, row) for row in sorted(stale)])
        await self._tables.upsert(ROLLUPS, marker_row.to_entity(marker))

    @translated
    async def read_rollups(
        self, first_day: str, last_day: str, dimensions: Collection[Dimension]
    ) -> tuple[list[Rollup], dict[str, HourMarker]]:
        """Rollups of whole days, one range query over the day partitions; the `all` rows are
        always read, since they say which hours have been computed."""
        wanted = sorted({"all", *dimensions}, key=DIMENSIONS.index)
        query = "PartitionKey ge @first and PartitionKey le @last"
        params: dict[str, Any] = {"first": first_day, "last": last_day}
        if len(wanted) < len(DIMENSIONS):
            query += " and ( " + " or ".join(f"Dimension eq @d{i}" for i in range(len(wanted)))
            query += " )"
            params.update({f"d{i}": d for i, d in enumerate(wanted)})
        rollups: list[Rollup] = []
        markers: dict[str, HourMarker] = {}
        async for entity in self._tables.query(ROLLUPS, query, params):
            rollups.append(Rollup.from_entity(entity))
            marker = marker_from_entity(entity)
            if marker is not None:
                markers[marker.hour] = marker
        return rollups, markers
