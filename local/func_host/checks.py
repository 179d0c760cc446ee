"""The checks the Python worker makes when it loads a function, plus this host's limits.

They mirror the worker's `FunctionLoadError`s (azure-functions-python-worker `functions.py`):
binding names must equal the entry point's parameters, bar an optional `context`; annotations
must suit the binding's converter; `Out` annotations go with "out" bindings. The host adds what
it supports: HTTP, Event Grid and timer triggers, `http` outputs, and `$return` on HTTP functions
only (so Event Grid and timer functions must return None). Each check appends plain sentences to
a problem list instead of raising, so `check_function` can report them all at once.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.http import HttpRequestConverter, HttpResponseConverter
from azure.functions.timer import TimerRequestConverter

from local.func_host.model import (
    EVENT_GRID_TRIGGER,
    HTTP_TRIGGER,
    RETURN_BINDING,
    SUPPORTED_TRIGGERS,
    TIMER_TRIGGER,
    Binding,
    FunctionSpec,
)
from local.func_host.ncrontab import CrontabError
from local.func_host.routing import (
    RouteTemplate,
    RouteTemplateError,
    normalize_methods,
    parse_route_template,
)
from local.func_host.schedule import Schedule, parse_schedule
from local.func_host.settings import SettingsError, resolve_setting_references

# The annotation checks of the converters the worker would pick for each trigger type.
_INPUT_ANNOTATION_CHECKS: dict[str, Callable[[type], bool]] = {
    HTTP_TRIGGER: HttpRequestConverter.check_input_type_annotation,
    EVENT_GRID_TRIGGER: EventGridEventInConverter.check_input_type_annotation,
    TIMER_TRIGGER: TimerRequestConverter.check_input_type_annotation,
}


@dataclass(frozen=True)
class Signature:
    """What invoking needs to know about the entry point's parameters."""

    requires_context: bool
    output_params: tuple[str, ...]
    raw_trigger: bool


@dataclass(frozen=True)
class TriggerSettings:
    """A trigger's compiled settings: route and methods, or schedule."""

    route: RouteTemplate | None = None
    methods: frozenset[str] | None = None
    schedule: Schedule | None = None
    run_on_startup: bool = False


def binding_problems(spec: FunctionSpec) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for binding in spec.bindings:
        if binding.name in seen:
            problems.append(f"binding name '{binding.name}' is used more than once")
        seen.add(binding.name)
        if binding.direction == "inout":
            problems.append(f"binding '{binding.name}': \"inout\" bindings are not supported")
        elif binding.direction not in {"in", "out"}:
            problems.append(f"binding '{binding.name}': unknown direction '{binding.direction}'")
        if binding.name != RETURN_BINDING and not binding.name.isidentifier():
            problems.append(f"binding name '{binding.name}' is not a valid Python identifier")
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
    if trigger.direction != "in":
        problems.append(f"trigger binding '{trigger.name}' must have direction \"in\"")
    http_outputs = 0
    for binding in spec.bindings:
        if binding is trigger:
            continue
        if binding.name == RETURN_BINDING and binding.direction != "out":
            problems.append('"$return" binding must have direction set to "out"')
        elif binding.name == RETURN_BINDING and trigger.type != HTTP_TRIGGER:
            problems.append(
                f"a {trigger.type} function must return None: only HTTP functions may have a "
                "$return output binding here"
            )
        elif binding.type == "http" and binding.direction == "out":
            http_outputs += 1
            if trigger.type != HTTP_TRIGGER:
                problems.append(f"binding '{binding.name}': an http output needs an httpTrigger")
        else:
            problems.append(
                f"binding '{binding.name}' of type '{binding.type}' ({binding.direction}) is not "
                "supported by the local host"
            )
    if http_outputs > 1:
        problems.append("an HTTP function may have only one http output binding")
    return problems


def trigger_settings(
    spec: FunctionSpec, environ: Mapping[str, str], problems: list[str]
) -> TriggerSettings:
    trigger = spec.trigger
    try:
        if trigger.type == HTTP_TRIGGER:
            return _http_settings(spec, environ)
        if trigger.type == TIMER_TRIGGER:
            return _timer_settings(trigger, environ)
    except (SettingsError, RouteTemplateError, CrontabError) as error:
        problems.append(str(error))
    return TriggerSettings()


def _http_settings(spec: FunctionSpec, environ: Mapping[str, str]) -> TriggerSettings:
    trigger = spec.trigger
    route = trigger.settings.get("route")
    if route is None:
        route = spec.name
    if not isinstance(route, str):
        raise RouteTemplateError(f"httpTrigger `route` must be a string, got {route!r}")
    methods = trigger.settings.get("methods")
    if methods is not None and not (
        isinstance(methods, list) and all(isinstance(method, str) for method in methods)
    ):
        raise RouteTemplateError(f"httpTrigger `methods` must be a list of strings: {methods!r}")
    return TriggerSettings(
        route=parse_route_template(resolve_setting_references(route, environ)),
        methods=normalize_methods(methods),
    )


