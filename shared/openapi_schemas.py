"""The JSON Schemas (OpenAPI 3.1) of the API's bodies and answers, built from the same field
tables and limits the validation and the views use, so the document cannot drift from them."""

from __future__ import annotations

from typing import Any

from shared.analytics import GROUP_BYS
from shared.ids import ROW_DIGITS
from shared.send_request import (
    FIELDS,
    MAX_MESSAGE_LENGTH,
    MAX_RECIPIENT_TEXT,
    MAX_RECIPIENTS,
    MAX_TAG_LENGTH,
)
from shared.status import Status

Schema = dict[str, Any]

TIME = {"type": "string", "format": "date-time"}
E164 = {"type": "string", "pattern": r"^\+[1-9][0-9]{6,14}$"}
STATUS = {"type": "string", "enum": [s.value for s in Status]}
BATCH_ID = {"type": "string", "pattern": "^[0-9A-HJKMNP-TV-Z]{26}$"}
MESSAGE_ID = {"type": "string", "pattern": f"^[0-9A-HJKMNP-TV-Z]{{26}}-[0-9]{{1,{ROW_DIGITS}}}$"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(
    properties: dict[str, Schema], *, required: tuple[str, ...] = (), extra: bool = False
) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required or properties),
        "additionalProperties": extra,
    }


ERROR = obj(
    {
        "error": obj(
            {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "target": {"type": "string"},
                "innererror": obj({"code": {"type": "string"}}),
            },
            required=("code", "message"),
        ),
        "batchId": BATCH_ID,
    },
    required=("error",),
)
CODE_AND_MESSAGE = obj({"code": {"type": "string"}, "message": {"type": "string"}})

_SEND_FIELDS: dict[str, Schema] = {
    "to": {
        "oneOf": [
            {"type": "string", "maxLength": MAX_RECIPIENT_TEXT},
            {
                "type": "array",
                "items": {"type": "string", "maxLength": MAX_RECIPIENT_TEXT},
                "minItems": 1,
                "maxItems": MAX_RECIPIENTS,
            },
        ],
        "description": "a number or an array of them; +country optional for SMS_DEFAULT_REGION",
    },
    "message": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_MESSAGE_LENGTH,
        "description": "counted in UTF-16 units, as ACS counts them",
    },
    "from": {"type": "string", "description": "one of SMS_FROM_NUMBERS"},
    "tag": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LENGTH},
    "deliveryReport": {"type": "boolean", "default": True},
    "sendAt": {**TIME, "description": "with an offset, at most 365 days ahead"},
    "validUntil": {**TIME, "description": "with an offset; not sent by then: expired"},
    "dryRun": {"type": "boolean", "default": False},
    "callbackUrl": {
        "type": "string",
        "format": "uri",
        "maxLength": 2048,
        "description": "https, public: this send's message events are also POSTed here",
    },
}
assert tuple(_SEND_FIELDS) == FIELDS, "the schema names exactly the fields the validation takes"
SEND_BODY = obj(_SEND_FIELDS, required=("to", "message"))

SEND_RESULT = obj(
    {
        "to": {"type": "string"},
        "status": STATUS,
        "id": MESSAGE_ID,
        "acsMessageId": {"type": "string"},
        "dueAt": TIME,
        "error": CODE_AND_MESSAGE,
    },
    required=("to", "status"),
)
SEND_ANSWER = obj(
    {
        "batchId": nullable(BATCH_ID),
        "encoding": {"type": "string", "enum": ["GSM-7", "UCS-2"]},
        "segments": {"type": "integer", "minimum": 1},
        "results": {"type": "array", "items": SEND_RESULT},
        "sendAt": TIME,
        "dryRun": {"const": True},
        "recordsPending": {"const": True},
    },
    required=("batchId", "encoding", "segments", "results"),
)

