"""Test kit: run the sandbox in-process, call it with signed requests, and catch its events.

Used by the sandbox's own tests; handy for any test that needs ACS without a Functions host.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from aiohttp import web
from aiohttp.test_utils import TestServer

from .app import create_app
from .auth import sign_headers
from .config import DEV_ACCESS_KEY, SandboxConfig
from .timefmt import format_rfc1123

if TYPE_CHECKING:
    from .tls import TlsFiles


@asynccontextmanager
async def serve(
    config: SandboxConfig | None = None, *, tls: TlsFiles | None = None
) -> AsyncIterator[str]:
    """A sandbox on a free loopback port for the duration of the block; yields its base URL
    (`https://…` when given certificate files, see `tls.ensure_certificate`)."""
    server = TestServer(create_app(config), host="127.0.0.1")
    await server.start_server(ssl=None if tls is None else tls.server_context())
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def recipient(
    to: str, *, request_id: str | None = None, first_sent: str | None = None
) -> dict[str, str]:
    """An `smsRecipients` item with fresh repeatability fields, as the SDK builds them."""
    return {
        "to": to,
        "repeatabilityRequestId": request_id or str(uuid.uuid4()),
        "repeatabilityFirstSent": first_sent or format_rfc1123(datetime.now(UTC)),
    }


class SignedClient:
    """An httpx client that signs every request with the ACS HMAC scheme."""

    def __init__(self, base_url: str, access_key: str = DEV_ACCESS_KEY) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=10.0)
        self._key = base64.b64decode(access_key)

    async def __aenter__(self) -> SignedClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def call(
        self,
        method: str,
        path_and_query: str,
        body: bytes = b"",
        *,
        date: datetime | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        request = self.http.build_request(method, path_and_query, content=body)
        request.headers.update(
            sign_headers(
                method,
                request.url.raw_path.decode("ascii"),
                request.headers["host"],
                body,
                self._key,
                date or datetime.now(UTC),
            )
        )
        request.headers["Content-Type"] = "application/json"
        request.headers.update(headers or {})
        return await self.http.send(request)

    async def post_json(self, path_and_query: str, payload: Any, **kwargs: Any) -> httpx.Response:
        return await self.call("POST", path_and_query, json.dumps(payload).encode(), **kwargs)

    async def send_sms(
        self,
        sender: str,
        recipients: Iterable[str | dict[str, str]],
        message: str,
        *,
        tag: str | None = None,
        delivery_report: bool = True,
        api_version: str = "2021-03-07",
        options: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """`POST /sms`; plain numbers get fresh repeatability fields, dicts are sent as given;
        `options` are added to `smsSendOptions`."""
        send_options: dict[str, Any] = {"enableDeliveryReport": delivery_report}
        if tag is not None:
            send_options["tag"] = tag
        send_options |= options or {}
        payload = {
            "from": sender,
            "smsRecipients": [recipient(r) if isinstance(r, str) else r for r in recipients],
            "message": message,
            "smsSendOptions": send_options,
        }
        return await self.post_json(f"/sms?api-version={api_version}", payload)


@dataclass
class ReceivedDelivery:
    """One webhook call as the Functions host would see it."""

    function_name: str
    headers: dict[str, str]
    body: Any
    status: int

    @property
    def events(self) -> list[dict[str, Any]]:
        """Event Grid posts an array; CloudEvents 1.0 posts one object."""
        return list(self.body) if isinstance(self.body, list) else [self.body]


@dataclass
class EventReceiver:
    """A stand-in for `POST /runtime/webhooks/EventGrid?functionName=…` that records calls.

    `statuses` are answered in order, then every call gets 202 (what the Functions host
    answers when all invocations succeeded).
    """

    statuses: Sequence[int] = ()
    deliveries: list[ReceivedDelivery] = field(default_factory=list)
    url: str = ""
    _pending: list[int] = field(default_factory=list)
    _server: TestServer | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> EventReceiver:
        self._pending = list(self.statuses)
        app = web.Application()
        app.router.add_post("/runtime/webhooks/EventGrid", self._receive)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        self.url = str(self._server.make_url("")).rstrip("/")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.close()

    async def _receive(self, request: web.Request) -> web.Response:
        status = self._pending.pop(0) if self._pending else 202
        self.deliveries.append(
            ReceivedDelivery(
                request.query.get("functionName", ""),
                dict(request.headers),
                json.loads(await request.read()),
                status,
            )
        )
        self._arrived.set()
        return web.Response(status=status)

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for d in self.deliveries
            for e in d.events
            if event_type is None or event_type in (e.get("eventType"), e.get("type"))
        ]

    async def wait_for(self, count: int, within: float = 5.0) -> list[ReceivedDelivery]:
        """Waits until at least `count` webhook calls have arrived."""
        async with asyncio.timeout(within):
            while len(self.deliveries) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.deliveries
