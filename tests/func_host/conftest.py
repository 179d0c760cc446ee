"""A real host process serving the sample app, shared by the end-to-end tests of this folder.

It runs as a subprocess (`python -m local.func_host`), which starts its own worker process where
Microsoft's worker library imports the sample functions. The app is copied to a temporary directory first, because
local.settings.json is git-ignored and byproducts such as __pycache__ must not land in the tree.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from local.stack import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_APP = Path(__file__).resolve().parent / "sample_app"
SAMPLE_SETTINGS = {
    "IsEncrypted": False,
    "Values": {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "NIGHTLY_SCHEDULE": "0 30 2 * * *",
        "SAMPLE_GREETING": "hello from settings",
        "SAMPLE_OVERRIDE": "from settings",
        "AzureWebJobs.switched_off.Disabled": "true",
    },
}


@dataclass
class HostProcess:
    url: str
    root: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def copy_sample_app(target: Path) -> Path:
    root = target / "app"
    shutil.copytree(SAMPLE_APP, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "local.settings.json").write_text(json.dumps(SAMPLE_SETTINGS))
    return root


def start_host(root: Path, *extra_args: str, wait: bool = True) -> HostProcess:
    port = free_port()
    log_path = root.parent / f"host-{port}.log"
    env = {**os.environ, "SAMPLE_OVERRIDE": "from env", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("FUNCTIONS_HOST_PORT", None)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "local.func_host"),
                *("--root", str(root), "--port", str(port)),
                *extra_args,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    host = HostProcess(f"http://127.0.0.1:{port}", root, log_path, process)
    if wait:
        wait_until_running(host)
    return host


def wait_until_running(host: HostProcess, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host.process.poll() is not None:
            raise RuntimeError(f"host exited with {host.process.returncode}:\n{host.log()}")
        try:
            if httpx.get(f"{host.url}/admin/host/status", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    host.stop()
    raise RuntimeError(f"host did not start within {timeout}s:\n{host.log()}")


def wait_for(condition: object, timeout: float = 10, interval: float = 0.05) -> None:
    """Poll a zero-argument callable until it returns something truthy."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture(scope="session")
def sample_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    host = start_host(copy_sample_app(tmp_path_factory.mktemp("func_host")))
    yield host
    host.stop()


@pytest.fixture
def client(sample_host: HostProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sample_host.url, timeout=10) as client:
        yield client


@pytest.fixture
def records(client: httpx.Client) -> Iterator[RecordsReader]:
    yield RecordsReader(client)


class RecordsReader:
    """What the sample functions recorded, read through the sample app's `records` function."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def all(self) -> list[dict[str, object]]:
        response = self._client.get("/api/records")
        response.raise_for_status()
        found: list[dict[str, object]] = response.json()
        return found

    def of_kind(self, kind: str) -> list[dict[str, object]]:
        return [record for record in self.all() if record["kind"] == kind]
