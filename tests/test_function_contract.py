"""Every function folder loads the way the real Python worker loads it: binding names match the
entry point's parameters, only HTTP functions return (`$return`), Event Grid and timer functions
return None, and schedules parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.func_host import check_function
from local.stack import ROOT

FOLDERS = sorted(p.parent for p in ROOT.glob("*/function.json"))
# The settings a deployment must have: the example's (schedules resolve from them).
SETTINGS = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]


def test_the_app_has_its_functions() -> None:
    names = {f.name for f in FOLDERS}
    assert {
        "send_sms",
        "on_delivery_report",
        "on_sms_received",
        "optouts",
        "conversations",
    } <= names


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_function_loads_like_the_worker_loads_it(folder: Path) -> None:
    assert check_function(folder, SETTINGS) == []


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_http_functions_require_a_key_on_azure(folder: Path) -> None:
    bindings = json.loads((folder / "function.json").read_text())["bindings"]
    for binding in bindings:
        if binding["type"] == "httpTrigger":
            assert binding["authLevel"] == "function"  # an open send route invites SMS pumping
