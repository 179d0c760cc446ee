"""The fault suite's kit: the app's real processes with a fault proxy in front of Azurite, and
the clients that drive them over HTTP (the app's API, the sandbox's and the proxy's control
APIs). It never imports the app: it drives whatever the app's core becomes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from local.stack import (
    Service,
    azurite_service,
    azurite_tables_connection_string,
    free_port,
    host_service,
    sandbox_connection_string,
    sandbox_service,
)

SENDERS = ("+18005550100", "+18005550101", "+18005550102")  # the sandbox owns these


class RigError(Exception):
    """A case could not bring about its fault (a test-rig problem, not a broken promise), so
    it never passes for the expected failure of a case marked xfail."""


def require(ok: object, what: str) -> None:
    if not ok:
        raise RigError(what)


def numbers(first: int, count: int) -> list[str]:
    """Test numbers +1 425 555 nnnn: a bulk send needs more than the 01xx range holds."""
    assert first >= 0 and first + count <= 10_000
    return [f"+1425555{n:04d}" for n in range(first, first + count)]


def retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Answer:
    """One HTTP answer as a client saw it; `status` None when none came within the timeout."""

    status: int | None
    seconds: float
    body: Any = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)

    @property
    def text(self) -> str:
        return "" if self.body is None else str(self.body)

    def short(self) -> str:
        if self.status is None:
            return f"no answer in {self.seconds:.1f} s"
        extra = (
            f", Retry-After {self.headers['retry-after']}" if "retry-after" in self.headers else ""
        )
        return f"{self.status}{extra} in {self.seconds:.1f} s"


async def call(
    http: httpx.AsyncClient, method: str, url: str, *, within: float, **options: Any
) -> Answer:
    began = time.monotonic()
    try:
        response = await http.request(method, url, timeout=within, **options)
    except httpx.TimeoutException:
        return Answer(None, time.monotonic() - began)
    except httpx.TransportError:
        return Answer(None, time.monotonic() - began)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return Answer(response.status_code, time.monotonic() - began, body, response.headers)


async def eventually(
    check: Callable[[], Awaitable[Any]], *, within: float, every: float = 0.05
) -> Any:
    """The first truthy result of `check`, or its last result when time runs out."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(every)


