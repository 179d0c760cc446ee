"""The OpenAPI description of `/api/verifications`, from the same bounds and field tables the
validation (`verify_request`) and the view (`verify_views`) use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.openapi_schemas import BATCH_ID, TIME, Schema, nullable, obj
from shared.send_request import MAX_IDEMPOTENCY_KEY
from shared.status import Status
from shared.verification import MAX_SENDS, VerifyStatus
from shared.verify_request import (
    CODE_LENGTHS,
    CONTEXT_FIELDS,
    DEFAULTS,
    MAX_CHECKS,
    MAX_CONTEXT_TEXT,
    START_FIELDS,
    TTL_SECONDS,
)
from shared.verify_texts import APP_HASH, LOCALE

_CONTEXT_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_CONTEXT_TEXT}
_CONTEXT: dict[str, Schema] = {
    "ip": {"type": "string", "description": "the caller's IPv4 or IPv6 address (IPv6: its /64)"},
    "userId": _CONTEXT_TEXT,
    "session": _CONTEXT_TEXT,
}
assert tuple(_CONTEXT) == CONTEXT_FIELDS


def _bounded(name: str, bounds: tuple[int, int], description: str) -> Schema:
    low, high = bounds
    return {
        "type": "integer",
        "minimum": low,
        "maximum": high,
        "default": DEFAULTS[name],
        "description": description,
    }


_START_FIELDS: dict[str, Schema] = {
    "to": {"type": "string", "description": "the number to verify; +country optional"},
    "codeLength": _bounded("codeLength", CODE_LENGTHS, "digits of the code"),
    "ttlSeconds": _bounded("ttlSeconds", TTL_SECONDS, "how long the code is good for"),
    "maxChecks": _bounded("maxChecks", MAX_CHECKS, "wrong codes before it is exhausted"),
    "locale": {"type": "string", "pattern": LOCALE.pattern, "description": "the text's language"},
    "appHash": {"type": "string", "pattern": APP_HASH.pattern, "description": "Android app hash"},
    "domain": {"type": "string", "description": "a last line `@<domain> #<code>` (autofill)"},
    "context": obj(_CONTEXT, required=()),
}
assert tuple(_START_FIELDS) == START_FIELDS
START_BODY = obj(_START_FIELDS, required=("to",))
CODE_BODY = obj(
    {"code": {"type": "string", "pattern": f"^[0-9]{{{CODE_LENGTHS[0]},{CODE_LENGTHS[1]}}}$"}}
)
RESEND_BODY = obj({"context": obj({"ip": _CONTEXT["ip"]}, required=())}, required=())
VERIFICATION = obj(
    {
        "id": BATCH_ID,
        "to": {"type": "string", "description": "masked"},
        "status": {"type": "string", "enum": [s.value for s in VerifyStatus]},
        "createdAt": TIME,
        "expiresAt": TIME,
        "resendAfter": nullable(TIME),
        "checksRemaining": {"type": "integer", "minimum": 0},
        "sendsRemaining": {"type": "integer", "minimum": 0, "maximum": MAX_SENDS - 1},
        "codeLength": {"type": "integer"},
        "delivery": nullable({"type": "string", "enum": [s.value for s in Status]}),
        "endedAt": TIME,
        "endReason": {"type": "string"},
        "context": obj({"userId": _CONTEXT_TEXT, "session": _CONTEXT_TEXT}, required=()),
    },
    required=(
        "id",
        "to",
        "status",
        "createdAt",
        "expiresAt",
        "resendAfter",
        "checksRemaining",
        "sendsRemaining",
        "codeLength",
        "delivery",
    ),
)


Builder = Callable[..., dict[str, Any]]


def verification_paths(op: Builder, json: Builder, path: Builder) -> dict[str, Any]:
    """The path items, made with the document's own builders (`openapi._op` and friends)."""
    vid = path("id", "a verification id", BATCH_ID)

    def body(schema: Schema) -> dict[str, Any]:
        return {"required": True, "content": json(schema)}

    key = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "the same key and body answer the first verification and text nothing",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
    }
    return {
        "/verifications": {
            "post": op(
                "Start a verification: text a one-time code",
                (201, json(VERIFICATION)),
                400,
                403,
                409,
                415,
                422,
                429,
                parameters=[key],
                requestBody=body(START_BODY),
            )
        },
        "/verifications/{id}": {
            "parameters": [vid],
            "get": op("A verification (never its code)", (200, json(VERIFICATION)), 404),
        },
        "/verifications/{id}/check": {
            "parameters": [vid],
            "post": op(
                "Check a code: one attempt of maxChecks",
                (200, json(VERIFICATION)),
                400,
                404,
                409,
                415,
                requestBody=body(CODE_BODY),
            ),
        },
        "/verifications/{id}/resend": {
            "parameters": [vid],
            "post": op(
                "Text the same code again after resendAfter",
                (200, json(VERIFICATION)),
                400,
                403,
                404,
                409,
                415,
                429,
                requestBody={"required": False, "content": json(RESEND_BODY)},
            ),
        },
    }
