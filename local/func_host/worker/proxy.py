"""The worker process's proxy: channel messages in, `azure_functions_runtime_v1` handlers out.

On Azure, for Python 3.13+, the process the host starts is a thin proxy that reads the host's
messages and hands each to Microsoft's worker library, which loads, checks and invokes the
functions (Azure/azure-functions-python-worker, `workers/proxy_worker/dispatcher.py`). This is
that proxy for our channel (see `wire`): like Azure's, it starts the library's thread pool
before the init request, passes the message classes in (`properties={"protos": ...}`), runs
each request as its own task so invocations overlap, puts the app root on `sys.path` and makes
it the working directory, and sends Python logging back to the host as `RpcLog` messages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import importlib
import logging
import os
import socket
import sys
import threading
import traceback
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from local.func_host import messages
from local.func_host.wire import ChannelClosed, encode, open_channel, read_message

logger = logging.getLogger("func_host.worker")

LIBRARY = "azure_functions_runtime_v1"

# The invocation an async function runs in (each request is its own task, so its own context);
# sync functions run in the library's threads, where it sets its own `invocation_id_cv`.
_invocation: contextvars.ContextVar[str | None] = contextvars.ContextVar("invocation", default=None)

_LEVELS = (
    (logging.CRITICAL, messages.RpcLog.Critical),
    (logging.ERROR, messages.RpcLog.Error),
    (logging.WARNING, messages.RpcLog.Warning),
    (logging.INFO, messages.RpcLog.Information),
    (logging.DEBUG, messages.RpcLog.Debug),
)


@dataclass
class WorkerRequest:
    """What the library's handlers take: `.request` is the whole StreamingMessage."""

    name: str
    request: messages.StreamingMessage
    properties: dict[str, Any] = field(default_factory=dict)


class Proxy:
    def __init__(self, writer: asyncio.StreamWriter, request_id: str, host: str) -> None:
        self._writer = writer
        self._request_id = request_id
        self._host = host
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._tasks: set[asyncio.Task[None]] = set()
        self.library: ModuleType | None = None
        self.imports_ahead: threading.Thread | None = None

    def send(self, **content: Any) -> None:
        """Send one StreamingMessage; safe to call from any thread."""
        frame = encode(messages.StreamingMessage(request_id=self._request_id, **content))
        if threading.get_ident() == self._thread:
            self._writer.write(frame)
        else:
            self._loop.call_soon_threadsafe(self._writer.write, frame)

    async def serve(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                message = await read_message(reader)
            except ChannelClosed:
                # The host is gone (or done with us): a worker outliving its host would go on
                # running invocations nobody owns any more, which Azure never does. Leave now,
                # without waiting for the library's threads.
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
            task = asyncio.create_task(self._dispatch(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _dispatch(self, message: messages.StreamingMessage) -> None:
        content = message.WhichOneof("content")
        try:
            if content == "worker_init_request":
                self.send(worker_init_response=await self._init(message))
                return
            library = self.library
            if library is None:
                logger.error("%s before the worker init request", content)
            elif content == "functions_metadata_request":
                answer = await library.functions_metadata_request(WorkerRequest(content, message))
                self.send(function_metadata_response=answer)
            elif content == "function_load_request":
                answer = await library.function_load_request(WorkerRequest(content, message))
                self.send(function_load_response=answer)
            elif content == "invocation_request":
                _invocation.set(message.invocation_request.invocation_id)
                answer = await library.invocation_request(WorkerRequest(content, message))
                self.send(invocation_response=answer)
            else:
                logger.error("unknown message from the host: %s", content)
        except Exception:
            # The library answers its own failures; this is a bug in the proxy or the channel.
            logger.exception("cannot handle %s", content)

    async def _init(self, message: messages.StreamingMessage) -> Any:
        if self.imports_ahead is not None:
            # Done before the library looks at sys.modules, where a module still being
            # imported by the other thread would be found half-made.
            await asyncio.to_thread(self.imports_ahead.join)
        use_app_root(message.worker_init_request.function_app_directory)
        library = self.library = importlib.import_module(LIBRARY)
        library.start_threadpool_executor()
        request = WorkerRequest(
            "WorkerInitRequest", message, {"protos": messages, "host": self._host}
        )
        return await library.worker_init_request(request)


class ChannelLogHandler(logging.Handler):
    """Python logging of the worker process (the app's and the library's) to the host."""

    def __init__(self, proxy: Proxy) -> None:
        super().__init__()
        self._proxy = proxy

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            library = self._proxy.library
            from_library = library.invocation_id_cv.get() if library is not None else None
            invocation_id = _invocation.get() or from_library or ""
            level = next(rpc for py, rpc in _LEVELS if record.levelno >= py)
            log = messages.RpcLog(
                invocation_id=invocation_id, category=record.name, level=level, message=text
            )
            self._proxy.send(rpc_log=log)
        except StopIteration:
            pass  # below DEBUG: not sent
        except Exception:
            self.handleError(record)


def use_app_root(app_root: str) -> None:
    """As the proxy worker does: the app root after the installed packages, and the cwd."""
    if app_root:
        if app_root not in sys.path:
            sys.path.append(app_root)
        os.chdir(app_root)


def import_ahead() -> None:
    """Import the library and azure.functions while the host gets ready to send the init
    request: the same modules the init request imports, only sooner."""
    for name in (LIBRARY, "azure.functions"):
        try:
            importlib.import_module(name)
        except Exception:
            return  # the init request imports them again and answers the error


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="func_host worker", description=__doc__)
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--request-id", required=True)
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    sock = socket.socket(fileno=args.channel_fd)
    reader, writer = await open_channel(sock)
    proxy = Proxy(writer, args.request_id, host="127.0.0.1")
    proxy.send(start_stream=messages.StartStream(worker_id=args.worker_id))
    # The host names the app root in the environment too (as on Azure), so the paths are in
    # place before anything is imported from them.
    use_app_root(os.environ.get("AzureWebJobsScriptRoot", ""))  # noqa: SIM112 - Azure's name
    proxy.imports_ahead = threading.Thread(target=import_ahead, name="import-ahead", daemon=True)
    proxy.imports_ahead.start()
    root = logging.getLogger()
    root.handlers[:] = [ChannelLogHandler(proxy)]
    root.setLevel(args.log_level.upper())
    if root.level > logging.DEBUG:
        # The library logs every request it handles at INFO; the host logs invocations itself.
        logging.getLogger("azure.functions").setLevel(logging.WARNING)
    try:
        await proxy.serve(reader)
    finally:
        writer.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    asyncio.run(run(args))
    # Invocations still running in the library's threads would keep the interpreter alive; the
    # host has already given up on them when it closes the channel.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
