"""The host as a process: start-up failures, an app where nothing loads, graceful shutdown."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from local.func_host.serving import choose_port
from tests.func_host.conftest import REPO_ROOT, copy_sample_app, start_host, wait_for


def test_sigterm_lets_a_running_invocation_finish(tmp_path: Path) -> None:
    host = start_host(copy_sample_app(tmp_path), "--shutdown-grace", "5")
    outcome: dict[str, int] = {}
    event = {
        "id": "slow",
        "subject": "s",
        "eventType": "t",
        "dataVersion": "1",
        "data": {"sleep": 1},
    }

    def deliver() -> None:
        response = httpx.post(
            f"{host.url}/runtime/webhooks/EventGrid?functionName=on_event",
            json=[event],
            headers={"aeg-event-type": "Notification"},
            timeout=10,
        )
        outcome["status"] = response.status_code

    sender = threading.Thread(target=deliver)
    sender.start()
    time.sleep(0.3)  # the event is now being handled
    host.process.send_signal(signal.SIGTERM)
    sender.join(timeout=10)
    assert host.process.wait(timeout=10) == 0
    assert outcome == {"status": 202}
    log = host.log()
    assert "Shutting down" in log
    assert "Executed 'Functions.on_event' trigger=eventGridTrigger outcome=ok" in log


def test_state_is_error_when_no_function_loads(tmp_path: Path) -> None:
    root = tmp_path / "app"
    folder = root / "only_broken"
    folder.mkdir(parents=True)
    (root / "host.json").write_text(json.dumps({"version": "2.0"}))
    (folder / "function.json").write_text(
        json.dumps({"bindings": [{"type": "timerTrigger", "direction": "in", "name": "t"}]})
    )
    (folder / "__init__.py").write_text("def main(t):\n    pass\n")
    host = start_host(root)
    try:
        status = httpx.get(f"{host.url}/admin/host/status").json()
        assert status["state"] == "Error"
        assert status["functions"] == []
        assert "timerTrigger needs a `schedule`" in status["errors"]["only_broken"]
    finally:
        assert host.stop() == 0


def _worker_pid(log: str) -> int:
    match = re.search(r"Worker process started \(pid (\d+)\)", log)
    assert match is not None, log
    return int(match.group(1))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_worker_is_a_process_of_its_own_and_stops_with_the_host(tmp_path: Path) -> None:
    host = start_host(copy_sample_app(tmp_path))
    worker = _worker_pid(host.log())
    assert worker != host.process.pid and _alive(worker)
    assert host.stop() == 0
    wait_for(lambda: not _alive(worker))


def test_a_worker_that_dies_stops_the_host(tmp_path: Path) -> None:
    root = tmp_path / "app"
    folder = root / "suicide"
    folder.mkdir(parents=True)
    (root / "host.json").write_text(json.dumps({"version": "2.0"}))
    (folder / "function.json").write_text(
        json.dumps({"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req"}]})
    )
    (folder / "__init__.py").write_text("import os\n\ndef main(req) -> None:\n    os._exit(3)\n")
    host = start_host(root)
    response = httpx.get(f"{host.url}/api/suicide", timeout=10)
    assert response.status_code == 500  # the invocation never got its answer
    assert host.process.wait(timeout=10) == 1
    assert "The worker process exited unexpectedly (code 3); stopping the host" in host.log()


def test_missing_host_json_stops_the_host_with_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local.func_host", "--root", str(tmp_path), "--port", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "must contain host.json" in result.stderr


def test_port_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FUNCTIONS_HOST_PORT", raising=False)
    assert choose_port(None, tmp_path) == 7071
    (tmp_path / "local.settings.json").write_text(json.dumps({"Host": {"LocalHttpPort": 7080}}))
    assert choose_port(None, tmp_path) == 7080
    monkeypatch.setenv("FUNCTIONS_HOST_PORT", "7090")
    assert choose_port(None, tmp_path) == 7090
    assert choose_port(7100, tmp_path) == 7100


def test_wait_for_reports_a_timeout() -> None:
    with pytest.raises(AssertionError, match="not met"):
        wait_for(lambda: False, timeout=0.1)
