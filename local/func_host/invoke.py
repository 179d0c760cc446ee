"""Calling a function the way the worker does, with `azure.functions`' own converters.

Trigger payloads are built as the `Datum` shapes the host sends over gRPC and decoded by the same
converter classes the worker uses (`HttpRequestConverter`, `EventGridEventInConverter`,
`TimerRequestConverter`), so a function receives exactly the objects it gets in Azure.
`async def` entry points are awaited on the host's loop; plain ones run in a thread pool, as the
worker does (sized by `PYTHON_THREADPOOL_THREAD_COUNT` if set).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import azure.functions as func
from azure.functions._abc import RetryContext, RpcException, TraceContext
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.http import HttpRequestConverter
from azure.functions.meta import Datum
from azure.functions.timer import TimerRequestConverter

from local.func_host.logs import log_invocation
from local.func_host.model import (
    EVENT_GRID_TRIGGER,
    HTTP_TRIGGER,
    TIMER_TRIGGER,
    LoadedFunction,
)

T = TypeVar("T")

_thread_local = threading.local()


class _TraceContext(TraceContext):
    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return ""

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _NoException(RpcException):
    @property
    def source(self) -> str:
        return ""

    @property
    def stack_trace(self) -> str:
        return ""

    @property
    def message(self) -> str:
        return ""


class _RetryContext(RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> RpcException:
        return _NoException()


class InvocationContext(func.Context):
    """The `context` argument: what the worker's Context exposes, for one invocation."""

    def __init__(self, invocation_id: str, function: LoadedFunction) -> None:
        self._invocation_id = invocation_id
        self._function_name = function.name
        self._function_directory = str(function.spec.folder)

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return _thread_local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return _TraceContext()

    @property
    def retry_context(self) -> RetryContext:
        return _RetryContext()


class OutputParameter(func.Out[T]):
    """A concrete `func.Out` for output bindings passed as parameters."""

    def __init__(self) -> None:
        self._value: T | None = None

    def set(self, val: T) -> None:
        self._value = val

    def get(self) -> T:
        return self._value  # type: ignore[return-value]  # unset means None, as in the worker


@dataclass
class Invocation:
    """What came back from one call: the `$return` value and any `Out` parameter values."""

    invocation_id: str
    result: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)


def decode_trigger(function: LoadedFunction, datum: Datum) -> Any:
    """The trigger argument, decoded by the converter the worker would use."""
    if function.raw_trigger and datum.type in {"json", "string"}:
        return datum.value  # the worker's generic binding passes the raw payload through
    if function.trigger_type == HTTP_TRIGGER:
        return HttpRequestConverter.decode(datum, trigger_metadata={})
    if function.trigger_type == EVENT_GRID_TRIGGER:
        return EventGridEventInConverter.decode(datum, trigger_metadata={})
    if function.trigger_type == TIMER_TRIGGER:
        return TimerRequestConverter.decode(datum, trigger_metadata={})
    raise NotImplementedError(f"unsupported trigger type {function.trigger_type}")


class FunctionRunner:
    """Calls entry points and keeps track of running invocations for a graceful shutdown."""

    def __init__(self, max_threads: int | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="func")
        self._running: set[asyncio.Task[Any]] = set()

    async def invoke(
        self, function: LoadedFunction, datum: Datum, invocation_id: str | None = None
    ) -> Invocation:
        """Run one invocation; exceptions from the function (or its conversion) propagate.

        Callers wrap the whole invocation, logging included, in `track`/`start`, so that a
        shutdown waits for it and its log line is still written.
        """
        invocation = Invocation(invocation_id=invocation_id or new_id())
        arguments: dict[str, Any] = {function.trigger_param: decode_trigger(function, datum)}
        if function.requires_context:
            arguments["context"] = InvocationContext(invocation.invocation_id, function)
        outputs = {name: OutputParameter[Any]() for name in function.output_params}
        arguments.update(outputs)
        if function.is_async:
            _thread_local.invocation_id = invocation.invocation_id
            result = await function.entry_point(**arguments)
        else:
            call = functools.partial(
                _call_in_thread, invocation.invocation_id, function.entry_point, arguments
            )
            context = contextvars.copy_context()
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._executor, context.run, call)
        if result is not None and not function.has_return:
            raise RuntimeError(
                f"function '{function.name}' without a $return binding returned a non-None value"
            )
        invocation.result = result
        invocation.outputs = {name: out.get() for name, out in outputs.items()}
        return invocation

    async def track(self, work: Awaitable[T]) -> T:
        """Run `work` as a task that shutdown waits for, even if the caller is cancelled."""
        return await asyncio.shield(self.start(work))

    def start(self, work: Awaitable[T]) -> asyncio.Task[T]:
        """Run `work` in the background; shutdown waits for it like for any invocation."""
        task: asyncio.Task[T] = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here so an abandoned failure is not reported twice

    async def drain(self, grace: float) -> int:
        """Wait up to `grace` seconds for running invocations; cancel the rest; return count."""
        pending = set(self._running)
        if pending:
            _, still_running = await asyncio.wait(pending, timeout=grace)
            for task in still_running:
                task.cancel()
            pending = still_running
        self._executor.shutdown(wait=False, cancel_futures=True)
        return len(pending)

    @property
    def running(self) -> int:
        return len(self._running)


invocation_errors = logging.getLogger("func_host")


def new_id() -> str:
    return str(uuid.uuid4())


def _call_in_thread(
    invocation_id: str, entry_point: Callable[..., T], arguments: Mapping[str, Any]
) -> T:
    _thread_local.invocation_id = invocation_id
    return entry_point(**arguments)


async def invoke_logged(
    function: LoadedFunction, datum: Datum, trigger: str, runner: FunctionRunner
) -> bool:
    """Run a non-HTTP function once and write its invocation line; True if it succeeded."""
    invocation_id = new_id()
    started = time.perf_counter()
    try:
        await runner.invoke(function, datum, invocation_id)
    except Exception as error:
        invocation_errors.error(
            "Function 'Functions.%s' (Id=%s) failed", function.name, invocation_id, exc_info=True
        )
        outcome, failed = type(error).__name__, True
    else:
        outcome, failed = "ok", False
    elapsed = (time.perf_counter() - started) * 1000
    log_invocation(function.name, trigger, elapsed, outcome, invocation_id, failed=failed)
    return not failed
