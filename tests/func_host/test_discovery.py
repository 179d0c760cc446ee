"""Loading function folders and `check_function`, the worker's checks as a pure report."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.func_host.discovery import check_function, discover, is_disabled, load_function
from local.func_host.model import FunctionLoadError

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


@pytest.fixture(autouse=True)
def isolated_imports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Function modules are imported by name; forget them (and the app roots) afterwards."""
    roots = (str(SAMPLE_APP), str(tmp_path_factory.getbasetemp()))
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        module = sys.modules[name]
        locations = [getattr(module, "__file__", None) or "", *getattr(module, "__path__", [])]
        if any(location.startswith(roots) for location in locations):
            del sys.modules[name]


def make_function(
    root: Path, name: str, bindings: list[dict[str, Any]], code: str, **config: Any
) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "function.json").write_text(json.dumps({"bindings": bindings, **config}))
    (folder / config.get("scriptFile", "__init__.py")).write_text(code)
    return folder


HTTP_CODE = """
import azure.functions as func

def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("ok")
"""


def test_the_sample_functions_that_should_load_have_no_problems() -> None:
    for name in ("items", "item_by_name", "item_special", "hello", "boom", "records"):
        assert check_function(SAMPLE_APP / name, SAMPLE_SETTINGS) == [], name
    for name in ("on_event", "tick", "nightly", "switched_off"):
        assert check_function(SAMPLE_APP / name, SAMPLE_SETTINGS) == [], name


def test_mismatched_binding_name_is_reported_both_ways() -> None:
    assert check_function(SAMPLE_APP / "broken_binding") == [
        "the following parameters are declared in Python but not in function.json: ['req']",
        "the following parameters are declared in function.json but not in Python: ['request']",
    ]


def test_import_failure_is_reported_and_keeps_its_cause() -> None:
    (problem,) = check_function(SAMPLE_APP / "broken_import")
    assert "importing module 'broken_import' failed: ModuleNotFoundError" in problem
    with pytest.raises(FunctionLoadError) as raised:
        load_function(SAMPLE_APP / "broken_import")
    assert isinstance(raised.value.__cause__, ModuleNotFoundError)


def test_schedule_from_a_missing_app_setting() -> None:
    assert check_function(SAMPLE_APP / "nightly", {}) == [
        "app setting 'NIGHTLY_SCHEDULE' (referenced as %NIGHTLY_SCHEDULE%) is not set"
    ]


def test_return_binding_on_a_timer(tmp_path: Path) -> None:
    folder = make_function(
        tmp_path,
        "timer_with_return",
        [TIMER_TRIGGER, {"type": "http", "direction": "out", "name": "$return"}],
        "def main(mytimer):\n    return None\n",
    )
    assert check_function(folder) == [
        "a timerTrigger function must return None: only HTTP functions may have a $return "
        "output binding here"
    ]


def test_event_and_timer_functions_must_be_annotated_to_return_none(tmp_path: Path) -> None:
    folder = make_function(
        tmp_path,
        "event_returning",
        [EVENT_TRIGGER],
        "import azure.functions as func\n\n"
        "def main(event: func.EventGridEvent) -> str:\n    return 'x'\n",
    )
    assert check_function(folder) == [
        "main has no $return binding, so it must return None (its return annotation is "
        "<class 'str'>)"
    ]


def test_context_is_optional_but_must_be_a_context(tmp_path: Path) -> None:
    good = make_function(
        tmp_path,
        "with_context",
        [TIMER_TRIGGER],
        "import azure.functions as func\n\n"
        "def main(mytimer: func.TimerRequest, context: func.Context) -> None:\n    pass\n",
    )
    bad = make_function(
        tmp_path, "bad_context", [TIMER_TRIGGER], "def main(mytimer, context: int):\n    pass\n"
    )
    assert check_function(good) == []
    assert check_function(bad) == [
        'the "context" parameter is expected to be of type azure.functions.Context, '
        "got <class 'int'>"
    ]


def test_annotation_must_suit_the_trigger_converter(tmp_path: Path) -> None:
    folder = make_function(
        tmp_path,
        "wrong_annotation",
        HTTP_BINDINGS,
        "import azure.functions as func\n\n"
        "def main(req: func.TimerRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse()\n",
    )
    assert check_function(folder) == [
        'type of req binding in function.json "httpTrigger" does not match its Python '
        'annotation "TimerRequest"'
    ]


