"""Azurite and the ACS sandbox, started by the benchmark on free ports and stopped after it,
and the app's settings pointed at them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from local.stack import (
    ROOT,
    Service,
    azurite_service,
    azurite_tables_connection_string,
    free_port,
    sandbox_connection_string,
    sandbox_service,
)

ARTIFACTS = ROOT / ".artifacts"
SENDERS = ("+18005550100", "+18005550101", "+18005550102")  # the sandbox owns these
SANDBOX_KEY = "c2FuZGJveC1kZXYta2V5LWZvci1sb2NhbC11c2Utb25seQ=="  # its public development key
UNPACED = 1_000_000  # tokens per sender and minute: pacing never holds a message back


@dataclass(frozen=True, slots=True)
class Stack:
    tables: str  # connection string
    sandbox_port: int

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    def app_env(self, prefix: str) -> dict[str, str]:
        """The app's settings: a pool of three senders, pacing out of the way."""
        return {
            "ACS_CONNECTION_STRING": sandbox_connection_string(self.sandbox_port),
            "SMS_FROM_NUMBERS": ",".join(SENDERS),
            "TABLES_CONNECTION_STRING": self.tables,
            "SMS_TABLE_PREFIX": prefix,
            "SMS_DEFAULT_REGION": "US",
            "SMS_RATE_PER_NUMBER_PER_MINUTE": str(UNPACED),
        }

    def use(self, prefix: str | None = None) -> str:
        """Point the app (this process's environment) at fresh tables; answers their prefix."""
        prefix = prefix or fresh_prefix()
        os.environ.update(self.app_env(prefix))
        return prefix

    def sandbox(self, method: str, path: str, json: object = None) -> httpx.Response:
        response = httpx.request(method, f"{self.sandbox_url}{path}", json=json, timeout=30)
        response.raise_for_status()
        return response


def fresh_prefix() -> str:
    return "b" + uuid.uuid4().hex[:12]


def unlimited_sandbox(url: str) -> None:
    """ACS's per-sender rate limit off: the benchmark measures us, not the 200/min a number gets."""
    httpx.put(f"{url}/sandbox/config", json={"ratePerMinute": 0}, timeout=5).raise_for_status()


@contextmanager
def local_stack(logs: Path = ARTIFACTS / "bench") -> Iterator[Stack]:
    logs.mkdir(parents=True, exist_ok=True)
    azurite = azurite_service(free_port(), log_path=_fresh(logs / "azurite.log"))
    sandbox = sandbox_service(free_port(), log_path=_fresh(logs / "acs-sandbox.log"))
    with ExitStack() as running:
        for service in (azurite, sandbox):
            _start(service, running)
        stack = Stack(azurite_tables_connection_string(azurite.port), sandbox.port)
        unlimited_sandbox(stack.sandbox_url)
        yield stack


def _start(service: Service, running: ExitStack) -> None:
    running.callback(service.stop)
    service.start()


def _fresh(path: Path) -> Path:
    path.write_bytes(b"")
    return path
