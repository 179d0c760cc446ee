"""Conversation threads (partition = their number, newest first) and the consent ledger
(partition = their number, append-only): the two records of what was said with one person."""

from __future__ import annotations

from azure.data.tables import UpdateMode

from shared.errors import AlreadyExistsError
from shared.ledger import ConsentEntry, ThreadEntry
from shared.status_events import consent_event, inbound_event
from shared.tables.gateway import TableGateway, translated
from shared.tables.pending_events import STATE_ROWS_END, PendingEvents

THREADS, CONSENT = "conversations", "consent"


class ThreadRepository:
    def __init__(self, gateway: TableGateway, pending: PendingEvents) -> None:
        self._tables = gateway
        self._pending = pending

    async def add_if_absent(self, entry: ThreadEntry, *, announce: bool = False) -> bool:
        """False when the entry was already there (a repeated event). `announce`: an inbound
        message the customer's systems hear of, in the same transaction as the entry."""
        events = [inbound_event(entry)] if announce else []
        try:
            await self._pending.transact(
                THREADS, ("create", entry.to_entity(), {}), events, row=entry.row_key
            )
        except AlreadyExistsError:
            return False
        return True

    async def upsert(self, entry: ThreadEntry) -> None:
        await self._tables.upsert(THREADS, entry.to_entity(), merge=True)

    async def list(
        self, their: str, *, limit: int, continuation: str | None, our: str | None = None
    ) -> tuple[list[ThreadEntry], str | None]:
        query, params = (
            "PartitionKey eq @pk and RowKey lt @end",
            {"pk": their, "end": STATE_ROWS_END},
        )
        if our is not None:
            query, params = query + " and Our eq @our", {**params, "our": our}
        page = await self._tables.page(
            THREADS, query, params, limit=limit, continuation=continuation
        )
        return [ThreadEntry.from_entity(e) for e in page.entities], page.continuation

    @translated
    async def last_outbound(self, their: str) -> ThreadEntry | None:
        async for entity in self._tables.query(
            THREADS, "PartitionKey eq @pk and Direction eq @out", {"pk": their, "out": "out"}
        ):
            return ThreadEntry.from_entity(entity)
        return None


class ConsentLedger:
    def __init__(self, gateway: TableGateway, pending: PendingEvents) -> None:
        self._tables = gateway
        self._pending = pending

    async def add(self, entry: ConsentEntry) -> None:
        """The entry and its event, in one transaction: a repeat rewrites both."""
        await self._pending.transact(
            CONSENT,
            ("upsert", entry.to_entity(), {"mode": UpdateMode.REPLACE}),
            [consent_event(entry)],
            row=entry.row_key,
        )

    async def list(
        self, recipient: str, *, limit: int, continuation: str | None
    ) -> tuple[list[ConsentEntry], str | None]:
        page = await self._tables.page(
            CONSENT,
            "PartitionKey eq @pk and RowKey lt @end",
            {"pk": recipient, "end": STATE_ROWS_END},
            limit=limit,
            continuation=continuation,
        )
        return [ConsentEntry.from_entity(e) for e in page.entities], page.continuation
