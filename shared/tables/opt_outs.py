"""Opt-outs: partition = sender number, or `*` for one that covers the whole pool; row = recipient.

One partition read gives a sender's whole list, and a point read answers for one recipient, so
the query planner below picks point reads for a few recipients and range scans for many.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.clock import aware
from shared.tables.gateway import (
    MAX_FILTER_COMPARISONS,
    TableGateway,
    chunks,
    gather_bounded,
    translated,
)

OPT_OUTS = "optOuts"
POOL_WIDE = "*"  # the partition of opt-outs that cover every sender of the pool


@dataclass(frozen=True, slots=True)
class OptOut:
    recipient: str
    scope: str
    at: datetime
    source: str


class OptOutRepository:
    def __init__(self, gateway: TableGateway) -> None:
        self._tables = gateway

    async def add(
        self, recipient: str, *, scope: str = POOL_WIDE, at: datetime, source: str
    ) -> None:
        entity = {"PartitionKey": scope, "RowKey": recipient, "At": at, "Source": source}
        await self._tables.upsert(OPT_OUTS, entity)

    async def remove(self, recipient: str, *, scope: str = POOL_WIDE) -> None:
        await self._tables.delete(OPT_OUTS, scope, recipient)

    async def find_opted_out(self, senders: Sequence[str], recipients: Sequence[str]) -> set[str]:
        """Which recipients may not be texted by any of `senders` (pool-wide opt-outs included)."""
        return {recipient for _, recipient in await self.find(senders, recipients)}

    @translated
    async def find(self, senders: Sequence[str], recipients: Sequence[str]) -> set[tuple[str, str]]:
        """The (scope, recipient) opt-outs among these senders (and `*`) and recipients."""
        if not recipients:
            return set()
        partitions = [POOL_WIDE, *dict.fromkeys(senders)]
        per_query = MAX_FILTER_COMPARISONS - len(partitions)
        if per_query >= 4 and len(recipients) <= per_query * 3:
            return await self._by_key(partitions, recipients, per_query)
        return await self._by_range(partitions, recipients)

    async def _by_key(
        self, partitions: list[str], recipients: Sequence[str], per_query: int
    ) -> set[tuple[str, str]]:
        pk = " or ".join(f"PartitionKey eq @p{i}" for i in range(len(partitions)))

        def query(chunk: Sequence[str]) -> Awaitable[list[dict[str, Any]]]:
            params: dict[str, Any] = {f"p{i}": p for i, p in enumerate(partitions)}
            params.update({f"r{i}": r for i, r in enumerate(chunk)})
            rk = " or ".join(f"RowKey eq @r{i}" for i in range(len(chunk)))
            return self._tables.query_all(
                OPT_OUTS, f"( {pk} ) and ( {rk} )", params, select=["PartitionKey", "RowKey"]
            )

        pages = await gather_bounded(query(c) for c in chunks(list(recipients), per_query))
        return {(e["PartitionKey"], e["RowKey"]) for page in pages for e in page}

    async def _by_range(
        self, partitions: list[str], recipients: Sequence[str]
    ) -> set[tuple[str, str]]:
        # One scan per partition over the recipients' key range: the cost follows the number of
        # opt-outs in that range, not the number of recipients.
        wanted = set(recipients)
        low, high = min(wanted), max(wanted)
        pages = await gather_bounded(
            self._tables.query_all(
                OPT_OUTS,
                "PartitionKey eq @pk and RowKey ge @low and RowKey le @high",
                {"pk": partition, "low": low, "high": high},
                select=["RowKey"],
            )
            for partition in partitions
        )
        return {
            (partition, e["RowKey"])
            for partition, page in zip(partitions, pages, strict=True)
            for e in page
            if e["RowKey"] in wanted
        }

    @translated
    async def list_for(self, recipient: str, senders: Sequence[str]) -> list[OptOut]:
        """Every opt-out of `recipient` that stops one of `senders` (pool-wide ones included)."""
        partitions = [POOL_WIDE, *dict.fromkeys(senders)]
        params: dict[str, Any] = {f"p{i}": p for i, p in enumerate(partitions)}
        params["r"] = recipient
        pk = " or ".join(f"PartitionKey eq @p{i}" for i in range(len(partitions)))
        return [
            OptOut(e["RowKey"], e["PartitionKey"], aware(e["At"]), str(e.get("Source", "")))
            async for e in self._tables.query(OPT_OUTS, f"( {pk} ) and RowKey eq @r", params)
        ]
