"""Invocations: one `InvocationRequest` to the worker per trigger, and what came back.

The worker library decodes the trigger for the function's parameter, runs the function (awaited
on its loop if `async def`, else in its thread pool), and encodes the result; its failures, a
converter's included, come back as `StatusResult.Failure` with the exception's message and
stack trace. A function the worker could not load gets no request: as on Azure, the host
answers every invocation of it with its load error.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from local.func_host import messages
from local.func_host.channel import WorkerChannel, WorkerError
from local.func_host.logs import log_invocation
from local.func_host.model import IndexedFunction

T = TypeVar("T")

logger = logging.getLogger("func_host")


class InvocationFailed(RuntimeError):
    """The invocation failed in the worker (or could not reach it); the worker's own words."""

    def __init__(self, message: str, stack_trace: str = "") -> None:
        super().__init__(message)
        self.stack_trace = stack_trace

    @property
    def kind(self) -> str:
        """The exception's type name when the worker gave one (`ValueError: ...`)."""
        head = str(self).split(":", 1)[0]
        return head if head.isidentifier() else "Failed"

    def describe(self) -> str:
        return f"{self}\n{self.stack_trace.rstrip()}" if self.stack_trace else str(self)


def new_id() -> str:
    return str(uuid.uuid4())


def _trace_parent() -> str:
    """A W3C traceparent for the invocation, as the host sends one from its activity."""
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


class FunctionRunner:
    """Sends invocations to the worker and keeps track of them for a graceful shutdown."""

    def __init__(self, channel: WorkerChannel, load_errors: Mapping[str, str]) -> None:
        self.channel = channel
        self._load_errors = load_errors
        self._running: set[asyncio.Task[Any]] = set()

    async def invoke(
        self,
        function: IndexedFunction,
        data: messages.TypedData,
        *,
        invocation_id: str,
        trigger_metadata: Mapping[str, messages.TypedData] | None = None,
    ) -> messages.InvocationResponse:
        """Run one invocation; InvocationFailed if the function (or its conversion) failed."""
        load_error = self._load_errors.get(function.name)
        if load_error is not None:
            raise InvocationFailed(f"the function failed to load: {load_error}")
        request = messages.InvocationRequest(
            invocation_id=invocation_id,
            function_id=function.function_id,
            input_data=[messages.ParameterBinding(name=function.trigger_param, data=data)],
            trigger_metadata=dict(trigger_metadata or {}),
            trace_context=messages.RpcTraceContext(trace_parent=_trace_parent()),
            retry_context=messages.RetryContext(),
        )
        try:
            response = await self.channel.invoke(request)
        except WorkerError as error:
            raise InvocationFailed(str(error)) from None
        if response.result.status != messages.StatusResult.Success:
            exception = response.result.exception
            raise InvocationFailed(exception.message or "failed", exception.stack_trace)
        return response

    async def track(self, work: Awaitable[T]) -> T:
        """Run `work` as a task that shutdown waits for, even if the caller is cancelled."""
        return await asyncio.shield(self.start(work))

    def start(self, work: Awaitable[T]) -> asyncio.Task[T]:
        """Run `work` in the background; shutdown waits for it like for any invocation."""
        task: asyncio.Task[T] = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[T]) -> None:
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
        return len(pending)

    @property
    def running(self) -> int:
        return len(self._running)


def log_failure(function: IndexedFunction, invocation_id: str, error: InvocationFailed) -> None:
    logger.error(
        "Function 'Functions.%s' (Id=%s) failed: %s", function.name, invocation_id, error.describe()
    )


async def invoke_logged(
    function: IndexedFunction,
    data: messages.TypedData,
    trigger: str,
    runner: FunctionRunner,
    trigger_metadata: Mapping[str, messages.TypedData] | None = None,
) -> bool:
    """Run a non-HTTP function once and write its invocation line; True if it succeeded."""
    invocation_id = new_id()
    started = time.perf_counter()
    try:
        await runner.invoke(
            function, data, invocation_id=invocation_id, trigger_metadata=trigger_metadata
        )
    except InvocationFailed as error:
        log_failure(function, invocation_id, error)
        outcome, failed = error.kind, True
    else:
        outcome, failed = "ok", False
    elapsed = (time.perf_counter() - started) * 1000
    log_invocation(function.name, trigger, elapsed, outcome, invocation_id, failed=failed)
    return not failed
