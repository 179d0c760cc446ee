"""The trigger payloads the Functions host sends to the worker, as `azure.functions` Datums.

Shapes follow the host's gRPC TypedData as the worker turns it into `Datum`s: an `http` datum of
method/url/headers/query/params/body for HTTP, one `json` datum per Event Grid event, and the
TimerInfo JSON (`IsPastDue`, `ScheduleStatus`, `Schedule`) for timers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.functions.meta import Datum

# .NET's DateTime.MinValue, which the real host reports as `Last` before a timer's first run.
NEVER = "0001-01-01T00:00:00"


@dataclass(frozen=True)
class HttpInput:
    """An HTTP request as the host forwards it to the worker."""

    method: str
    url: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    route_params: Mapping[str, str]
    body: bytes
    content_type: str = ""


@dataclass(frozen=True)
class TimerInput:
    past_due: bool
    last: datetime | None
    next: datetime | None
    last_updated: datetime


def http_datum(request: HttpInput) -> Datum:
    """The `http` TypedData the host sends for an HTTP trigger."""

    def strings(values: Mapping[str, str]) -> dict[str, Datum]:
        return {name: Datum(value, "string") for name, value in values.items()}

    return Datum(
        {
            "method": Datum(request.method, "string"),
            "url": Datum(request.url, "string"),
            "headers": strings(request.headers),
            "query": strings(request.query),
            "params": strings(request.route_params),
            "body": _body_datum(request.body, request.content_type),
        },
        "http",
    )


def _body_datum(body: bytes, content_type: str) -> Datum:
    # The host sends octet-stream/multipart bodies as bytes, JSON bodies as json, others as text.
    media_type = content_type.split(";", 1)[0].strip().lower()
    if (
        not body
        or media_type in {"application/octet-stream"}
        or media_type.startswith("multipart/")
    ):
        return Datum(body, "bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Datum(body, "bytes")
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            json.loads(text)
        except ValueError:
            return Datum(text, "string")
        return Datum(text, "json")
    return Datum(text, "string")


def event_datum(event: Any) -> Datum:
    """One Event Grid event (or CloudEvent) as the `json` TypedData the host sends per event."""
    return Datum(json.dumps(event), "json")


def timer_datum(timer: TimerInput) -> Datum:
    """The TimerInfo JSON the host sends: IsPastDue, ScheduleStatus and Schedule."""
    return Datum(
        json.dumps(
            {
                "Schedule": {"AdjustForDST": True},
                "ScheduleStatus": {
                    "Last": _timestamp(timer.last) if timer.last else NEVER,
                    "Next": _timestamp(timer.next) if timer.next else None,
                    "LastUpdated": _timestamp(timer.last_updated),
                },
                "IsPastDue": timer.past_due,
            }
        ),
        "json",
    )


def _timestamp(moment: datetime) -> str:
    return moment.isoformat()
