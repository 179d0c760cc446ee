"""The one way the app talks to Table Storage (`azure.data.tables.aio`).

Rules kept here so no repository can forget them: tables are created on first use, filters
are always parameterised, a transaction never holds more than 100 operations of one partition,
every call is bounded in time, and SDK failures become the typed errors of `shared.errors`
(a failed transaction says which operation failed, as `TableTransactionError.index` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
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

from shared.errors import (
    AlreadyExistsError,
    ConcurrentUpdateError,
    StoreRejectedError,
    StoreUnavailableError,
)
from shared.tables.paging import decode_token, encode_token

MAX_BATCH_OPERATIONS = 100  # Table Storage: at most 100 operations per transaction
MAX_FILTER_COMPARISONS = 15  # Table Storage: at most 15 discrete comparisons per $filter
TRANSACTIONS_IN_FLIGHT = 4

# Bounded time: the SDK's defaults (a 300 s read timeout, 10 retries with backoff) would hold an
# HTTP request for minutes when storage hangs. Worst case per call here: 3 attempts of at most
# 2 s to connect and 8 s to read, plus under 2 s of backoff: a hanging store is answered within
# half a minute, and a busy one (a 100-row transaction can take seconds) is not mistaken for down.
CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 2,
    "read_timeout": 8,
    "retry_total": 2,
    "retry_backoff_factor": 0.4,
    "retry_backoff_max": 1.0,
}

# Table Storage answers these for a key, value or request over its limits.
REJECTED_STATUS = frozenset({400, 413, 431})

Operation = tuple[Literal["create", "update", "upsert", "delete"], dict[str, Any], dict[str, Any]]
P = ParamSpec("P")
R = TypeVar("R")


async def gather_bounded(
    calls: Iterable[Awaitable[R]], limit: int = TRANSACTIONS_IN_FLIGHT
) -> list[R]:
    """Independent reads or writes at once, a few at a time, answers in order."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[R]) -> R:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))


