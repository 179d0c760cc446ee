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
from shared.status_events import message_events
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
from shared.tables.pending_events import PendingEvents, event_rows, upserts

MESSAGES = "messages"
_DIGITS_END = ":"  # message rows are digits; every digit sorts before ':'


@dataclass(frozen=True, slots=True)
class Saved:
    """What an ETag-conditional write saved (with new ETags), and what changed meanwhile."""

    saved: list[MessageRecord]
    conflicted: list[MessageRecord]


def _event_operations(messages: Sequence[MessageRecord]) -> list[Operation]:
    """The event rows of the status changes these records make, for their transaction."""
    if not messages:
        return []
    events = [e for m in messages for e in message_events(m, m.events_written or 0)]
    return upserts(event_rows(messages[0].batch_id, events))


def _written(message: MessageRecord, etag: str | None) -> MessageRecord:
    return replace(message, etag=etag or None, events_written=len(message.status_changes()))


Run = tuple[Sequence[MessageRecord], list[Operation]]


def _fitted(group: Sequence[MessageRecord], room: int = MAX_BATCH_OPERATIONS) -> list[Run]:
    """Runs of one batch's messages, each with its event rows, that fit in one transaction
    (usually `room - 1` messages and one event row)."""
    out: list[Run] = []
    for chunk in chunks(group, room - 1):
        operations = _event_operations(chunk)
        if len(chunk) + len(operations) <= room or len(chunk) == 1:
            out.append((chunk, operations))
        else:
            half = len(chunk) // 2
            out += _fitted(chunk[:half], room) + _fitted(chunk[half:], room)
    return out


class MessageRepository:
    def __init__(self, gateway: TableGateway, pending: PendingEvents) -> None:
        self._tables = gateway
        self._pending = pending

    async def _announce(self, messages: Sequence[MessageRecord]) -> None:
        """The write-ahead hint of every batch these records will write events into."""
        batches = {
            m.batch_id for m in messages if len(m.status_changes()) > (m.events_written or 0)
        }
        await gather_bounded(self._pending.announce(MESSAGES, b) for b in sorted(batches))

    @translated
    async def create_batch(
        self, batch: BatchRecord, messages: Sequence[MessageRecord], *, overwrite: bool = False
    ) -> list[MessageRecord]:
        """Insert a send: every other chunk first, then the one holding the header (the commit
        point). `AlreadyExistsError` if a row is there, unless `overwrite` (a send resumed after
        dying before its commit point replaces what that attempt left)."""
        kind: Any = "upsert" if overwrite else "create"
        options = {"mode": UpdateMode.REPLACE} if overwrite else {}
        header: Operation = (kind, batch_to_entity(batch), options)
        room = MAX_BATCH_OPERATIONS - 1  # the header's transaction
        head = _fitted(messages[: room - 1], room)[0] if messages else ([], [])
        runs = [head, *_fitted(messages[len(head[0]) :])]
        transactions: list[list[Operation]] = [
            [(kind, message_to_entity(m), options) for m in run] + events for run, events in runs
        ]
        transactions[0] = [header, *transactions[0]]
        await self._announce(messages)
        rest = (
            await self._tables.transact_all(MESSAGES, transactions[1:]) if transactions[1:] else []
        )
        for result in rest:
            if isinstance(result, BaseException):
                raise result
        first = await self._tables.transact(MESSAGES, transactions[0])
        etags = first[1 : 1 + len(head[0])] + [
            etag
            for (run, _), done in zip(runs[1:], rest, strict=True)
            for etag in done[: len(run)]  # type: ignore[index]
        ]
        return [_written(m, e) for m, e in zip(messages, etags, strict=True)]

    @translated
    async def update(self, messages: Sequence[MessageRecord]) -> Saved:
        """ETag-conditional replace, 100 to a transaction per batch. Replace, not merge: the
        record is the whole row, so a field set back to None is really gone. A transaction that
        meets a changed row is retried without that row, which is answered as conflicted."""
        by_batch: dict[str, list[MessageRecord]] = {}
        for message in messages:
            by_batch.setdefault(message.batch_id, []).append(message)
        pending: list[Run] = [run for group in by_batch.values() for run in _fitted(group)]
        saved: dict[tuple[str, int], MessageRecord] = {}
        conflicted: list[MessageRecord] = []
        await self._announce(messages)
        while pending:
            results = await self._tables.transact_all(
                MESSAGES,
                [
                    [conditional_update(message_to_entity(m), m.etag) for m in c] + events
                    for c, events in pending
                ],
            )
            retry: list[Run] = []
            for (chunk, _), result in zip(pending, results, strict=True):
                if isinstance(result, ConcurrentUpdateError):
                    failed = result.index if result.index is not None else 0
                    failed = failed if 0 <= failed < len(chunk) else 0
                    conflicted.append(chunk[failed])
                    rest = [*chunk[:failed], *chunk[failed + 1 :]]
                    if rest:
                        retry.append((rest, _event_operations(rest)))
                elif isinstance(result, BaseException):
                    raise result
                else:
                    for message, etag in zip(chunk, result[: len(chunk)], strict=True):
                        saved[(message.batch_id, message.index)] = _written(message, etag)
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
