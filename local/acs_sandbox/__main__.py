"""`python -m local.acs_sandbox [--host H] [--port P] [--https-port Q]`: serve until stopped.

HTTP on `--port`; with `--https-port` (or `ACS_SANDBOX_HTTPS_PORT`) the same sandbox also
answers HTTPS there, with a certificate made on the first run (see `tls.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import ssl
import sys
from pathlib import Path

from aiohttp import web

from . import DEFAULT_PORT
from .app import create_app
from .config import DEV_ACCESS_KEY, SandboxConfig

log = logging.getLogger("acs_sandbox")


def _port(parser: argparse.ArgumentParser, value: str, source: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        parser.error(f"port must be a number between 1 and 65535 ({source}), got {value!r}")
    return int(value)


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
        help=f"HTTP port (env ACS_SANDBOX_PORT, default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--https-port",
        default=os.environ.get("ACS_SANDBOX_HTTPS_PORT") or "",
        help="also serve HTTPS on this port (env ACS_SANDBOX_HTTPS_PORT; default: no HTTPS)",
    )
    parser.add_argument(
        "--tls-dir",
        default=os.environ.get("ACS_SANDBOX_TLS_DIR") or "",
        help="where the HTTPS certificate is kept (env ACS_SANDBOX_TLS_DIR, "
        "default .artifacts/acs-sandbox-tls)",
    )
    args = parser.parse_args(argv)
    port = _port(parser, args.port, "--port or ACS_SANDBOX_PORT")
    https_port = (
        _port(parser, args.https_port, "--https-port or ACS_SANDBOX_HTTPS_PORT")
        if args.https_port
        else None
    )
    if https_port == port:
        parser.error("--https-port must differ from --port")
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
    context = None
    if https_port is not None:
        # Imported here: plain HTTP needs no `cryptography`.
        from .tls import DEFAULT_TLS_DIR, ensure_certificate

        files = ensure_certificate(Path(args.tls_dir) if args.tls_dir else DEFAULT_TLS_DIR)
        context = files.server_context()
        log.info("HTTPS certificate: trust %s (SSL_CERT_FILE or REQUESTS_CA_BUNDLE)", files.ca)
    key = "the development key" if config.access_key == DEV_ACCESS_KEY else "ACS_SANDBOX_ACCESS_KEY"
    log.info(
        "ACS sandbox on http://%s:%s%s (key: %s; %d sender numbers; events: %s)",
        args.host,
        port,
        f" and https://{args.host}:{https_port}" if https_port else "",
        key,
        len(config.senders),
        config.events_url or "off",
    )
    asyncio.run(_serve(create_app(config), args.host, port, https_port, context))


async def _serve(
    app: web.Application,
    host: str,
    port: int,
    https_port: int | None,
    context: ssl.SSLContext | None,
) -> None:
    """Both listeners on one application (one state) until SIGINT or SIGTERM."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        if https_port is not None:
            await web.TCPSite(runner, host, https_port, ssl_context=context).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    main()