_NULLABLE_TEXT = nullable({"type": "string"})
_NULLABLE_INT = nullable({"type": "integer"})
MESSAGE = obj(
    {
        "id": MESSAGE_ID,
        "batchId": BATCH_ID,
        "to": {"type": "string"},
        "from": _NULLABLE_TEXT,
        "status": STATUS,
        "acsMessageId": _NULLABLE_TEXT,
        "tag": _NULLABLE_TEXT,
        "encoding": {"type": "string"},
        "segments": {"type": "integer"},
        "createdAt": TIME,
        "sentAt": nullable(TIME),
        "deliveredAt": nullable(TIME),
        "dueAt": nullable(TIME),
        "validUntil": nullable(TIME),
        "deliveryStatusDetails": _NULLABLE_TEXT,
        "deliveryStatus": _NULLABLE_TEXT,
        "deliveryAttempts": _NULLABLE_INT,
        "segmentsSucceeded": _NULLABLE_INT,
        "segmentsFailed": _NULLABLE_INT,
        "deliveryMs": _NULLABLE_INT,
        "error": nullable(CODE_AND_MESSAGE),
        "history": {
            "type": "array",
            "items": obj(
                {"status": STATUS, "at": TIME, "detail": {"type": "string"}},
                required=("status", "at"),
            ),
        },
    }
)
BATCH = obj(
    {
        "batchId": BATCH_ID,
        "createdAt": TIME,
        "sendAt": nullable(TIME),
        "validUntil": nullable(TIME),
        "tag": _NULLABLE_TEXT,
        "recipients": {"type": "integer"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "sent": {"type": "integer"},
        "waiting": {"type": "integer"},
        "progress": {"type": "number", "minimum": 0, "maximum": 1},
        "done": {"type": "boolean"},
    }
)
OPT_OUTS = obj(
    {
        "phone": E164,
        "from": nullable(E164),
        "optedOut": {"type": "boolean"},
        "optOuts": {
            "type": "array",
            "items": obj({"scope": {"type": "string"}, "at": TIME, "source": {"type": "string"}}),
        },
    }
)
TOKEN = nullable({"type": "string"})
HISTORY = obj(
    {
        "phone": E164,
        "entries": {
            "type": "array",
            "items": obj(
                {
                    "at": TIME,
                    "action": {"type": "string", "enum": ["optOut", "optIn", "help"]},
                    "scope": {"type": "string"},
                    "source": {"type": "string"},
                    "keyword": _NULLABLE_TEXT,
                    "match": _NULLABLE_TEXT,
                    "needsReview": {"type": "boolean"},
                    "ourNumber": _NULLABLE_TEXT,
                    "text": _NULLABLE_TEXT,
                    "lastMessageId": _NULLABLE_TEXT,
                    "ref": {"type": "string"},
                }
            ),
        },
        "continuationToken": TOKEN,
    }
)
THREAD = obj(
    {
        "phone": E164,
        "messages": {
            "type": "array",
            "items": obj(
                {
                    "direction": {"type": "string", "enum": ["inbound", "outbound"]},
                    "our": {"type": "string"},
                    "their": {"type": "string"},
                    "at": TIME,
                    "text": _NULLABLE_TEXT,
                    "acsMessageId": {"type": "string"},
                    "keyword": _NULLABLE_TEXT,
                    "id": _NULLABLE_TEXT,
                    "status": _NULLABLE_TEXT,
                },
                required=("direction", "our", "their", "at", "text"),
            ),
        },
        "continuationToken": TOKEN,
    }
)
_COUNT = {"type": "integer", "minimum": 0}
_RATE = nullable({"type": "number", "minimum": 0})
FIGURES: dict[str, Schema] = {
    **{
        name: _COUNT
        for name in [
            "sent",
            "accepted",
            "rejected",
            "unknown",
            "invalid",
            "optedOut",
            "delivered",
            "failed",
            "segments",
            "inbound",
            "replies",
            "optOuts",
            "optIns",
        ]
    },
    "deliveryRate": _RATE,
    "optOutRate": _RATE,
    "replyRate": _RATE,
    "failureReasons": {
        "type": "array",
        "items": obj({"reason": {"type": "string"}, "meaning": _NULLABLE_TEXT, "count": _COUNT}),
    },
    "medianLatencyMs": _RATE,
    "p95LatencyMs": _RATE,
    "verifications": obj(
        {
            "started": _COUNT,
            "approved": _COUNT,
            "conversionRate": _RATE,
            "blocked": _COUNT,
            "blockedReasons": {
                "type": "array",
                "items": obj({"reason": {"type": "string"}, "count": _COUNT}),
            },
        }
    ),
    "events": obj(
        {
            "delivered": _COUNT,
            "failed": _COUNT,
            "deadLettered": _COUNT,
            "byDestination": {
                "type": "array",
                "items": obj(
                    {
                        "destination": {"type": "string"},
                        "delivered": _COUNT,
                        "failed": _COUNT,
                        "deadLettered": _COUNT,
                    }
                ),
            },
        }
    ),
}
ANALYTICS = obj(
    {
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
        "groupBy": {"type": "string", "enum": list(GROUP_BYS)},
        "top": {"type": "integer"},
        "generatedAt": nullable(TIME),
        "totals": obj(FIGURES),
        "series": {"type": "array", "items": obj({"key": _NULLABLE_TEXT, **FIGURES})},
        "busiestHours": {
            "type": "array",
            "minItems": 24,
            "maxItems": 24,
            "items": obj(
                {"hour": {"type": "integer", "minimum": 0, "maximum": 23}, "sent": _COUNT}
            ),
        },
    }
)
