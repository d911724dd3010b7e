"""Length-prefixed JSON frames between the engine and its REPL process.

The child runs untrusted code, so every frame it sends is size-capped and validated;
a bad frame is a dead child, never a crash of the parent.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

_HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024


class ChannelClosed(Exception):
    """The other side is gone or spoke garbage; the parent treats both as a dead child."""


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        sock.sendall(_HEADER.pack(len(data)) + data)
    except OSError as exc:
        raise ChannelClosed(f"channel closed while sending: {exc}") from exc


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        try:
            chunk = sock.recv(min(size - len(chunks), 1 << 20))
        except OSError as exc:
            raise ChannelClosed(f"channel closed while reading: {exc}") from exc
        if not chunk:
            raise ChannelClosed("channel closed")
        chunks += chunk
    return bytes(chunks)


def recv(sock: socket.socket, max_frame: int = MAX_FRAME) -> dict[str, Any]:
    (size,) = _HEADER.unpack(_read_exact(sock, _HEADER.size))
    if size > max_frame:
        raise ChannelClosed(f"oversized frame ({size} bytes)")
    try:
        message = json.loads(_read_exact(sock, size).decode("utf-8", "surrogatepass"))
    except ValueError as exc:
        raise ChannelClosed(f"malformed frame: {exc}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ChannelClosed("malformed frame: not a message")
    return message
