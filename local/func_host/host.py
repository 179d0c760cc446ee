"""Starting the host: settings applied, functions indexed, the worker started and loaded.

The order is the real host's: app settings, host.json, the function folders indexed by the host
(`discovery`), then the worker process: init, metadata (the library answers
`use_default_metadata_indexing` for a folder app), and a load request per function, disabled
ones included (on Azure they stay invocable from the portal, so they are loaded too). A function
the worker fails to load keeps its trigger, and each invocation of it fails with that error, as
on Azure; a function the host itself refuses gets no trigger at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from local.func_host import messages
from local.func_host.channel import WorkerChannel, WorkerError
from local.func_host.discovery import Index, index_app, load_request_metadata
from local.func_host.invoke import FunctionRunner
from local.func_host.model import HTTP_TRIGGER, IndexedFunction
from local.func_host.routing import Route, Router
from local.func_host.settings import (
    HostConfig,
    SettingsError,
    apply_app_settings,
    read_host_config,
    read_local_settings,
)
from local.func_host.spawn import SpawnedWorker

logger = logging.getLogger("func_host")


class HostStartError(RuntimeError):
    """The worker could not be started or initialised; the message says why."""


@dataclass
class HostState:
    root: Path
    config: HostConfig
    index: Index
    runner: FunctionRunner
    load_errors: dict[str, str]
    router: Router[IndexedFunction]
    started: float = field(default_factory=time.monotonic)
    timers: list[asyncio.Task[None]] = field(default_factory=list)
    abandoned: int = 0  # invocations still running when shutdown gave up on them

    @property
    def functions(self) -> dict[str, IndexedFunction]:
        """The functions with a trigger: indexed and enabled (loaded by the worker or not)."""
        disabled = set(self.index.disabled)
        return {n: f for n, f in self.index.functions.items() if n not in disabled}

    @property
    def loaded(self) -> list[str]:
        """Enabled functions the worker loaded."""
        return sorted(name for name in self.functions if name not in self.load_errors)

    @property
    def errors(self) -> dict[str, str]:
        """Why a function does not run: the host's refusal or the worker's load error."""
        return {**self.index.errors, **self.load_errors}

    def find_function(self, name: str) -> IndexedFunction | None:
        """Look a function up by name, ignoring case as the host's admin API does."""
        functions = self.functions
        exact = functions.get(name)
        if exact is not None:
            return exact
        return next((f for n, f in functions.items() if n.lower() == name.lower()), None)

    async def stop(self, grace: float) -> None:
        self.abandoned = await self.runner.drain(grace)
        await self.runner.channel.stop(grace)


async def start_host(
    root: Path,
    environ: MutableMapping[str, str],
    *,
    log_level: str = "INFO",
    spawned: SpawnedWorker | None = None,
) -> HostState:
    """Apply local.settings.json to `environ`, index the app and load it into a new worker
    (`spawned`, if one was started already).

    Raises SettingsError if host.json or local.settings.json is unusable, HostStartError if the
    worker cannot start; a function that fails to index or to load is recorded in `errors`.
    """
    try:
        root, config, index = _read_app(root, environ)
    except SettingsError:
        if spawned is not None:
            spawned.abandon()
        raise
    try:
        channel = await WorkerChannel.start(root, environ, log_level=log_level, spawned=spawned)
    except WorkerError as error:
        raise HostStartError(str(error)) from None
    try:
        load_errors = await _initialise(channel, root, index)
    except (WorkerError, HostStartError) as error:
        await channel.stop(grace=1)
        raise HostStartError(str(error)) from None
    routes = [
        Route(function.route, function.methods, function)
        for name, function in index.functions.items()
        if function.trigger_type == HTTP_TRIGGER
        and function.route is not None
        and name not in index.disabled
    ]
    return HostState(
        root=root,
        config=config,
        index=index,
        runner=FunctionRunner(channel, load_errors),
        load_errors=load_errors,
        router=Router(routes),
    )


def _read_app(root: Path, environ: MutableMapping[str, str]) -> tuple[Path, HostConfig, Index]:
    root = root.resolve()
    apply_app_settings(read_local_settings(root).values, environ)
    config = read_host_config(root)
    index = index_app(root, environ, config.functions)
    for name, error in index.errors.items():
        logger.error("Function '%s' is in error: %s", name, error)
    return root, config, index


async def _initialise(channel: WorkerChannel, root: Path, index: Index) -> dict[str, str]:
    init = await channel.init(root)
    if init.result.status != messages.StatusResult.Success:
        raise HostStartError(f"the worker failed to initialise: {init.result.exception.message}")
    metadata = await channel.metadata(root)
    if not metadata.use_default_metadata_indexing:
        raise HostStartError("the worker indexed the app itself: only folder apps are supported")
    functions = list(index.functions.values())
    answers = await asyncio.gather(
        *(
            channel.load(
                messages.FunctionLoadRequest(
                    function_id=function.function_id, metadata=load_request_metadata(function)
                )
            )
            for function in functions
        )
    )
    errors = {}
    for function, answer in zip(functions, answers, strict=True):
        if answer.result.status == messages.StatusResult.Success:
            continue
        exception = answer.result.exception
        errors[function.name] = exception.message
        logger.error(
            "Worker failed to load function: '%s' with functionId: '%s'. %s\n%s",
            function.name,
            function.function_id,
            exception.message,
            exception.stack_trace.rstrip(),
        )
    return errors


@dataclass(frozen=True)
class LoadReport:
    """What a host would run of an app: the functions loaded, the errors, the disabled ones."""

    loaded: list[str]
    errors: dict[str, str]
    disabled: list[str]


async def load_app(root: Path, environ: MutableMapping[str, str]) -> LoadReport:
    """Index and load an app in a worker process of its own, then stop the worker."""
    state = await start_host(root, environ)
    try:
        return LoadReport(state.loaded, state.errors, list(state.index.disabled))
    finally:
        await state.runner.channel.stop()
