"""Start, watch and stop the local processes (Azurite, the ACS sandbox, the function host).

Used by the test fixtures and by `make run`, so both bring services up the same way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent

# Azurite's well-known development account (public, documented by Microsoft; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


class StackError(RuntimeError):
    """A local service could not be started; the message says which and why."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def azurite_tables_connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"TableEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )


@dataclass
class Service:
    """One child process and the URL that tells whether it is healthy."""

    name: str
    argv: Sequence[str]
    port: int
    health_url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    show_output: bool = False  # inherit the terminal instead of writing a log file
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        if port_in_use(self.port):
            raise StackError(
                f"{self.name}: port {self.port} is already in use; "
                "stop what is using it or choose another port"
            )
        out: Any = None if self.show_output else subprocess.DEVNULL
        if self.log_path is not None and not self.show_output:
            out = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        self.process = subprocess.Popen(
            list(self.argv),
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise StackError(
                    f"{self.name} exited with code {self.process.returncode} while starting"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            if self._healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise StackError(f"{self.name} did not become healthy within {timeout:.0f}s")

    def _healthy(self) -> bool:
        if self.health_url is None:
            return port_in_use(self.port)
        try:
            return httpx.get(self.health_url, timeout=1.0).status_code < 500
        except httpx.HTTPError:
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def azurite_service(
    port: int, *, data_dir: Path | None = None, log_path: Path | None = None
) -> Service:
    """Azurite's Table service only: the app keeps all state in tables."""
    binary = ROOT / "node_modules" / ".bin" / "azurite-table"
    if not binary.exists():
        found = shutil.which("azurite-table")
        if found is None:
            raise StackError(
                "Azurite is not installed: run `npm ci` (the Makefile does it for you)"
            )
        binary = Path(found)
    argv = [
        str(binary),
        "--tableHost",
        "127.0.0.1",
        "--tablePort",
        str(port),
        "--skipApiVersionCheck",
        # No access log: each line would name table keys, and the app's keys are phone numbers.
        "--silent",
    ]
    if data_dir is None:
        argv.append("--inMemoryPersistence")
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--location", str(data_dir)]
    return Service("azurite", argv, port, log_path=log_path)


def sandbox_service(
    port: int, *, env: Mapping[str, str] | None = None, log_path: Path | None = None
) -> Service:
    argv = [sys.executable, "-m", "local.acs_sandbox", "--host", "127.0.0.1", "--port", str(port)]
    return Service(
        "acs-sandbox",
        argv,
        port,
        health_url=f"http://127.0.0.1:{port}/sandbox/health",
        env=env or {},
        log_path=log_path,
    )


def host_service(
    port: int,
    *,
    root: Path = ROOT,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    show_output: bool = False,
) -> Service:
    argv = [sys.executable, "-m", "local.func_host", "--root", str(root), "--host", "127.0.0.1"]
    return Service(
        "function-host",
        [*argv, "--port", str(port)],
        port,
        health_url=f"http://127.0.0.1:{port}/admin/host/status",
        env=env or {},
        log_path=log_path,
        show_output=show_output,
    )


@dataclass(frozen=True, slots=True)
class Ports:
    tables: int
    sandbox: int
    host: int


def sandbox_connection_string(port: int) -> str:
    # The sandbox's fixed, documented development key (not a secret).
    key = "c2FuZGJveC1kZXYta2V5LWZvci1sb2NhbC11c2Utb25seQ=="
    return f"endpoint=http://127.0.0.1:{port}/;accesskey={key}"


def app_stack(
    ports: Ports,
    *,
    data_dir: Path | None,
    logs: Path,
    app_env: Mapping[str, str],
    sandbox_env: Mapping[str, str] | None = None,
    show_host_output: bool = False,
) -> list[Service]:
    """Azurite, the sandbox (its events aimed at the host) and the host, in start order."""
    logs.mkdir(parents=True, exist_ok=True)
    return [
        azurite_service(ports.tables, data_dir=data_dir, log_path=logs / "azurite.log"),
        sandbox_service(
            ports.sandbox,
            env={"ACS_SANDBOX_EVENTS_URL": f"http://127.0.0.1:{ports.host}", **(sandbox_env or {})},
            log_path=logs / "acs-sandbox.log",
        ),
        host_service(
            ports.host,
            env=app_env,
            log_path=logs / "function-host.log",
            show_output=show_host_output,
        ),
    ]
