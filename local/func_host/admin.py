"""The host's `/admin` endpoints: status, function metadata, and running a function now.

`POST /admin/functions/<name>` with `{"input": "..."}` is Core Tools' way to run a non-HTTP
function by hand; like the real host it answers 202 at once and runs the function in the
background (its outcome is in the host log). A timer gets a TimerRequest; an Event Grid function
gets `input` parsed as the event.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from local.func_host.eventgrid import invoke_event
from local.func_host.host import HostState
from local.func_host.model import (
    EVENT_GRID_TRIGGER,
    HTTP_TRIGGER,
    TIMER_TRIGGER,
    IndexedFunction,
)
from local.func_host.payloads import TimerInput
from local.func_host.timers import invoke_timer, utc_now


async def handle_admin(request: web.Request, state: HostState, path: str) -> web.Response:
    """Serve `path` (lower-cased, no trailing slash) below /admin."""
    if path == "/admin/host/status":
        return _only("GET", request) or web.json_response(host_status(state))
    if path == "/admin/host/ping":
        return _only("GET", request) or web.Response(status=200)
    if path == "/admin/functions":
        return _only("GET", request) or web.json_response(
            [function_metadata(state, f, request) for f in state.functions.values()]
            + [{"name": name, "isDisabled": True} for name in state.index.disabled]
            + [{"name": n, "isDisabled": False, "error": e} for n, e in state.index.errors.items()]
        )
    prefix = "/admin/functions/"
    if path.startswith(prefix) and "/" not in path[len(prefix) :]:
        function = state.find_function(path[len(prefix) :])
        if function is None:
            return web.Response(status=404, text=f"function '{path[len(prefix) :]}' not found")
        if request.method == "GET":
            return web.json_response(function_metadata(state, function, request))
        return _only("POST", request) or await _run_now(request, state, function)
    return web.Response(status=404)


def host_status(state: HostState) -> dict[str, Any]:
    """Running once loading finished, even with failures (see `errors`); Error if none loaded."""
    failed_entirely = not state.loaded and bool(state.errors)
    return {
        "id": "local",
        "state": "Error" if failed_entirely else "Running",
        "version": "local-func-host",
        "functions": state.loaded,
        "errors": state.errors,
        "disabled": list(state.index.disabled),
        "processUptime": round((time.monotonic() - state.started) * 1000),
    }


def function_metadata(
    state: HostState, function: IndexedFunction, request: web.Request
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": function.name,
        "trigger": function.trigger_type,
        "isDisabled": False,
        "config": dict(function.spec.config),
    }
    if function.name in state.load_errors:
        metadata["error"] = state.load_errors[function.name]
    if function.trigger_type == HTTP_TRIGGER and function.route is not None:
        prefix = f"/{state.config.route_prefix}" if state.config.route_prefix else ""
        route = function.route.text.strip().removeprefix("~").strip("/")
        metadata["route"] = route
        metadata["methods"] = sorted(function.methods) if function.methods else None
        metadata["invoke_url_template"] = f"{request.scheme}://{request.host}{prefix}/{route}"
    if function.trigger_type == TIMER_TRIGGER and function.schedule is not None:
        metadata["schedule"] = function.schedule.expression
        metadata["runOnStartup"] = function.run_on_startup
    if function.trigger_type == EVENT_GRID_TRIGGER:
        metadata["webhook"] = (
            f"{request.scheme}://{request.host}/runtime/webhooks/EventGrid"
            f"?functionName={function.name}"
        )
    return metadata


async def _run_now(
    request: web.Request, state: HostState, function: IndexedFunction
) -> web.Response:
    if function.trigger_type == HTTP_TRIGGER:
        return web.Response(
            status=400, text=f"'{function.name}' is an HTTP function: call its route instead"
        )
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return web.Response(status=400, text='the body must be JSON: {"input": "..."}')
    given = body.get("input", "") if isinstance(body, dict) else ""
    if function.trigger_type == TIMER_TRIGGER:
        now = utc_now()
        schedule = function.schedule
        timer = TimerInput(False, None, schedule.next_after(now) if schedule else None, now)
        state.runner.start(invoke_timer(function, timer, state.runner))
        return web.Response(status=202)
    try:
        event = json.loads(given) if isinstance(given, str) else given
    except ValueError:
        event = None
    if not isinstance(event, dict):
        return web.Response(status=400, text="`input` must be one event as a JSON object")
    state.runner.start(invoke_event(function, event, state.runner))
    return web.Response(status=202)


def _only(method: str, request: web.Request) -> web.Response | None:
    if request.method == method:
        return None
    return web.Response(status=405, headers={"Allow": method})