def chunks(items: Sequence[Any], size: int = MAX_BATCH_OPERATIONS) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def translated(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Connection failures, timeouts and 5xx become `StoreUnavailableError`."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (ServiceRequestError, ServiceResponseError, TimeoutError, OSError) as exc:
            raise StoreUnavailableError(f"Table Storage unavailable: {type(exc).__name__}") from exc
        except HttpResponseError as exc:
            if exc.status_code is None or exc.status_code >= 500 or exc.status_code == 408:
                raise StoreUnavailableError(
                    f"Table Storage unavailable: {exc.status_code}"
                ) from exc
            if exc.status_code in REJECTED_STATUS:
                raise StoreRejectedError(f"Table Storage refused it: {exc.status_code}") from exc
            raise

    return wrapper


def conditional_update(entity: dict[str, Any], etag: str | None) -> Operation:
    """Replace the row, if it still has `etag` (unconditionally when there is none)."""
    if etag:
        options = {
            "mode": UpdateMode.REPLACE,
            "etag": etag,
            "match_condition": MatchConditions.IfNotModified,
        }
        return ("update", entity, options)
    return ("update", entity, {"mode": UpdateMode.REPLACE})


def etag_of(entity: Any) -> str | None:
    metadata = getattr(entity, "metadata", None) or {}
    etag = metadata.get("etag")
    return str(etag) if etag else None


@dataclass(frozen=True, slots=True)
class Page:
    entities: list[dict[str, Any]]
    continuation: str | None


class TableGateway:
    """The app's tables under one prefix; create one per process and reuse it."""

    def __init__(self, service: TableServiceClient, *, prefix: str) -> None:
        self._service = service
        self._prefix = prefix
        self._ready: dict[str, TableClient] = {}
        self._lock = asyncio.Lock()

    @classmethod
    def from_connection_string(
        cls, connection_string: str, *, prefix: str, **client_kwargs: Any
    ) -> TableGateway:
        """`client_kwargs` go to the SDK client (e.g. `transport=`, to meter requests)."""
        options = {**CLIENT_OPTIONS, **client_kwargs}
        service = TableServiceClient.from_connection_string(connection_string, **options)
        return cls(service, prefix=prefix)

    async def aclose(self) -> None:
        for table in self._ready.values():
            await table.close()
        await self._service.close()

    def table_name(self, name: str) -> str:
        return self._prefix + name

    @translated
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

    async def query(
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
        except (ServiceRequestError, ServiceResponseError, TimeoutError, OSError) as exc:
            raise StoreUnavailableError(f"Table Storage unavailable: {type(exc).__name__}") from exc

    @translated
    async def query_all(
        self,
        name: str,
        query_filter: str,
        parameters: dict[str, Any],
        select: list[str] | None = None,
        *,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async for entity in self.query(name, query_filter, parameters, select):
            out.append(entity)
            if limit is not None and len(out) >= limit:
                break
        return out

    @translated
    async def first_rows(self, name: str, limit: int, select: list[str] | None = None) -> list[Any]:
        """The first rows of a table in key order (tables list in key order)."""
        table = await self.table(name)
        out: list[Any] = []
        async for entity in table.list_entities(results_per_page=limit, select=select):
            out.append(entity)
            if len(out) >= limit:
                break
        return out

    @translated
    async def page(
        self,
        name: str,
        query_filter: str,
        parameters: dict[str, Any],
        *,
        limit: int,
        continuation: str | None,
    ) -> Page:
        """One page of results and an opaque token for the next (None on the last page); a
        token this listing did not give out is a `BadContinuationTokenError`."""
        scope = f"{name}|{query_filter}|{sorted(parameters.items())}"
        token = decode_token(continuation, scope) if continuation else None
        table = await self.table(name)
        pages = table.query_entities(
            query_filter, parameters=parameters, results_per_page=limit
        ).by_page(continuation_token=token)  # type: ignore[arg-type]  # the SDK's token is a dict
        entities: list[dict[str, Any]] = []
        async for page in pages:
            entities = [entity async for entity in page]
            break
        return Page(entities, encode_token(getattr(pages, "continuation_token", None), scope))

    @translated
    async def get(self, name: str, partition: str, row: str) -> Any:
        """The entity (with `.metadata`), or None."""
        table = await self.table(name)
        try:
            return await table.get_entity(partition, row)
        except ResourceNotFoundError:
            return None

    @translated
    async def create(self, name: str, entity: dict[str, Any]) -> str:
        """Insert; `AlreadyExistsError` if the row is there. Answers the new ETag."""
        return (await self.transact(name, [("create", entity, {})]))[0]

    @translated
    async def upsert(self, name: str, entity: dict[str, Any], *, merge: bool = False) -> str:
        mode = UpdateMode.MERGE if merge else UpdateMode.REPLACE
        return (await self.transact(name, [("upsert", entity, {"mode": mode})]))[0]

    @translated
    async def replace_if(self, name: str, entity: dict[str, Any], etag: str | None) -> str:
        """Replace the row if its ETag is still `etag`; `ConcurrentUpdateError` if not."""
        return (await self.transact(name, [conditional_update(entity, etag)]))[0]

    @translated
    async def delete(self, name: str, partition: str, row: str) -> None:
        """Deleting what is absent is not an error."""
        table = await self.table(name)
        with contextlib.suppress(ResourceNotFoundError):
            await table.delete_entity(partition, row)

    @translated
    async def transact(self, name: str, operations: Sequence[Operation]) -> list[str]:
        """One transaction (one partition, at most 100 operations); answers each new ETag.
        A failed one raises with `index` naming the operation that failed."""
        table = await self.table(name)
        if len(operations) == 1:
            return [await self._single(table, operations[0])]
        try:
            results = await table.submit_transaction(list(operations))
        except TableTransactionError as exc:
            code = str(getattr(exc, "error_code", "") or "")
            if code == "EntityAlreadyExists" or exc.status_code == 409:
                raise AlreadyExistsError(code, index=exc.index) from exc
            if exc.status_code == 412:
                raise ConcurrentUpdateError(code, index=exc.index) from exc
            raise
        return [str(r.get("etag", "")) for r in results]

    @translated
    async def transact_all(
        self, name: str, transactions: Sequence[Sequence[Operation]]
    ) -> list[list[str] | BaseException]:
        """Independent transactions (other rows or partitions), a few at a time. Answers each
        one's ETags, or the store error that stopped it, in order; other errors raise."""
        gate = asyncio.Semaphore(TRANSACTIONS_IN_FLIGHT)

        async def one(operations: Sequence[Operation]) -> list[str]:
            async with gate:
                return await self.transact(name, operations)

        results = await asyncio.gather(*(one(t) for t in transactions), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(
                result, AlreadyExistsError | ConcurrentUpdateError
            ):
                raise result
        return list(results)

    async def upsert_rows(self, name: str, rows: Sequence[dict[str, Any]]) -> None:
        """Replace-upserts grouped by partition, 100 to a transaction, each row once (the last
        version of a repeated key wins)."""
        by_partition: dict[str, dict[str, dict[str, Any]]] = {}
        for row in rows:
            by_partition.setdefault(row["PartitionKey"], {})[row["RowKey"]] = row
        transactions: list[list[Operation]] = [
            [("upsert", r, {"mode": UpdateMode.REPLACE}) for r in chunk]
            for partition in by_partition.values()
            for chunk in chunks(list(partition.values()))
        ]
        await self.transact_all(name, transactions)

    async def delete_rows(self, name: str, keys: Iterable[tuple[str, str]]) -> None:
        """Delete rows, 100 to a transaction per partition; rows already gone are fine."""
        by_partition: dict[str, set[str]] = {}
        for partition, row in keys:
            by_partition.setdefault(partition, set()).add(row)
        for partition, rows in by_partition.items():
            for chunk in chunks(sorted(rows)):
                try:
                    await self.transact(
                        name,
                        [("delete", {"PartitionKey": partition, "RowKey": r}, {}) for r in chunk],
                    )
                except HttpResponseError as exc:
                    if exc.status_code != 404:
                        raise
                    await asyncio.gather(*(self.delete(name, partition, r) for r in chunk))

    async def _single(self, table: TableClient, operation: Operation) -> str:
        """A transaction of one, as a plain entity request: same effect and errors, but the
        SDK's multipart encoding of a transaction costs about twice the CPU of one request."""
        kind, entity, options = operation
        try:
            if kind == "create":
                result = await table.create_entity(entity)
            elif kind == "update":
                result = await table.update_entity(entity, **options)
            elif kind == "upsert":
                result = await table.upsert_entity(entity, **options)
            else:
                await table.delete_entity(entity["PartitionKey"], entity["RowKey"], **options)
                return ""
        except ResourceExistsError as exc:
            raise AlreadyExistsError(index=0) from exc
        except ResourceModifiedError as exc:
            raise ConcurrentUpdateError(index=0) from exc
        return str(result.get("etag", ""))
