"""The HTTP edge: the one place that knows HTTP status codes. Domain errors become answers in the
Azure REST error shape through one table; every entry point is wrapped so that any failure is an
answer a client can act on (never a stack trace), within a total time budget."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import azure.functions as func

from shared.config import SettingsError
from shared.errors import (
    ConflictError,
    DependencyUnavailableError,
    DomainError,
    IdempotencyKeyInUseError,
    IdempotencyKeyReusedError,
    MethodNotAllowedError,
    NotCancelableError,
    NotFoundError,
    NothingSentError,
    NotResendableError,
    PayloadTooLargeError,
    RefusedError,
    SendStateUnknownError,
    StoreUnavailableError,
    ThrottledError,
    TooManyRecipientsError,
    UnsupportedMediaTypeError,
    ValidationError,
)

log = logging.getLogger("sms.http")

JSON = "application/json"
# Azure's front end ends an HTTP request after 230 s; answer well before, with a 503 to retry.
REQUEST_BUDGET_SECONDS = 120.0
STORAGE_RETRY_AFTER = "5"
# 100,000 recipients of up to 32 characters each, and the message, fit with room to spare.
MAX_BODY_BYTES = 4 * 1024 * 1024

# Most specific first: the first type that matches gives the status.
STATUS_OF: tuple[tuple[type[DomainError], int], ...] = (
    (TooManyRecipientsError, 413),
    (PayloadTooLargeError, 413),
    (ValidationError, 400),
    (UnsupportedMediaTypeError, 415),
    (RefusedError, 403),
    (NotFoundError, 404),
    (MethodNotAllowedError, 405),
    (NotCancelableError, 409),
    (NotResendableError, 409),
    (ConflictError, 409),
    (IdempotencyKeyInUseError, 409),
    (IdempotencyKeyReusedError, 422),
    (ThrottledError, 429),
    (DependencyUnavailableError, 503),
)


def error_body(
    code: str, message: str, target: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """The Azure REST error shape; a `reason` goes in `innererror.code`, the place the Azure
    API guidelines give the more specific code."""
    error: dict[str, Any] = {"code": code, "message": message}
    if target is not None:
        error["target"] = target
    if reason is not None:
        error["innererror"] = {"code": reason}
    return {"error": error}


def json_response(
    status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate echoed from input: escape it instead
        body = json.dumps(payload, separators=(",", ":")).encode("ascii")
    return func.HttpResponse(
        body,
        status_code=status,
        headers=dict(headers or {}),
        mimetype=JSON,
        charset="utf-8",
    )


def domain_error_response(error: DomainError) -> func.HttpResponse:
    status = status_of(error)
    headers: dict[str, str] = {}
    if isinstance(error, IdempotencyKeyInUseError | ThrottledError | DependencyUnavailableError):
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    body = error_body(error.code, error.message, error.target, error.reason)
    return json_response(status, body, headers)


def status_of(error: DomainError) -> int:
    return next(code for kind, code in STATUS_OF if isinstance(error, kind))


def unavailable_response(error: StoreUnavailableError) -> func.HttpResponse:
    """A 503 that says what is known: nothing sent, maybe sent, or only that we cannot read."""
    if isinstance(error, NothingSentError):
        message = "storage is unavailable; nothing was sent, retry later"
    elif isinstance(error, SendStateUnknownError):
        message = (
            f"storage failed while recording batch {error.batch_id}: it may still be sent. "
            "Repeat the request with the same Idempotency-Key to learn its state; "
            "do not send it again without one"
        )
    else:
        message = "storage is unavailable; the request could not be completed, retry later"
    body = error_body("ServiceUnavailable", message)
    if isinstance(error, SendStateUnknownError):
        body["batchId"] = error.batch_id
    return json_response(503, body, {"Retry-After": STORAGE_RETRY_AFTER})


def read_json_body(req: func.HttpRequest) -> Any:
    """The request's JSON body, or a 415/400 that says what is wrong with it."""
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type and content_type != JSON and not content_type.endswith("+json"):
        raise UnsupportedMediaTypeError("send the body as application/json")
    raw = req.get_body()
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"the body may be at most {MAX_BODY_BYTES} bytes", target="body")
    if not raw:
        raise ValidationError("body", "the request needs a JSON body")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError("body", f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValidationError("body", "the body is nested too deeply") from None


Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def http_endpoint(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            async with asyncio.timeout(REQUEST_BUDGET_SECONDS):
                return await handler(req)
        except DomainError as error:
            return domain_error_response(error)
        except StoreUnavailableError as error:
            log.warning("%s %s: table storage unavailable", req.method, handler.__module__)
            return unavailable_response(error)
        except TimeoutError:
            log.warning("%s %s: over the request's time budget", req.method, handler.__module__)
            body = error_body(
                "ServiceUnavailable",
                "the request did not finish in time; if it was a send, repeat it with the same "
                "Idempotency-Key to learn its state",
            )
            return json_response(503, body, {"Retry-After": STORAGE_RETRY_AFTER})
        except SettingsError as exc:
            log.error("configuration error: %s", exc)
            return json_response(500, error_body("ConfigurationError", str(exc)))
        except Exception:
            log.exception("%s %s failed", req.method, handler.__module__)
            return json_response(500, error_body("InternalError", "an unexpected error occurred"))

    return wrapper
