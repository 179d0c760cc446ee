"""The host's side of its language worker: start the process, talk to it, notice it die.

Like the real host, this one starts its Python worker as a process of its own (here
`local/func_host/worker`, which runs Microsoft's worker library) and speaks to it in the
Functions worker protocol: `StartStream`, then init, metadata, one load request per function and
one invocation request per trigger. The channel is a Unix socket pair (see `wire`) rather than
gRPC on a TCP port: the messages are the same, but there is no port to find or guard, and the
host learns at once, from end-of-file, that the worker is gone. The worker's stdout and stderr
(print(), a crash's traceback) and its Python logging (sent as `RpcLog`) go to the host's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from local.func_host import messages
from local.func_host.spawn import WORKER_SCRIPT, SpawnedWorker, spawn_worker
from local.func_host.wire import ChannelClosed, encode, open_channel, read_message

logger = logging.getLogger("func_host.worker")

HOST_VERSION = "4.0.0-local"
START_TIMEOUT = 60.0  # seconds for the worker to open its stream, as the real host's default
_RPC_LEVELS = {
    messages.RpcLog.Trace: logging.DEBUG,
    messages.RpcLog.Debug: logging.DEBUG,
    messages.RpcLog.Information: logging.INFO,
    messages.RpcLog.Warning: logging.WARNING,
    messages.RpcLog.Error: logging.ERROR,
    messages.RpcLog.Critical: logging.CRITICAL,
}


class WorkerError(RuntimeError):
    """The worker process could not start, died, or left a request unanswered."""


class WorkerChannel:
    """One worker process and the requests waiting for its answers."""

    def __init__(self, process: subprocess.Popen[bytes], writer: asyncio.StreamWriter) -> None:
        self.process = process
        self._writer = writer
        self._pending: dict[str, asyncio.Future[messages.StreamingMessage]] = {}
        self._started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tasks: list[asyncio.Task[None]] = []
        self.closed = asyncio.Event()
        self.on_exit: Callable[[int | None], None] | None = None

    @classmethod
    async def start(
        cls,
        root: Path,
        environ: Mapping[str, str],
        *,
        log_level: str = "INFO",
        spawned: SpawnedWorker | None = None,
    ) -> WorkerChannel:
        """Start the worker in `root` with `environ` (or take over `spawned`) and wait for its
        StartStream."""
        if spawned is None:
            try:
                spawned = spawn_worker(str(root), environ, log_level=log_level)
            except OSError as error:
                raise WorkerError(f"the worker process did not start: {error}") from None
        reader, writer = await open_channel(spawned.host_end)
        channel = cls(spawned.process, writer)
        await channel._watch(reader)
        try:
            await asyncio.wait_for(asyncio.shield(channel._started), START_TIMEOUT)
        except (TimeoutError, WorkerError) as error:
            await channel.stop(grace=0)
            raise WorkerError(f"the worker process did not start: {error}") from None
        logger.info("Worker process started (pid %d)", spawned.process.pid)
        return channel

    async def init(self, root: Path) -> messages.WorkerInitResponse:
        request = messages.WorkerInitRequest(
            host_version=HOST_VERSION,
            capabilities={},
            worker_directory=str(Path(WORKER_SCRIPT).parent),
            function_app_directory=str(root),
        )
        answer = await self._ask("init", worker_init_request=request)
        response: messages.WorkerInitResponse = answer.worker_init_response
        return response

    async def metadata(self, root: Path) -> messages.FunctionMetadataResponse:
        request = messages.FunctionsMetadataRequest(function_app_directory=str(root))
        answer = await self._ask("metadata", functions_metadata_request=request)
        response: messages.FunctionMetadataResponse = answer.function_metadata_response
        return response

    async def load(self, request: messages.FunctionLoadRequest) -> messages.FunctionLoadResponse:
        answer = await self._ask(f"load:{request.function_id}", function_load_request=request)
        response: messages.FunctionLoadResponse = answer.function_load_response
        return response

    async def invoke(self, request: messages.InvocationRequest) -> messages.InvocationResponse:
        answer = await self._ask(f"invoke:{request.invocation_id}", invocation_request=request)
        response: messages.InvocationResponse = answer.invocation_response
        return response

    async def stop(self, grace: float = 5.0) -> int | None:
        """Close the channel (the worker exits on end-of-file); kill it after `grace` seconds."""
        self.on_exit = None
        with contextlib.suppress(ConnectionError):
            self._writer.close()
        try:
            await asyncio.wait_for(self._exited(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self._exited()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return self.process.returncode

    async def _exited(self) -> int:
        return await asyncio.shield(self._exit)

    async def _ask(self, key: str, **content: Any) -> messages.StreamingMessage:
        if self.closed.is_set():
            raise WorkerError("the worker process is not running")
        future: asyncio.Future[messages.StreamingMessage] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending[key] = future
        try:
            self._writer.write(encode(messages.StreamingMessage(**content)))
            return await future
        finally:
            self._pending.pop(key, None)

    async def _watch(self, reader: asyncio.StreamReader) -> None:
        assert self.process.stdout is not None and self.process.stderr is not None
        # One thread waits for the process; its output pipes are read on the loop.
        self._exit = asyncio.ensure_future(asyncio.to_thread(self.process.wait))
        self._tasks = [
            asyncio.create_task(self._read_messages(reader)),
            asyncio.create_task(_log_lines(await _pipe_reader(self.process.stdout), logging.INFO)),
            asyncio.create_task(
                _log_lines(await _pipe_reader(self.process.stderr), logging.WARNING)
            ),
        ]

    async def _read_messages(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                self._receive(await read_message(reader))
        except ChannelClosed:
            pass
        finally:
            self.closed.set()
            code = await self._exited()
            failure = WorkerError(f"the worker process exited (code {code})")
            if not self._started.done():
                self._started.set_exception(failure)
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(failure)
            if self.on_exit is not None:
                self.on_exit(code)

    def _receive(self, message: messages.StreamingMessage) -> None:
        content = message.WhichOneof("content")
        if content == "rpc_log":
            _relay_log(message.rpc_log)
            return
        if content == "start_stream":
            if not self._started.done():
                self._started.set_result(None)
            return
        key = {
            "worker_init_response": "init",
            "function_metadata_response": "metadata",
            "function_load_response": f"load:{message.function_load_response.function_id}",
            "invocation_response": f"invoke:{message.invocation_response.invocation_id}",
        }.get(content or "")
        future = self._pending.get(key) if key else None
        if future is None or future.done():
            logger.warning("unexpected message from the worker: %s", content)
            return
        future.set_result(message)


def _relay_log(log: messages.RpcLog) -> None:
    level = _RPC_LEVELS.get(log.level, logging.INFO)
    logging.getLogger(log.category or "worker").log(level, "%s", log.message)


async def _pipe_reader(pipe: IO[bytes]) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    return reader


async def _log_lines(stream: asyncio.StreamReader, level: int) -> None:
    while line := await stream.readline():
        logger.log(level, "%s", line.decode("utf-8", "replace").rstrip())
