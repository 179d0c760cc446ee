"""All app state in Azure Table Storage, through `azure.data.tables.aio`.

Rules kept here so callers cannot forget them: tables are created on first use, filters are
always parameterised, a transaction never exceeds 100 operations of one partition, and updates
that change a message's state are ETag-conditional.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

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

from shared.records import (
    ACS_ROW_PREFIX,
    BATCH_ROW,
    BatchRecord,
    MessageRecord,
    acs_index_entity,
    batch_from_entity,
    batch_to_entity,
    message_from_entity,
    message_to_entity,
)

MAX_BATCH_OPERATIONS = 100  # Table Storage: at most 100 operations per transaction
MAX_FILTER_COMPARISONS = 15  # Table Storage: at most 15 discrete comparisons per $filter
POOL_WIDE = "*"  # optOuts partition of opt-outs that cover every sender of the pool
IDEMPOTENCY_TTL = timedelta(hours=24)

MESSAGES, OPT_OUTS, IDEMPOTENCY = "messages", "optOuts", "idempotency"


class StoreError(Exception):
    pass


class StoreUnavailableError(StoreError):
    """Table Storage could not be reached or answered 5xx: worth retrying later."""


class BatchExistsError(StoreError):
    pass


class ConcurrentUpdateError(StoreError):
    """An ETag condition failed: someone else changed the row since it was read."""


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


class SmsStore:
    """The app's tables behind verbs; create one per process and reuse it."""

    def __init__(self, service: TableServiceClient, *, prefix: str) -> None:
        self._service = service
        self._prefix = prefix
        self._ready: dict[str, TableClient] = {}
        self._lock = asyncio.Lock()

    @classmethod
    def from_connection_string(cls, connection_string: str, *, prefix: str) -> SmsStore:
        return cls(TableServiceClient.from_connection_string(connection_string), prefix=prefix)

    async def aclose(self) -> None:
        for table in self._ready.values():
            await table.close()
        await self._service.close()

    def table_name(self, name: str) -> str:
        return self._prefix + name

    async def table(self, name: str) -> TableClient:
        client = self._ready.get(name)
        if client is not None:
            return client
        async with self._lock:
            if name not in self._ready:
                full = self.table_name(name)
                try:
                    await self._service.create_table_if_not_exists(full)
                except (ServiceRequestError, ServiceResponseError) as exc:
                    raise _unavailable(exc) from exc
                except HttpResponseError as exc:
                    if _is_transient(exc):
                        raise _unavailable(exc) from exc
                    raise
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
        try:
            async for entity in table.query_entities(
                query_filter, parameters=parameters, select=select
            ):
                yield entity
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise _unavailable(exc) from exc
        except HttpResponseError as exc:
            if _is_transient(exc):
                raise _unavailable(exc) from exc
            raise

    async def _transact(self, name: str, operations: list[tuple[Any, ...]]) -> list[str]:
        """Submit one transaction; returns the new ETag of each operation."""
        table = await self.table(name)
        try:
            results = await table.submit_transaction(operations)
        except TableTransactionError as exc:
            code = str(getattr(exc, "error_code", "") or "")
            if code == "EntityAlreadyExists" or exc.status_code == 409:
                raise BatchExistsError(code) from exc
            if exc.status_code == 412:
                raise ConcurrentUpdateError(code) from exc
            if _is_transient(exc):
                raise _unavailable(exc) from exc
            raise
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise _unavailable(exc) from exc
        except HttpResponseError as exc:
            if _is_transient(exc):
                raise _unavailable(exc) from exc
            raise
        return [str(r.get("etag", "")) for r in results]

    # --- messages ---------------------------------------------------------------------------

    async def create_messages(
        self, messages: Sequence[MessageRecord], batch: BatchRecord | None = None
    ) -> list[MessageRecord]:
        """Insert a batch's rows (header first); `BatchExistsError` if a row is already there."""
        entities: list[dict[str, Any]] = [message_to_entity(m) for m in messages]
        if batch is not None:
            entities.insert(0, batch_to_entity(batch))
        etags: list[str] = []
        for chunk in _chunks(entities, MAX_BATCH_OPERATIONS):
            etags += await self._transact(MESSAGES, [("create", e) for e in chunk])
        if batch is not None:
            etags = etags[1:]
        return [_with_etag(m, etag) for m, etag in zip(messages, etags, strict=True)]

    async def update_messages(
        self, messages: Sequence[MessageRecord], *, index_acs_ids: bool = True
    ) -> list[MessageRecord]:
        """ETag-conditional merge of changed messages, each with its ACS-id index row.

        A message and its index row always travel in the same transaction, so a delivery report
        never finds an index row pointing at a message that does not say it was sent.
        """
        plans: list[list[tuple[Any, ...]]] = []
        for message in messages:
            ops: list[tuple[Any, ...]] = [_conditional_update(message)]
            if index_acs_ids and message.acs_message_id:
                index = acs_index_entity(message.batch_id, message.acs_message_id, message.index)
                ops.append(("upsert", index, {"mode": UpdateMode.REPLACE}))
            plans.append(ops)
        result: list[MessageRecord] = []
        start = 0
        while start < len(plans):
            end, size = start, 0
            while end < len(plans) and size + len(plans[end]) <= MAX_BATCH_OPERATIONS:
                size += len(plans[end])
                end += 1
            etags = await self._transact(MESSAGES, [op for ops in plans[start:end] for op in ops])
            offset = 0
            for position in range(start, end):
                result.append(_with_etag(messages[position], etags[offset]))
                offset += len(plans[position])
            start = end
        return result

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

    async def find_acs_index(self, batch_id: str, acs_message_id: str) -> str | None:
        table = await self.table(MESSAGES)
        try:
            entity = await table.get_entity(batch_id, ACS_ROW_PREFIX + acs_message_id)
        except ResourceNotFoundError:
            return None
        return str(entity["MessageRow"])

    # --- opt-outs ---------------------------------------------------------------------------

    async def add_opt_out(
        self, recipient: str, *, sender: str = POOL_WIDE, at: datetime, source: str
    ) -> None:
        table = await self.table(OPT_OUTS)
        entity = {"PartitionKey": sender, "RowKey": recipient, "At": at, "Source": source}
        await table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    async def remove_opt_out(self, recipient: str, *, sender: str = POOL_WIDE) -> None:
        table = await self.table(OPT_OUTS)
        await table.delete_entity(sender, recipient)

    async def find_opted_out(self, senders: Sequence[str], recipients: Sequence[str]) -> set[str]:
        """Which recipients may not be texted by any of `senders` (pool-wide opt-outs included)."""
        if not recipients:
            return set()
        partitions = [POOL_WIDE, *dict.fromkeys(senders)]
        per_query = MAX_FILTER_COMPARISONS - len(partitions)
        if per_query >= 4 and len(recipients) <= per_query * 3:
            return await self._opted_out_by_key(partitions, recipients, per_query)
        return await self._opted_out_by_range(partitions, recipients)

    async def _opted_out_by_key(
        self, partitions: list[str], recipients: Sequence[str], per_query: int
    ) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(list(recipients), per_query):
            params: dict[str, Any] = {f"p{i}": p for i, p in enumerate(partitions)}
            params.update({f"r{i}": r for i, r in enumerate(chunk)})
            pk = " or ".join(f"PartitionKey eq @p{i}" for i in range(len(partitions)))
            rk = " or ".join(f"RowKey eq @r{i}" for i in range(len(chunk)))
            async for entity in self._query(
                OPT_OUTS, f"( {pk} ) and ( {rk} )", params, select=["RowKey"]
            ):
                found.add(entity["RowKey"])
        return found

    async def _opted_out_by_range(
        self, partitions: list[str], recipients: Sequence[str]
    ) -> set[str]:
        # One scan per partition over the recipients' key range: the cost follows the number of
        # opt-outs in that range, not the number of recipients.
        wanted = set(recipients)
        low, high = min(wanted), max(wanted)
        found: set[str] = set()
        for partition in partitions:
            async for entity in self._query(
                OPT_OUTS,
                "PartitionKey eq @pk and RowKey ge @low and RowKey le @high",
                {"pk": partition, "low": low, "high": high},
                select=["RowKey"],
            ):
                if entity["RowKey"] in wanted:
                    found.add(entity["RowKey"])
        return found

    # --- idempotency keys -------------------------------------------------------------------

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

    async def complete_idempotency_key(self, key: str) -> None:
        table = await self.table(IDEMPOTENCY)
        pk = hashlib.sha256(key.encode("utf-8")).hexdigest()
        await table.update_entity(
            {"PartitionKey": pk, "RowKey": "", "State": "completed"}, mode=UpdateMode.MERGE
        )

    async def release_idempotency_key(self, key: str) -> None:
        """Forget a key whose request failed before doing anything, so a retry runs afresh."""
        table = await self.table(IDEMPOTENCY)
        pk = hashlib.sha256(key.encode("utf-8")).hexdigest()
        await table.delete_entity(pk, "")


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
                "mode": UpdateMode.MERGE,
                "etag": message.etag,
                "match_condition": MatchConditions.IfNotModified,
            },
        )
    return ("update", entity, {"mode": UpdateMode.MERGE})
