"""Async client for the ACS SMS REST API (`POST /sms`, api-version 2021-03-07) on httpx.

Why not the SDK: it sends every recipient in one request (ACS takes at most 100), makes new
repeatability ids per call (so an application retry can text twice), and retries 429 only when
the service sends Retry-After. This client splits, reuses the caller's repeatability ids on every
retry, and reports each failure as a type the caller can act on.

Errors (all `AcsError`; `ambiguous` says ACS may have acted although we got no answer):
    AcsAuthenticationError  401/403: key or sender not accepted
    AcsRequestError         other 4xx: the request itself is wrong; retrying will not help
    AcsThrottledError       429 after retries, or a Retry-After longer than we wait; `retry_after`
    AcsUnavailableError     5xx or no connection after retries
    AcsTimeoutError         the request left but no answer came back (ambiguous)
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from shared.acs_auth import AcsHmacAuth
from shared.config import AcsConnection

API_VERSION = "2021-03-07"
MAX_RECIPIENTS_PER_REQUEST = 100  # ACS: smsRecipients 1..100
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = "acs-sms-functions/1.0"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class AcsError(Exception):
    ambiguous = False

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code or type(self).__name__.removeprefix("Acs").removesuffix("Error")


def _marked(error: AcsError, maybe_processed: bool) -> AcsError:
    if maybe_processed:
        error.ambiguous = True
    return error


class AcsAuthenticationError(AcsError):
    pass


class AcsRequestError(AcsError):
    pass


class AcsThrottledError(AcsError):
    def __init__(self, message: str, *, retry_after: float | None, status_code: int = 429):
        super().__init__(message, status_code=status_code, code="Throttled")
        self.retry_after = retry_after


class AcsUnavailableError(AcsError):
    pass


class AcsTimeoutError(AcsError):
    ambiguous = True


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    """One recipient of a send, with the repeatability pair that makes its retries safe."""

    to: str
    repeatability_request_id: str
    repeatability_first_sent: str  # RFC 1123


@dataclass(frozen=True, slots=True)
class SmsSendResult:
    to: str
    message_id: str | None
    http_status_code: int
    successful: bool
    error_message: str | None = None
    repeatability_result: str | None = None


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    """What became of one request: per-recipient results, or the error that stopped it, and the
    recipients withdrawn before a retry (`before_retry` said they may no longer be texted)."""

    recipients: Sequence[OutgoingSms]
    results: list[SmsSendResult]
    error: AcsError | None = None
    withdrawn: frozenset[str] = frozenset()


# Before each retry: the recipients (of those given) that may no longer be texted.
BeforeRetry = Callable[[Sequence[OutgoingSms]], Awaitable[set[str]]]


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001)):
        if name in headers:
            try:
                return max(0.0, float(headers[name]) * scale)
            except ValueError:
                pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def build_send_body(
    *,
    sender: str,
    recipients: Sequence[OutgoingSms],
    message: str,
    enable_delivery_report: bool,
    tag: str | None,
) -> bytes:
    options: dict[str, Any] = {"enableDeliveryReport": enable_delivery_report}
    if tag is not None:
        options["tag"] = tag
    body = {
        "from": sender,
        "smsRecipients": [
            {
                "to": r.to,
                "repeatabilityRequestId": r.repeatability_request_id,
                "repeatabilityFirstSent": r.repeatability_first_sent,
            }
            for r in recipients
        ],
        "message": message,
        "smsSendOptions": options,
    }
    # The bytes built here are the bytes hashed and sent, on every attempt.
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _parse_results(response: httpx.Response) -> list[SmsSendResult]:
    try:
        items = response.json()["value"]
        return [
            SmsSendResult(
                to=str(item["to"]),
                message_id=item.get("messageId"),
                http_status_code=int(item["httpStatusCode"]),
                successful=bool(item["successful"]),
                error_message=item.get("errorMessage"),
                repeatability_result=item.get("repeatabilityResult"),
            )
            for item in items
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise AcsTimeoutError(
            f"ACS answered {response.status_code} with an unreadable body", code="BadResponse"
        ) from exc


def _error_from_response(response: httpx.Response) -> AcsError:
    code, message = None, ""
    try:
        payload = response.json()
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message") or ""
        elif isinstance(payload, dict):
            message = json.dumps(payload)[:500]
    except ValueError:
        message = response.text[:500]
    text = f"ACS answered {response.status_code}" + (f": {message}" if message else "")
    status = response.status_code
    if status == 429:
        return AcsThrottledError(text, retry_after=parse_retry_after(response.headers))
    if status in (401, 403):
        return AcsAuthenticationError(text, status_code=status, code=code)
    if status >= 500 or status == 408:
        return AcsUnavailableError(text, status_code=status, code=code)
    return AcsRequestError(text, status_code=status, code=code)


class AcsSmsClient:
    """Sends SMS through one ACS resource; create once per process and reuse."""

    def __init__(
        self,
        endpoint: str,
        access_key: bytes,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency: int = 8,
        max_attempts: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 30.0,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=endpoint,
            auth=AcsHmacAuth(access_key),
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._max_retry_after = max_retry_after
        self._sleep = sleep

    @classmethod
    def from_connection(cls, connection: AcsConnection, **kwargs: Any) -> AcsSmsClient:
        return cls(connection.endpoint, connection.access_key, **kwargs)

    async def __aenter__(self) -> AcsSmsClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(
        self,
        *,
        sender: str,
        recipients: Sequence[OutgoingSms],
        message: str,
        enable_delivery_report: bool = True,
        tag: str | Callable[[Sequence[OutgoingSms]], str] | None = None,
        before_retry: BeforeRetry | None = None,
    ) -> list[ChunkOutcome]:
        """Send to any number of recipients: requests of at most 100, run concurrently.

        `tag` may be a function of each request's recipients, to tell requests apart in reports.
        `before_retry` is asked before every retry which recipients to withdraw (an opt-out
        that arrived meanwhile); the rest are sent again with the same repeatability ids.
        """
        chunks = [
            recipients[i : i + MAX_RECIPIENTS_PER_REQUEST]
            for i in range(0, len(recipients), MAX_RECIPIENTS_PER_REQUEST)
        ]

        async def one(chunk: Sequence[OutgoingSms]) -> ChunkOutcome:
            withdrawn: set[str] = set()

            def body(remaining: Sequence[OutgoingSms]) -> bytes:
                return build_send_body(
                    sender=sender,
                    recipients=remaining,
                    message=message,
                    enable_delivery_report=enable_delivery_report,
                    tag=tag(chunk) if callable(tag) else tag,
                )

            try:
                async with self._semaphore:
                    results = await self._post_with_retries(chunk, body, before_retry, withdrawn)
            except AcsError as exc:
                return ChunkOutcome(chunk, [], exc, frozenset(withdrawn))
            return ChunkOutcome(chunk, results, None, frozenset(withdrawn))

        return list(await asyncio.gather(*(one(c) for c in chunks)))

    async def send_request(
        self,
        *,
        sender: str,
        recipients: Sequence[OutgoingSms],
        message: str,
        enable_delivery_report: bool = True,
        tag: str | None = None,
    ) -> list[SmsSendResult]:
        """One `POST /sms` with retries; raises `AcsError` when ACS did not take the request."""
        if not 1 <= len(recipients) <= MAX_RECIPIENTS_PER_REQUEST:
            raise ValueError(f"1..{MAX_RECIPIENTS_PER_REQUEST} recipients per request")

        def body(remaining: Sequence[OutgoingSms]) -> bytes:
            return build_send_body(
                sender=sender,
                recipients=remaining,
                message=message,
                enable_delivery_report=enable_delivery_report,
                tag=tag,
            )

        async with self._semaphore:
            return await self._post_with_retries(recipients, body, None, set())

    async def _post_with_retries(
        self,
        recipients: Sequence[OutgoingSms],
        build: Callable[[Sequence[OutgoingSms]], bytes],
        before_retry: BeforeRetry | None,
        withdrawn: set[str],
    ) -> list[SmsSendResult]:
        """Once an attempt may have reached ACS, every error raised after it is `ambiguous`,
        whatever a later attempt answered (a 429 after a lost answer included)."""
        client_request_id = str(uuid.uuid4())
        maybe_processed = False
        remaining = list(recipients)
        body = build(remaining)
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            if attempt > 1 and before_retry is not None:
                try:
                    gone = await before_retry(remaining)
                except Exception as exc:  # cannot tell who may be texted: no retry now
                    raise _marked(
                        AcsUnavailableError(f"not retried: recipients not checked ({exc})"),
                        maybe_processed,
                    ) from exc
                if gone:
                    withdrawn.update(gone)
                    remaining = [r for r in remaining if r.to not in gone]
                    if not remaining:
                        return []
                    body = build(remaining)  # same ids for those left: still recognised
            try:
                response = await self._http.post(
                    "/sms",
                    params={"api-version": API_VERSION},
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "x-ms-client-request-id": client_request_id,
                    },
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached ACS: safe to retry, and not ambiguous.
                error: AcsError = AcsUnavailableError(f"cannot reach ACS: {type(exc).__name__}")
                if maybe_processed:
                    error = AcsTimeoutError(f"no answer from ACS: {type(exc).__name__}")
                delay = None
            except httpx.TransportError as exc:
                # The request may have been acted on; the same repeatability ids make a retry safe.
                maybe_processed = True
                error, delay = AcsTimeoutError(f"no answer from ACS: {type(exc).__name__}"), None
            else:
                if response.status_code == 202:
                    return _parse_results(response)
                error = _error_from_response(response)
                maybe_processed = maybe_processed or response.status_code >= 500
                if response.status_code not in RETRYABLE_STATUS:
                    raise _marked(error, maybe_processed)
                delay = parse_retry_after(response.headers)
                if delay is not None and delay > self._max_retry_after:
                    raise _marked(
                        AcsThrottledError(
                            error.message, retry_after=delay, status_code=response.status_code
                        ),
                        maybe_processed,
                    )
            if last:
                raise _marked(error, maybe_processed)
            await self._sleep(delay if delay is not None else self._backoff_delay(attempt))
        raise AssertionError("unreachable")

    def _backoff_delay(self, attempt: int) -> float:
        ceiling = min(self._max_backoff, self._backoff * 2.0 ** (attempt - 1))
        return ceiling * (0.5 + random.random() / 2)
