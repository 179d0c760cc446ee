"""Index an app's function folders the way the host does, before any Python is loaded.

For apps without `function_app.py` the worker answers the metadata request with
`use_default_metadata_indexing`: the host itself reads each folder's `function.json`, checks
what is its to check (the bindings' shape, one trigger, the trigger's route or schedule, the
extensions it has), and sends what it found to the worker in a load request. Everything about
the Python code (the import, the entry point, parameters against bindings, annotations) is the
worker's to check, so it is not checked here. `scriptFile` defaults to `__init__.py` and
`entryPoint` to `main`; a folder that fails the host's checks is reported, the others go on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.func_host import messages
from local.func_host.model import (
    HTTP_TRIGGER,
    SUPPORTED_TRIGGERS,
    TIMER_TRIGGER,
    Binding,
    FunctionIndexError,
    FunctionSpec,
    IndexedFunction,
)
from local.func_host.ncrontab import CrontabError
from local.func_host.routing import RouteTemplateError, normalize_methods, parse_route_template
from local.func_host.schedule import parse_schedule
from local.func_host.settings import SettingsError, is_true, resolve_setting_references


@dataclass
class Index:
    """Outcome of indexing an app: what the host accepted, what it refused (and why), and
    what is switched off."""

    functions: dict[str, IndexedFunction] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    disabled: list[str] = field(default_factory=list)


def index_app(root: Path, environ: Mapping[str, str], only: tuple[str, ...] | None = None) -> Index:
    """Index every function folder under `root`; one refusal does not stop the others."""
    result = Index()
    for folder in sorted(path for path in root.iterdir() if (path / "function.json").is_file()):
        name = folder.name
        if only is not None and name not in only:
            continue
        try:
            if is_disabled(folder, environ):
                result.disabled.append(name)
            result.functions[name] = index_function(folder, environ)
        except FunctionIndexError as error:
            result.errors[name] = str(error)
    return result


def is_disabled(folder: Path, environ: Mapping[str, str]) -> bool:
    """`"disabled"` in function.json (true or a setting name) or `AzureWebJobs.<name>.Disabled`."""
    name = folder.name
    for setting in (f"AzureWebJobs.{name}.Disabled", f"AzureWebJobs_{name}_Disabled"):
        if is_true(environ.get(setting)):
            return True
    flag = _read_config(folder).get("disabled", False)
    if isinstance(flag, str) and flag.strip().lower() not in {"true", "false", "1", "0", ""}:
        return is_true(environ.get(flag))  # legacy form: the name of an app setting
    return is_true(flag)


def index_function(folder: Path, environ: Mapping[str, str]) -> IndexedFunction:
    """The host's view of one folder; FunctionIndexError lists what is wrong with it."""
    spec = read_spec(folder)
    problems = binding_problems(spec)
    if problems:
        raise FunctionIndexError("; ".join(problems))
    try:
        return _with_trigger_settings(spec, environ)
    except (SettingsError, RouteTemplateError, CrontabError) as error:
        raise FunctionIndexError(str(error)) from None


def read_spec(folder: Path) -> FunctionSpec:
    """Parse function.json; raise FunctionIndexError if it is missing or malformed."""
    config = _read_config(folder)
    raw_bindings = config.get("bindings")
    if not isinstance(raw_bindings, list) or not raw_bindings:
        raise FunctionIndexError("function.json must have a non-empty `bindings` list")
    bindings = []
    for index, raw in enumerate(raw_bindings):
        if not isinstance(raw, dict):
            raise FunctionIndexError(f"binding #{index} in function.json is not an object")
        values = [raw.get(key) for key in ("name", "type", "direction")]
        if not all(isinstance(value, str) and value for value in values):
            raise FunctionIndexError(
                f"binding #{index} in function.json needs string `name`, `type` and `direction`"
            )
        name, kind, direction = (str(value) for value in values)
        bindings.append(Binding(name, kind, direction.lower(), raw))
    script = config.get("scriptFile", "__init__.py")
    entry_point = config.get("entryPoint", "main")
    if not isinstance(script, str) or not isinstance(entry_point, str):
        raise FunctionIndexError("`scriptFile` and `entryPoint` must be strings")
    return FunctionSpec(
        name=folder.name,
        folder=folder.resolve(),
        script_file=(folder / script).resolve(),
        entry_point=entry_point,
        bindings=tuple(bindings),
        config=config,
    )


