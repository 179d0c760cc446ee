"""`python -m local.acs_sandbox [--host H] [--port P]`: serve the ACS sandbox until stopped."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from aiohttp import web

from . import DEFAULT_PORT
from .app import create_app
from .config import DEV_ACCESS_KEY, SandboxConfig

log = logging.getLogger("acs_sandbox")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m local.acs_sandbox",
        description="Local stand-in for Azure Communication Services SMS (real wire protocol).",
        epilog="Other settings come from ACS_SANDBOX_* variables; see local/acs_sandbox/config.py.",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("ACS_SANDBOX_HOST") or "127.0.0.1",
        help="interface to listen on (env ACS_SANDBOX_HOST, default 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        default=os.environ.get("ACS_SANDBOX_PORT") or str(DEFAULT_PORT),
        help=f"port to listen on (env ACS_SANDBOX_PORT, default {DEFAULT_PORT})",
    )
    args = parser.parse_args(argv)
    if not args.port.isdigit() or not 0 < int(args.port) < 65536:
        parser.error(
            f"port must be a number between 1 and 65535 (--port or ACS_SANDBOX_PORT), got {args.port!r}"
        )
    try:
        config = SandboxConfig.from_env(os.environ)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s acs-sandbox %(levelname)s %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it would log webhook URLs per attempt
    key = "the development key" if config.access_key == DEV_ACCESS_KEY else "ACS_SANDBOX_ACCESS_KEY"
    log.info(
        "ACS sandbox on http://%s:%s (key: %s; %d sender numbers; events: %s)",
        args.host,
        args.port,
        key,
        len(config.senders),
        config.events_url or "off",
    )
    web.run_app(
        create_app(config), host=args.host, port=int(args.port), access_log=None, print=None
    )


if __name__ == "__main__":
    main()
