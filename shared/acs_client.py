"""Async client for the ACS SMS REST API, api-version 2026-01-23, on httpx.

Why not the SDK: it sends every recipient in one request (ACS takes at most 100), makes new
repeatability ids per call (so an application retry can text twice), and retries 429 only when
the service sends Retry-After. This client splits, reuses the caller's repeatability ids on every
retry, and reports each failure as a type the caller can act on.

Operations (options keyword-only; one `AcsSmsClient` per process):

    await acs.send(sender=..., recipients=[OutgoingSms, ...], message=...,
                   enable_delivery_report=True, tag=None, delivery_report_timeout=None,
                   before_retry=None)
        -> list[ChunkOutcome]                      POST /sms, requests of <= 100 recipients
    await acs.get_delivery_report(message_id)
        -> DeliveryReportInfo | None               GET /deliveryReports/{id}; None on 404
    await acs.add_opt_outs(sender=..., recipients=["+1...", ...])     -> list[OptOutResult]
    await acs.remove_opt_outs(sender=..., recipients=[...])           -> list[OptOutResult]
    await acs.check_opt_outs(sender=..., recipients=[...])            -> list[OptOutResult]
        POST /sms/optouts:add|remove|check, requests of <= 100 recipients, one result per
        recipient in the order given; `opted_out(results)` maps each number ACS answered for to
        its `isOptedOut`; `await acs.is_opted_out(sender=..., recipient=...)` -> bool | None
        asks for one number (None: ACS answered for it with an error).

`delivery_report_timeout` is ACS's `deliveryReportTimeoutInSeconds` (60..43,200): after that
long without a carrier report ACS produces a report with a timeout error code itself.
`delivery_report_timeout_seconds(settings.report_timeout_minutes)` maps the app's
`SMS_REPORT_TIMEOUT_MINUTES` into that range.

Meant uses: before an accepted message is given up as `unknown`,
`get_delivery_report(message_id)` says what ACS knows (a report settles it; None: ACS has
none). ACS's opt-out list is per sender number: mirror an opt-out with
`add_opt_outs(sender=number, recipients=[to])` for each number it covers (the whole pool for a
pool-wide one), lift it with `remove_opt_outs`, and ask `is_opted_out` where the app's own
records cannot answer. Opt-out calls raise only when a whole request fails; a number ACS could
not act on comes back as an unsuccessful `OptOutResult` (400: ACS cannot read the number;
5xx: worth trying again later).

Retries: every call is retried on 408, 429 and 5xx and on connection errors, at most
`max_attempts` times, waiting Retry-After (up to `max_retry_after`) or a jittered exponential
backoff. That is safe for each of them: a send carries the caller's repeatability ids (ACS
answers a repeat with the first result), a GET changes nothing, and adding, removing or
checking an opt-out twice has the same effect as once. Timeouts: 5 s to connect, 30 s to
send, to read an answer and to wait for a pooled connection (`DEFAULT_TIMEOUT`; `timeout=`
changes them).

Errors (all `AcsError`; `ambiguous` says ACS may have acted although we got no answer):
    AcsAuthenticationError  401/403: key or sender not accepted
    AcsRequestError         other 4xx: the request itself is wrong; retrying will not help
    AcsThrottledError       429 after retries, or a Retry-After longer than we wait; `retry_after`
    AcsUnavailableError     5xx or no connection after retries, or an answer we cannot read
    AcsTimeoutError         the request left but no answer came back (ambiguous for a send;
                            a report read or an opt-out call can simply be made again)
Each carries `status_code`, `code` (ACS's `error.code` where it sent one) and, from RFC 9110
problem details or ASP.NET validation bodies, `errors` (field -> messages) and `trace_id`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx

from shared.acs_auth import AcsHmacAuth
from shared.config import AcsConnection

API_VERSION = "2026-01-23"
MAX_RECIPIENTS_PER_REQUEST = 100  # ACS: smsRecipients 1..100, and opt-out recipients 1..100
# ACS: smsSendOptions.deliveryReportTimeoutInSeconds, minimum 60, maximum 43,200 (12 hours).
MIN_DELIVERY_REPORT_TIMEOUT = 60
MAX_DELIVERY_REPORT_TIMEOUT = 43_200
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = "acs-sms-functions/1.0"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)

OptOutAction = Literal["add", "remove", "check"]
_T = TypeVar("_T")


class AcsError(Exception):
    ambiguous = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        errors: Mapping[str, Sequence[str]] | None = None,
        trace_id: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code or type(self).__name__.removeprefix("Acs").removesuffix("Error")
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in (errors or {}).items()}
        self.trace_id = trace_id


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
# Before each retry of one call: the body to send again, or None when nothing is left to send.
_NextBody = Callable[[], Awaitable[bytes | None]]


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One carrier attempt of a delivery report (`deliveryAttempts[]`)."""

    timestamp: datetime
    segments_succeeded: int
    segments_failed: int


