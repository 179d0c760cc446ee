"""Azurite and the ACS sandbox, started by the benchmark on free ports and stopped after it,
the app's settings pointed at them, and the same storage a few milliseconds further away."""

from __future__ import annotations

import os
import statistics
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

import httpx
from azure.data.tables import TableServiceClient

from local.stack import (
    ROOT,
    Service,
    azurite_service,
    azurite_tables_connection_string,
    free_port,
    sandbox_connection_string,
    sandbox_service,
)
from local.tcp_proxy import Mode, ThreadedProxy

ARTIFACTS = ROOT / ".artifacts"
SENDERS = ("+18005550100", "+18005550101", "+18005550102")  # the sandbox owns these
SANDBOX_KEY = "c2FuZGJveC1kZXYta2V5LWZvci1sb2NhbC11c2Utb25seQ=="  # its public development key
UNPACED = 1_000_000  # tokens per sender and minute: pacing never holds a message back


@dataclass(frozen=True, slots=True)
class Stack:
    tables: str  # connection string
    sandbox_port: int
    tables_port: int  # where `tables` points: Azurite, or a proxy in front of it

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
            "SMS_VERIFY_SECRET": "bench-only-verification-secret-0123456789",
            "SMS_VERIFY_BRAND": "Contoso",
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
        stack = Stack(azurite_tables_connection_string(azurite.port), sandbox.port, azurite.port)
        unlimited_sandbox(stack.sandbox_url)
        yield stack


@contextmanager
def farther_storage(stack: Stack, delay_ms: float) -> Iterator[Stack]:
    """The same Azurite behind a proxy (in this process) that holds every answer back
    `delay_ms`: each storage round trip costs that much more, as against a storage account in
    the app's own region rather than on loopback."""
    with ThreadedProxy(
        ("127.0.0.1", stack.tables_port), mode=Mode.DELAY, delay_ms=delay_ms
    ) as proxy:
        yield Stack(azurite_tables_connection_string(proxy.port), stack.sandbox_port, proxy.port)


def round_trip_ms(stack: Stack, samples: int = 100) -> float:
    """Median time of a point read through the sync Tables SDK, in ms (connection warm)."""
    table = f"{fresh_prefix()}ping"
    with TableServiceClient.from_connection_string(stack.tables) as service:
        client = service.create_table_if_not_exists(table)
        client.upsert_entity({"PartitionKey": "p", "RowKey": "r"})
        times = []
        for _ in range(samples + 1):
            began = perf_counter()
            client.get_entity("p", "r")
            times.append((perf_counter() - began) * 1000)
        service.delete_table(table)
    return statistics.median(times[1:])


def _start(service: Service, running: ExitStack) -> None:
    running.callback(service.stop)
    service.start()


def _fresh(path: Path) -> Path:
    path.write_bytes(b"")
    return path
