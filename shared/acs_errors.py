"""ACS's errors as types a caller can act on, read from its answers (error objects, RFC 9110
problem details, ASP.NET validation bodies), and its Retry-After forms.

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

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx


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

    @property
    def server_side(self) -> bool:
        """ACS answered 5xx: the request reached it, and it may have acted."""
        return (self.status_code or 0) >= 500


def mark_ambiguous(error: AcsError, maybe_processed: bool) -> AcsError:
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


def bad_response(response: httpx.Response, error: type[AcsError]) -> AcsError:
    return error(
        f"ACS answered {response.status_code} with an unreadable body",
        status_code=response.status_code,
        code="BadResponse",
    )


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


def error_from_response(response: httpx.Response) -> AcsError:
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
