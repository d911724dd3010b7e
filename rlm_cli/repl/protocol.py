"""Length-prefixed JSON frames between the engine and its REPL process.

The child runs untrusted code, so every frame it sends is size-capped and validated, and the
parent bounds every read and write in time: a bad or silent child is a dead child, never a crash
or a hang of the parent.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import time
from typing import Any

from rlm_cli.sanitize import encodable

_HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
# A peer that closed its end must give EPIPE, never SIGPIPE: the CLI restores SIGPIPE's default for
# its stdout, and the signal would kill the parent over a dead child. macOS has SO_NOSIGPIPE instead.
_NO_SIGPIPE = getattr(socket, "MSG_NOSIGNAL", 0)
_SO_NOSIGPIPE = 0x1022


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
    # "replace": a lone surrogate (model code may print one) is not UTF-8 and becomes "?".
    data = json.dumps(message, ensure_ascii=False).encode("utf-8", "replace")
    frame = memoryview(_HEADER.pack(len(data)) + data)
    if not _NO_SIGPIPE and sys.platform == "darwin":
        sock.setsockopt(socket.SOL_SOCKET, _SO_NOSIGPIPE, 1)
    try:
        while frame:
            _bound(sock, deadline)
            frame = frame[sock.send(frame, _NO_SIGPIPE) :]
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
    """Read one frame; the size is checked before anything is allocated for the body.

    Whatever the bytes, this returns a message or raises ChannelClosed: invalid UTF-8 is replaced,
    JSON nested past the decoder's recursion limit is a ProtocolError, and the strings of a message
    (top level, or in a top-level list) come back free of lone surrogates.
    """
    (size,) = _HEADER.unpack(_read_exact(sock, _HEADER.size, deadline))
    if size > max_frame:
        raise ProtocolError(f"oversized message ({size} bytes)")
    body = _read_exact(sock, size, deadline).decode("utf-8", "replace")
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"malformed message: {str(exc)[:200]}") from exc
    except RecursionError as exc:
        raise ProtocolError("malformed message: nested too deeply") from exc
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ProtocolError("malformed message: not an object with an op")
    return _encodable(message)


def _encodable(message: dict[str, Any]) -> dict[str, Any]:
    """A "\\ud800" escape decodes to a lone surrogate, which would fail every later write of the text."""
    for key, value in message.items():
        if isinstance(value, str):
            message[key] = encodable(value)
        elif isinstance(value, list):
            message[key] = [encodable(item) if isinstance(item, str) else item for item in value]
    return message
