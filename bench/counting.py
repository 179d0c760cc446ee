"""Transports that count every HTTP request the app makes to Table Storage and to ACS.

They wrap the real transports (aiohttp for azure-core, httpx for ACS), so what is counted is
what goes on the wire: a table transaction of 100 rows is one request, and a retry is another.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from unittest import mock

import httpx
from azure.core.pipeline.transport import (
    AioHttpTransport,
    AsyncHttpTransport,
    HttpTransport,
    RequestsTransport,
)

from shared.acs_client import (
    AcsSmsClient,
)
from shared.config import AcsConnection
from shared.storage import Storage

Service = Literal["tables", "acs"]
_TABLE = re.compile(r"/([A-Za-z][A-Za-z0-9]*|\$batch)(?:\(|$)")


@dataclass(frozen=True, slots=True)
class Call:
    service: Service
    method: str
    target: str  # the table (without prefix) or the ACS path

    def label(self) -> str:
        return f"{self.method} {self.target}"


@dataclass(frozen=True, slots=True)
class Cost:
    """The requests of one operation."""

    calls: tuple[Call, ...]

    @property
    def tables(self) -> int:
        return sum(1 for c in self.calls if c.service == "tables")

    @property
    def acs(self) -> int:
        return sum(1 for c in self.calls if c.service == "acs")

    def breakdown(self) -> dict[str, int]:
        """Requests per method and table (or path), most frequent first."""
        return dict(Counter(c.label() for c in self.calls).most_common())


@dataclass
class Meter:
    """Collects the calls of every transport it made; `prefix` is cut from table names."""

    prefix: str = ""
    calls: list[Call] = field(default_factory=list)

    def mark(self) -> int:
        return len(self.calls)

    def since(self, mark: int) -> Cost:
        return Cost(tuple(self.calls[mark:]))

    def record(self, service: Service, method: str, target: str) -> None:
        self.calls.append(Call(service, method, target))

    def table_name(self, name: str) -> str:
        return name.removeprefix(self.prefix) if self.prefix else name

    def tables_transport(self) -> MeteredTableTransport:
        return MeteredTableTransport(self)

    def acs_transport(self) -> MeteredAcsTransport:
        return MeteredAcsTransport(self)

    def sync_transport(self, service: Service) -> MeteredSyncTransport:
        return MeteredSyncTransport(self, service)


def _table_of(request: Any, meter: Meter) -> str:
    """The table a request addresses; for a transaction, the table of its first operation."""
    name = _table_in(request.url)
    if name == "$batch":  # the request holds a changeset, which holds the operations
        part = request
        for _ in range(2):
            parts = getattr(part, "_multipart_mixed_info", None)
            if not parts or not parts[0]:
                return "$batch"
            part = parts[0][0]
        return "$batch " + meter.table_name(_table_in(part.url))
    return "Tables (create)" if name == "Tables" else meter.table_name(name)


def _table_in(url: object) -> str:
    path = httpx.URL(str(url)).path
    match = _TABLE.search(path)
    return match.group(1) if match else path


class MeteredTableTransport(AsyncHttpTransport):  # type: ignore[type-arg]
    """azure-core's aiohttp transport, counting each request it sends."""

    def __init__(self, meter: Meter) -> None:
        self._meter = meter
        self._inner = AioHttpTransport()

    async def send(self, request: Any, **kwargs: Any) -> Any:
        self._meter.record("tables", request.method, _table_of(request, self._meter))
        return await self._inner.send(request, **kwargs)

    async def open(self) -> None:
        await self._inner.open()

    async def close(self) -> None:
        await self._inner.close()

    async def __aenter__(self) -> MeteredTableTransport:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self._inner.__aexit__(*args)


class MeteredSyncTransport(HttpTransport):  # type: ignore[type-arg]
    """azure-core's requests transport, for the sync SDK clients of the quickstart baseline."""

    def __init__(self, meter: Meter, service: Service) -> None:
        self._meter = meter
        self._service = service
        self._inner = RequestsTransport()

    def send(self, request: Any, **kwargs: Any) -> Any:
        if self._service == "tables":
            target = _table_of(request, self._meter)
        else:
            target = httpx.URL(str(request.url)).path
        self._meter.record(self._service, request.method, target)
        return self._inner.send(request, **kwargs)

    def open(self) -> None:
        self._inner.open()

    def close(self) -> None:
        self._inner.close()

    def __exit__(self, *args: Any) -> None:
        self._inner.__exit__(*args)


class MeteredAcsTransport(httpx.AsyncBaseTransport):
    """httpx's transport, counting each request the ACS client sends (retries included)."""

    def __init__(self, meter: Meter) -> None:
        self._meter = meter
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._meter.record("acs", request.method, request.url.path)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@contextmanager
def metered_services(meter: Meter) -> Iterator[Meter]:
    """While active, the services `shared.runtime` builds send through `meter`'s transports.

    Close the current services first (`shared.runtime.close_services`) so they are rebuilt."""
    make_store = Storage.from_connection_string
    make_acs = AcsSmsClient.from_connection

    def store(connection_string: str, *, prefix: str, **kwargs: Any) -> Storage:
        return make_store(
            connection_string, prefix=prefix, transport=meter.tables_transport(), **kwargs
        )

    def acs(connection: AcsConnection, **kwargs: Any) -> AcsSmsClient:
        return make_acs(connection, transport=meter.acs_transport(), **kwargs)

    with (
        mock.patch.object(Storage, "from_connection_string", store),
        mock.patch.object(AcsSmsClient, "from_connection", acs),
    ):
        yield meter
