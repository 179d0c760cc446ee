"""The fault proxy (`local/tcp_proxy.py`) over real loopback sockets: an echo server as the
target, plain asyncio clients, and each mode seen from the client's side."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from local.stack import ROOT, free_port
from local.tcp_proxy import Mode, TcpProxy, ThreadedProxy, parse_target

WAIT = 2.0  # seconds a client waits for what must come at once


class EchoServer:
    """Answers every chunk with the same bytes and keeps what it received."""

    def __init__(self) -> None:
        self.received = bytearray()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._echo, "127.0.0.1", 0)

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        return "127.0.0.1", int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                self.received += data
                writer.write(data)
                await writer.drain()
        writer.close()


@pytest.fixture
async def echo() -> AsyncIterator[EchoServer]:
    server = EchoServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def proxy(echo: EchoServer) -> AsyncIterator[TcpProxy]:
    running = TcpProxy(echo.address)
    await running.start()
    yield running
    await running.stop()


Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(port: int) -> Client:
    return await asyncio.open_connection("127.0.0.1", port)


async def round_trip(client: Client, data: bytes) -> bytes:
    reader, writer = client
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), WAIT)


async def closed_how(client: Client) -> str:
    """'closed' (FIN), 'reset' (RST) or 'open' (nothing within a short wait)."""
    reader, _ = client
    try:
        data = await asyncio.wait_for(reader.read(1), 0.5)
    except ConnectionResetError:
        return "reset"
    except TimeoutError:
        return "open"
    return "closed" if data == b"" else f"data {data!r}"


def close(client: Client) -> None:
    client[1].close()


async def test_pass_forwards_every_byte_both_ways(proxy: TcpProxy, echo: EchoServer) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, many chunks
    client = await connect(proxy.port)
    assert await round_trip(client, payload) == payload
    assert bytes(echo.received) == payload
    close(client)


async def test_refuse_closes_new_and_open_connections(proxy: TcpProxy) -> None:
    before = await connect(proxy.port)
    assert await round_trip(before, b"ping") == b"ping"
    proxy.set_mode(Mode.REFUSE)
    assert await closed_how(before) == "closed"
    after = await connect(proxy.port)
    assert await closed_how(after) == "closed"
    assert proxy.counts.refused == 1
    proxy.set_mode(Mode.PASS)
    again = await connect(proxy.port)
    assert await round_trip(again, b"back") == b"back"
    for client in (before, after, again):
        close(client)


async def test_reset_sends_rst_to_new_and_open_connections(proxy: TcpProxy) -> None:
    before = await connect(proxy.port)
    assert await round_trip(before, b"ping") == b"ping"
    proxy.set_mode("reset")
    assert await closed_how(before) == "reset"
    after = await connect(proxy.port)
    assert await closed_how(after) == "reset"
    assert proxy.counts.reset == 2
    for client in (before, after):
        close(client)


async def test_hang_reads_but_never_forwards_or_answers(proxy: TcpProxy, echo: EchoServer) -> None:
    warm = await connect(proxy.port)
    assert await round_trip(warm, b"warm") == b"warm"
    proxy.set_mode(Mode.HANG)
    fresh = await connect(proxy.port)
    for client in (warm, fresh):
        client[1].write(b"anyone there?")
        await client[1].drain()
    await asyncio.sleep(0.3)
    assert bytes(echo.received) == b"warm"  # nothing reached the target
    assert [await closed_how(c) for c in (warm, fresh)] == ["open", "open"]
    assert proxy.status()["hung"] == 2
    # Their bytes were dropped, so leaving hang closes them; new connections work again.
    proxy.set_mode(Mode.PASS)
    assert [await closed_how(c) for c in (warm, fresh)] == ["closed", "closed"]
    again = await connect(proxy.port)
    assert await round_trip(again, b"back") == b"back"
    for client in (warm, fresh, again):
        close(client)


async def test_delay_adds_to_each_round_trip_without_serialising_them(proxy: TcpProxy) -> None:
    client = await connect(proxy.port)
    await round_trip(client, b"warm")
    began = time.perf_counter()
    await round_trip(client, b"x")
    plain = time.perf_counter() - began

    proxy.set_mode(Mode.DELAY, delay_ms=80)
    began = time.perf_counter()
    assert await round_trip(client, b"y") == b"y"
    delayed = time.perf_counter() - began
    assert delayed >= 0.08 > plain

    # Ten requests in flight at once come back in order, delayed once, not ten times.
    reader, writer = client
    began = time.perf_counter()
    for n in range(10):
        writer.write(b"%d;" % n)
        await writer.drain()
        await asyncio.sleep(0.005)
    expected = b"".join(b"%d;" % n for n in range(10))
    assert await asyncio.wait_for(reader.readexactly(len(expected)), WAIT) == expected
    assert 0.08 <= time.perf_counter() - began < 0.4  # serialised, it would be 0.8 s
    close(client)


async def test_stop_closes_every_connection_cleanly(echo: EchoServer) -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    proxy = TcpProxy(echo.address)
    await proxy.start()
    talking = await connect(proxy.port)
    assert await round_trip(talking, b"ping") == b"ping"
    proxy.set_mode(Mode.HANG)
    hung = await connect(proxy.port)
    await proxy.stop()
    assert [await closed_how(c) for c in (talking, hung)] == ["closed", "closed"]
    await asyncio.sleep(0.05)  # let asyncio run the handlers' done callbacks
    assert errors == []
    for client in (talking, hung):
        close(client)
    loop.set_exception_handler(None)


async def test_a_target_that_is_down_looks_like_a_reset() -> None:
    proxy = TcpProxy(("127.0.0.1", free_port()))
    await proxy.start()
    try:
        client = await connect(proxy.port)
        assert await closed_how(client) == "reset"
        close(client)
    finally:
        await proxy.stop()


def test_threaded_proxy_serves_blocking_clients(echo_thread: tuple[str, int]) -> None:
    with ThreadedProxy(echo_thread) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=WAIT) as sock:
            sock.sendall(b"hello")
            assert sock.recv(5) == b"hello"
            proxy.set_mode(Mode.HANG)
            sock.sendall(b"more")
            sock.settimeout(0.3)
            with pytest.raises(TimeoutError):
                sock.recv(4)
        assert proxy.status()["mode"] == "hang"


@pytest.fixture
def echo_thread() -> Iterator[tuple[str, int]]:
    """A blocking echo server on a thread: the target for the threaded proxy."""
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    stopping = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(WAIT)
                with contextlib.suppress(OSError):
                    while data := conn.recv(65536):
                        conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield "127.0.0.1", listener.getsockname()[1]
    stopping.set()
    thread.join(timeout=5)
    listener.close()


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("127.0.0.1:10002", True),
        ("localhost:1", True),
        ("10002", False),
        ("h:0", False),
        (":80", False),
    ],
)
def test_targets_are_host_and_port(text: str, ok: bool) -> None:
    if ok:
        assert parse_target(text)[1] == int(text.rsplit(":", 1)[1])
    else:
        with pytest.raises(ValueError, match="host:port"):
            parse_target(text)


async def test_as_a_process_with_its_control_api(echo: EchoServer) -> None:
    listen, control = free_port(), free_port()
    argv = [sys.executable, "-m", "local.tcp_proxy", "--listen-port", str(listen)]
    host, port = echo.address
    argv += ["--target", f"{host}:{port}", "--control-port", str(control)]
    process = await asyncio.create_subprocess_exec(*argv, cwd=ROOT, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{control}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=WAIT) as api:
            for _ in range(100):
                with contextlib.suppress(httpx.ConnectError):
                    status = (await api.get("/mode")).json()
                    break
                await asyncio.sleep(0.05)
            assert status["mode"] == "pass"
            client = await connect(listen)
            assert await round_trip(client, b"ping") == b"ping"

            changed = await api.put("/mode", json={"mode": "delay", "delayMs": 5})
            assert changed.status_code == 200
            assert (changed.json()["mode"], changed.json()["delayMs"]) == ("delay", 5)
            assert await round_trip(client, b"slow") == b"slow"

            assert (await api.put("/mode", json={"mode": "reset"})).json()["reset"] == 1
            assert await closed_how(client) == "reset"
            close(client)

            bad = await api.put("/mode", json={"mode": "sideways"})
            assert bad.status_code == 400 and "mode must be one of" in bad.json()["error"]
            assert (
                await api.put("/mode", json={"mode": "delay", "delayMs": -1})
            ).status_code == 400
            assert (await api.get("/elsewhere")).status_code == 404
            assert (await api.get("/mode")).json()["mode"] == "reset"
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0