@dataclass(frozen=True, slots=True)
class DeliveryReportInfo:
    """`GET /deliveryReports/{id}`: what ACS knows of one outgoing message.

    `status` is ACS's `deliveryStatus` as sent ("Delivered" or "Failed" in 2026-01-23; other
    values are passed through, not guessed at); `details` is `deliveryStatusDetails`, e.g.
    "2000: No Error".
    """

    message_id: str
    sender: str
    to: str
    status: str
    details: str | None
    attempts: tuple[DeliveryAttempt, ...]
    received_at: datetime | None
    tag: str | None
    partner_message_id: str | None = None  # messagingConnectPartnerMessageId

    @property
    def delivered(self) -> bool:
        return self.status == "Delivered"


@dataclass(frozen=True, slots=True)
class OptOutResult:
    """One recipient's answer to an opt-out call; `is_opted_out` is set by `check` only."""

    to: str
    http_status_code: int
    is_opted_out: bool | None = None
    error_message: str | None = None

    @property
    def successful(self) -> bool:
        return 200 <= self.http_status_code < 300


def delivery_report_timeout_seconds(report_timeout_minutes: int) -> int:
    """`SMS_REPORT_TIMEOUT_MINUTES` as ACS's `deliveryReportTimeoutInSeconds`: clamped to
    60..43,200, so a setting beyond 12 hours asks ACS for its longest wait."""
    seconds = report_timeout_minutes * 60
    return max(MIN_DELIVERY_REPORT_TIMEOUT, min(MAX_DELIVERY_REPORT_TIMEOUT, seconds))


def check_delivery_report_timeout(seconds: int | None) -> None:
    """ValueError unless `seconds` is None or a whole number ACS accepts (60..43,200)."""
    if seconds is None:
        return
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise ValueError("delivery_report_timeout must be a whole number of seconds")
    if not MIN_DELIVERY_REPORT_TIMEOUT <= seconds <= MAX_DELIVERY_REPORT_TIMEOUT:
        raise ValueError(
            f"delivery_report_timeout must be {MIN_DELIVERY_REPORT_TIMEOUT}.."
            f"{MAX_DELIVERY_REPORT_TIMEOUT} seconds, got {seconds}"
        )


def opted_out(results: Iterable[OptOutResult]) -> dict[str, bool]:
    """Each number a `check` answered for, with its `isOptedOut`; failed items are left out."""
    return {r.to: r.is_opted_out for r in results if r.successful and r.is_opted_out is not None}


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


def _json_bytes(body: object) -> bytes:
    # The bytes built here are the bytes hashed and sent, on every attempt.
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def build_send_body(
    *,
    sender: str,
    recipients: Sequence[OutgoingSms],
    message: str,
    enable_delivery_report: bool,
    tag: str | None,
    delivery_report_timeout: int | None = None,
) -> bytes:
    check_delivery_report_timeout(delivery_report_timeout)
    options: dict[str, Any] = {"enableDeliveryReport": enable_delivery_report}
    if tag is not None:
        options["tag"] = tag
    if delivery_report_timeout is not None:
        options["deliveryReportTimeoutInSeconds"] = delivery_report_timeout
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
    return _json_bytes(body)


def build_opt_out_body(*, sender: str, recipients: Sequence[str]) -> bytes:
    """`{"from", "recipients": [{"to"}, ...]}`, the body of all three opt-out operations."""
    return _json_bytes({"from": sender, "recipients": [{"to": to} for to in recipients]})


def _bad_response(response: httpx.Response, error: type[AcsError]) -> AcsError:
    return error(
        f"ACS answered {response.status_code} with an unreadable body",
        status_code=response.status_code,
        code="BadResponse",
    )


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
        # ACS took the request but we cannot tell what it did: as ambiguous as no answer.
        raise _bad_response(response, AcsTimeoutError) from exc


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def _timestamp(value: object) -> datetime:
    """ACS's date-times: ISO 8601 with `Z` and up to 7 fractional digits (.NET's ticks)."""
    if not isinstance(value, str):
        raise TypeError("timestamp is not a string")
    return datetime.fromisoformat(value)


