"""`python -m local.func_host --root <app> --host 127.0.0.1 --port 7071`: serve an app locally.

The port is `--port`, else `FUNCTIONS_HOST_PORT`, else local.settings.json `Host.LocalHttpPort`,
else 7071 (Core Tools' default). SIGINT/SIGTERM stop the timers and give running invocations a
few seconds to finish.

Start-up overlaps the two processes: the worker is started first thing (it imports the worker
library and the functions on another core) while this process imports the rest of the host and
its HTTP server, so a cold start costs about the longer of the two rather than their sum. Only
light modules are imported before the worker is started; the host itself is in `serving`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from local.func_host.settings import SettingsError, apply_app_settings, read_local_settings
from local.func_host.spawn import SpawnedWorker, spawn_worker

DEFAULT_SHUTDOWN_GRACE = 5.0


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


def prestart_worker(args: argparse.Namespace) -> SpawnedWorker | None:
    """Start the worker now if the app root looks usable; `serving` reports any problem."""
    root = args.root.resolve()
    if not (root / "host.json").is_file():
        return None
    try:
        apply_app_settings(read_local_settings(root).values, os.environ)
        return spawn_worker(str(root), os.environ, log_level=args.log_level)
    except (SettingsError, OSError):
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spawned = prestart_worker(args)
    from local.func_host.serving import run

    return run(args, spawned)


if __name__ == "__main__":
    sys.exit(main())
