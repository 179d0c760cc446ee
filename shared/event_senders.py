"""Handing events to a destination: Standard Webhooks POSTs and Event Grid topic publishes.

Each attempt answers what it came to: taken, try again later, or gone for good (`410 Gone`, as
Standard Webhooks receivers say "stop sending"). Nothing here waits or retries: the publisher
owns the schedule, which outlives any one process.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import httpx
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.messaging import CloudEvent

from shared.clock import parse_iso
from shared.webhooks import signed_headers

log = logging.getLogger("sms.events")

WEBHOOK_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
MAX_PUBLISH = 100  # events per Event Grid publish (well under its 1 MB per request)


class Result(Enum):
    TAKEN = "taken"
    RETRY = "retry"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class Attempt:
    result: Result
    detail: str = ""


TAKEN = Attempt(Result.TAKEN)


def is_public_address(text: str) -> bool:
    """False for loopback, private, link-local, multicast, reserved and unspecified ones: a
    callback must not reach into the network the app runs in."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.is_global and not address.is_multicast


async def resolves_public(url: str) -> bool:
    """Every address the URL's host resolves to is public (checked before each delivery, so a
    name pointed at an internal address later is refused too)."""
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(is_public_address(str(info[4][0])) for info in infos)


def _classify(status: int) -> Attempt:
    if 200 <= status < 300:
        return TAKEN
    if status == 410:
        return Attempt(Result.GONE, "410 Gone")
    return Attempt(Result.RETRY, f"HTTP {status}")


class WebhookSender:
    """One event per POST, its CloudEvent as the body, signed with every secret given."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(transport=transport, timeout=WEBHOOK_TIMEOUT)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def deliver(
        self,
        url: str,
        secrets: Sequence[str],
        cloud_event: dict[str, Any],
        *,
        public_only: bool = False,
    ) -> Attempt:
        if public_only and not await resolves_public(url):
            return Attempt(Result.GONE, "the callback URL does not resolve to a public address")
        body = json.dumps(cloud_event, separators=(",", ":"), ensure_ascii=False).encode()
        headers = signed_headers(secrets, str(cloud_event["id"]), body)
        headers["content-type"] = "application/cloudevents+json; charset=utf-8"
        try:
            response = await self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Attempt(Result.RETRY, type(exc).__name__)
        return _classify(response.status_code)


def _sdk_event(cloud_event: dict[str, Any]) -> CloudEvent[Any]:
    return CloudEvent(
        source=cloud_event["source"],
        type=cloud_event["type"],
        data=cloud_event["data"],
        subject=cloud_event.get("subject"),
        id=cloud_event["id"],
        time=parse_iso(cloud_event["time"]),
        datacontenttype=cloud_event.get("datacontenttype"),
    )


class EventGridSender:
    """A custom topic, through the official SDK's publisher (CloudEvents 1.0 schema). With a
    key it signs with `aeg-sas-key`; without one it uses the app's managed identity."""

    def __init__(self, endpoint: str, key: str | None) -> None:
        # Imported only when a topic is configured: every function's cold start stays lean.
        from azure.eventgrid.aio import EventGridPublisherClient

        credential: Any
        if key:
            credential = AzureKeyCredential(key)
            self._identity = None
        else:
            from azure.identity.aio import ManagedIdentityCredential

            credential = self._identity = ManagedIdentityCredential()
        self._client = EventGridPublisherClient(
            endpoint, credential, retry_total=0, connection_timeout=5, read_timeout=30
        )

    async def aclose(self) -> None:
        await self._client.close()
        if self._identity is not None:
            await self._identity.close()

    async def publish(self, cloud_events: Sequence[dict[str, Any]]) -> Attempt:
        """All of them or none: Event Grid takes a publish whole."""
        try:
            await self._client.send([_sdk_event(e) for e in cloud_events])
        except HttpResponseError as exc:
            return _classify(exc.status_code or 500)
        except AzureError as exc:
            return Attempt(Result.RETRY, type(exc).__name__)
        return TAKEN