def _timer_settings(trigger: Binding, environ: Mapping[str, str]) -> TriggerSettings:
    expression = trigger.settings.get("schedule")
    if not isinstance(expression, str) or not expression.strip():
        raise CrontabError("timerTrigger needs a `schedule` string (NCRONTAB or %AppSetting%)")
    run_on_startup = trigger.settings.get("runOnStartup", False)
    if not isinstance(run_on_startup, bool):
        raise CrontabError(f"timerTrigger `runOnStartup` must be true or false: {run_on_startup!r}")
    resolved = resolve_setting_references(expression, environ)
    return TriggerSettings(schedule=parse_schedule(resolved), run_on_startup=run_on_startup)


def signature_problems(
    spec: FunctionSpec, entry_point: Callable[..., Any], problems: list[str]
) -> Signature:
    """Append the worker's signature checks to `problems`; return what invoking needs."""
    params = dict(inspect.signature(entry_point).parameters)
    try:
        annotations = typing.get_type_hints(entry_point)
    except Exception as error:
        problems.append(f"the annotations of {spec.entry_point} cannot be resolved: {error}")
        annotations = {}
    bound = {b.name: b for b in spec.bindings if b.name != RETURN_BINDING}
    requires_context = False
    if "context" in params and "context" not in bound:
        requires_context = True
        params.pop("context")
        context_annotation = annotations.get("context")
        if "context" in annotations and getattr(context_annotation, "__name__", "") != "Context":
            problems.append(
                'the "context" parameter is expected to be of type azure.functions.Context, '
                f"got {context_annotation!r}"
            )
    only_python = sorted(set(params) - set(bound))
    only_json = sorted(set(bound) - set(params))
    if only_python:
        problems.append(
            "the following parameters are declared in Python but not in function.json: "
            f"{only_python}"
        )
    if only_json:
        problems.append(
            f"the following parameters are declared in function.json but not in Python: {only_json}"
        )
    outputs = []
    for name in params:
        binding = bound.get(name)
        if binding is None:
            continue
        if binding.direction == "out":
            outputs.append(name)
        if name in annotations:
            problem = _annotation_problem(binding, annotations[name])
            if problem:
                problems.append(problem)
    problems.extend(_return_problems(spec, annotations))
    raw_trigger = bool(spec.triggers) and annotations.get(spec.trigger.name) in (str, bytes)
    return Signature(requires_context, tuple(outputs), raw_trigger)


def _annotation_problem(binding: Binding, annotation: object) -> str | None:
    origin = typing.get_origin(annotation) or annotation
    is_out = isinstance(origin, type) and origin.__name__ == "Out"
    if binding.direction == "out" and not is_out:
        return (
            f'binding {binding.name} is declared to have the "out" direction, but its '
            "annotation in Python is not a subclass of azure.functions.Out"
        )
    if binding.direction == "in" and is_out:
        return (
            f'binding {binding.name} is declared to have the "in" direction in function.json, '
            "but its annotation is azure.functions.Out in Python"
        )
    if is_out:
        args = typing.get_args(annotation)
        if len(args) != 1:
            return f"binding {binding.name} has invalid Out annotation {annotation!r}"
        return _output_annotation_problem(binding.name, args[0])
    if not isinstance(annotation, type):
        return f"binding {binding.name} has invalid non-type annotation {annotation!r}"
    if annotation in (str, bytes):
        return None  # the worker's generic binding: the raw payload
    check = _INPUT_ANNOTATION_CHECKS.get(binding.type)
    if check is not None and not check(annotation):
        return (
            f'type of {binding.name} binding in function.json "{binding.type}" does not match '
            f'its Python annotation "{annotation.__name__}"'
        )
    return None


def _output_annotation_problem(name: str, annotation: object) -> str | None:
    if not isinstance(annotation, type):
        return f"binding {name} has invalid non-type annotation {annotation!r}"
    if not HttpResponseConverter.check_output_type_annotation(annotation):
        return f'Python annotation "{annotation.__name__}" does not match binding type "http"'
    return None


def _return_problems(spec: FunctionSpec, annotations: Mapping[str, object]) -> list[str]:
    if "return" not in annotations:
        return []
    annotation = annotations["return"]
    if spec.return_binding is None:
        if annotation is type(None):
            return []
        return [
            f"{spec.entry_point} has no $return binding, so it must return None "
            f"(its return annotation is {annotation!r})"
        ]
    if not isinstance(annotation, type):
        return [f"has invalid non-type return annotation {annotation!r}"]
    if not HttpResponseConverter.check_output_type_annotation(annotation):
        return [
            f'Python return annotation "{annotation.__name__}" does not match binding type "http"'
        ]
    return []
