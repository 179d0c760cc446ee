"""App settings (local.settings.json vs environment), host.json, and phone-number masking."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from local.func_host.logs import MaskingFormatter, mask_phone_numbers
from local.func_host.settings import (
    SettingsError,
    apply_app_settings,
    read_host_config,
    read_local_settings,
    resolve_setting_references,
)


def test_local_settings_values_fill_the_environment_but_never_override_it(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {"A": "from file", "B": "from file", "FLAG": True, "N": 3},
                "Host": {"LocalHttpPort": 7075},
            }
        )
    )
    settings = read_local_settings(tmp_path)
    environ = {"B": "from env"}
    applied = apply_app_settings(settings.values, environ)
    assert environ == {"A": "from file", "B": "from env", "FLAG": "true", "N": "3"}
    assert sorted(applied) == ["A", "FLAG", "N"]
    assert settings.local_http_port == 7075


def test_missing_local_settings_is_fine(tmp_path: Path) -> None:
    assert read_local_settings(tmp_path).values == {}


def test_unreadable_local_settings_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text("{oops")
    with pytest.raises(SettingsError, match="cannot be read as JSON"):
        read_local_settings(tmp_path)


def test_host_json_route_prefix(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    assert read_host_config(tmp_path).route_prefix == "api"
    (tmp_path / "host.json").write_text(
        json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": "/v1/"}}})
    )
    assert read_host_config(tmp_path).route_prefix == "v1"
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"http": {"routePrefix": ""}}}))
    assert read_host_config(tmp_path).route_prefix == ""


def test_host_json_is_required(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"must contain host\.json"):
        read_host_config(tmp_path)


def test_setting_references() -> None:
    environ = {"SCHEDULE": "0 */5 * * * *", "PART": "items"}
    assert resolve_setting_references("%SCHEDULE%", environ) == "0 */5 * * * *"
    assert resolve_setting_references("api/%PART%/{id}", environ) == "api/items/{id}"
    with pytest.raises(SettingsError, match="app setting 'NOPE'"):
        resolve_setting_references("%NOPE%", environ)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("to +15551234567 now", "to +1555*****67 now"),
        ("from 15551234567", "from 15551****67"),
        ("short 123456 stays", "short 123456 stays"),
        ("two +447700900123,+15551234567", "two +4477******23,+1555*****67"),
        ("/api/optouts/%2B15551234567?x=1", "/api/optouts/%2B15*******67?x=1"),
        # digits inside an id are not a phone number: invocation ids must stay searchable
        ("id=ad9b9aaa-2f14-4a93-8b93-356123456789", "id=ad9b9aaa-2f14-4a93-8b93-356123456789"),
        ("Outgoing_2026112507165970af0bbb", "Outgoing_2026112507165970af0bbb"),
    ],
)
def test_phone_numbers_are_masked(text: str, masked: str) -> None:
    assert mask_phone_numbers(text) == masked


def test_masking_formatter_covers_arguments_and_tracebacks() -> None:
    try:
        raise ValueError("cannot reach +15551234567")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "sending to %s", ("+15559876543",), None
        )
        record.exc_info = sys.exc_info()
    line = MaskingFormatter("%(message)s").format(record)
    assert "+15559876543" not in line and "+1555*****43" in line
    assert "+15551234567" not in line and "+1555*****67" in line
