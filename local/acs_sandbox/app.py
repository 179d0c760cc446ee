"""The aiohttp application: routes, one log line per request, clean shutdown."""

from __future__ import annotations

import asyncio
import logging
import random
import time

from aiohttp import web

from . import control_api, event_sink, sms_api
from .config import SandboxConfig
from .phones import mask_numbers
from .sms_api import LOG_DETAIL
from .state import SANDBOX, Sandbox

log = logging.getLogger("acs_sandbox")


@web.middleware
async def log_request(request: web.Request, handler: sms_api.Handler) -> web.StreamResponse:
    """`POST /sms?api-version=… 202 3ms from=+1800*****00 recipients=2`: numbers masked, no key."""
    started = time.perf_counter()
    status: int | str = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = "dropped"
        raise
    finally:
        detail = request.get(LOG_DETAIL)
        log.info(
            "%s %s %s %.0fms%s",
            request.method,
            mask_numbers(request.raw_path),
            status,
            (time.perf_counter() - started) * 1000,
            f" {detail}" if detail else "",
        )


def create_app(
    config: SandboxConfig | None = None, *, rng: random.Random | None = None
) -> web.Application:
    """A sandbox with its own in-memory state; `rng` makes the fault probabilities repeatable."""
    sandbox = Sandbox(config or SandboxConfig(), rng=rng or random.Random())
    app = web.Application(middlewares=[log_request])
    app[SANDBOX] = sandbox
    sms_api.add_routes(app)
    control_api.add_routes(app)
    event_sink.add_routes(app)

    async def close(_: web.Application) -> None:
        await sandbox.aclose()

    app.on_cleanup.append(close)
    return app
