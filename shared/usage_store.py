"""Usage rows and their rollups in Table Storage: the reads and writes analytics needs.

Kept apart from `store.py` (which owns the message path) but built on the same store: its
tables, parameterised queries, transactions of at most 100 rows, and error translation.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.rollups import (
    DIMENSIONS,
    Dimension,
    HourMarker,
    HourRollup,
    Rollup,
    hour_key_range,
    marker_from_entity,
)
from shared.store import MAX_BATCH_OPERATIONS, USAGE, SmsStore, _translated
from shared.usage import UsageEvent

ROLLUPS = "usageRollups"


@_translated
async def roll_up_usage_hour(
    store: SmsStore, hour: str, through: datetime
) -> tuple[list[Rollup], int, int]:
    """Stream one hour's usage rows into its rollups. Answers the rollups, the rows read, and how
    many of them Table Storage wrote (or rewrote) at or after `through`."""
    builder = HourRollup(hour)
    rows = recent = 0
    async for entity in store._query(USAGE, "PartitionKey eq @pk", {"pk": hour}):
        builder.add(UsageEvent.from_entity(entity))
        stamp = (getattr(entity, "metadata", None) or {}).get("timestamp")
        rows += 1
        recent += not isinstance(stamp, datetime) or _aware(stamp) >= through
    return builder.rollups(), rows, recent


@_translated
async def count_usage_since(store: SmsStore, hour: str, since: datetime) -> int:
    """How many of the hour's rows were written (or rewritten) at or after `since`: a key-only
    query over one partition, usually answering a handful of rows."""
    return len(
        [
            e
            async for e in store._query(
                USAGE,
                "PartitionKey eq @pk and Timestamp ge @since",
                {"pk": hour, "since": since},
                select=["RowKey"],
            )
        ]
    )


@_translated
async def earliest_usage_hour(store: SmsStore) -> str | None:
    """The oldest hour with usage: tables list in key order, so it is the first row."""
    table = await store.table(USAGE)
    async for entity in table.list_entities(results_per_page=1, select=["PartitionKey"]):
        return str(entity["PartitionKey"])
    return None


@_translated
async def write_hour_rollups(
    store: SmsStore, rollups: Sequence[Rollup], marker: HourMarker
) -> None:
    """Replace one hour's rollups. The `all` row (the marker) is written last, so an attempt
    that dies half-way leaves the old marker and the hour is recomputed next time."""
    table = await store.table(ROLLUPS)
    day = marker.hour[:10]
    low, high = hour_key_range(marker.hour)
    existing = {
        e["RowKey"]
        async for e in store._query(
            ROLLUPS,
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            {"pk": day, "low": low, "high": high},
            select=["RowKey"],
        )
    }
    marker_row = next(r for r in rollups if r.dimension == "all")
    others = [r.to_entity() for r in rollups if r is not marker_row]
    transactions = [
        [("upsert", e, {"mode": UpdateMode.REPLACE}) for e in others[i : i + MAX_BATCH_OPERATIONS]]
        for i in range(0, len(others), MAX_BATCH_OPERATIONS)
    ]
    await store._transact_all(ROLLUPS, transactions)
    for stale in sorted(existing - {r.row_key for r in rollups}):
        with suppress(ResourceNotFoundError):  # rare: only if usage rows were removed
            await table.delete_entity(day, stale)
    await table.upsert_entity(marker_row.to_entity(marker), mode=UpdateMode.REPLACE)


@_translated
async def read_rollups(
    store: SmsStore, first_day: str, last_day: str, dimensions: Collection[Dimension]
) -> tuple[list[Rollup], dict[str, HourMarker]]:
    """Rollups of whole days, one range query over the day partitions; the `all` rows are
    always read, since they say which hours have been computed."""
    wanted = sorted({"all", *dimensions}, key=DIMENSIONS.index)
    query = "PartitionKey ge @first and PartitionKey le @last"
    params: dict[str, Any] = {"first": first_day, "last": last_day}
    if len(wanted) < len(DIMENSIONS):
        query += " and ( " + " or ".join(f"Dimension eq @d{i}" for i in range(len(wanted))) + " )"
        params.update({f"d{i}": d for i, d in enumerate(wanted)})
    rollups: list[Rollup] = []
    markers: dict[str, HourMarker] = {}
    async for entity in store._query(ROLLUPS, query, params):
        rollups.append(Rollup.from_entity(entity))
        marker = marker_from_entity(entity)
        if marker is not None:
            markers[marker.hour] = marker
    return rollups, markers


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
