"""What a function is to the host: its function.json, and what the host made of it."""

from __future__ import annotations

from collections.abc import Mapping
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


class FunctionIndexError(RuntimeError):
    """A function.json the host cannot use; the message lists every problem found."""


@dataclass(frozen=True)
class Binding:
    name: str
    type: str
    direction: str  # lower-cased: in, out or inout
    settings: Mapping[str, Any]  # the binding's whole object in function.json


@dataclass(frozen=True)
class FunctionSpec:
    """function.json as read from disk."""

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
class IndexedFunction:
    """A function the host accepted: its id for the worker and its trigger's compiled settings.

    Whether the worker could load it is the worker's answer, kept by the host state.
    """

    spec: FunctionSpec
    function_id: str
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
    def http_output(self) -> str | None:
        """The name of the http output binding (`$return` or a parameter), if any."""
        return next(
            (b.name for b in self.spec.bindings if b.type == "http" and b.direction == "out"),
            None,
        )
