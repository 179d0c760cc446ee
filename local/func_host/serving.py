"""The host process proper: start the host, serve it until a signal or the worker's death."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
from pathlib import Path
from types import ModuleType

from local.func_host.host import HostStartError, start_host
from local.func_host.logs import configure_logging
from local.func_host.settings import SettingsError, read_local_settings
from local.func_host.spawn import SpawnedWorker

logger = logging.getLogger("func_host")

DEFAULT_PORT = 7071  # Core Tools' default


def choose_port(explicit: int | None, root: Path) -> int:
    if explicit is not None:
        return explicit
    from_env = os.environ.get("FUNCTIONS_HOST_PORT", "")
    if from_env.isdigit():
        return int(from_env)
    return read_local_settings(root).local_http_port or DEFAULT_PORT


def run(args: argparse.Namespace, spawned: SpawnedWorker | None) -> int:
    configure_logging(args.log_level)
    return asyncio.run(serve(args, spawned))


async def serve(args: argparse.Namespace, spawned: SpawnedWorker | None) -> int:
    """Run the host until SIGINT/SIGTERM or its worker's death; return the exit code."""
    root = args.root.resolve()
    try:
        if not root.is_dir():
            raise SettingsError(f"App root {root} is not a directory")
        port = choose_port(args.port, root)
    except SettingsError as error:
        logger.error("%s", error)
        if spawned is not None:
            spawned.abandon()
        return 1
    # The host runs in the app root, and so does its worker (as in Azure: /home/site/wwwroot).
    os.chdir(root)
    server = asyncio.ensure_future(asyncio.to_thread(_import_server))
    try:
        state = await start_host(root, os.environ, log_level=args.log_level, spawned=spawned)
    except (SettingsError, HostStartError) as error:
        logger.error("%s", error)
        await server
        return 1
    app_module, web = await server
    app = app_module.create_app(state, shutdown_grace=args.shutdown_grace)
    runner = web.AppRunner(app, shutdown_timeout=args.shutdown_grace)
    await runner.setup()
    site = web.TCPSite(runner, args.host, port)
    try:
        await site.start()
    except OSError as error:
        logger.error("Cannot listen on %s:%d: %s", args.host, port, error)
        await runner.cleanup()
        await state.stop(grace=0)
        return 1
    base_url = f"http://{args.host}:{port}"
    listing = app_module.describe_functions(state, base_url)
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
    return exit_code


def _import_server() -> tuple[ModuleType, ModuleType]:
    """The aiohttp application and aiohttp.web, imported while the worker loads the app."""
    return importlib.import_module("local.func_host.app"), importlib.import_module("aiohttp.web")