def test_http_return_annotation_must_be_a_response(tmp_path: Path) -> None:
    folder = make_function(
        tmp_path,
        "returns_int",
        HTTP_BINDINGS,
        "import azure.functions as func\n\ndef main(req: func.HttpRequest) -> int:\n    return 1\n",
    )
    assert check_function(folder) == [
        'Python return annotation "int" does not match binding type "http"'
    ]


def test_out_parameter_needs_an_out_annotation(tmp_path: Path) -> None:
    bindings = [HTTP_BINDINGS[0], {"type": "http", "direction": "out", "name": "res"}]
    folder = make_function(
        tmp_path,
        "out_not_annotated_out",
        bindings,
        "import azure.functions as func\n\n"
        "def main(req: func.HttpRequest, res: func.HttpResponse) -> None:\n    pass\n",
    )
    assert check_function(folder) == [
        'binding res is declared to have the "out" direction, but its annotation in Python is '
        "not a subclass of azure.functions.Out"
    ]


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
            [{"type": "http", "direction": "out", "name": "$return"}],
            "a function needs exactly one trigger binding (found: none)",
        ),
        (
            [{**TIMER_TRIGGER, "schedule": "0 */5 * * *  * *"}],
            "is an invalid crontab expression",
        ),
        ([{**TIMER_TRIGGER, "schedule": "0 0 25 * * *"}], "[Hour]"),
        ([{**HTTP_BINDINGS[0], "route": "items/{id:nope}"}], "unknown constraint 'nope'"),
        ([{**HTTP_BINDINGS[0], "methods": "get"}], "`methods` must be a list of strings"),
        ([{**EVENT_TRIGGER, "direction": "inout"}], '"inout" bindings are not supported'),
    ],
)
def test_static_problems(tmp_path: Path, bindings: list[dict[str, Any]], problem: str) -> None:
    name = f"static_{abs(hash(problem))}"
    params = ", ".join(b["name"] for b in bindings if b["name"] != "$return")
    folder = make_function(tmp_path, name, bindings, f"def main({params}):\n    pass\n")
    problems = check_function(folder)
    assert any(problem in found for found in problems), problems


def test_missing_entry_point_and_unreadable_function_json(tmp_path: Path) -> None:
    folder = make_function(tmp_path, "no_run", HTTP_BINDINGS, HTTP_CODE, entryPoint="run")
    assert check_function(folder) == [f"entry point 'run' not found in {folder / '__init__.py'}"]
    broken = tmp_path / "bad_json"
    broken.mkdir()
    (broken / "function.json").write_text("{not json")
    (problem,) = check_function(broken)
    assert problem.startswith(f"cannot read {broken / 'function.json'}")


def test_script_file_entry_point_and_relative_imports(tmp_path: Path) -> None:
    folder = make_function(
        tmp_path,
        "custom_script",
        HTTP_BINDINGS,
        "import azure.functions as func\nfrom .helper import TEXT\n\n"
        "def handle(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse(TEXT)\n",
        scriptFile="handler.py",
        entryPoint="handle",
    )
    (folder / "helper.py").write_text("TEXT = 'from helper'\n")
    loaded = load_function(folder)
    assert loaded.entry_point.__module__ == "custom_script.handler"
    assert loaded.route is not None and loaded.route.text == "custom_script"


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


def test_discover_loads_what_it_can_and_reports_the_rest() -> None:
    settings = {**SAMPLE_SETTINGS, "AzureWebJobs.switched_off.Disabled": "true"}
    found = discover(SAMPLE_APP, settings)
    assert sorted(found.functions) == [
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
    assert sorted(found.errors) == ["broken_binding", "broken_import"]
    assert found.disabled == ["disabled_fn", "switched_off"]
    assert "disabled_fn" not in sys.modules  # a disabled function is never imported


def test_host_json_functions_list_restricts_loading() -> None:
    found = discover(SAMPLE_APP, SAMPLE_SETTINGS, only=("items", "broken_binding"))
    assert sorted(found.functions) == ["items"]
    assert sorted(found.errors) == ["broken_binding"]