class Sandbox:
    """The ACS sandbox's control API (`/sandbox/...`)."""

    def __init__(self, http: httpx.AsyncClient, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._http = http

    async def _call(self, method: str, path: str, **options: Any) -> Any:
        response = await self._http.request(method, f"{self.url}{path}", timeout=30, **options)
        response.raise_for_status()
        return response.json() if response.content else None

    async def fault(self, kind: str, *, times: int = 1, **options: Any) -> None:
        await self._call("POST", "/sandbox/faults", json={"kind": kind, "times": times, **options})

    async def faults(self) -> list[dict[str, Any]]:
        value: list[dict[str, Any]] = (await self._call("GET", "/sandbox/faults"))["value"]
        return value

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/sandbox/faults")

    async def requests(self) -> list[dict[str, Any]]:
        value: list[dict[str, Any]] = (await self._call("GET", "/sandbox/requests"))["value"]
        return value

    async def messages(self) -> list[dict[str, Any]]:
        value: list[dict[str, Any]] = (await self._call("GET", "/sandbox/messages"))["value"]
        return value

    async def events(self) -> list[dict[str, Any]]:
        value: list[dict[str, Any]] = (await self._call("GET", "/sandbox/events"))["value"]
        return value

    async def inbound(self, handset: str, ours: str, text: str) -> str:
        body = {"from": handset, "to": ours, "message": text}
        message_id: str = (await self._call("POST", "/sandbox/inbound", json=body))["messageId"]
        return message_id


class Proxy:
    """The fault proxy's control API (`local/tcp_proxy.py`)."""

    def __init__(self, http: httpx.AsyncClient, control_port: int) -> None:
        self._url = f"http://127.0.0.1:{control_port}/mode"
        self._http = http

    async def set(self, mode: str, *, delay_ms: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"mode": mode}
        if delay_ms is not None:
            body["delayMs"] = delay_ms
        response = await self._http.put(self._url, json=body, timeout=5)
        response.raise_for_status()
        status: dict[str, Any] = response.json()
        return status

    async def status(self) -> dict[str, Any]:
        response = await self._http.get(self._url, timeout=5)
        response.raise_for_status()
        status: dict[str, Any] = response.json()
        return status


class Api:
    """The app's HTTP API on the local function host."""

    def __init__(self, http: httpx.AsyncClient, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/api"
        self._http = http

    async def send(
        self, body: dict[str, Any], *, key: str | None = None, within: float = 60
    ) -> Answer:
        headers = {"Idempotency-Key": key} if key else {}
        return await call(
            self._http, "POST", f"{self.url}/sms", json=body, headers=headers, within=within
        )

    async def message(self, message_id: str, *, within: float = 10) -> Answer:
        return await call(self._http, "GET", f"{self.url}/sms/{message_id}", within=within)

    async def batch(self, batch_id: str, *, within: float = 10) -> Answer:
        return await call(self._http, "GET", f"{self.url}/sms/batches/{batch_id}", within=within)

    async def opted_out(self, phone: str) -> bool:
        answer = await call(self._http, "GET", f"{self.url}/optouts/{phone}", within=10)
        return answer.status == 200 and bool(answer.body.get("optedOut"))


@dataclass
class FaultStack:
    """Azurite, the proxy in front of it, the sandbox, and a function host that can be started,
    killed and started again (always behind the proxy, on the same port)."""

    logs: Path
    azurite: Service
    proxy: Service
    control_port: int
    sandbox: Service
    host_port: int = field(default_factory=free_port)
    host: Service | None = None
    host_starts: int = 0
    prefix: str = ""

    @classmethod
    def start(cls, logs: Path) -> FaultStack:
        logs.mkdir(parents=True, exist_ok=True)
        azurite = azurite_service(free_port(), log_path=_fresh(logs / "azurite.log"))
        control = free_port()
        proxy_port = free_port()
        proxy = Service(
            "tcp-proxy",
            [
                *(sys.executable, "-m", "local.tcp_proxy", "--listen-port", str(proxy_port)),
                *("--target", f"127.0.0.1:{azurite.port}", "--control-port", str(control)),
            ],
            proxy_port,
            health_url=f"http://127.0.0.1:{control}/mode",
            log_path=_fresh(logs / "tcp-proxy.log"),
        )
        host_port = free_port()
        sandbox = sandbox_service(
            free_port(),
            env={
                "ACS_SANDBOX_EVENTS_URL": f"http://127.0.0.1:{host_port}",
                # A carrier's report takes seconds: it comes after the app's own retries, so it
                # cannot settle a message before a retry has had its chance to text twice.
                "ACS_SANDBOX_REPORT_DELAY_SECONDS": "5",
                # ACS's own rate limit is off: the faults bring the 429s.
                "ACS_SANDBOX_RATE_PER_MINUTE": "0",
            },
            log_path=_fresh(logs / "acs-sandbox.log"),
        )
        stack = cls(logs, azurite, proxy, control, sandbox, host_port)
        started: list[Service] = []
        try:
            for service in (azurite, proxy, sandbox):
                service.start(timeout=60)
                started.append(service)
        except BaseException:
            for service in reversed(started):
                service.stop()
            raise
        return stack

    def app_env(self, prefix: str) -> dict[str, str]:
        tables = azurite_tables_connection_string(self.proxy.port)  # through the proxy
        return {
            "ACS_CONNECTION_STRING": sandbox_connection_string(self.sandbox.port),
            "SMS_FROM_NUMBERS": ",".join(SENDERS),
            "SMS_DEFAULT_REGION": "US",
            "TABLES_CONNECTION_STRING": tables,
            "AzureWebJobsStorage": tables,
            "SMS_TABLE_PREFIX": prefix,
            "SMS_OUTBOX_SCHEDULE": "*/1 * * * * *",
            "SMS_EVENTS_SCHEDULE": "*/1 * * * * *",
            "SMS_RATE_PER_NUMBER_PER_MINUTE": "100000",  # pacing is not under test here
            # How long a crashed send's claim is held before the outbox takes over.
            "SMS_CLAIM_LEASE_SECONDS": "8",
        }

    def start_host(self, prefix: str | None = None, env: dict[str, str] | None = None) -> None:
        """A host on fresh tables (`prefix`), or, without one, again on the last host's tables;
        `env` adds or overrides settings."""
        self.prefix = prefix or self.prefix
        self.host_starts += 1
        log = self.logs / "function-host.log"
        if self.host_starts == 1:
            _fresh(log)
        settings = {**self.app_env(self.prefix), **(env or {})}
        self.host = host_service(self.host_port, env=settings, log_path=log)
        self.host.start(timeout=60)

    def kill_host(self) -> None:
        """SIGKILL, as when a worker is recycled mid-invocation: nothing runs on the way out."""
        if self.host is not None:
            _kill(self.host)
            self.host = None

    def fresh_sandbox(self) -> None:
        """A new sandbox process on the same port: no inbox, faults, opt-outs or events left.

        Cheaper and surer than `POST /sandbox/reset` after a heavy case: cancelling a thousand
        event deliveries in flight can take the sandbox many seconds, and httpx's pool may keep
        slots of the cancelled requests (encode/httpcore#1093), stalling later deliveries."""
        _kill(self.sandbox)
        self.sandbox.start(timeout=60)

    def stop(self) -> None:
        self.kill_host()
        _kill(self.sandbox)  # its queued reports would only hold up a graceful shutdown
        for service in (self.proxy, self.azurite):
            service.stop()


def _kill(service: Service) -> None:
    if service.process is not None and service.process.poll() is None:
        os.killpg(service.process.pid, signal.SIGKILL)
        service.process.wait(timeout=10)


def _fresh(path: Path) -> Path:
    path.write_bytes(b"")
    return path
