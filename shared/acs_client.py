"""Async client for the ACS SMS REST API, api-version 2026-01-23, on httpx.

Why not the SDK: it sends every recipient in one request (ACS takes at most 100), makes new
repeatability ids per call (so an application retry can text twice), and retries 429 only when
the service sends Retry-After. This client splits, reuses the caller's repeatability ids on every
retry, and reports each failure as a type the caller can act on.

Operations (keyword-only options; one client per process): `send` (`POST /sms`, requests of
at most 100 recipients), `get_delivery_report` (`GET /deliveryReports/{id}`, None on 404), and
`add_opt_outs`, `remove_opt_outs`, `check_opt_outs`, `is_opted_out` (`POST /sms/optouts:…`,
requests of at most 100 numbers, one result per number in the order given; a number ACS could
not act on is an unsuccessful `OptOutResult`, a whole request that fails raises). ACS's opt-out
list is per sender number, so a pool-wide opt-out is mirrored once per pool number.

Retries: every call is retried on 408, 429 and 5xx and on connection errors, at most
`max_attempts` times, waiting Retry-After (up to `max_retry_after`) or a jittered exponential
backoff. That is safe for each of them: a send carries the caller's repeatability ids (ACS
answers a repeat with the first result), a GET changes nothing, and adding, removing or
checking an opt-out twice has the same effect as once. Timeouts: 5 s to connect, 30 s to
send, to read an answer and to wait for a pooled connection (`DEFAULT_TIMEOUT`; `timeout=`
changes them).

Errors are the types of `acs_errors.py`; the wire format is `acs_messages.py`.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx

from shared.acs_auth import AcsHmacAuth
from shared.acs_errors import (
    AcsError,
    AcsThrottledError,
    AcsTimeoutError,
    AcsUnavailableError,
    bad_response,
    error_from_response,
    mark_ambiguous,
    parse_retry_after,
)
from shared.acs_messages import (
    MAX_RECIPIENTS_PER_REQUEST,
    BeforeRetry,
    ChunkOutcome,
    DeliveryReportInfo,
    OptOutResult,
    OutgoingSms,
    SmsSendResult,
    build_opt_out_body,
    build_send_body,
    check_delivery_report_timeout,
    parse_delivery_report,
    parse_opt_out_results,
    parse_send_results,
)
from shared.config import AcsConnection

API_VERSION = "2026-01-23"
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = "acs-sms-functions/1.0"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)

OptOutAction = Literal["add", "remove", "check"]
_NextBody = Callable[[], Awaitable[bytes | None]]
_T = TypeVar("_T")


def _chunks(items: Sequence[_T]) -> list[Sequence[_T]]:
    step = MAX_RECIPIENTS_PER_REQUEST
    return [items[i : i + step] for i in range(0, len(items), step)]


def _bodies(**options: Any) -> Callable[[Sequence[OutgoingSms]], bytes]:
    """The body of a send for whichever of its recipients are left (the options stay)."""
    return lambda remaining: build_send_body(recipients=remaining, **options)


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
        delivery_report_timeout: int | None = None,
        before_retry: BeforeRetry | None = None,
    ) -> list[ChunkOutcome]:
        """Send to any number of recipients: requests of at most 100, run concurrently.

        `tag` may be a function of each request's recipients, to tell requests apart in reports.
        `delivery_report_timeout` (seconds, 60..43,200) is checked before anything is sent.
        `before_retry` is asked before every retry which recipients to withdraw (an opt-out
        that arrived meanwhile); the rest are sent again with the same repeatability ids.
        """
        check_delivery_report_timeout(delivery_report_timeout)

        async def one(chunk: Sequence[OutgoingSms]) -> ChunkOutcome:
            withdrawn: set[str] = set()
            body = _bodies(
                sender=sender,
                message=message,
                enable_delivery_report=enable_delivery_report,
                tag=tag(chunk) if callable(tag) else tag,
                delivery_report_timeout=delivery_report_timeout,
            )
            try:
                async with self._semaphore:
                    results = await self._send_with_retries(chunk, body, before_retry, withdrawn)
            except AcsError as exc:
                return ChunkOutcome(chunk, [], exc, frozenset(withdrawn))
            return ChunkOutcome(chunk, results, None, frozenset(withdrawn))

        return list(await asyncio.gather(*(one(c) for c in _chunks(recipients))))

    async def send_request(
        self,
        *,
        sender: str,
        recipients: Sequence[OutgoingSms],
        message: str,
        enable_delivery_report: bool = True,
        tag: str | None = None,
        delivery_report_timeout: int | None = None,
    ) -> list[SmsSendResult]:
        """One `POST /sms` with retries; raises `AcsError` when ACS did not take the request."""
        if not 1 <= len(recipients) <= MAX_RECIPIENTS_PER_REQUEST:
            raise ValueError(f"1..{MAX_RECIPIENTS_PER_REQUEST} recipients per request")
        check_delivery_report_timeout(delivery_report_timeout)
        body = _bodies(
            sender=sender,
            message=message,
            enable_delivery_report=enable_delivery_report,
            tag=tag,
            delivery_report_timeout=delivery_report_timeout,
        )
        async with self._semaphore:
            return await self._send_with_retries(recipients, body, None, set())

    async def _send_with_retries(
        self,
        recipients: Sequence[OutgoingSms],
        build: Callable[[Sequence[OutgoingSms]], bytes],
        before_retry: BeforeRetry | None,
        withdrawn: set[str],
    ) -> list[SmsSendResult]:
        """`POST /sms` for `recipients`, withdrawing before each retry those `before_retry`
        names; [] when every recipient was withdrawn."""
        remaining = list(recipients)
        body = build(remaining)

        async def next_body() -> bytes | None:
            nonlocal remaining, body
            assert before_retry is not None
            gone = await before_retry(remaining)
            if gone:
                withdrawn.update(gone)
                remaining = [r for r in remaining if r.to not in gone]
                if not remaining:
                    return None
                body = build(remaining)  # same ids for those left: still recognised
            return body

        response = await self._call(
            "POST",
            "/sms",
            body,
            expected=(202,),
            next_body=None if before_retry is None else next_body,
        )
        return [] if response is None else parse_send_results(response)

    async def get_delivery_report(self, outgoing_message_id: str) -> DeliveryReportInfo | None:
        """`GET /deliveryReports/{id}`: ACS's report of a sent message, or None when ACS has
        none (404: no report yet, never one, or an id it does not know)."""
        if not outgoing_message_id:
            raise ValueError("outgoing_message_id is empty")
        path = "/deliveryReports/" + quote(outgoing_message_id, safe="")
        async with self._semaphore:
            response = await self._request("GET", path, b"", expected=(200, 404))
        if response.status_code == 404:
            return None
        try:
            return parse_delivery_report(response.json())
        except (ValueError, KeyError, TypeError) as exc:
            raise bad_response(response, AcsUnavailableError) from exc

    async def add_opt_outs(self, *, sender: str, recipients: Sequence[str]) -> list[OptOutResult]:
        """`POST /sms/optouts:add`: ACS refuses to deliver from `sender` to these numbers."""
        return await self._opt_outs("add", sender, recipients)

    async def remove_opt_outs(
        self, *, sender: str, recipients: Sequence[str]
    ) -> list[OptOutResult]:
        """`POST /sms/optouts:remove`: lifts ACS's opt-out of these numbers for `sender`."""
        return await self._opt_outs("remove", sender, recipients)

    async def check_opt_outs(self, *, sender: str, recipients: Sequence[str]) -> list[OptOutResult]:
        """`POST /sms/optouts:check`: each number's `is_opted_out` (see `opted_out()`)."""
        return await self._opt_outs("check", sender, recipients)

    async def is_opted_out(self, *, sender: str, recipient: str) -> bool | None:
        """Whether ACS's list holds `recipient` for `sender`; None when ACS answered for that
        number with an error of its own (e.g. 400 for a number it cannot read)."""
        results = await self._opt_outs("check", sender, [recipient])
        if len(results) != 1:
            raise AcsUnavailableError(
                f"ACS answered for {len(results)} numbers, asked for 1", code="BadResponse"
            )
        return results[0].is_opted_out if results[0].successful else None

    async def _opt_outs(
        self, action: OptOutAction, sender: str, recipients: Sequence[str]
    ) -> list[OptOutResult]:
        """Requests of at most 100 numbers, run concurrently; results in the order given.

        If a request fails after its retries, its error is raised once all requests are done:
        each operation is idempotent, so the caller may simply call again.
        """
        if not sender:
            raise ValueError("sender is empty")
        if any(not to for to in recipients):
            raise ValueError("a recipient is empty")

        async def one(chunk: Sequence[str]) -> list[OptOutResult]:
            body = build_opt_out_body(sender=sender, recipients=chunk)
            async with self._semaphore:
                response = await self._request(
                    "POST", f"/sms/optouts:{action}", body, expected=(200,)
                )
            return parse_opt_out_results(response)

        answers = await asyncio.gather(
            *(one(c) for c in _chunks(recipients)), return_exceptions=True
        )
        results: list[OptOutResult] = []
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
            results += answer
        return results

    async def _request(
        self, method: str, path: str, body: bytes, *, expected: tuple[int, ...]
    ) -> httpx.Response:
        """`_call` with the same body on every attempt, so it always ends in an answer."""
        response = await self._call(method, path, body, expected=expected)
        assert response is not None  # only `next_body` can end a call without one
        return response

    async def _call(
        self,
        method: str,
        path: str,
        body: bytes,
        *,
        expected: tuple[int, ...],
        next_body: _NextBody | None = None,
    ) -> httpx.Response | None:
        """One operation with retries; the answer once its status is one of `expected`.

        The same bytes go out on every attempt (a send's repeatability ids with them), unless
        `next_body` gives others before a retry (None from it: nothing left to send, and this
        returns None); `AcsHmacAuth` signs each attempt afresh. Once an attempt may have
        reached ACS, every error raised after it is `ambiguous`, whatever a later attempt
        answered (a 429 after a lost answer included).
        """
        client_request_id = str(uuid.uuid4())
        headers = {"x-ms-client-request-id": client_request_id}
        if body:
            headers["Content-Type"] = "application/json"
        maybe_processed = False
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            if attempt > 1 and next_body is not None:
                try:
                    again = await next_body()
                except Exception as exc:  # cannot tell who may be texted: no retry now
                    raise mark_ambiguous(
                        AcsUnavailableError(f"not retried: recipients not checked ({exc})"),
                        maybe_processed,
                    ) from exc
                if again is None:
                    return None
                body = again
            try:
                response = await self._http.request(
                    method,
                    path,
                    params={"api-version": API_VERSION},
                    content=body,
                    headers=headers,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached ACS: safe to retry, and not ambiguous.
                error: AcsError = AcsUnavailableError(f"cannot reach ACS: {type(exc).__name__}")
                if maybe_processed:
                    error = AcsTimeoutError(f"no answer from ACS: {type(exc).__name__}")
                delay = None
            except httpx.TransportError as exc:
                # The request may have been acted on; repeating it is safe (see the module doc).
                maybe_processed = True
                error, delay = AcsTimeoutError(f"no answer from ACS: {type(exc).__name__}"), None
            else:
                if response.status_code in expected:
                    return response
                error = error_from_response(response)
                maybe_processed = maybe_processed or response.status_code >= 500
                if response.status_code not in RETRYABLE_STATUS:
                    raise mark_ambiguous(error, maybe_processed)
                delay = parse_retry_after(response.headers)
                if delay is not None and delay > self._max_retry_after:
                    raise mark_ambiguous(
                        AcsThrottledError(
                            error.message, retry_after=delay, status_code=response.status_code
                        ),
                        maybe_processed,
                    )
            if last:
                raise mark_ambiguous(error, maybe_processed)
            await self._sleep(delay if delay is not None else self._backoff_delay(attempt))
        raise AssertionError("unreachable")

    def _backoff_delay(self, attempt: int) -> float:
        ceiling = min(self._max_backoff, self._backoff * 2.0 ** (attempt - 1))
        return ceiling * (0.5 + random.random() / 2)
