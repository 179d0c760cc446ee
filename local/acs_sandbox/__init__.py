"""ACS SMS sandbox: a local stand-in for Azure Communication Services SMS on the real wire protocol.

Run it with `python -m local.acs_sandbox --port 7072` and point the app (or the official SDK) at
`connection_string(7072)`. It never imports the app's `shared/` package: it is an independent
implementation, so it can judge the app's client instead of repeating its mistakes.
"""

from __future__ import annotations

from .app import create_app
from .config import DEV_ACCESS_KEY, SandboxConfig
from .reports import NO_REPORT_NUMBER, NONEXISTENT_NUMBER, SIMULATOR_NUMBERS, UNAVAILABLE_NUMBER

DEFAULT_PORT = 7072

__all__ = [
    "DEFAULT_PORT",
    "DEV_ACCESS_KEY",
    "NONEXISTENT_NUMBER",
    "NO_REPORT_NUMBER",
    "SIMULATOR_NUMBERS",
    "UNAVAILABLE_NUMBER",
    "SandboxConfig",
    "connection_string",
    "create_app",
]


def connection_string(
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    key: str = DEV_ACCESS_KEY,
    *,
    https: bool = False,
) -> str:
    """The ACS connection string for a sandbox (`endpoint=http[s]://…/;accesskey=…`); for
    `https=True`, `port` is the sandbox's HTTPS port."""
    scheme = "https" if https else "http"
    return f"endpoint={scheme}://{host}:{port}/;accesskey={key}"
