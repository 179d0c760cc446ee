"""Events kept for later: malformed ones parked for a person to inspect (partition = day), and
delivery reports whose message was not found yet (partition = ACS message id), retried later.

Whatever an event holds, the row stays within Table Storage's limits: keys are made safe and
cut to a bounded length, and bodies are cut below a string property's 64 KiB.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.records import bounded_key
from shared.tables.gateway import TableGateway

POISON, ORPHAN_REPORTS = "poisonEvents", "orphanReports"
MAX_BODY = 30000  # a string property holds 64 KiB (32K UTF-16 characters)


class ParkedEvents:
    def __init__(self, gateway: TableGateway) -> None:
        self._tables = gateway

    async def park_poison(
        self, *, event_id: str, event_type: str, reason: str, body: str, at: datetime
    ) -> None:
        await self._tables.upsert(
            POISON,
            {
                "PartitionKey": at.strftime("%Y-%m-%d"),
                "RowKey": bounded_key(event_id),
                "EventType": event_type[:200],
                "Reason": reason[:1000],
                "Body": body[:MAX_BODY],
                "At": at,
            },
        )

    async def list_poison(self, day: str) -> list[dict[str, Any]]:
        return await self._tables.query_all(POISON, "PartitionKey eq @pk", {"pk": day})

    async def keep_orphan_report(
        self, *, acs_message_id: str, event_id: str, body: str, at: datetime
    ) -> None:
        """A report no message could be found for: kept, never dropped, for a later sweep."""
        await self._tables.upsert(
            ORPHAN_REPORTS,
            {
                "PartitionKey": bounded_key(acs_message_id),
                "RowKey": bounded_key(event_id),
                "Body": body[:MAX_BODY],
                "At": at,
            },
        )

    async def forget_orphan_report(self, partition: str, row: str) -> None:
        await self._tables.delete(ORPHAN_REPORTS, partition, row)

    async def list_orphan_reports(self, limit: int = 100) -> list[dict[str, Any]]:
        return await self._tables.first_rows(ORPHAN_REPORTS, limit)
