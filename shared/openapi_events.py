"""The OpenAPI description of `/api/events`: the replay, the destinations, the dead letters and
their redrive, from the same bounds the views (`event_views`) check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.event_views import DEFAULT_LIMIT, MAX_LIMIT
from shared.openapi_schemas import TIME, Schema, nullable, obj

Builder = Callable[..., Any]

CURSOR = {"type": "string", "pattern": "^[0-9]{19}$"}
CLOUD_EVENT = obj(
    {
        "specversion": {"type": "string", "const": "1.0"},
        "id": {"type": "string", "description": "stable across retries: deduplicate on it"},
        "source": {"type": "string"},
        "type": {"type": "string", "description": "sms.message.<status>, sms.consent.<action>…"},
        "subject": {"type": "string", "description": "messages/<id>, consent/<number>…"},
        "time": TIME,
        "datacontenttype": {"type": "string"},
        "data": {
            "type": "object",
            "description": "ids, number, status, reason, tag, timestamps and `sequence`",
            "properties": {"sequence": {"type": "integer"}},
            "required": ["sequence"],
        },
    }
)
REPLAY = obj(
    {
        "value": {"type": "array", "items": obj({"cursor": CURSOR, "event": CLOUD_EVENT})},
        "next": {**CURSOR, "description": "ask from here next time"},
        "more": {"type": "boolean", "description": "true: ask again at once"},
    }
)
_COUNTS = {
    "delivered": {"type": "integer"},
    "failed": {"type": "integer", "description": "attempts refused (each is retried)"},
    "deadLettered": {"type": "integer"},
    "retrying": {"type": "integer"},
}
DESTINATIONS = obj(
    {
        "head": CURSOR,
        "value": {
            "type": "array",
            "items": obj(
                {
                    "name": {"type": "string"},
                    "kind": {"type": "string", "enum": ["webhook", "eventgrid", "callback"]},
                    "types": {"type": "array", "items": {"type": "string"}},
                    "cursor": nullable(CURSOR),
                    "disabled": {"type": "boolean"},
                    "reason": nullable({"type": "string"}),
                    **_COUNTS,
                }
            ),
        },
    }
)
DEAD_LETTER = obj(
    {
        "destination": {"type": "string"},
        "cursor": CURSOR,
        "id": {"type": "string"},
        "type": {"type": "string"},
        "subject": {"type": "string"},
        "attempts": {"type": "integer"},
        "firstFailedAt": nullable(TIME),
        "lastError": nullable({"type": "string"}),
    }
)
REDRIVE_BODY: Schema = obj(
    {
        "destination": {"type": "string", "description": "one destination (all without it)"},
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    },
    required=(),
)
REDRIVE = obj(
    {
        "redriven": {"type": "integer"},
        "destination": nullable({"type": "string"}),
        "enabled": {"type": "boolean", "description": "a disabled destination named runs again"},
    }
)


def event_paths(op: Builder, json: Builder, query: Builder) -> dict[str, Any]:
    limit = query(
        "limit",
        f"1..{MAX_LIMIT}",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    )
    return {
        "/events": {
            "get": op(
                "The event log in order, from a cursor (kept SMS_EVENTS_RETENTION_DAYS)",
                (200, json(REPLAY)),
                400,
                parameters=[
                    query("after", "a cursor from `next` (none: the oldest kept)", CURSOR),
                    query(
                        "types", "comma-separated, `*` wildcards: sms.message.*", {"type": "string"}
                    ),
                    limit,
                ],
            )
        },
        "/events/destinations": {
            "get": op("Each destination: cursor, counts, retries", (200, json(DESTINATIONS)))
        },
        "/events/deadletters": {
            "get": op(
                "Events a destination gave up on",
                (200, json(obj({"value": {"type": "array", "items": DEAD_LETTER}}))),
                400,
                404,
                parameters=[query("destination", "one destination", {"type": "string"}), limit],
            )
        },
        "/events/deadletters/redrive": {
            "post": op(
                "Send dead letters again (due now)",
                (200, json(REDRIVE)),
                400,
                404,
                415,
                requestBody={"required": False, "content": json(REDRIVE_BODY)},
            )
        },
    }
