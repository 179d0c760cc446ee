"""All app state in Azure Table Storage, through `azure.data.tables.aio`.

Rules kept here so callers cannot forget them: tables are created on first use, filters are
always parameterised, a transaction never exceeds 100 operations of one partition, and updates
that change a message's state are ETag-conditional.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, ParamSpec, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from shared.ids import row_key
from shared.ledger import ConsentEntry, ThreadEntry
from shared.outbox_entry import OutboxEntry, due_bucket
from shared.pacing import Bucket, full_bucket
from shared.records import (
    BATCH_ROW,
    BatchRecord,
    MessageRecord,
    batch_from_entity,
    batch_to_entity,
    key_safe,
    message_from_entity,
    message_to_entity,
)
from shared.usage import UsageEvent

MAX_BATCH_OPERATIONS = 100  # Table Storage: at most 100 operations per transaction
MAX_FILTER_COMPARISONS = 15
TRANSACTIONS_IN_FLIGHT = 4  # Table Storage: at most 15 discrete comparisons per $filter
POOL_WIDE = "*"  # optOuts partition of opt-outs that cover every sender of the pool
IDEMPOTENCY_TTL = timedelta(hours=24)

MESSAGES, OPT_OUTS, IDEMPOTENCY = "messages", "optOuts", "idempotency"
USAGE = "usageEvents"
OUTBOX, RATE_BUCKETS = "outbox", "rateBuckets"
THREADS, CONSENT, POISON, ORPHAN_REPORTS = (
    "conversations",
    "consent",
    "poisonEvents",
    "orphanReports",
)


class StoreError(Exception):
    pass


class StoreUnavailableError(StoreError):
    """Table Storage could not be reached or answered 5xx: worth retrying later."""


class BatchExistsError(StoreError):
    pass


class ConcurrentUpdateError(StoreError):
    """An ETag condition failed: someone else changed the row since it was read."""


@dataclass(frozen=True, slots=True)
class Page:
    entities: list[dict[str, Any]]
    continuation: str | None


@dataclass(frozen=True, slots=True)
class OptOut:
    recipient: str
    scope: str
    at: datetime
    source: str


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    outcome: Literal["new", "replay", "resume", "in_progress", "mismatch"]
    batch_id: str
    retry_after: float = 0.0


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _unavailable(exc: Exception) -> StoreUnavailableError:
    return StoreUnavailableError(f"Table Storage unavailable: {type(exc).__name__}")


def _is_transient(exc: HttpResponseError) -> bool:
    return exc.status_code is None or exc.status_code >= 500 or exc.status_code == 408


P = ParamSpec("P")
R = TypeVar("R")


def _translated(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Connection failures and 5xx become `StoreUnavailableError`; 4xx stay what they are."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise _unavailable(exc) from exc
        except HttpResponseError as exc:
            if _is_transient(exc) and not isinstance(exc, StoreError):
                raise _unavailable(exc) from exc
            raise

    return wrapper


class SmsStore:
    """The app's tables behind verbs; create one per process and reuse it."""

    def __init__(self, service: TableServiceClient, *, prefix: str) -> None:
        self._service = service
        self._prefix = prefix
        self._ready: dict[str, TableClient] = {}
        self._lock = asyncio.Lock()
        self._buckets: dict[str, tuple[Bucket, str]] = {}  # last seen state and ETag per sender

    @classmethod
    def from_connection_string(
        cls, connection_string: str, *, prefix: str, **client_kwargs: Any
    ) -> SmsStore:
        """`client_kwargs` go to the SDK client (e.g. `transport=`, to meter or stub requests)."""
        service = TableServiceClient.from_connection_string(connection_string, **client_kwargs)
        return cls(service, prefix=prefix)

    async def aclose(self) -> None:
        for table in self._ready.values():
            await table.close()
        await self._service.close()

    def table_name(self, name: str) -> str:
        return self._prefix + name

    async def table(self, name: str) -> TableClient:
        """The table's client, creating the table on first use in this process."""
        client = self._ready.get(name)
        if client is not None:
            return client
        async with self._lock:
            if name not in self._ready:
                full = self.table_name(name)
                await self._service.create_table_if_not_exists(full)
                self._ready[name] = self._service.get_table_client(full)
            return self._ready[name]

    async def _query(
        self,
        name: str,
        query_filter: str,
        parameters: dict[str, Any],
        select: list[str] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        table = await self.table(name)
        async for entity in table.query_entities(
            query_filter, parameters=parameters, select=select
        ):
            yield entity

    async def _page(
        self,
        name: str,
        query_filter: str,
        parameters: dict[str, Any],
        *,
        limit: int,
        continuation: str | None,
    ) -> Page:
        """One page of results and an opaque token for the next (None on the last page)."""
        table = await self.table(name)
        token = _decode_token(continuation) if continuation else None
        pages = table.query_entities(
            query_filter, parameters=parameters, results_per_page=limit
        ).by_page(continuation_token=token)
        entities: list[dict[str, Any]] = []
        async for page in pages:
            entities = [entity async for entity in page]
            break
        return Page(entities, _encode_token(getattr(pages, "continuation_token", None)))

    async def _transact_all(
        self, name: str, transactions: Sequence[list[tuple[Any, ...]]]
    ) -> list[list[str]]:
        """Independent transactions (other rows or partitions), a few at a time."""
        gate = asyncio.Semaphore(TRANSACTIONS_IN_FLIGHT)

        async def one(operations: list[tuple[Any, ...]]) -> list[str]:
            async with gate:
                return await self._transact(name, operations)

        return list(await asyncio.gather(*(one(t) for t in transactions)))

    async def _upsert_rows(self, name: str, rows: Sequence[dict[str, Any]]) -> None:
        """Replace-upserts grouped by partition, 100 to a transaction, each row once (the last
        version of a repeated key wins)."""
        by_partition: dict[str, dict[str, dict[str, Any]]] = {}
        for row in rows:
            by_partition.setdefault(row["PartitionKey"], {})[row["RowKey"]] = row
        transactions = [
            [("upsert", r, {"mode": UpdateMode.REPLACE}) for r in chunk]
            for partition in by_partition.values()
            for chunk in _chunks(list(partition.values()), MAX_BATCH_OPERATIONS)
        ]
        await self._transact_all(name, transactions)

    async def _transact(self, name: str, operations: list[tuple[Any, ...]]) -> list[str]:
        """Submit one transaction; returns the new ETag of each operation."""
        table = await self.table(name)
        if len(operations) == 1:
            return [await self._single(table, operations[0])]
        try:
            results = await table.submit_transaction(operations)
        except TableTransactionError as exc:
            code = str(getattr(exc, "error_code", "") or "")
            if code == "EntityAlreadyExists" or exc.status_code == 409:
                raise BatchExistsError(code) from exc
            if exc.status_code == 412:
                raise ConcurrentUpdateError(code) from exc
            raise
        return [str(r.get("etag", "")) for r in results]

    async def _single(self, table: TableClient, operation: tuple[Any, ...]) -> str:
        """A transaction of one, as a plain entity request: same effect and errors, but the
        SDK's multipart encoding of a transaction costs about twice the CPU of one request."""
        kind, entity = operation[0], operation[1]
        options: dict[str, Any] = operation[2] if len(operation) > 2 else {}
        try:
            if kind == "create":
                result = await table.create_entity(entity)
            elif kind == "update":
                result = await table.update_entity(entity, **options)
            elif kind == "upsert":
                result = await table.upsert_entity(entity, **options)
            elif kind == "delete":
                await table.delete_entity(entity["PartitionKey"], entity["RowKey"], **options)
                return ""
            else:
                raise ValueError(f"unknown table operation {kind!r}")
        except ResourceExistsError as exc:
            raise BatchExistsError("EntityAlreadyExists") from exc
        except ResourceModifiedError as exc:
            raise ConcurrentUpdateError("UpdateConditionNotSatisfied") from exc
        return str(result.get("etag", ""))

    # --- messages ---------------------------------------------------------------------------

    @_translated
    async def create_messages(
        self, messages: Sequence[MessageRecord], batch: BatchRecord | None = None
    ) -> list[MessageRecord]:
        """Insert a batch's rows (header first); `BatchExistsError` if a row is already there."""
        entities: list[dict[str, Any]] = [message_to_entity(m) for m in messages]
        if batch is not None:
            entities.insert(0, batch_to_entity(batch))
        chunks = [[("create", e) for e in c] for c in _chunks(entities, MAX_BATCH_OPERATIONS)]
        etags = [etag for done in await self._transact_all(MESSAGES, chunks) for etag in done]
        if batch is not None:
            etags = etags[1:]
        return [_with_etag(m, etag) for m, etag in zip(messages, etags, strict=True)]

    @_translated
    async def update_messages(self, messages: Sequence[MessageRecord]) -> list[MessageRecord]:
        """ETag-conditional replace of changed messages, 100 to a transaction.

        Replace, not merge: the record is the whole row, so a field set back to None (a released
        claim, repeatability ids that must not be reused) is really gone.
        """
        by_batch: dict[str, list[MessageRecord]] = {}
        for message in messages:
            by_batch.setdefault(message.batch_id, []).append(message)
        chunks = [c for group in by_batch.values() for c in _chunks(group, MAX_BATCH_OPERATIONS)]
        done = await self._transact_all(
            MESSAGES, [[_conditional_update(m) for m in c] for c in chunks]
        )
        saved = {
            (m.batch_id, m.index): _with_etag(m, etag)
            for chunk, etags in zip(chunks, done, strict=True)
            for m, etag in zip(chunk, etags, strict=True)
        }
        return [saved[(m.batch_id, m.index)] for m in messages]

    @_translated
    async def get_batch(self, batch_id: str) -> tuple[BatchRecord, list[MessageRecord]] | None:
        batch: BatchRecord | None = None
        messages: list[MessageRecord] = []
        async for entity in self._query(
            MESSAGES,
            "PartitionKey eq @pk and ( RowKey lt @digits_end or RowKey eq @batch )",
            {"pk": batch_id, "digits_end": ":", "batch": BATCH_ROW},
        ):
            if entity["RowKey"] == BATCH_ROW:
                batch = batch_from_entity(entity)
            else:
                messages.append(message_from_entity(entity, _etag(entity)))
        if batch is None:
            return None
        messages.sort(key=lambda m: m.index)
        return batch, messages

    @_translated
    async def get_batch_header(self, batch_id: str) -> BatchRecord | None:
        table = await self.table(MESSAGES)
        try:
            return batch_from_entity(await table.get_entity(batch_id, BATCH_ROW))
        except ResourceNotFoundError:
            return None

    @_translated
    async def get_message(
        self, batch_id: str, row: str
    ) -> tuple[BatchRecord, MessageRecord] | None:
        """One message and its batch header in a single round trip."""
        batch: BatchRecord | None = None
        message: MessageRecord | None = None
        async for entity in self._query(
            MESSAGES,
            "PartitionKey eq @pk and ( RowKey eq @row or RowKey eq @batch )",
            {"pk": batch_id, "row": row, "batch": BATCH_ROW},
        ):
            if entity["RowKey"] == BATCH_ROW:
                batch = batch_from_entity(entity)
            else:
                message = message_from_entity(entity, _etag(entity))
        if batch is None or message is None:
            return None
        return batch, message

    @_translated
    async def find_sent_message(
        self, batch_id: str, low: int, high: int, to: str
    ) -> MessageRecord | None:
        """The message to `to` among rows low..high of a batch: one query over at most 100 rows."""
        async for entity in self._query(
            MESSAGES,
            "PartitionKey eq @pk and RowKey ge @low and RowKey le @high and To eq @to",
            {"pk": batch_id, "low": row_key(low), "high": row_key(high), "to": to},
        ):
            return message_from_entity(entity, _etag(entity))
        return None

    # --- opt-outs ---------------------------------------------------------------------------

    @_translated
    async def add_opt_out(
        self, recipient: str, *, sender: str = POOL_WIDE, at: datetime, source: str
    ) -> None:
        table = await self.table(OPT_OUTS)
        entity = {"PartitionKey": sender, "RowKey": recipient, "At": at, "Source": source}
        await table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    @_translated
    async def remove_opt_out(self, recipient: str, *, sender: str = POOL_WIDE) -> None:
        table = await self.table(OPT_OUTS)
        await table.delete_entity(sender, recipient)  # deleting what is absent is not an error

    @_translated
    async def find_opted_out(self, senders: Sequence[str], recipients: Sequence[str]) -> set[str]:
        """Which recipients may not be texted by any of `senders` (pool-wide opt-outs included)."""
        return {recipient for _, recipient in await self.find_opt_outs(senders, recipients)}

    @_translated
    async def find_opt_outs(
        self, senders: Sequence[str], recipients: Sequence[str]
    ) -> set[tuple[str, str]]:
        """The (scope, recipient) opt-outs among these senders (and `*`) and recipients."""
        if not recipients:
            return set()
        partitions = [POOL_WIDE, *dict.fromkeys(senders)]
        per_query = MAX_FILTER_COMPARISONS - len(partitions)
        if per_query >= 4 and len(recipients) <= per_query * 3:
            return await self._opted_out_by_key(partitions, recipients, per_query)
        return await self._opted_out_by_range(partitions, recipients)

    async def _opted_out_by_key(
        self, partitions: list[str], recipients: Sequence[str], per_query: int
    ) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for chunk in _chunks(list(recipients), per_query):
            params: dict[str, Any] = {f"p{i}": p for i, p in enumerate(partitions)}
            params.update({f"r{i}": r for i, r in enumerate(chunk)})
            pk = " or ".join(f"PartitionKey eq @p{i}" for i in range(len(partitions)))
            rk = " or ".join(f"RowKey eq @r{i}" for i in range(len(chunk)))
            async for entity in self._query(
                OPT_OUTS, f"( {pk} ) and ( {rk} )", params, select=["PartitionKey", "RowKey"]
            ):
                found.add((entity["PartitionKey"], entity["RowKey"]))
        return found

    async def _opted_out_by_range(
        self, partitions: list[str], recipients: Sequence[str]
    ) -> set[tuple[str, str]]:
        # One scan per partition over the recipients' key range: the cost follows the number of
        # opt-outs in that range, not the number of recipients.
        wanted = set(recipients)
        low, high = min(wanted), max(wanted)
        found: set[tuple[str, str]] = set()
        for partition in partitions:
            async for entity in self._query(
                OPT_OUTS,
                "PartitionKey eq @pk and RowKey ge @low and RowKey le @high",
                {"pk": partition, "low": low, "high": high},
                select=["RowKey"],
            ):
                if entity["RowKey"] in wanted:
                    found.add((partition, entity["RowKey"]))
        return found

    @_translated
    async def list_opt_outs(self, recipient: str, senders: Sequence[str]) -> list[OptOut]:
        """Every opt-out of `recipient` that stops one of `senders` (pool-wide ones included)."""
        partitions = [POOL_WIDE, *dict.fromkeys(senders)]
        params: dict[str, Any] = {f"p{i}": p for i, p in enumerate(partitions)}
        params["r"] = recipient
        pk = " or ".join(f"PartitionKey eq @p{i}" for i in range(len(partitions)))
        return [
            OptOut(e["RowKey"], e["PartitionKey"], _aware(e["At"]), str(e.get("Source", "")))
            async for e in self._query(OPT_OUTS, f"( {pk} ) and RowKey eq @r", params)
        ]

    # --- threads, consent ledger, poison events, orphan reports -----------------------------

    @_translated
    async def add_thread_entry(self, entry: ThreadEntry) -> bool:
        """Insert-if-absent: False when the entry was already there (a repeated event)."""
        table = await self.table(THREADS)
        try:
            await table.create_entity(entry.to_entity())
        except ResourceExistsError:
            return False
        return True

    @_translated
    async def upsert_thread_entry(self, entry: ThreadEntry) -> None:
        table = await self.table(THREADS)
        await table.upsert_entity(entry.to_entity(), mode=UpdateMode.MERGE)

    @_translated
    async def list_thread(
        self, their: str, *, limit: int, continuation: str | None, our: str | None = None
    ) -> tuple[list[ThreadEntry], str | None]:
        query, params = "PartitionKey eq @pk", {"pk": their}
        if our is not None:
            query, params = query + " and Our eq @our", {**params, "our": our}
        page = await self._page(THREADS, query, params, limit=limit, continuation=continuation)
        return [ThreadEntry.from_entity(e) for e in page.entities], page.continuation

    @_translated
    async def last_outbound(self, their: str) -> ThreadEntry | None:
        async for entity in self._query(
            THREADS, "PartitionKey eq @pk and Direction eq @out", {"pk": their, "out": "out"}
        ):
            return ThreadEntry.from_entity(entity)
        return None

    @_translated
    async def add_consent(self, entry: ConsentEntry) -> None:
        table = await self.table(CONSENT)
        await table.upsert_entity(entry.to_entity(), mode=UpdateMode.REPLACE)

    @_translated
    async def list_consent(
        self, recipient: str, *, limit: int, continuation: str | None
    ) -> tuple[list[ConsentEntry], str | None]:
        page = await self._page(
            CONSENT,
            "PartitionKey eq @pk",
            {"pk": recipient},
            limit=limit,
            continuation=continuation,
        )
        return [ConsentEntry.from_entity(e) for e in page.entities], page.continuation

    @_translated
    async def add_poison_event(
        self, *, event_id: str, event_type: str, reason: str, body: str, at: datetime
    ) -> None:
        table = await self.table(POISON)
        await table.upsert_entity(
            {
                "PartitionKey": at.strftime("%Y-%m-%d"),
                "RowKey": key_safe(event_id or "no-id")[:500],
                "EventType": event_type[:200],
                "Reason": reason[:1000],
                "Body": body[:30000],  # a string property holds 64 KiB (32K UTF-16 characters)
                "At": at,
            },
            mode=UpdateMode.REPLACE,
        )

    @_translated
    async def list_poison_events(self, day: str) -> list[dict[str, Any]]:
        return [e async for e in self._query(POISON, "PartitionKey eq @pk", {"pk": day})]

    @_translated
    async def keep_orphan_report(
        self, *, acs_message_id: str, event_id: str, body: str, at: datetime
    ) -> None:
        """A report no message could be found for: kept, never dropped, for a later sweep."""
        table = await self.table(ORPHAN_REPORTS)
        await table.upsert_entity(
            {
                "PartitionKey": key_safe(acs_message_id),
                "RowKey": key_safe(event_id),
                "Body": body[:30000],
                "At": at,
            },
            mode=UpdateMode.REPLACE,
        )

    @_translated
    async def forget_orphan_report(self, partition: str, row: str) -> None:
        table = await self.table(ORPHAN_REPORTS)
        await table.delete_entity(partition, row)

    @_translated
    async def list_orphan_reports(self, limit: int = 100) -> list[dict[str, Any]]:
        table = await self.table(ORPHAN_REPORTS)
        out: list[dict[str, Any]] = []
        async for entity in table.list_entities(results_per_page=limit):
            out.append(entity)
            if len(out) >= limit:
                break
        return out

    # --- outbox and rate buckets -----------------------------------------------------------

    @_translated
    async def add_outbox_entries(self, entries: Sequence[OutboxEntry]) -> None:
        """Upsert, per due-minute partition: a repeat writes the same row."""
        await self._upsert_rows(OUTBOX, [e.to_entity() for e in entries])

    @_translated
    async def remove_outbox_entries(self, entries: Sequence[OutboxEntry]) -> None:
        by_bucket: dict[str, set[str]] = {}
        for entry in entries:
            by_bucket.setdefault(entry.bucket, set()).add(entry.row_key)
        table = await self.table(OUTBOX)
        for bucket, rows in by_bucket.items():
            for chunk in _chunks(sorted(rows), MAX_BATCH_OPERATIONS):
                try:
                    await self._transact(
                        OUTBOX,
                        [("delete", {"PartitionKey": bucket, "RowKey": r}) for r in chunk],
                    )
                except HttpResponseError as exc:
                    if exc.status_code != 404:
                        raise
                    for row in chunk:  # one was gone already: delete the rest one by one
                        await table.delete_entity(bucket, row)

    @_translated
    async def list_due_outbox(self, now: datetime, *, limit: int) -> list[OutboxEntry]:
        """Entries of every due-minute partition up to now, oldest first."""
        out: list[OutboxEntry] = []
        async for entity in self._query(
            OUTBOX, "PartitionKey le @bucket", {"bucket": due_bucket(now)}
        ):
            out.append(OutboxEntry.from_entity(entity))
            if len(out) >= limit:
                break
        return out

    @_translated
    async def find_outbox_for(self, recipient: str) -> list[OutboxEntry]:
        """Everything waiting for one recipient (a scan: opt-outs are rare, sends are not)."""
        return [
            OutboxEntry.from_entity(e)
            async for e in self._query(OUTBOX, "To eq @to", {"to": recipient})
        ]

    @_translated
    async def take_send_budget(
        self, sender: str, want: int, *, now: datetime, rate_per_minute: int
    ) -> int:
        """Take up to `want` tokens from the sender's shared bucket, ETag-safe across instances.
        The last state this process saw is tried first: one round trip while nobody else sends
        from that number, a re-read when someone did."""
        if want <= 0:
            return 0
        table = await self.table(RATE_BUCKETS)
        for _ in range(10):
            cached = self._buckets.get(sender)
            if cached is None:
                try:
                    entity = await table.get_entity(sender, "")
                    cached = (
                        Bucket(float(entity["Tokens"]), _aware(entity["At"])),
                        str(entity.metadata["etag"]),
                    )
                except ResourceNotFoundError:
                    cached = None
            bucket = cached[0] if cached else full_bucket(now, rate_per_minute)
            granted, after = bucket.take(want, now, rate_per_minute)
            row = {"PartitionKey": sender, "RowKey": "", "Tokens": after.tokens, "At": after.at}
            try:
                if cached is None:
                    meta = await table.create_entity(row)
                else:
                    meta = await table.update_entity(
                        row,
                        mode=UpdateMode.REPLACE,
                        etag=cached[1],
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceExistsError, ResourceModifiedError):
                self._buckets.pop(sender, None)  # someone else took tokens: read again
                continue
            self._buckets[sender] = (after, str(meta["etag"]))
            return granted
        return 0

    @_translated
    async def peek_send_budget(self, sender: str, *, now: datetime, rate_per_minute: int) -> float:
        """Tokens the sender's bucket holds now, from what this process last saw if it can."""
        cached = self._buckets.get(sender)
        if cached is not None:
            return cached[0].available(now, rate_per_minute)
        table = await self.table(RATE_BUCKETS)
        try:
            entity = await table.get_entity(sender, "")
        except ResourceNotFoundError:
            return float(rate_per_minute)
        bucket = Bucket(float(entity["Tokens"]), _aware(entity["At"]))
        self._buckets[sender] = (bucket, str(entity.metadata["etag"]))
        return bucket.available(now, rate_per_minute)

    @_translated
    async def get_messages(self, batch_id: str, indexes: Sequence[int]) -> list[MessageRecord]:
        """Rows of one batch by index, in one range query per run of at most 100 rows."""
        wanted = sorted(set(indexes))
        found: list[MessageRecord] = []
        for chunk in _chunks(wanted, MAX_BATCH_OPERATIONS):
            want = set(chunk)
            async for entity in self._query(
                MESSAGES,
                "PartitionKey eq @pk and RowKey ge @low and RowKey le @high",
                {"pk": batch_id, "low": row_key(chunk[0]), "high": row_key(chunk[-1])},
            ):
                if int(entity["RowKey"]) in want:
                    found.append(message_from_entity(entity, _etag(entity)))
        return found

    @_translated
    async def list_unfinished(self, batch_id: str) -> list[MessageRecord]:
        """A batch's messages that are queued or sent without a final status yet."""
        return [
            message_from_entity(e, _etag(e))
            async for e in self._query(
                MESSAGES,
                "PartitionKey eq @pk and RowKey lt @digits_end and ( Status eq @q or Status eq @a )",
                {"pk": batch_id, "digits_end": ":", "q": "queued", "a": "accepted"},
            )
        ]

    @_translated
    async def batch_status_counts(self, batch_id: str) -> dict[str, int] | None:
        counts: dict[str, int] = {}
        header = False
        async for entity in self._query(
            MESSAGES,
            "PartitionKey eq @pk and ( RowKey lt @digits_end or RowKey eq @batch )",
            {"pk": batch_id, "digits_end": ":", "batch": BATCH_ROW},
            select=["RowKey", "Status"],
        ):
            if entity["RowKey"] == BATCH_ROW:
                header = True
            else:
                counts[entity["Status"]] = counts.get(entity["Status"], 0) + 1
        return counts if header else None

    # --- usage events ------------------------------------------------------------------------

    @_translated
    async def record_usage(self, events: Sequence[UsageEvent]) -> None:
        """Upsert usage rows, per hour partition: a repeated event overwrites its own row."""
        await self._upsert_rows(USAGE, [e.to_entity() for e in events])

    # --- idempotency keys -------------------------------------------------------------------

    @_translated
    async def claim_idempotency_key(
        self, key: str, *, fingerprint: str, batch_id: str, now: datetime, lease: timedelta
    ) -> IdempotencyClaim:
        """Stripe-style: the first request with a key runs; others replay, wait or mismatch."""
        table = await self.table(IDEMPOTENCY)
        pk = hashlib.sha256(key.encode("utf-8")).hexdigest()
        entity = {
            "PartitionKey": pk,
            "RowKey": "",
            "Fingerprint": fingerprint,
            "BatchId": batch_id,
            "State": "started",
            "CreatedAt": now,
            "LeaseUntil": now + lease,
        }
        try:
            await table.create_entity(entity)
            return IdempotencyClaim("new", batch_id)
        except ResourceExistsError:
            pass
        existing = await table.get_entity(pk, "")
        etag = existing.metadata["etag"]
        if existing["CreatedAt"] < now - IDEMPOTENCY_TTL:
            try:  # an expired key starts over as a new request
                await table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
                return IdempotencyClaim("new", batch_id)
            except ResourceModifiedError:
                return IdempotencyClaim("in_progress", batch_id, retry_after=1.0)
        if existing["Fingerprint"] != fingerprint:
            return IdempotencyClaim("mismatch", existing["BatchId"])
        if existing["State"] == "completed":
            return IdempotencyClaim("replay", existing["BatchId"])
        lease_until: datetime = existing["LeaseUntil"]
        if lease_until > now:
            return IdempotencyClaim(
                "in_progress", existing["BatchId"], (lease_until - now).total_seconds()
            )
        try:  # the first attempt died mid-way: take it over and finish its work
            await table.update_entity(
                {"PartitionKey": pk, "RowKey": "", "LeaseUntil": now + lease},
                mode=UpdateMode.MERGE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            return IdempotencyClaim("in_progress", existing["BatchId"], retry_after=1.0)
        return IdempotencyClaim("resume", existing["BatchId"])

    @_translated
    async def complete_idempotency_key(self, key: str) -> None:
        table = await self.table(IDEMPOTENCY)
        pk = hashlib.sha256(key.encode("utf-8")).hexdigest()
        await table.update_entity(
            {"PartitionKey": pk, "RowKey": "", "State": "completed"}, mode=UpdateMode.MERGE
        )

    @_translated
    async def release_idempotency_key(self, key: str) -> None:
        """Forget a key whose request failed before doing anything, so a retry runs afresh."""
        table = await self.table(IDEMPOTENCY)
        pk = hashlib.sha256(key.encode("utf-8")).hexdigest()
        await table.delete_entity(pk, "")


def _encode_token(token: Any) -> str | None:
    if not token:
        return None
    raw = json.dumps(token, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_token(text: str) -> Any:
    """A client's continuation token back to the SDK's form; garbage is a ValueError."""
    try:
        padded = text + "=" * (-len(text) % 4)
        token = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError) as exc:
        raise ValueError("malformed continuation token") from exc
    if not isinstance(token, dict) or not all(isinstance(v, str) for v in token.values()):
        raise ValueError("malformed continuation token")
    return token


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _etag(entity: Any) -> str | None:
    metadata = getattr(entity, "metadata", None) or {}
    etag = metadata.get("etag")
    return str(etag) if etag else None


def _with_etag(message: MessageRecord, etag: str) -> MessageRecord:
    return replace(message, etag=etag or None)


def _conditional_update(message: MessageRecord) -> tuple[Any, ...]:
    entity = message_to_entity(message)
    if message.etag:
        return (
            "update",
            entity,
            {
                "mode": UpdateMode.REPLACE,
                "etag": message.etag,
                "match_condition": MatchConditions.IfNotModified,
            },
        )
    return ("update", entity, {"mode": UpdateMode.REPLACE})
