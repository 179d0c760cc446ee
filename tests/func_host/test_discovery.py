"""Indexing (the host's reading of function.json) and loading (the worker library's checks).

What the host refuses is tested without a worker. What only the worker can tell (the import,
the entry point, parameters against bindings, annotations) is tested through a real worker
process running Microsoft's library, and the expected texts are the library's own errors.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from local.func_host import messages
from local.func_host.discovery import index_app, index_function, is_disabled, load_request_metadata
from local.func_host.host import LoadReport, load_app
from local.func_host.model import FunctionIndexError

SAMPLE_APP = Path(__file__).parent / "sample_app"
SAMPLE_SETTINGS = {"NIGHTLY_SCHEDULE": "0 30 2 * * *"}

HTTP_BINDINGS: list[dict[str, Any]] = [
    {"type": "httpTrigger", "direction": "in", "name": "req"},
    {"type": "http", "direction": "out", "name": "$return"},
]
TIMER_TRIGGER: dict[str, Any] = {
    "type": "timerTrigger",
    "direction": "in",
    "name": "mytimer",
    "schedule": "0 */5 * * * *",
}
EVENT_TRIGGER: dict[str, Any] = {"type": "eventGridTrigger", "direction": "in", "name": "event"}
HTTP_CODE = """
import azure.functions as func

