"""Conversation threads (partition = their number, newest first) and the consent ledger
(partition = their number, append-only): the two records of what was said with one person."""

from __future__ import annotations

from shared.errors import AlreadyExistsError
from shared.ledger import ConsentEntry, ThreadEntry
from shared.tables.gateway import TableGateway, translated

THREADS, CONSENT = "conversations", "consent"


class ThreadRepository:
    def __init__(self, gateway: TableGateway) -> None:
        self._tables = gateway

    async def add_if_absent(self, entry: ThreadEntry) -> bool:
        """False when the entry was already there (a repeated event)."""
        try:
            await self._tables.create(THREADS, entry.to_entity())
        except AlreadyExistsError:
            return False
        return True

    async def upsert(self, entry: ThreadEntry) -> None:
        await self._tables.upsert(THREADS, entry.to_entity(), merge=True)

    async def list(
        self, their: str, *, limit: int, continuation: str | None, our: str | None = None
    ) -> tuple[list[ThreadEntry], str | None]:
        query, params = "PartitionKey eq @pk", {"pk": their}
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
    def __init__(self, gateway: TableGateway) -> None:
        self._tables = gateway

    async def add(self, entry: ConsentEntry) -> None:
        await self._tables.upsert(CONSENT, entry.to_entity())

    async def list(
        self, recipient: str, *, limit: int, continuation: str | None
    ) -> tuple[list[ConsentEntry], str | None]:
        page = await self._tables.page(
            CONSENT,
            "PartitionKey eq @pk",
            {"pk": recipient},
            limit=limit,
            continuation=continuation,
        )
        return [ConsentEntry.from_entity(e) for e in page.entities], page.continuation