def binding_problems(spec: FunctionSpec) -> list[str]:
    """What the host refuses: a shape it cannot read, or a binding it has no extension for."""
    problems: list[str] = []
    seen: set[str] = set()
    for binding in spec.bindings:
        if binding.name.lower() in seen:
            problems.append(f"binding name '{binding.name}' is used more than once")
        seen.add(binding.name.lower())
        if binding.direction not in messages.DIRECTIONS:
            problems.append(f"binding '{binding.name}': unknown direction '{binding.direction}'")
    triggers = spec.triggers
    if len(triggers) != 1:
        found = ", ".join(t.name for t in triggers) or "none"
        problems.append(f"a function needs exactly one trigger binding (found: {found})")
        return problems
    trigger = triggers[0]
    if trigger.type not in SUPPORTED_TRIGGERS:
        problems.append(
            f"trigger type '{trigger.type}' is not supported by the local host "
            f"(supported: {', '.join(SUPPORTED_TRIGGERS)})"
        )
    outputs = [b for b in spec.bindings if b is not trigger]
    for binding in outputs:
        if binding.type != "http" or binding.direction != "out":
            problems.append(
                f"binding '{binding.name}' of type '{binding.type}' ({binding.direction}) is not "
                "supported by the local host (it has the http output only)"
            )
        elif trigger.type != HTTP_TRIGGER:
            problems.append(f"binding '{binding.name}': an http output needs an httpTrigger")
    if len(outputs) > 1:
        problems.append("an HTTP function may have only one http output binding")
    return problems


def load_request_metadata(function: IndexedFunction) -> messages.RpcFunctionMetadata:
    """The metadata of the worker's load request, as the host builds it from function.json."""
    spec = function.spec
    bindings = {
        binding.name: messages.BindingInfo(
            type=binding.type,
            direction=messages.DIRECTIONS[binding.direction],
            data_type=_data_type(binding),
        )
        for binding in spec.bindings
    }
    return messages.RpcFunctionMetadata(
        name=spec.name,
        directory=str(spec.folder),
        script_file=str(spec.script_file),
        entry_point=spec.entry_point,
        bindings=bindings,
        language="python",
        raw_bindings=[json.dumps(binding.settings) for binding in spec.bindings],
        function_id=function.function_id,
    )


def _data_type(binding: Binding) -> int:
    declared = binding.settings.get("dataType")
    if isinstance(declared, str):
        return messages.DATA_TYPES.get(declared.lower(), messages.BindingInfo.undefined)
    return messages.BindingInfo.undefined


def _with_trigger_settings(spec: FunctionSpec, environ: Mapping[str, str]) -> IndexedFunction:
    trigger = spec.trigger
    function_id = str(uuid.uuid4())
    if trigger.type == HTTP_TRIGGER:
        route = trigger.settings.get("route")
        if route is None:
            route = spec.name
        if not isinstance(route, str):
            raise RouteTemplateError(f"httpTrigger `route` must be a string, got {route!r}")
        methods = trigger.settings.get("methods")
        if methods is not None and not (
            isinstance(methods, list) and all(isinstance(method, str) for method in methods)
        ):
            raise RouteTemplateError(
                f"httpTrigger `methods` must be a list of strings: {methods!r}"
            )
        return IndexedFunction(
            spec,
            function_id,
            route=parse_route_template(resolve_setting_references(route, environ)),
            methods=normalize_methods(methods),
        )
    if trigger.type == TIMER_TRIGGER:
        expression = trigger.settings.get("schedule")
        if not isinstance(expression, str) or not expression.strip():
            raise CrontabError("timerTrigger needs a `schedule` string (NCRONTAB or %AppSetting%)")
        run_on_startup = trigger.settings.get("runOnStartup", False)
        if not isinstance(run_on_startup, bool):
            raise CrontabError(
                f"timerTrigger `runOnStartup` must be true or false: {run_on_startup!r}"
            )
        schedule = parse_schedule(resolve_setting_references(expression, environ))
        return IndexedFunction(spec, function_id, schedule=schedule, run_on_startup=run_on_startup)
    return IndexedFunction(spec, function_id)


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "function.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as error:
        raise FunctionIndexError(f"cannot read {path}: {error}") from None
    if not isinstance(config, dict):
        raise FunctionIndexError(f"{path} must contain a JSON object")
    return config
