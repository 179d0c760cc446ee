"""Forwarding inbound messages to `SMS_INBOUND_WEBHOOK_URL`, signed the Standard Webhooks way.

Signature: `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, with
`webhook-id` stable across retries (the receiver's dedupe key) and `webhook-timestamp` in Unix
seconds (standardwebhooks.com). The signing is a few lines of the standard
library, so the `standardwebhooks` package is not needed; its verifier accepts what we send.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

SECRET_PREFIX = "whsec_"
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookError(Exception):
    """The receiver did not take the message after retries; the event is retried later."""


def secret_key(secret: str) -> bytes:
    """`whsec_<base64>` as Standard Webhooks issues it; any other string is used as raw bytes."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :])
    return secret.encode("utf-8")


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(
    secret: str | Sequence[str], webhook_id: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """Signed with every secret given, space-separated as the standard allows: while a key is
    rotated, receivers holding either the new or the old one accept the message."""
    timestamp = int(time.time() if now is None else now)
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
    }
    secrets = [secret] if isinstance(secret, str) else list(secret)
    signatures = [sign(s, webhook_id, timestamp, body) for s in secrets if s]
    if signatures:
        headers["webhook-signature"] = " ".join(signatures)
    return headers


class WebhookForwarder:
    def __init__(
        self,
        url: str,
        secret: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        attempts: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._url = url
        self._secret = secret
        self._http = httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(10.0, connect=3.0)
        )
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep

    async def aclose(self) -> None:
        await self._http.aclose()

    async def forward(self, webhook_id: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        for attempt in range(1, self._attempts + 1):
            headers = signed_headers(self._secret, webhook_id, body)  # fresh timestamp per try
            try:
                response = await self._http.post(self._url, content=body, headers=headers)
            except httpx.TransportError as exc:
                problem = type(exc).__name__
            else:
                if response.is_success:
                    return
                if response.status_code == 410:
                    return  # the receiver says the endpoint is gone for good: stop
                if response.status_code not in RETRYABLE:
                    raise WebhookError(f"webhook answered {response.status_code}")
                problem = f"HTTP {response.status_code}"
            if attempt < self._attempts:
                await self._sleep(self._backoff * 2 ** (attempt - 1))
        raise WebhookError(f"webhook not reachable after {self._attempts} attempts: {problem}")
