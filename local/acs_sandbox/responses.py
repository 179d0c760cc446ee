"""Response shapes and headers of the ACS data plane, so every route answers like the service."""

from __future__ import annotations

import base64
import json
import math
import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

# Recorded on real responses: JSON with charset, the versions the route
# supports, and a correlation vector.
_JSON = "application/json"


def trace_id() -> str:
    """W3C traceparent-style id, as ASP.NET puts in problem details (`00-<32 hex>-<16 hex>-00`)."""
    return f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00"


def problem_body(
    status: int, title: str, errors: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    """RFC 9110 problem details (`BadRequestErrorResponse` in api-version 2026-01-23)."""
    section = {400: "15.5.1", 404: "15.5.5"}[status]
    body: dict[str, Any] = {
        "type": f"https://tools.ietf.org/html/rfc9110#section-{section}",
        "title": title,
        "status": status,
    }
    if errors is not None:
        body["errors"] = dict(errors)
    body["traceId"] = trace_id()
    return body


def validation_problem(errors: Mapping[str, list[str]]) -> dict[str, Any]:
    return problem_body(400, "One or more validation errors occurred.", errors)


def error_body(code: str, message: str) -> dict[str, Any]:
    """`{"error": {"code", "message"}}`, ACS's `StandardErrorResponse`."""
    return {"error": {"code": code, "message": message}}


def acs_json(
    request: web.Request,
    status: int,
    body: Any,
    *,
    versions: Sequence[str],
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    response = web.Response(
        status=status, body=json.dumps(body).encode(), content_type=_JSON, charset="utf-8"
    )
    response.headers["api-supported-versions"] = ", ".join(versions)
    response.headers["MS-CV"] = base64.b64encode(os.urandom(16)).decode().rstrip("=") + ".0"
    # azure-core asks for its request id back with `x-ms-return-client-request-id: true`.
    client_request_id = request.headers.get("x-ms-client-request-id")
    if client_request_id and request.headers.get("x-ms-return-client-request-id") == "true":
        response.headers["x-ms-client-request-id"] = client_request_id
    response.headers.update(headers or {})
    return response


def api_version_error(request: web.Request, versions: Sequence[str]) -> web.Response | None:
    """ACS's answers for a missing or unsupported `api-version`, else None."""
    version = request.query.get("api-version")
    if version is None:
        body = error_body(
            "ApiVersionUnspecified", "An API version is required, but was not specified."
        )
    elif version not in versions:
        body = error_body(
            "InvalidApiVersion",
            f"The HTTP resource that matches the request URI '{request.url}' does not support "
            f"the API version '{version}'.",
        )
    else:
        return None
    body["error"]["innerError"] = None
    return acs_json(request, 400, body, versions=versions)


def retry_after_value(seconds: float) -> str:
    """Retry-After is whole seconds (RFC 9110 delay-seconds)."""
    return str(max(0, math.ceil(seconds)))


def plain_json(body: Any, status: int = 200) -> web.Response:
    """Control-API answers: JSON, no ACS headers."""
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type=_JSON, charset="utf-8"
    )


def control_error(message: str) -> web.Response:
    return plain_json(error_body("BadRequest", message), 400)
