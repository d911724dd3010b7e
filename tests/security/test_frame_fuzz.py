"""The frame decoder against 10,000 hostile inputs: random bytes, truncated frames, huge lengths, deep nesting.

Each case is written to a fresh socket pair whose writer then closes, so a decoder that waited for more
would get end-of-file instead of hanging; the only outcomes allowed are a message or ChannelClosed.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import time

from rlm_cli.repl import protocol

CASES = 10_000
SEED = 16


def _frame(body: bytes, size: int | None = None) -> bytes:
    return struct.pack(">I", len(body) if size is None else size) + body


def _valid(rng: random.Random) -> bytes:
    message = rng.choice(
        [
            {"op": "result", "id": rng.randint(0, 9), "output": "x" * rng.randint(0, 50), "status": "ok"},
            {"op": "llm", "prompts": ["p"] * rng.randint(0, 5), "model": None, "batched": True},
            {"op": "ready", "warnings": []},
            {"op": "var", "id": 1, "found": True, "value": "v"},
        ]
    )
    return json.dumps(message).encode()


def _case(rng: random.Random) -> bytes:
    kind = rng.randrange(8)
    if kind == 0:  # random bytes
        return rng.randbytes(rng.randint(0, 64))
    if kind == 1:  # a valid frame cut anywhere
        data = _frame(_valid(rng))
        return data[: rng.randint(0, len(data) - 1)]
    if kind == 2:  # a huge length, with or without a body
        return _frame(rng.randbytes(rng.randint(0, 32)), rng.choice([protocol.MAX_FRAME + 1, 2**32 - 1, 10**7]))
    if kind == 3:  # a valid header over random bytes
        return _frame(rng.randbytes(rng.randint(0, 256)))
    if kind == 4:  # a valid frame with a few bytes flipped
        body = bytearray(_valid(rng))
        for _ in range(rng.randint(1, 4)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        return _frame(bytes(body))
    if kind == 5:  # deep nesting, of arrays or objects
        depth = rng.choice([10, 1_000, 5_000, 10_000])  # under the socket buffer: written before read
        opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
        return _frame(b'{"op": "result", "x": ' + opener * depth + b"1" + closer * depth + b"}")
    if kind == 6:  # JSON that is not an object with an op, or escapes of lone surrogates
        body = rng.choice([b"[]", b"null", b'"op"', b'{"op": 1}', b'{"op": "x", "s": "\\ud800"}', b"{}", b"1e999"])
        return _frame(body)
    return _frame(_valid(rng)) + rng.randbytes(rng.randint(0, 8))  # a valid frame then trailing bytes


def test_the_decoder_never_raises_anything_but_channel_closed_and_never_hangs() -> None:
    rng = random.Random(SEED)
    outcomes = {"message": 0, "closed": 0}
    for _ in range(CASES):
        data = _case(rng)
        parent, child = socket.socketpair()
        with parent, child:
            child.sendall(data)
            child.shutdown(socket.SHUT_WR)
            try:
                message = protocol.recv(parent, deadline=time.monotonic() + 5)
            except protocol.ChannelClosed:
                outcomes["closed"] += 1
                continue
        assert isinstance(message.get("op"), str)
        json.dumps(message, ensure_ascii=False).encode("utf-8")  # every string in it can be written out
        outcomes["message"] += 1
    assert outcomes["message"] > 1_000 and outcomes["closed"] > 5_000  # both paths were really exercised
