"""The HTTP edge: JSON answers in the Azure REST error shape, and one wrapper per entry point
that turns every failure into an answer a client can act on (never a stack trace)."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import azure.functions as func

from shared.config import SettingsError
from shared.store import StoreUnavailableError

log = logging.getLogger("sms.http")

JSON = "application/json"


class ApiError(Exception):
    """An answer other than success: `{"error": {"code", "message", "target"?}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["target"] = self.target
        return {"error": error}


def bad_request(message: str, target: str | None = None, code: str = "InvalidRequest") -> ApiError:
    return ApiError(400, code, message, target=target)


def json_response(
    status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        headers=dict(headers or {}),
        mimetype=JSON,
        charset="utf-8",
    )


def error_response(error: ApiError) -> func.HttpResponse:
    return json_response(error.status, error.body(), error.headers)


def read_json_body(req: func.HttpRequest) -> Any:
    """The request's JSON body, or a 415/400 that says what is wrong with it."""
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type and content_type != JSON and not content_type.endswith("+json"):
        raise ApiError(415, "UnsupportedMediaType", "send the body as application/json")
    raw = req.get_body()
    if not raw:
        raise bad_request("the request needs a JSON body", target="body")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"the body is not valid JSON: {exc}", target="body") from None


Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def http_endpoint(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return await handler(req)
        except ApiError as error:
            return error_response(error)
        except StoreUnavailableError:
            log.warning("%s %s: table storage unavailable", req.method, handler.__module__)
            return error_response(
                ApiError(
                    503,
                    "ServiceUnavailable",
                    "storage is unavailable; nothing was sent, retry later",
                    headers={"Retry-After": "5"},
                )
            )
        except SettingsError as exc:
            log.error("configuration error: %s", exc)
            return error_response(ApiError(500, "ConfigurationError", str(exc)))
        except Exception:
            log.exception("%s %s failed", req.method, handler.__module__)
            return error_response(ApiError(500, "InternalError", "an unexpected error occurred"))

    return wrapper
