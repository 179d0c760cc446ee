"""`python -m local.func_host --root <app> --host 127.0.0.1 --port 7071`: serve an app locally.

The port is `--port`, else `FUNCTIONS_HOST_PORT`, else local.settings.json `Host.LocalHttpPort`,
else 7071 (Core Tools' default). SIGINT/SIGTERM stop the timers and give running invocations a
few seconds to finish.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from local.func_host.app import DEFAULT_SHUTDOWN_GRACE, create_app, describe_functions
from local.func_host.host import HostStartError, start_host
from local.func_host.logs import configure_logging
from local.func_host.settings import SettingsError, read_local_settings

logger = logging.getLogger("func_host")

DEFAULT_PORT = 7071


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.func_host", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="app root (host.json)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=None, help="port (default 7071)")
    parser.add_argument("--log-level", default=os.environ.get("FUNCTIONS_HOST_LOG_LEVEL", "INFO"))
    parser.add_argument(
        "--shutdown-grace",
        type=float,
        default=DEFAULT_SHUTDOWN_GRACE,
        help="seconds running invocations get to finish on shutdown",
    )
    return parser.parse_args(argv)


def choose_port(explicit: int | None, root: Path) -> int:
    if explicit is not None:
        return explicit
    from_env = os.environ.get("FUNCTIONS_HOST_PORT", "")
    if from_env.isdigit():
        return int(from_env)
    return read_local_settings(root).local_http_port or DEFAULT_PORT


async def serve(args: argparse.Namespace) -> tuple[int, bool]:
    """Run the host until SIGINT/SIGTERM or its worker's death; return (exit code, whether
    invocations were abandoned)."""
    root = args.root.resolve()
    if not root.is_dir():
        logger.error("App root %s is not a directory", root)
        return 1, False
    # The host runs in the app root, and so does its worker (as in Azure: /home/site/wwwroot).
    os.chdir(root)
    try:
        port = choose_port(args.port, root)
        state = await start_host(root, os.environ, log_level=args.log_level)
    except (SettingsError, HostStartError) as error:
        logger.error("%s", error)
        return 1, False
    app = create_app(state, shutdown_grace=args.shutdown_grace)
    runner = web.AppRunner(app, shutdown_timeout=args.shutdown_grace)
    await runner.setup()
    site = web.TCPSite(runner, args.host, port)
    try:
        await site.start()
    except OSError as error:
        logger.error("Cannot listen on %s:%d: %s", args.host, port, error)
        await runner.cleanup()
        await state.stop(grace=0)
        return 1, False
    base_url = f"http://{args.host}:{port}"
    listing = describe_functions(state, base_url)
    logger.info("Functions:\n  %s", "\n  ".join(listing) if listing else "(none found)")
    logger.info("Host started on %s (root %s)", base_url, root)
    stopping = asyncio.Event()
    exit_code = 0

    def worker_exited(code: int | None) -> None:
        # The real host would start a new worker; this one stops, so the failure is seen.
        nonlocal exit_code
        logger.error("The worker process exited unexpectedly (code %s); stopping the host", code)
        exit_code = 1
        stopping.set()

    state.runner.channel.on_exit = worker_exited
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    logger.info("Shutting down")
    await runner.cleanup()
    return exit_code, state.abandoned > 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level)
    code, _ = asyncio.run(serve(args))
    return code


if __name__ == "__main__":
    sys.exit(main())
