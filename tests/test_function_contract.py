"""Every function folder loads under Microsoft's worker library (`azure-functions-runtime-v1`),
in a worker process of its own, exactly as the Python 3.13 runtime loads it on Azure: the
library imports each folder as `__app__.<name>` and checks its parameters and annotations
against function.json; the host's own checks (one trigger, routes, schedules) come first."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from local.func_host.host import LoadReport, load_app
from local.stack import ROOT

FOLDERS = sorted(p.parent for p in ROOT.glob("*/function.json"))
# The settings a deployment must have: the example's (schedules resolve from them).
SETTINGS = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]


@pytest.fixture(scope="module")
def report() -> LoadReport:
    return asyncio.run(load_app(ROOT, {**os.environ, **SETTINGS}))


def test_the_app_has_its_functions() -> None:
    names = {f.name for f in FOLDERS}
    assert {
        "send_sms",
        "on_delivery_report",
        "on_sms_received",
        "optouts",
        "conversations",
    } <= names


def test_every_function_loads_under_the_worker_library(report: LoadReport) -> None:
    assert report.errors == {}
    assert report.disabled == []
    assert report.loaded == [folder.name for folder in FOLDERS]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_http_functions_require_a_key_on_azure(folder: Path) -> None:
    bindings = json.loads((folder / "function.json").read_text())["bindings"]
    for binding in bindings:
        if binding["type"] == "httpTrigger":
            assert binding["authLevel"] == "function"  # an open send route invites SMS pumping
