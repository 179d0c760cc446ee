"""What the host sends the worker for each trigger, and how it reads an HTTP answer.

Shapes follow the real host (Azure/azure-functions-host, `GrpcMessageConversionExtensions.cs`)
for a worker that asked for `RawHttpBodyBytes` and `RpcHttpBodyOnly`, as the Python library
does: HTTP as `TypedData.http` with the method, the URL with its query, lower-cased header
names, query values (empty ones left out) and route values, and the body as bytes when there
is one; each Event Grid event as `TypedData.json`; a timer as the TimerInfo JSON (`Schedule`,
`ScheduleStatus`, `IsPastDue`). An HTTP answer is the `RpcHttp` the library encoded from the
function's `func.HttpResponse` (or a plain string, answered as text).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local.func_host import messages

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


@dataclass(frozen=True)
class TimerInput:
    past_due: bool
    last: datetime | None
    next: datetime | None
    last_updated: datetime


@dataclass(frozen=True)
class HttpAnswer:
    """What the client gets: status, headers (Set-Cookie among them, once per cookie), body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def http_data(request: HttpInput) -> messages.TypedData:
    """The `http` TypedData the host sends for an HTTP trigger."""
    http = messages.RpcHttp(
        method=request.method,
        url=request.url,
        headers={name.lower(): value for name, value in request.headers.items()},
        query={name: value for name, value in request.query.items() if value},
        params=dict(request.route_params),
        body=messages.TypedData(bytes=request.body) if request.body else None,
    )
    return messages.TypedData(http=http)


def event_data(event: Any) -> tuple[messages.TypedData, dict[str, messages.TypedData]]:
    """One Event Grid event (or CloudEvent) and its trigger metadata (the event's `data`)."""
    metadata = {}
    if isinstance(event, dict) and "data" in event:
        metadata["data"] = messages.TypedData(json=json.dumps(event["data"]))
    return messages.TypedData(json=json.dumps(event)), metadata


def timer_data(timer: TimerInput) -> messages.TypedData:
    """The TimerInfo JSON the host sends: IsPastDue, ScheduleStatus and Schedule."""
    info = {
        "Schedule": {"AdjustForDST": True},
        "ScheduleStatus": {
            "Last": timer.last.isoformat() if timer.last else NEVER,
            "Next": timer.next.isoformat() if timer.next else None,
            "LastUpdated": timer.last_updated.isoformat(),
        },
        "IsPastDue": timer.past_due,
    }
    return messages.TypedData(json=json.dumps(info))


def http_answer(data: messages.TypedData) -> HttpAnswer:
    """The client's response for the function's http output."""
    kind = data.WhichOneof("data")
    if kind == "http":
        return _from_rpc_http(data.http)
    if kind is None:
        return HttpAnswer(204, [], b"")
    # A plain value for an http output: the host answers it as text (a str is the usual case).
    return HttpAnswer(200, [("Content-Type", "text/plain; charset=utf-8")], _body_bytes(data))


def _from_rpc_http(http: messages.RpcHttp) -> HttpAnswer:
    headers = list(http.headers.items())
    headers += [("Set-Cookie", set_cookie_header(cookie)) for cookie in http.cookies]
    status = int(http.status_code) if http.status_code else 200
    return HttpAnswer(status, headers, _body_bytes(http.body))


def _body_bytes(data: messages.TypedData) -> bytes:
    kind = data.WhichOneof("data")
    if kind in {"bytes", "stream"}:
        return bytes(data.bytes if kind == "bytes" else data.stream)
    if kind in {"string", "json"}:
        return str(getattr(data, kind)).encode("utf-8")
    if kind in {"int", "double"}:
        return str(getattr(data, kind)).encode("utf-8")
    return b""


def set_cookie_header(cookie: messages.RpcHttpCookie) -> str:
    """A Set-Cookie value as ASP.NET Core writes one: lower-case attributes, empty ones left out."""
    parts = [f"{cookie.name}={cookie.value}"]
    if cookie.HasField("expires"):
        moment = datetime.fromtimestamp(cookie.expires.value.seconds, UTC)
        parts.append(f"expires={moment:%a, %d %b %Y %H:%M:%S} GMT")
    if cookie.HasField("max_age"):
        parts.append(f"max-age={int(cookie.max_age.value)}")
    if cookie.HasField("domain") and cookie.domain.value:
        parts.append(f"domain={cookie.domain.value}")
    if cookie.HasField("path") and cookie.path.value:
        parts.append(f"path={cookie.path.value}")
    if cookie.HasField("secure") and cookie.secure.value:
        parts.append("secure")
    same_site = {
        messages.RpcHttpCookie.SameSite.Lax: "lax",
        messages.RpcHttpCookie.SameSite.Strict: "strict",
        messages.RpcHttpCookie.SameSite.ExplicitNone: "none",
    }.get(cookie.same_site)
    if same_site:
        parts.append(f"samesite={same_site}")
    if cookie.HasField("http_only") and cookie.http_only.value:
        parts.append("httponly")
    return "; ".join(parts)
