"""Frames on the host ↔ worker channel: one `StreamingMessage` per frame, as JSON.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON (the message's wire
form, see `messages`). The channel is a connected Unix socket pair made by the host: the worker
inherits its end as a file descriptor, so no port is opened, nothing else can connect, and
either side sees end-of-file the moment the other process is gone.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct

from local.func_host.messages import StreamingMessage

_LENGTH = struct.Struct(">I")
# The Functions host accepts HTTP bodies up to 100 MB; base64 and JSON make that about 134 MB.
MAX_FRAME = 256 * 1024 * 1024


class ChannelClosed(ConnectionError):
    """The other end of the channel is gone."""


def encode(message: StreamingMessage) -> bytes:
    payload = json.dumps(message.to_wire(), separators=(",", ":")).encode("utf-8")
    return _LENGTH.pack(len(payload)) + payload


def decode(payload: bytes) -> StreamingMessage:
    message: StreamingMessage = StreamingMessage.from_wire(json.loads(payload))
    return message


async def read_message(reader: asyncio.StreamReader) -> StreamingMessage:
    """The next message; ChannelClosed at end of stream."""
    try:
        header = await reader.readexactly(_LENGTH.size)
        (length,) = _LENGTH.unpack(header)
        if length > MAX_FRAME:
            raise ChannelClosed(f"frame of {length} bytes is over the {MAX_FRAME}-byte limit")
        return decode(await reader.readexactly(length))
    except (asyncio.IncompleteReadError, ConnectionError) as error:
        raise ChannelClosed(str(error) or "the channel was closed") from None


async def open_channel(sock: socket.socket) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Asyncio streams over one end of the socket pair."""
    return await asyncio.open_unix_connection(sock=sock, limit=2**16)
