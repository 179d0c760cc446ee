"""A TCP proxy that can misbehave on command, to put in front of Azurite's table port.

Storage that refuses, resets, hangs or is slow is what breaks an app's promises in production,
and Azurite on loopback never does any of it. This proxy forwards bytes unchanged and lets a test
(or the benchmark) switch, at run time, what the "network" does:

    pass     forward both ways
    refuse   the service is gone: every connection, open or new, is closed at once
    reset    every connection, open or new, is reset (RST, SO_LINGER 0)
    hang     accept and read, never forward or answer: a server that stopped responding
    delay    forward, each chunk from the target held back `delay_ms`: slower round trips

Leaving `hang` closes the connections that hung: bytes they carried were dropped, so nothing
sent on them afterwards could be understood.

Run it as its own process (control API on loopback: `GET /mode`, `PUT /mode {"mode", "delayMs"}`):

    python -m local.tcp_proxy --listen-port 10102 --target 127.0.0.1:10002 --control-port 10103

or in-process: `TcpProxy` on a running event loop, `ThreadedProxy` on a thread of its own (for
synchronous callers such as the benchmark). Development only; shares no code with the app.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

log = logging.getLogger("tcp_proxy")

CHUNK = 64 * 1024
MAX_CONTROL_BODY = 64 * 1024
T = TypeVar("T")


class Mode(StrEnum):
    PASS = "pass"
    REFUSE = "refuse"
    RESET = "reset"
    HANG = "hang"
    DELAY = "delay"


def parse_target(text: str) -> tuple[str, int]:
    """`host:port` (the target); ValueError says what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {text!r}")
    return host, int(port)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN: the peer sees 'connection reset', as from a dead server."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None and not writer.is_closing():
        writer.close()


@dataclass(eq=False)
class _Link:
    """One client connection and, once opened, its connection to the target."""

    client_reader: asyncio.StreamReader
    client_writer: asyncio.StreamWriter
    server_writer: asyncio.StreamWriter | None = None
    hung: bool = False
    outgoing: asyncio.Queue[tuple[float, bytes] | None] = field(default_factory=asyncio.Queue)

    def close(self) -> None:
        _close(self.server_writer)
        _close(self.client_writer)

    def reset(self) -> None:
        _close(self.server_writer)
        _reset(self.client_writer)


@dataclass
class ProxyCounts:
    """What the proxy did, so a test can tell that a fault really hit something."""

    accepted: int = 0
    refused: int = 0
    reset: int = 0
    hung: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "accepted": self.accepted,
            "refused": self.refused,
            "reset": self.reset,
            "hung": self.hung,
        }


class TcpProxy:
    """The proxy on the running event loop: `await start()`, `set_mode(...)`, `await stop()`."""

    def __init__(
        self,
        target: tuple[str, int],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: Mode | str = Mode.PASS,
        delay_ms: float = 0.0,
    ) -> None:
        self._target = target
        self._host = host
        self._requested_port = port
        self._mode = Mode(mode)
        self._delay = max(0.0, delay_ms) / 1000.0
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # the pumps of each link
        self._handlers: set[asyncio.Task[Any]] = set()  # asyncio's, one per connection
        self.counts = ProxyCounts()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def delay_ms(self) -> float:
        return self._delay * 1000.0

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self._host, self._requested_port, reuse_address=True
        )

    async def stop(self) -> None:
        """Closes every connection and lets each handler end by itself: asyncio reports a
        connection handler that was cancelled as an error."""
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._handlers:
            _, late = await asyncio.wait(list(self._handlers), timeout=2)
            for task in late:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def set_mode(self, mode: Mode | str, *, delay_ms: float | None = None) -> None:
        """Switch what the proxy does; open connections follow at once (see the module doc)."""
        new = Mode(mode)
        if delay_ms is not None:
            if delay_ms < 0:
                raise ValueError("delay_ms must be >= 0")
            self._delay = delay_ms / 1000.0
        old, self._mode = self._mode, new
        for link in list(self._links):
            if new is Mode.REFUSE:
                link.close()
            elif new is Mode.RESET:
                link.reset()
                self.counts.reset += 1
            elif new is Mode.HANG:
                if not link.hung:
                    link.hung = True
                    self.counts.hung += 1
                    _close(link.server_writer)  # what it was waiting for will never come
            elif link.hung:
                link.close()
        if old is not new:
            log.info("mode %s -> %s", old, new)

    def status(self) -> dict[str, Any]:
        return {
            "mode": self._mode.value,
            "delayMs": self.delay_ms,
            "open": len(self._links),
            **self.counts.to_json(),
        }

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counts.accepted += 1
        if self._mode is Mode.REFUSE:
            self.counts.refused += 1
            _close(writer)
            return
        if self._mode is Mode.RESET:
            self.counts.reset += 1
            _reset(writer)
            return
        link = _Link(reader, writer)
        self._links.add(link)
        current = asyncio.current_task()
        if current is not None:
            self._handlers.add(current)  # so that stop() can wait for it
        try:
            await self._serve(link)
        finally:
            self._links.discard(link)
            link.close()
            if current is not None:
                self._handlers.discard(current)

    async def _serve(self, link: _Link) -> None:
        if self._mode is Mode.HANG:
            link.hung = True
            self.counts.hung += 1
            await self._upstream(link)  # reads and drops until the client gives up
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            _reset(link.client_writer)  # the target is down: so is the proxied service
            return
        if link.hung or link.client_writer.is_closing():  # the mode changed while connecting
            _close(server_writer)
            if link.hung:
                await self._upstream(link)
            return
        link.server_writer = server_writer
        downstream = self._spawn(self._downstream(link, server_reader))
        sender = self._spawn(self._deliver(link))
        try:
            await self._upstream(link)
        finally:
            downstream.cancel()
            sender.cancel()

    async def _upstream(self, link: _Link) -> None:
        """Client to target, until the client closes; a hung link reads and drops."""
        with contextlib.suppress(ConnectionError):
            while data := await link.client_reader.read(CHUNK):
                if link.hung or link.server_writer is None:
                    continue
                link.server_writer.write(data)
                await link.server_writer.drain()

    async def _downstream(self, link: _Link, server_reader: asyncio.StreamReader) -> None:
        """Target to client, each chunk stamped with when it may go (the delay)."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionError):
            while data := await server_reader.read(CHUNK):
                if not link.hung:
                    link.outgoing.put_nowait((loop.time() + self._delay, data))
        if not link.hung:
            link.outgoing.put_nowait(None)  # the target closed: so does the client, in order

    async def _deliver(self, link: _Link) -> None:
        """Writes chunks to the client in order, each no earlier than its time: a delay adds to
        every round trip without limiting throughput."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionError):
            while (item := await link.outgoing.get()) is not None:
                due, data = item
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if link.hung:
                    continue
                link.client_writer.write(data)
                await link.client_writer.drain()
        _close(link.client_writer)


