"""The sandbox's own control surface under `/sandbox/` (no authentication, never in ACS).

Tests use it to read what handsets received, count ACS calls, inject faults, change settings
and play a handset that texts the resource.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .faults import Fault
from .inbound import receive
from .phones import digits, is_e164
from .responses import control_error, plain_json
from .state import SANDBOX


async def _json_body(request: web.Request) -> Any:
    """The parsed body, or None when it is not JSON (callers then ask for an object)."""
    try:
        return json.loads(await request.read())
    except ValueError:
        return None


async def health(request: web.Request) -> web.Response:
    return plain_json({"status": "ok"})


async def list_messages(request: web.Request) -> web.Response:
    """What handsets received; `to`/`from` filters compare digits, so `+` may be left out."""
    wanted = {k: digits(request.query[k].strip()) for k in ("to", "from") if request.query.get(k)}
    messages = [
        m.to_json()
        for m in request.app[SANDBOX].inbox
        if all(digits(m.to if k == "to" else m.sender) == v for k, v in wanted.items())
    ]
    return plain_json({"value": messages})


async def clear_messages(request: web.Request) -> web.Response:
    request.app[SANDBOX].inbox.clear()
    return web.Response(status=204)


async def list_requests(request: web.Request) -> web.Response:
    return plain_json({"value": [r.to_json() for r in request.app[SANDBOX].requests]})


async def clear_requests(request: web.Request) -> web.Response:
    request.app[SANDBOX].requests.clear()
    return web.Response(status=204)


async def list_calls(request: web.Request) -> web.Response:
    return plain_json({"value": [r.to_json() for r in request.app[SANDBOX].calls]})


async def clear_calls(request: web.Request) -> web.Response:
    request.app[SANDBOX].calls.clear()
    return web.Response(status=204)


async def list_optouts(request: web.Request) -> web.Response:
    return plain_json({"value": request.app[SANDBOX].optouts.to_json()})


async def list_faults(request: web.Request) -> web.Response:
    return plain_json({"value": request.app[SANDBOX].faults.to_json()})


async def add_fault(request: web.Request) -> web.Response:
    try:
        fault = Fault.from_json(await _json_body(request))
    except ValueError as exc:
        return control_error(str(exc))
    faults = request.app[SANDBOX].faults
    faults.add(fault)
    return plain_json({"value": faults.to_json()}, status=201)


async def clear_faults(request: web.Request) -> web.Response:
    request.app[SANDBOX].faults.clear()
    return web.Response(status=204)


async def get_config(request: web.Request) -> web.Response:
    return plain_json(request.app[SANDBOX].config.to_json())


async def put_config(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    patch = await _json_body(request)
    if not isinstance(patch, dict):
        return control_error("Body must be a JSON object of settings.")
    try:
        sandbox.config = sandbox.config.updated(patch)
    except ValueError as exc:
        return control_error(str(exc))
    return plain_json(sandbox.config.to_json())


async def reset(request: web.Request) -> web.Response:
    await request.app[SANDBOX].reset()
    return web.Response(status=204)


async def post_inbound(request: web.Request) -> web.Response:
    """A handset texts one of the resource's numbers; ACS raises `SMSReceived`."""
    sandbox = request.app[SANDBOX]
    data = await _json_body(request)
    if not isinstance(data, dict):
        return control_error("Body must be a JSON object with from, to and message.")
    handset, acs_number, text = data.get("from"), data.get("to"), data.get("message")
    if not isinstance(handset, str) or not is_e164(handset):
        return control_error("'from' must be the handset's E.164 number.")
    if not isinstance(acs_number, str) or acs_number not in sandbox.config.senders:
        return control_error("'to' must be one of the sandbox's sender numbers (see senders).")
    if not isinstance(text, str):
        return control_error("'message' must be a string.")
    return plain_json({"messageId": receive(sandbox, handset, acs_number, text)}, status=202)


async def list_events(request: web.Request) -> web.Response:
    return plain_json({"value": request.app[SANDBOX].dispatcher.deliveries()})


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/sandbox/health", health)
    router.add_get("/sandbox/messages", list_messages)
    router.add_delete("/sandbox/messages", clear_messages)
    router.add_get("/sandbox/requests", list_requests)
    router.add_delete("/sandbox/requests", clear_requests)
    router.add_get("/sandbox/calls", list_calls)
    router.add_delete("/sandbox/calls", clear_calls)
    router.add_get("/sandbox/optouts", list_optouts)
    router.add_get("/sandbox/faults", list_faults)
    router.add_post("/sandbox/faults", add_fault)
    router.add_delete("/sandbox/faults", clear_faults)
    router.add_get("/sandbox/config", get_config)
    router.add_put("/sandbox/config", put_config)
    router.add_post("/sandbox/reset", reset)
    router.add_post("/sandbox/inbound", post_inbound)
    router.add_get("/sandbox/events", list_events)