def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("ok")
"""


def make_function(
    root: Path, name: str, bindings: list[dict[str, Any]], code: str, **config: Any
) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (root / "host.json").write_text(json.dumps({"version": "2.0"}))
    (folder / "function.json").write_text(json.dumps({"bindings": bindings, **config}))
    (folder / config.get("scriptFile", "__init__.py")).write_text(code)
    return folder


# --- the host's part: no Python is imported ---------------------------------------------------


def test_the_sample_app_as_the_host_indexes_it() -> None:
    settings = {**SAMPLE_SETTINGS, "AzureWebJobs.switched_off.Disabled": "true"}
    index = index_app(SAMPLE_APP, settings)
    # The broken folders are well-formed function.json files: only the worker can refuse them.
    assert sorted(index.functions) == [
        "boom",
        "broken_binding",
        "broken_import",
        "disabled_fn",
        "hello",
        "item_by_name",
        "item_special",
        "items",
        "nightly",
        "on_event",
        "records",
        "switched_off",
        "tick",
        "wrong_trigger",
    ]
    assert index.errors == {}
    assert index.disabled == ["disabled_fn", "switched_off"]


def test_schedule_from_a_missing_app_setting() -> None:
    with pytest.raises(FunctionIndexError) as raised:
        index_function(SAMPLE_APP / "nightly", {})
    assert str(raised.value) == (
        "app setting 'NIGHTLY_SCHEDULE' (referenced as %NIGHTLY_SCHEDULE%) is not set"
    )


@pytest.mark.parametrize(
    ("bindings", "problem"),
    [
        (
            [{"type": "queueTrigger", "direction": "in", "name": "msg"}],
            "trigger type 'queueTrigger' is not supported by the local host",
        ),
        (
            [EVENT_TRIGGER, {"type": "queue", "direction": "out", "name": "msg"}],
            "binding 'msg' of type 'queue' (out) is not supported by the local host",
        ),
        (
            [TIMER_TRIGGER, {"type": "http", "direction": "out", "name": "$return"}],
            "binding '$return': an http output needs an httpTrigger",
        ),
        (
            [{"type": "http", "direction": "out", "name": "$return"}],
            "a function needs exactly one trigger binding (found: none)",
        ),
        ([EVENT_TRIGGER, {**EVENT_TRIGGER, "name": "Event"}], "is used more than once"),
        ([{**EVENT_TRIGGER, "direction": "sideways"}], "unknown direction 'sideways'"),
        ([{**TIMER_TRIGGER, "schedule": "0 */5 * * *  * *"}], "is an invalid crontab expression"),
        ([{**TIMER_TRIGGER, "schedule": "0 0 25 * * *"}], "[Hour]"),
        ([{**HTTP_BINDINGS[0], "route": "items/{id:nope}"}], "unknown constraint 'nope'"),
        ([{**HTTP_BINDINGS[0], "methods": "get"}], "`methods` must be a list of strings"),
    ],
)
def test_what_the_host_refuses(
    tmp_path: Path, bindings: list[dict[str, Any]], problem: str
) -> None:
    folder = make_function(tmp_path, "refused", bindings, "def main():\n    pass\n")
    with pytest.raises(FunctionIndexError) as raised:
        index_function(folder, {})
    assert problem in str(raised.value)


def test_unreadable_function_json_is_an_index_error(tmp_path: Path) -> None:
    broken = tmp_path / "bad_json"
    broken.mkdir()
    (broken / "function.json").write_text("{not json")
    index = index_app(tmp_path, {})
    assert index.errors["bad_json"].startswith(f"cannot read {broken / 'function.json'}")


def test_disabled_by_function_json_or_app_setting(tmp_path: Path) -> None:
    flagged = make_function(tmp_path, "flagged", HTTP_BINDINGS, HTTP_CODE, disabled=True)
    by_name = make_function(tmp_path, "by_name", HTTP_BINDINGS, HTTP_CODE, disabled="MY_FLAG")
    plain = make_function(tmp_path, "plain", HTTP_BINDINGS, HTTP_CODE)
    assert is_disabled(flagged, {})
    assert not is_disabled(by_name, {})
    assert is_disabled(by_name, {"MY_FLAG": "true"})
    assert not is_disabled(plain, {})
    assert is_disabled(plain, {"AzureWebJobs.plain.Disabled": "True"})
    assert is_disabled(plain, {"AzureWebJobs_plain_Disabled": "1"})


def test_host_json_functions_list_restricts_indexing() -> None:
    index = index_app(SAMPLE_APP, SAMPLE_SETTINGS, only=("items", "broken_binding"))
    assert sorted(index.functions) == ["broken_binding", "items"]


def test_the_load_request_carries_the_bindings_as_the_host_sends_them() -> None:
    function = index_function(SAMPLE_APP / "records", {})
    metadata = load_request_metadata(function)
    assert metadata.name == "records"
    assert metadata.directory == str((SAMPLE_APP / "records").resolve())
    assert metadata.script_file == str((SAMPLE_APP / "records" / "__init__.py").resolve())
    assert metadata.entry_point == "main"
    trigger, output = metadata.bindings["req"], metadata.bindings["res"]
    assert (trigger.type, trigger.direction) == ("httpTrigger", getattr(messages.BindingInfo, "in"))
    assert (output.type, output.direction) == ("http", messages.BindingInfo.out)
    assert trigger.data_type == messages.BindingInfo.undefined
    assert json.loads(metadata.raw_bindings[0])["methods"] == ["get", "delete"]


# --- the worker's part: Microsoft's library, in a worker process ------------------------------


@pytest.fixture(scope="module")
def sample_load() -> LoadReport:
    settings = {**os.environ, **SAMPLE_SETTINGS, "AzureWebJobs.switched_off.Disabled": "true"}
    return _load(SAMPLE_APP, settings)


def _load(root: Path, environ: dict[str, str]) -> LoadReport:
    return asyncio.run(load_app(root, environ))


def test_the_sample_functions_that_should_load_do(sample_load: LoadReport) -> None:
    assert sample_load.loaded == [
        "boom",
        "hello",
        "item_by_name",
        "item_special",
        "items",
        "nightly",
        "on_event",
        "records",
        "tick",
    ]
    assert sorted(sample_load.errors) == ["broken_binding", "broken_import", "wrong_trigger"]


def test_a_binding_name_that_is_no_parameter_fails_with_the_workers_error(
    sample_load: LoadReport,
) -> None:
    assert sample_load.errors["broken_binding"] == (
        "FunctionLoadError: cannot load the broken_binding function: the following parameters "
        "are declared in Python but not in function.json: {'req'}"
    )


def test_a_trigger_type_that_does_not_suit_the_annotation_fails_to_load(
    sample_load: LoadReport,
) -> None:
    assert sample_load.errors["wrong_trigger"] == (
        "FunctionLoadError: cannot load the wrong_trigger function: type of event binding in "
        'function.json "httpTrigger" does not match its Python annotation "EventGridEvent"'
    )


def test_an_import_error_fails_to_load(sample_load: LoadReport) -> None:
    assert sample_load.errors["broken_import"].startswith(
        "ModuleNotFoundError: No module named 'samplelib.missing'. Cannot find module."
    )


@pytest.fixture(scope="module")
def signatures(tmp_path_factory: pytest.TempPathFactory) -> LoadReport:
    """One app of small functions, each breaking one rule of the worker's, loaded once."""
    root = tmp_path_factory.mktemp("signatures")
    out_bindings = [HTTP_BINDINGS[0], {"type": "http", "direction": "out", "name": "res"}]
    make_function(
        root,
        "bad_context",
        [TIMER_TRIGGER],
        "def main(mytimer, context: int) -> None:\n    pass\n",
    )
    make_function(
        root,
        "good_context",
        [TIMER_TRIGGER],
        "import azure.functions as func\n\n"
        "def main(mytimer: func.TimerRequest, context: func.Context) -> None:\n    pass\n",
    )
    make_function(
        root,
        "returns_int",
        HTTP_BINDINGS,
        "import azure.functions as func\n\ndef main(req: func.HttpRequest) -> int:\n    return 1\n",
    )
    make_function(
        root,
        "out_not_out",
        out_bindings,
        "import azure.functions as func\n\n"
        "def main(req: func.HttpRequest, res: func.HttpResponse) -> None:\n    pass\n",
    )
    make_function(root, "no_run", HTTP_BINDINGS, HTTP_CODE, entryPoint="run")
    helper = make_function(
        root,
        "custom_script",
        HTTP_BINDINGS,
        "import azure.functions as func\nfrom .helper import TEXT\n\n"
        "def handle(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse(TEXT)\n",
        scriptFile="handler.py",
        entryPoint="handle",
    )
    (helper / "helper.py").write_text("TEXT = 'from helper'\n")
    return _load(root, dict(os.environ))


def test_the_worker_checks_signatures(signatures: LoadReport) -> None:
    assert signatures.loaded == ["custom_script", "good_context"]
    errors = signatures.errors
    assert errors["bad_context"] == (
        'FunctionLoadError: cannot load the bad_context function: the "context" parameter is '
        "expected to be of type azure.functions.Context, got \"<class 'int'>\""
    )
    assert errors["returns_int"] == (
        "FunctionLoadError: cannot load the returns_int function: Python return annotation "
        '"int" does not match binding type "http"'
    )
    assert errors["out_not_out"] == (
        "FunctionLoadError: cannot load the out_not_out function: binding res is declared to "
        'have the "out" direction, but its annotation in Python is not a subclass of '
        "azure.functions.Out"
    )
    # The library's own wording, arguments and all.
    assert "function %s() is not present in %s', 'no_run', 'run'" in errors["no_run"]
