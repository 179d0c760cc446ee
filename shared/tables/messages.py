"""Sends and their messages: one partition per batch, a header row and a row per recipient.

The header row is written last, in the transaction that also holds the first rows: it is the
commit point of a send. Rows of a batch without a header belong to a send that died before it
committed; nothing reads them as messages, so nothing ever sends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from azure.data.tables import UpdateMode

from shared.errors import ConcurrentUpdateError
from shared.ids import row_key
from shared.records import (
    BATCH_ROW,
    BatchRecord,
    MessageRecord,
    batch_from_entity,
    batch_to_entity,
    message_from_entity,
    message_to_entity,
)
from shared.tables.gateway import (
    MAX_BATCH_OPERATIONS,
    Operation,
    TableGateway,
    chunks,
    conditional_update,
    etag_of,
    gather_bounded,
    translated,
)

MESSAGES = "messages"
_DIGITS_END = ":"  # message rows are digits; every digit sorts before ':'


@dataclass(frozen=True, slots=True)
class Saved:
    """What an ETag-conditional write saved (with new ETags), and what changed meanwhile."""

    saved: list[MessageRecord]
    conflicted: list[MessageRecord]


class MessageRepository:
    def __init__(self, gateway: TableGateway) -> None:
        self._tables = gateway

    @translated
    async def create_batch(
        self, batch: BatchRecord, messages: Sequence[MessageRecord], *, overwrite: bool = False
    ) -> list[MessageRecord]:
        """Insert a send: every other chunk first, then the one holding the header (the commit
        point). `AlreadyExistsError` if a row is there, unless `overwrite` (a send resumed after
        dying before its commit point replaces what that attempt left)."""
        entities: list[dict[str, Any]] = [batch_to_entity(batch)]
        entities += [message_to_entity(m) for m in messages]
        kind: Any = "upsert" if overwrite else "create"
        options = {"mode": UpdateMode.REPLACE} if overwrite else {}
        transactions: list[list[Operation]] = [
            [(kind, e, options) for e in chunk] for chunk in chunks(entities)
        ]
        rest = (
            await self._tables.transact_all(MESSAGES, transactions[1:]) if transactions[1:] else []
        )
        for result in rest:
            if isinstance(result, BaseException):
                raise result
        first = await self._tables.transact(MESSAGES, transactions[0])
        etags = first[1:] + [etag for done in rest for etag in done]  # type: ignore[union-attr]
        return [replace(m, etag=e or None) for m, e in zip(messages, etags, strict=True)]

    @translated
    async def update(self, messages: Sequence[MessageRecord]) -> Saved:
        """ETag-conditional replace, 100 to a transaction per batch. Replace, not merge: the
        record is the whole row, so a field set back to None is really gone. A transaction that
        meets a changed row is retried without that row, which is answered as conflicted."""
        by_batch: dict[str, list[MessageRecord]] = {}
        for message in messages:
            by_batch.setdefault(message.batch_id, []).append(message)
        pending = [list(c) for group in by_batch.values() for c in chunks(group)]
        saved: dict[tuple[str, int], MessageRecord] = {}
        conflicted: list[MessageRecord] = []
        while pending:
            results = await self._tables.transact_all(
                MESSAGES,
                [[conditional_update(message_to_entity(m), m.etag) for m in c] for c in pending],
            )
            retry: list[list[MessageRecord]] = []
            for chunk, result in zip(pending, results, strict=True):
                if isinstance(result, ConcurrentUpdateError):
                    failed = result.index if result.index is not None else 0
                    failed = failed if 0 <= failed < len(chunk) else 0
                    conflicted.append(chunk[failed])
                    rest = chunk[:failed] + chunk[failed + 1 :]
                    if rest:
                        retry.append(rest)
                elif isinstance(result, BaseException):
                    raise result
                else:
                    for message, etag in zip(chunk, result, strict=True):
                        saved[(message.batch_id, message.index)] = replace(message, etag=etag)
            pending = retry
        order = [saved[k] for m in messages if (k := (m.batch_id, m.index)) in saved]
        return Saved(order, conflicted)

    async def update_one(self, message: MessageRecord) -> MessageRecord:
        """One conditional replace; `ConcurrentUpdateError` if the row changed meanwhile."""
        result = await self.update([message])
        if result.conflicted:
            raise ConcurrentUpdateError()
        return result.saved[0]

    @translated
    async def get_batch(self, batch_id: str) -> tuple[BatchRecord, list[MessageRecord]] | None:
        batch: BatchRecord | None = None
        messages: list[MessageRecord] = []
        async for entity in self._tables.query(
            MESSAGES,
            "PartitionKey eq @pk and ( RowKey lt @digits_end or RowKey eq @batch )",
            {"pk": batch_id, "digits_end": _DIGITS_END, "batch": BATCH_ROW},
        ):
            if entity["RowKey"] == BATCH_ROW:
                batch = batch_from_entity(entity)
            else:
                messages.append(message_from_entity(entity, etag_of(entity)))
        if batch is None:
            return None
        messages.sort(key=lambda m: m.index)
        return batch, messages

    async def get_header(self, batch_id: str) -> BatchRecord | None:
        entity = await self._tables.get(MESSAGES, batch_id, BATCH_ROW)
        return batch_from_entity(entity) if entity is not None else None

    @translated
    async def get_message(
        self, batch_id: str, index: int
    ) -> tuple[BatchRecord, MessageRecord] | None:
        """One message and its batch header in a single round trip."""
        batch: BatchRecord | None = None
        message: MessageRecord | None = None
        async for entity in self._tables.query(
            MESSAGES,
            "PartitionKey eq @pk and ( RowKey eq @row or RowKey eq @batch )",
            {"pk": batch_id, "row": row_key(index), "batch": BATCH_ROW},
        ):
            if entity["RowKey"] == BATCH_ROW:
                batch = batch_from_entity(entity)
            else:
                message = message_from_entity(entity, etag_of(entity))
        if batch is None or message is None:
            return None
        return batch, message

    @translated
    async def find_sent(self, batch_id: str, low: int, high: int, to: str) -> MessageRecord | None:
        """The message to `to` among rows low..high of a batch: one query over at most 100 rows."""
        async for entity in self._tables.query(
            MESSAGES,
            "PartitionKey eq @pk and RowKey ge @low and RowKey le @high and To eq @to",
            {"pk": batch_id, "low": row_key(low), "high": row_key(high), "to": to},
        ):
            return message_from_entity(entity, etag_of(entity))
        return None

    @translated
    async def get_many(self, batch_id: str, indexes: Sequence[int]) -> list[MessageRecord]:
        """Rows of one batch by index, in one range query per run of at most 100 rows."""
        wanted = sorted(set(indexes))
        runs = list(chunks(wanted, MAX_BATCH_OPERATIONS))
        pages = await gather_bounded(
            self._tables.query_all(
                MESSAGES,
                "PartitionKey eq @pk and RowKey ge @low and RowKey le @high",
                {"pk": batch_id, "low": row_key(run[0]), "high": row_key(run[-1])},
            )
            for run in runs
        )
        want = set(wanted)
        return [
            message_from_entity(e, etag_of(e))
            for page in pages
            for e in page
            if e["RowKey"].isdigit() and int(e["RowKey"]) in want
        ]

    @translated
    async def list_unfinished(self, batch_id: str) -> list[MessageRecord]:
        """A batch's messages that are queued, or sent without a final status yet."""
        return [
            message_from_entity(e, etag_of(e))
            async for e in self._tables.query(
                MESSAGES,
                "PartitionKey eq @pk and RowKey lt @digits_end and ( Status eq @q or Status eq @a )",
                {"pk": batch_id, "digits_end": _DIGITS_END, "q": "queued", "a": "accepted"},
            )
        ]

    @translated
    async def status_counts(self, batch_id: str) -> dict[str, int] | None:
        """How many of a batch's messages are in each status; None without a (committed) batch."""
        counts: dict[str, int] = {}
        header = False
        async for entity in self._tables.query(
            MESSAGES,
            "PartitionKey eq @pk and ( RowKey lt @digits_end or RowKey eq @batch )",
            {"pk": batch_id, "digits_end": _DIGITS_END, "batch": BATCH_ROW},
            select=["RowKey", "Status"],
        ):
            if entity["RowKey"] == BATCH_ROW:
                header = True
            else:
                counts[entity["Status"]] = counts.get(entity["Status"], 0) + 1
        return counts if header else None
