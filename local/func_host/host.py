"""The loaded app: settings applied, functions discovered, HTTP routes compiled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from local.func_host.discovery import Discovery, discover
from local.func_host.invoke import FunctionRunner
from local.func_host.model import HTTP_TRIGGER, LoadedFunction
from local.func_host.routing import Route, Router
from local.func_host.settings import (
    HostConfig,
    apply_app_settings,
    read_host_config,
    read_local_settings,
)


@dataclass
class HostState:
    root: Path
    config: HostConfig
    discovery: Discovery
    router: Router[LoadedFunction]
    runner: FunctionRunner
    started: float = field(default_factory=time.monotonic)
    timers: list[asyncio.Task[None]] = field(default_factory=list)
    abandoned: int = 0  # invocations still running when shutdown gave up on them

    @property
    def functions(self) -> dict[str, LoadedFunction]:
        return self.discovery.functions

    @property
    def errors(self) -> dict[str, str]:
        return self.discovery.errors

    def find_function(self, name: str) -> LoadedFunction | None:
        """Look a function up by name, ignoring case as the host's admin API does."""
        exact = self.functions.get(name)
        if exact is not None:
            return exact
        return next((f for n, f in self.functions.items() if n.lower() == name.lower()), None)


def load_host(root: Path, environ: MutableMapping[str, str]) -> HostState:
    """Apply local.settings.json to `environ`, read host.json and load every function.

    Raises SettingsError if host.json or local.settings.json is unusable; a function that fails
    to load is recorded in `errors` instead.
    """
    root = root.resolve()
    apply_app_settings(read_local_settings(root).values, environ)
    config = read_host_config(root)
    discovery = discover(root, environ, config.functions)
    routes = [
        Route(function.route, function.methods, function)
        for function in discovery.functions.values()
        if function.trigger_type == HTTP_TRIGGER and function.route is not None
    ]
    return HostState(
        root=root,
        config=config,
        discovery=discovery,
        router=Router(routes),
        runner=FunctionRunner(_thread_count(environ)),
    )


def _thread_count(environ: MutableMapping[str, str]) -> int | None:
    """The worker's `PYTHON_THREADPOOL_THREAD_COUNT`; unset means the executor's default."""
    configured = environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "").strip()
    return int(configured) if configured.isdigit() and int(configured) > 0 else None
