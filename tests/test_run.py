"""`make run`'s own logic: ports from the environment, a clear message for a taken port, and
the settings it hands the host."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from local import run
from local.stack import Ports, StackError, free_port


def test_a_taken_port_is_named_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("FUNCTIONS_HOST_PORT", str(port))
        monkeypatch.setenv("ACS_SANDBOX_PORT", str(free_port()))
        monkeypatch.setenv("AZURITE_TABLE_PORT", str(free_port()))
        with pytest.raises(StackError, match=f"FUNCTIONS_HOST_PORT port {port} already in use"):
            run.run()


@pytest.mark.parametrize("value", ["http", "0", "70000"])
def test_bad_port_settings_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ACS_SANDBOX_PORT", value)
    with pytest.raises(StackError, match="ACS_SANDBOX_PORT must be a port number"):
        run.chosen_ports()


def test_settings_follow_the_chosen_ports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    monkeypatch.setattr(run, "SETTINGS", settings)
    assert run.ensure_local_settings() is True
    assert run.ensure_local_settings() is False  # never overwrites the user's file
    values = json.loads(settings.read_text())["Values"]
    assert "127.0.0.1:7072" in values["ACS_CONNECTION_STRING"]
    assert run.app_env(run.DEFAULTS) == {}  # defaults: the file says it all
    env = run.app_env(Ports(tables=10102, sandbox=7172, host=7171))
    assert "127.0.0.1:7172" in env["ACS_CONNECTION_STRING"]
    assert "127.0.0.1:10102" in env["TABLES_CONNECTION_STRING"]
