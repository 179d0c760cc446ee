"""The ACS SMS data plane: `POST /sms`, `POST /sms/optouts:{add,remove,check}`, `GET /deliveryReports/{id}`.

Order of checks as the service layers them: api-version, authentication, body validation,
sender ownership, then per-recipient work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from aiohttp import web

from .auth import AuthError, verify_request
from .faults import Fault, Route
from .phones import is_e164, mask
from .responses import acs_json, api_version_error, error_body, problem_body, retry_after_value
from .sending import Throttled, send
from .state import SANDBOX, RequestRecord, Sandbox
from .validation import InvalidRequest, parse_opt_out_request, parse_send_request

# Research §1.1: stable and public preview versions of the SMS data plane.
SMS_VERSIONS = (
    "2021-01-29",
    "2021-03-07",
    "2022-07-07",
    "2024-01-02",
    "2024-01-14-preview",
    "2024-01-21-preview",
    "2024-02-05-preview",
    "2024-02-05",
    "2024-12-10-preview",
    "2025-05-29-preview",
    "2025-08-01-preview",
    "2025-09-17",
    "2026-01-23",
)
OPT_OUT_VERSIONS = (
    "2024-12-10-preview",
    "2025-05-29-preview",
    "2025-08-01-preview",
    "2025-09-17",
    "2026-01-23",
)
REPORT_VERSIONS = ("2025-08-01-preview", "2026-01-23")

LOG_DETAIL = web.RequestKey("log_detail", str)
_FAULT_CODES = {
    408: "RequestTimeout",
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _authenticate(
    request: web.Request, sandbox: Sandbox, body: bytes, versions: tuple[str, ...]
) -> web.Response | None:
    config = sandbox.config
    try:
        verify_request(
            request.method,
            request.raw_path,  # exactly as received: never decoded or re-encoded
            request.headers,
            body,
            config.key_bytes,
            datetime.now(UTC),
            timedelta(seconds=config.clock_skew_seconds),
        )
    except AuthError as exc:
        return acs_json(request, 401, error_body("Denied", exc.message), versions=versions)
    return None


def _not_owned(request: web.Request, sender: str, versions: tuple[str, ...]) -> web.Response:
    # Recorded in 2023: 401 Unauthorized for a sender the resource does not own.
    message = f"The sender {mask(sender)} is not a number of this resource."
    return acs_json(request, 401, error_body("Unauthorized", message), versions=versions)


def _send_response(request: web.Request, sandbox: Sandbox, body: bytes) -> web.Response:
    rejected = api_version_error(request, SMS_VERSIONS) or _authenticate(
        request, sandbox, body, SMS_VERSIONS
    )
    if rejected is not None:
        return rejected
    try:
        send_request = parse_send_request(body, request.query["api-version"])
    except InvalidRequest as exc:
        return acs_json(request, 400, exc.body, versions=SMS_VERSIONS)
    config = sandbox.config
    if send_request.sender not in config.senders:
        return _not_owned(request, send_request.sender, SMS_VERSIONS)
    try:
        items = send(sandbox, send_request)
    except Throttled as exc:
        headers = {"Retry-After": retry_after_value(max(1.0, exc.wait_seconds))}
        message = f"Sender exceeded {config.rate_per_minute} message units per minute."
        return acs_json(
            request,
            429,
            error_body("TooManyRequests", message),
            versions=SMS_VERSIONS,
            headers=headers if config.retry_after else None,
        )
    return acs_json(request, 202, {"value": items}, versions=SMS_VERSIONS)


def _opt_out_response(
    request: web.Request, sandbox: Sandbox, body: bytes, action: str
) -> web.Response:
    rejected = api_version_error(request, OPT_OUT_VERSIONS) or _authenticate(
        request, sandbox, body, OPT_OUT_VERSIONS
    )
    if rejected is not None:
        return rejected
    try:
        opt_out = parse_opt_out_request(body, request.query["api-version"])
    except InvalidRequest as exc:
        return acs_json(request, 400, exc.body, versions=OPT_OUT_VERSIONS)
    if opt_out.sender not in sandbox.config.senders:
        return _not_owned(request, opt_out.sender, OPT_OUT_VERSIONS)
    items = []
    for to in opt_out.recipients:
        if not is_e164(to):
            # Spec examples: a bad number fails its own item only, the others are applied.
            items.append(
                {
                    "to": to,
                    "httpStatusCode": 400,
                    "errorMessage": "Invalid recipient phone number format",
                }
            )
            continue
        if action == "add":
            sandbox.optouts.add(opt_out.sender, to)
        elif action == "remove":
            sandbox.optouts.remove(opt_out.sender, to)
        item: dict[str, object] = {"to": to}
        if action == "check":
            item["isOptedOut"] = sandbox.optouts.is_opted_out(opt_out.sender, to)
        item["httpStatusCode"] = 200
        items.append(item)
    return acs_json(request, 200, {"value": items}, versions=OPT_OUT_VERSIONS)


def _report_response(request: web.Request, sandbox: Sandbox, body: bytes) -> web.Response:
    rejected = api_version_error(request, REPORT_VERSIONS) or _authenticate(
        request, sandbox, body, REPORT_VERSIONS
    )
    if rejected is not None:
        return rejected
    report = sandbox.reports.get(request.match_info["message_id"])
    if report is None:
        # Spec: 404 `ErrorResponse`, problem details without `errors`.
        return acs_json(request, 404, problem_body(404, "Not Found"), versions=REPORT_VERSIONS)
    return acs_json(request, 200, report.to_json(), versions=REPORT_VERSIONS)


def _fault_response(request: web.Request, fault: Fault, versions: tuple[str, ...]) -> web.Response:
    code = _FAULT_CODES.get(fault.status, "Error")
    headers = (
        {} if fault.retry_after is None else {"Retry-After": retry_after_value(fault.retry_after)}
    )
    body = error_body(code, "Injected by the ACS sandbox (POST /sandbox/faults).")
    return acs_json(request, fault.status, body, versions=versions, headers=headers)


Answer = Callable[[web.Request, Sandbox, bytes], web.Response]


async def _serve(
    request: web.Request, route: Route, versions: tuple[str, ...], answer: Answer
) -> web.StreamResponse:
    """Records the call, applies a queued fault for its route, and answers."""
    sandbox = request.app[SANDBOX]
    body = await request.read()
    record = RequestRecord.parse(request.method, request.raw_path, body)
    sandbox.calls.append(record)
    if route == "sms":
        sandbox.requests.append(record)
    if record.sender:
        request[LOG_DETAIL] = f"from={mask(record.sender)} recipients={len(record.recipients)}"
    fault = sandbox.faults.take(route)
    if fault is not None and fault.kind == "status":
        response = _fault_response(request, fault, versions)  # failed before doing anything
    else:
        response = answer(request, sandbox, body)
    record.status = response.status
    if fault is not None and fault.kind == "drop-response":
        # ACS acted, then the answer was lost: the client sees the connection close.
        record.dropped = True
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
    if fault is not None and fault.kind == "delay":
        await asyncio.sleep(fault.seconds)  # real seconds: meant to trip client timeouts
    return response


async def post_sms(request: web.Request) -> web.StreamResponse:
    return await _serve(request, "sms", SMS_VERSIONS, _send_response)


def opt_out_handler(action: str) -> Handler:
    """`POST /sms/optouts:<action>`, backed by the sandbox's opt-out list."""

    def answer(request: web.Request, sandbox: Sandbox, body: bytes) -> web.Response:
        return _opt_out_response(request, sandbox, body, action)

    async def handle(request: web.Request) -> web.StreamResponse:
        return await _serve(request, "optouts", OPT_OUT_VERSIONS, answer)

    return handle


async def get_delivery_report(request: web.Request) -> web.StreamResponse:
    """`GET /deliveryReports/{outgoingMessageId}` (api-version 2025-08-01-preview, 2026-01-23)."""
    return await _serve(request, "deliveryReports", REPORT_VERSIONS, _report_response)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/sms", post_sms)
    for action in ("add", "remove", "check"):
        # The colon is a literal path character (`/sms/optouts:add`), not a route parameter.
        app.router.add_post(f"/sms/optouts:{action}", opt_out_handler(action))
    app.router.add_get("/deliveryReports/{message_id}", get_delivery_report)
