"""Length-prefixed JSON frames between the engine and its REPL process.

The child runs untrusted code, so every frame it sends is size-capped and validated, and the
parent bounds every read and write in time: a bad or silent child is a dead child, never a crash
or a hang of the parent.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

_HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024


class ChannelClosed(Exception):
    """The other side is gone or stopped answering; the parent treats it as a dead child."""


class ProtocolError(ChannelClosed):
    """The other side spoke garbage: it is alive but can no longer be trusted to answer."""


class ChannelTimeout(ChannelClosed):
    """The other side is alive but stopped reading or writing mid-message."""


def _bound(sock: socket.socket, deadline: float | None) -> None:
    """Make the next socket operation give up at `deadline` (monotonic); None blocks for good."""
    # A deadline just passed still gets a moment, so data that is already waiting is read.
    sock.settimeout(None if deadline is None else max(deadline - time.monotonic(), 0.001))


def send(sock: socket.socket, message: dict[str, Any], deadline: float | None = None) -> None:
    """Send one frame; a peer that stops reading makes this fail at `deadline` instead of blocking."""
    data = json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        _bound(sock, deadline)
        sock.sendall(_HEADER.pack(len(data)) + data)
    except TimeoutError as exc:
        raise ChannelTimeout("it stopped reading") from exc
    except OSError as exc:
        raise ChannelClosed(f"channel closed while sending: {exc}") from exc


def _read_exact(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        try:
            _bound(sock, deadline)
            chunk = sock.recv(min(size - len(chunks), 1 << 20))
        except TimeoutError as exc:
            raise ChannelTimeout("it stopped in the middle of a message") from exc
        except OSError as exc:
            raise ChannelClosed(f"channel closed while reading: {exc}") from exc
        if not chunk:
            raise ChannelClosed("channel closed")
        chunks += chunk
    return bytes(chunks)


def recv(sock: socket.socket, max_frame: int = MAX_FRAME, deadline: float | None = None) -> dict[str, Any]:
    """Read one frame; the size is checked before anything is allocated for the body."""
    (size,) = _HEADER.unpack(_read_exact(sock, _HEADER.size, deadline))
    if size > max_frame:
        raise ProtocolError(f"oversized message ({size} bytes)")
    try:
        message = json.loads(_read_exact(sock, size, deadline).decode("utf-8", "surrogatepass"))
    except ValueError as exc:
        raise ProtocolError(f"malformed message: {exc}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ProtocolError("malformed message: not an object with an op")
    return message