def parse_delivery_report(data: object) -> DeliveryReportInfo:
    """A 200 body of `GET /deliveryReports/{id}`; ValueError/KeyError/TypeError if malformed."""
    if not isinstance(data, dict):
        raise TypeError("delivery report is not an object")
    status = data["deliveryStatus"]
    if not isinstance(status, str):
        raise TypeError("deliveryStatus is not a string")
    attempts = data.get("deliveryAttempts") or []
    if not isinstance(attempts, list):
        raise TypeError("deliveryAttempts is not a list")
    received = data.get("receivedTimestamp")
    return DeliveryReportInfo(
        message_id=str(data["messageId"]),
        sender=str(data["from"]),
        to=str(data["to"]),
        status=status,
        details=_optional_str(data, "deliveryStatusDetails"),
        attempts=tuple(
            DeliveryAttempt(
                timestamp=_timestamp(a["timestamp"]),
                segments_succeeded=int(a["segmentsSucceeded"]),
                segments_failed=int(a["segmentsFailed"]),
            )
            for a in attempts
        ),
        received_at=None if received is None else _timestamp(received),
        tag=_optional_str(data, "tag"),
        partner_message_id=_optional_str(data, "messagingConnectPartnerMessageId"),
    )


def _parse_opt_out_results(response: httpx.Response) -> list[OptOutResult]:
    try:
        items = response.json()["value"]
        results = []
        for item in items:
            flag = item.get("isOptedOut")
            if flag is not None and not isinstance(flag, bool):
                raise TypeError("isOptedOut is not a boolean")
            results.append(
                OptOutResult(
                    to=str(item["to"]),
                    http_status_code=int(item["httpStatusCode"]),
                    is_opted_out=flag,
                    error_message=_optional_str(item, "errorMessage"),
                )
            )
        return results
    except (ValueError, KeyError, TypeError) as exc:
        raise _bad_response(response, AcsUnavailableError) from exc


def _field_errors(value: object) -> dict[str, list[str]] | None:
    """`{"Field": ["message", ...], ...}` (problem-details `errors`, or an ASP.NET model state)."""
    if not isinstance(value, dict) or not value:
        return None
    fields: dict[str, list[str]] = {}
    for name, messages in value.items():
        if not isinstance(messages, list) or not all(isinstance(m, str) for m in messages):
            return None
        fields[str(name)] = list(messages)
    return fields


def _describe(fields: Mapping[str, Sequence[str]]) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())


@dataclass(frozen=True, slots=True)
class _ErrorBody:
    code: str | None
    message: str
    errors: dict[str, list[str]]
    trace_id: str | None


def _read_error_body(response: httpx.Response) -> _ErrorBody:
    """What any of the error bodies ACS has used says: `{"error": {"code", "message"}}`,
    RFC 9110 problem details `{"type", "title", "status", "errors"?, "traceId"}`, or a bare
    ASP.NET model state `{"From": ["..."]}`."""
    try:
        payload = response.json()
    except ValueError:
        return _ErrorBody(None, response.text[:500], {}, None)
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            message = error.get("message")
            return _ErrorBody(
                code if isinstance(code, str) else None,
                message if isinstance(message, str) else "",
                {},
                None,
            )
        if "title" in payload or "traceId" in payload:
            fields = _field_errors(payload.get("errors")) or {}
            title = payload.get("title")
            trace_id = payload.get("traceId")
            return _ErrorBody(
                None,
                " ".join(
                    p for p in (title if isinstance(title, str) else "", _describe(fields)) if p
                ),
                fields,
                trace_id if isinstance(trace_id, str) else None,
            )
        model_state = _field_errors(payload)
        if model_state is not None:
            return _ErrorBody(None, _describe(model_state), model_state, None)
    return _ErrorBody(None, json.dumps(payload)[:500], {}, None)


def _error_from_response(response: httpx.Response) -> AcsError:
    body = _read_error_body(response)
    status = response.status_code
    text = f"ACS answered {status}" + (f": {body.message}" if body.message else "")
    if status == 429:
        return AcsThrottledError(text, retry_after=parse_retry_after(response.headers))
    kind: type[AcsError] = AcsRequestError
    if status in (401, 403):
        kind = AcsAuthenticationError
    elif status >= 500 or status == 408:
        kind = AcsUnavailableError
    return kind(
        text, status_code=status, code=body.code, errors=body.errors, trace_id=body.trace_id
    )


def _chunks(items: Sequence[_T]) -> list[Sequence[_T]]:
    step = MAX_RECIPIENTS_PER_REQUEST
    return [items[i : i + step] for i in range(0, len(items), step)]


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

            def body(remaining: Sequence[OutgoingSms]) -> bytes:
                return build_send_body(
                    sender=sender,
                    recipients=remaining,
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

        def body(remaining: Sequence[OutgoingSms]) -> bytes:
            return build_send_body(
                sender=sender,
                recipients=remaining,
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
        return [] if response is None else _parse_results(response)

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
            raise _bad_response(response, AcsUnavailableError) from exc

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
            return _parse_opt_out_results(response)

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
                    raise _marked(
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