class ControlServer:
    """The proxy's control API: a few lines of HTTP/1.1 on loopback, one request a connection.

    `GET /mode` answers the mode, the delay and the counts; `PUT /mode` (or POST) with
    `{"mode": "hang"}` or `{"mode": "delay", "delayMs": 2}` switches and answers the same.
    """

    def __init__(self, proxy: TcpProxy, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._proxy = proxy
        self._host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the control server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self._host, self._requested_port, reuse_address=True
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, payload = await self._answer(reader)
        except (ValueError, asyncio.IncompleteReadError, ConnectionError) as exc:
            status, payload = 400, {"error": str(exc) or "bad request"}
        body = json.dumps(payload).encode()
        head = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + body)
            await writer.drain()
        writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
        request_line = (await reader.readline()).decode("latin-1").split()
        if len(request_line) < 2:
            raise ValueError("bad request line")
        method, path = request_line[0].upper(), request_line[1].split("?")[0]
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if not 0 <= length <= MAX_CONTROL_BODY:
            raise ValueError("body too large")
        body = await reader.readexactly(length) if length else b""
        if path != "/mode":
            return 404, {"error": "only /mode is here"}
        if method == "GET":
            return 200, self._proxy.status()
        if method not in ("PUT", "POST"):
            return 405, {"error": "use GET or PUT /mode"}
        change = json.loads(body or b"null")
        if not isinstance(change, dict) or "mode" not in change:
            raise ValueError('expected {"mode": ..., "delayMs"?: ...}')
        delay = change.get("delayMs")
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int | float)):
            raise ValueError("delayMs must be a number")
        try:
            self._proxy.set_mode(str(change["mode"]), delay_ms=delay)
        except ValueError:
            modes = ", ".join(m.value for m in Mode)
            raise ValueError(f"mode must be one of {modes}; delayMs >= 0") from None
        return 200, self._proxy.status()


class ThreadedProxy:
    """A `TcpProxy` on an event loop of its own thread, for synchronous callers and for code
    that runs several event loops one after the other (the benchmark)."""

    def __init__(self, target: tuple[str, int], **options: Any) -> None:
        self._options = options
        self._target = target
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._proxy: TcpProxy | None = None

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="tcp-proxy", daemon=True)
        self._thread.start()
        self._proxy = TcpProxy(self._target, **self._options)
        self._call(self._proxy.start())

    def stop(self) -> None:
        if self._loop is None or self._proxy is None:
            return
        self._call(self._proxy.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loop.close()
        self._loop = self._proxy = self._thread = None

    def set_mode(self, mode: Mode | str, *, delay_ms: float | None = None) -> None:
        proxy = self._running()

        async def switch() -> None:
            proxy.set_mode(mode, delay_ms=delay_ms)

        self._call(switch())

    @property
    def port(self) -> int:
        return self._running().port

    def status(self) -> dict[str, Any]:
        proxy = self._running()

        async def read() -> dict[str, Any]:
            return proxy.status()

        return self._call(read())

    def __enter__(self) -> ThreadedProxy:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _running(self) -> TcpProxy:
        if self._proxy is None:
            raise RuntimeError("the proxy is not started")
        return self._proxy

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.tcp_proxy", description=__doc__)
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--target", type=parse_target, required=True, help="host:port")
    parser.add_argument("--control-port", type=int, required=True, help="control API, loopback")
    parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.PASS.value)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Until SIGINT or SIGTERM."""
    proxy = TcpProxy(
        args.target,
        host=args.listen_host,
        port=args.listen_port,
        mode=args.mode,
        delay_ms=args.delay_ms,
    )
    await proxy.start()
    control = ControlServer(proxy, port=args.control_port)
    await control.start()
    log.info(
        "proxy 127.0.0.1:%d -> %s:%d, control on 127.0.0.1:%d",
        proxy.port,
        *args.target,
        control.port,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await control.stop()
    await proxy.stop()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s tcp-proxy %(message)s")
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
