"""What a function is to the host: its function.json bindings and, once loaded, its entry point."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.func_host.routing import RouteTemplate
from local.func_host.schedule import Schedule

HTTP_TRIGGER = "httpTrigger"
EVENT_GRID_TRIGGER = "eventGridTrigger"
TIMER_TRIGGER = "timerTrigger"
SUPPORTED_TRIGGERS = (HTTP_TRIGGER, EVENT_GRID_TRIGGER, TIMER_TRIGGER)
RETURN_BINDING = "$return"


class FunctionLoadError(RuntimeError):
    """A function folder that cannot be loaded; the message lists every problem found."""


@dataclass(frozen=True)
class Binding:
    name: str
    type: str
    direction: str
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class FunctionSpec:
    """function.json as read from disk, before any import."""

    name: str
    folder: Path
    script_file: Path
    entry_point: str
    bindings: tuple[Binding, ...]
    config: Mapping[str, Any]

    @property
    def triggers(self) -> list[Binding]:
        return [binding for binding in self.bindings if binding.type.endswith("Trigger")]

    @property
    def trigger(self) -> Binding:
        return self.triggers[0]

    @property
    def return_binding(self) -> Binding | None:
        return next((b for b in self.bindings if b.name == RETURN_BINDING), None)


@dataclass(frozen=True)
class LoadedFunction:
    """A function ready to invoke: its entry point and its trigger's compiled settings."""

    spec: FunctionSpec
    entry_point: Callable[..., Any]
    requires_context: bool
    output_params: tuple[str, ...] = ()
    raw_trigger: bool = False  # trigger annotated str/bytes: the worker passes the raw payload
    route: RouteTemplate | None = None
    methods: frozenset[str] | None = None
    schedule: Schedule | None = None
    run_on_startup: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def trigger_type(self) -> str:
        return self.spec.trigger.type

    @property
    def trigger_param(self) -> str:
        return self.spec.trigger.name

    @property
    def has_return(self) -> bool:
        return self.spec.return_binding is not None

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.entry_point)
