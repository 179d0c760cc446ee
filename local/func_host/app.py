"""The aiohttp application: one dispatcher in front of the host's URL space.

A single catch-all handler routes requests itself, because the host's paths are matched
case-insensitively and HTTP routes need ASP.NET-style precedence, neither of which aiohttp's
router offers: `/runtime/webhooks/eventgrid`, `/admin/...`, then `/<routePrefix>/<route>`.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from local.func_host.admin import handle_admin
from local.func_host.eventgrid import WEBHOOK_PATH, handle_webhook
from local.func_host.host import HostState
from local.func_host.httptrigger import run_http_function
from local.func_host.model import TIMER_TRIGGER
from local.func_host.timers import run_timer

logger = logging.getLogger("func_host")

STATE = web.AppKey("func_host_state", HostState)
# The Functions host accepts request bodies up to 100 MB; aiohttp's default is 1 MiB.
MAX_REQUEST_BYTES = 100 * 1024 * 1024


def create_app(state: HostState, *, shutdown_grace: float) -> web.Application:
    """Serve a started host. Timers start with the application; on shutdown they are cancelled,
    running invocations get `shutdown_grace` seconds to finish, and the worker is stopped."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[STATE] = state

    async def start_timers(app: web.Application) -> None:
        for function in state.functions.values():
            if function.trigger_type == TIMER_TRIGGER:
                task = asyncio.create_task(
                    run_timer(function, state.runner), name=f"timer:{function.name}"
                )
                task.add_done_callback(_report_timer_end)
                state.timers.append(task)

    async def stop(app: web.Application) -> None:
        for task in state.timers:
            task.cancel()
        await asyncio.gather(*state.timers, return_exceptions=True)
        await state.stop(shutdown_grace)
        if state.abandoned:
            logger.warning("Gave up on %d invocation(s) still running at shutdown", state.abandoned)

    app.on_startup.append(start_timers)
    app.on_shutdown.append(stop)
    app.router.add_route("*", "/{path:.*}", _dispatch)
    return app


async def _dispatch(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    path = request.path.rstrip("/") or "/"
    lowered = path.lower()
    if lowered == WEBHOOK_PATH:
        return await handle_webhook(request, state.functions, state.runner)
    if lowered == "/admin" or lowered.startswith("/admin/"):
        return await handle_admin(request, state, lowered)
    relative = _below_prefix(path, state.config.route_prefix)
    if relative is not None:
        match = state.router.resolve(request.method, relative)
        if match is not None:
            return await run_http_function(request, match.target, match.values, state.runner)
    if path == "/" and request.method in {"GET", "HEAD"}:
        return web.Response(text="Azure Functions local host is running.\n")
    return web.Response(status=404)


def _below_prefix(path: str, prefix: str) -> str | None:
    """`path` relative to the route prefix (compared case-insensitively), or None."""
    if not prefix:
        return path
    head = f"/{prefix}"
    if path.lower() == head.lower():
        return ""
    if path[: len(head) + 1].lower() == f"{head}/".lower():
        return path[len(head) + 1 :]
    return None


def _report_timer_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("Timer task %s stopped", task.get_name(), exc_info=task.exception())


def describe_functions(state: HostState, base_url: str) -> list[str]:
    """Core Tools-style listing printed at start-up: one line per function."""
    lines = []
    prefix = f"/{state.config.route_prefix}" if state.config.route_prefix else ""
    for name, function in sorted(state.functions.items()):
        if function.route is not None:
            methods = ",".join(sorted(function.methods)) if function.methods else "ALL"
            route = function.route.text.strip().removeprefix("~").strip("/")
            lines.append(f"{name}: [{methods}] {base_url}{prefix}/{route}")
        elif function.schedule is not None:
            lines.append(f"{name}: timerTrigger '{function.schedule.expression}'")
        else:
            lines.append(
                f"{name}: {function.trigger_type} "
                f"{base_url}/runtime/webhooks/EventGrid?functionName={name}"
            )
    lines += [f"{name}: disabled" for name in state.index.disabled]
    lines += [f"{name}: in error: {error}" for name, error in state.errors.items()]
    return lines
