"""`GET /api/openapi.json`: an OpenAPI 3.1 description of every HTTP route, with its parameters,
headers, bodies, answers and error shapes, from the tables the validation itself uses."""

from __future__ import annotations

from typing import Any

from shared import openapi_schemas as schemas
from shared.analytics import DEFAULT_TOP, GROUP_BYS, MAX_DAYS, MAX_TOP
from shared.http_api import MAX_BODY_BYTES, STATUS_OF
from shared.openapi_events import event_paths
from shared.openapi_verify import verification_paths
from shared.query_params import DEFAULT_PAGE, MAX_PAGE
from shared.send_request import MAX_IDEMPOTENCY_KEY

Operation = dict[str, Any]

_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    400: "Bad input; `error.target` names the field, parameter or header",
    403: "Refused by a rule (`error.innererror.code`: country, optedOut); retrying cannot help",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    415: "Not JSON",
    422: "Idempotency-Key used with another body",
    429: "Too many requests (Retry-After); `error.innererror.code` names the limit",
    503: "A dependency is unavailable (Retry-After); the message says what is known",
}
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}}
ERROR_STATUSES = sorted({status for _, status in STATUS_OF} | {405, 503})


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in (*statuses, 503):
        answer: dict[str, Any] = {"description": _REASONS[status], "content": _json(schemas.ERROR)}
        if status == 404:  # a path no route matches is answered by the Functions host itself
            answer["content"]["text/plain"] = {"schema": {"type": "string"}}
        if status in (409, 429, 503):
            answer["headers"] = _RETRY_AFTER
        out[str(status)] = answer
    return out


def _path(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


PHONE = _path("phone", "a phone number, E.164 or national for SMS_DEFAULT_REGION")
PAGE = [
    _query(
        "limit",
        f"page size, 1..{MAX_PAGE}",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
    ),
    _query(
        "continuationToken", "from the previous page; bound to this listing", {"type": "string"}
    ),
]
REPORT_QUERY = [
    _query(
        "from",
        "first UTC day, YYYY-MM-DD (29 days before `to`)",
        {"type": "string", "format": "date"},
    ),
    _query("to", "last UTC day, YYYY-MM-DD (today)", {"type": "string", "format": "date"}),
    _query(
        "groupBy",
        "what one entry of `series` is",
        {"type": "string", "enum": list(GROUP_BYS), "default": "day"},
    ),
    _query(
        "top",
        f"failure reasons listed, 1..{MAX_TOP}",
        {"type": "integer", "minimum": 1, "maximum": MAX_TOP, "default": DEFAULT_TOP},
    ),
]


def _op(summary: str, answer: tuple[int, dict[str, Any]], *errors: int, **extra: Any) -> Operation:
    status, content = answer
    responses = {str(status): {"description": _REASONS[status], "content": content}}
    return {"summary": summary, **extra, "responses": {**responses, **_errors(*errors)}}


def openapi_document(server_url: str = "/api") -> dict[str, Any]:
    sms_id = _path("id", "a message id, `<batchId>-<n>`")
    send = _op(
        "Send now, queue, schedule or dry-run; one result per distinct recipient",
        (202, _json(schemas.SEND_ANSWER)),
        400,
        409,
        413,
        415,
        422,
        parameters=[
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "the same key and body answer the first response and send nothing again",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
            }
        ],
        requestBody={
            "required": True,
            "description": f"at most {MAX_BODY_BYTES} bytes",
            "content": _json(schemas.SEND_BODY),
        },
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SMS on Azure Functions and Azure Communication Services",
            "version": "1.0.0",
            "description": "On Azure every route needs a function key (`x-functions-key`).",
        },
        "servers": [{"url": server_url}],
        "components": {
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}
            }
        },
        "security": [{"functionKey": []}],
        "paths": {
            "/sms": {"post": send},
            "/sms/{id}": {
                "parameters": [sms_id],
                "get": _op("One message and its history", (200, _json(schemas.MESSAGE)), 404),
                "delete": _op(
                    "Cancel a scheduled or queued message", (200, _json(schemas.MESSAGE)), 404, 409
                ),
            },
            "/sms/batches/{batchId}": {
                "parameters": [_path("batchId", "the batch id of a send", schemas.BATCH_ID)],
                "get": _op("How far a send has got", (200, _json(schemas.BATCH)), 404),
            },
            "/optouts/{phone}": {
                "parameters": [
                    PHONE,
                    _query("from", "one sender of the pool: that sender only", {"type": "string"}),
                ],
                "get": _op("A number's opt-outs", (200, _json(schemas.OPT_OUTS)), 400, 404),
                "put": _op("Opt a number out", (200, _json(schemas.OPT_OUTS)), 400, 404),
                "delete": _op("Lift an opt-out", (200, _json(schemas.OPT_OUTS)), 400, 404),
            },
            "/optouts/{phone}/history": {
                "parameters": [PHONE, *PAGE],
                "get": _op(
                    "The consent ledger, newest first", (200, _json(schemas.HISTORY)), 400, 404
                ),
            },
            "/conversations/{phone}": {
                "parameters": [
                    PHONE,
                    _query("with", "one number of the pool", {"type": "string"}),
                    *PAGE,
                ],
                "get": _op(
                    "The thread with one person, newest first",
                    (200, _json(schemas.THREAD)),
                    400,
                    404,
                ),
            },
            "/analytics": {
                "get": _op(
                    f"Usage over up to {MAX_DAYS} days",
                    (200, _json(schemas.ANALYTICS)),
                    400,
                    parameters=REPORT_QUERY,
                )
            },
            "/dashboard": {
                "get": {
                    "summary": "The analytics as one HTML page",
                    "parameters": REPORT_QUERY,
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        },
                        "400": {
                            "description": _REASONS[400],
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        },
                        **_errors(),
                    },
                }
            },
            **verification_paths(_op, _json, _path),
            **event_paths(_op, _json, _query),
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {"description": "OK", "content": _json({"type": "object"})}
                    },
                }
            },
        },
    }
