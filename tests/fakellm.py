"""A scripted OpenAI-compatible chat-completions server, so tests drive real HTTP without the internet."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Ranked:
    """A reply with its first token's alternatives (token, probability), sent when a request asks for logprobs."""

    text: str
    first_tokens: list[tuple[str, float]]


Reply = str | Callable[["RecordedRequest"], str]
Match = str | re.Pattern[str] | Callable[[str], bool]
RuleReply = str | Ranked | Callable[[str], "str | Ranked"]

_STREAM_PIECE_CHARS = 16


@dataclass
class RecordedRequest:
    """One chat-completions call as the server saw it, kept so tests can assert on prompts and timing."""

    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    started: float
    ended: float | None = None
    status: int | None = None
    reply: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names

    @property
    def last_user(self) -> str:
        """Text of the last user message; rules match on it and tests usually assert on it."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message_text(message)
        return ""


@dataclass
class _Rule:
    match: Match
    reply: RuleReply
    delay: float

    def hits(self, text: str) -> bool:
        if isinstance(self.match, str):
            return re.search(self.match, text) is not None
        if isinstance(self.match, re.Pattern):
            return self.match.search(text) is not None
        return bool(self.match(text))


@dataclass
class _Failure:
    model: str | None
    status: int
    remaining: int
    body: str | None
    delay: float
    retry_after: float | None
    raw: bool = False  # send the body as is (text/html), not as an OpenAI error object

    def headers(self) -> dict[str, str]:
        """Retry-After for clients that honour it; retry-after-ms because the openai SDK ignores a 0."""
        if self.retry_after is None:
            return {}
        return {
            "Retry-After": str(math.ceil(self.retry_after)),
            "retry-after-ms": str(max(1, round(self.retry_after * 1000))),
        }


@dataclass
class _Outcome:
    status: int
    reply: str = ""
    error: str = ""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    raw: bool = False
    first_tokens: list[tuple[str, float]] | None = None


def message_text(message: dict[str, Any]) -> str:
    """Flattens string or content-part message bodies, since clients may send either."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def cut_at_stop(reply: str, stop: str | list[str] | None) -> str:
    """Truncates at the earliest stop sequence, as real servers do, so tests can prove stops work."""
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    cuts = [reply.find(s) for s in stops if s and s in reply]
    return reply[: min(cuts)] if cuts else reply


def usage_for(messages: list[dict[str, Any]], reply: str) -> dict[str, int]:
    """Deterministic token counts (chars / 4) so tests can assert exact usage totals."""
    prompt = math.ceil(sum(len(message_text(m)) for m in messages) / 4)
    completion = max(1, math.ceil(len(reply) / 4))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class _Server(ThreadingHTTPServer):
    """Tracks open connections so close() can cut idle keep-alive sockets instead of leaking threads."""

    daemon_threads = True
    fake: FakeLLM

    def __init__(self, fake: FakeLLM) -> None:
        self.fake = fake
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout) closes before the reply is written: that is not the server's error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def cut_connections(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; with Nagle on, each reply waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, fmt: str, *args: Any) -> None:
        """Keeps test output clean; the recorded requests are the log."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            models = [
                {"id": name, "object": "model", "created": 0, "owned_by": "fakellm"}
                for name in self.server.fake.known_models()
            ]
            self._send_json(200, {"object": "list", "data": models})
        else:
            self._send_error(404, f"fakellm: no route GET {self.path}", "not_found_error")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error(404, f"fakellm: no route POST {self.path}", "not_found_error")
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            self._send_error(400, f"fakellm: request body is not JSON: {exc}", "invalid_request_error")
            return
        if not isinstance(body, dict):
            self._send_error(400, "fakellm: request body must be a JSON object", "invalid_request_error")
            return
        self.server.fake._serve(self, body)

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_raw(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
        error = {"message": message, "type": kind, "param": None, "code": str(status)}
        self._send_json(status, {"error": error}, headers)

    def _send_stream(self, chunks: list[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks] + ["data: [DONE]\n\n"]
        for event in events:
            data = event.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class FakeLLM:
    """Scripted OpenAI-compatible endpoint: root turns come from scripts, sub-calls from rules."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Reply]] = {}
        self._rules: dict[str, list[_Rule]] = {}
        self._failures: list[_Failure] = []
        self._requests: list[RecordedRequest] = []
        self._in_flight: dict[str, int] = {}
        self._in_flight_total = 0
        self._peak_total = 0
        self._peaks: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fakellm", daemon=True
        )
        self._thread.start()

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def script(self, model: str, *replies: Reply) -> None:
        """Queues replies for successive calls to `model`; a callable builds its reply from the request."""
        with self._lock:
            self._scripts.setdefault(model, deque()).extend(replies)

    def rule(self, model: str, match: Match, reply: RuleReply, delay: float = 0.0) -> None:
        """Adds a persistent answer for calls whose last user message matches (regex string = re.search)."""
        with self._lock:
            self._rules.setdefault(model, []).append(_Rule(match, reply, delay))

    def fail(
        self,
        model: str | None,
        status: int = 500,
        times: int = 1,
        body: str | None = None,
        delay: float = 0.0,
        retry_after: float | None = 0.0,
    ) -> None:
        """Makes the next `times` calls (to `model`, or any model if None) fail with an HTTP error.

        retry_after (seconds) is sent as Retry-After headers so client retries stay fast; None omits them.
        """
        with self._lock:
            self._failures.append(_Failure(model, status, times, body, delay, retry_after))

    def reply_raw(self, model: str | None, body: str, status: int = 200, times: int = 1) -> None:
        """Makes the next `times` calls get `body` as an HTML page, as a proxy or a wrong URL would answer."""
        with self._lock:
            self._failures.append(_Failure(model, status, times, body, 0.0, None, raw=True))

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of every chat-completions call so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, model: str) -> list[RecordedRequest]:
        """Calls made to one model, in arrival order."""
        return [r for r in self.requests if r.model == model]

    @property
    def peak_concurrency(self) -> int:
        """Most calls in progress at once across all models, to prove (or rule out) parallelism."""
        with self._lock:
            return self._peak_total

    def peak_concurrency_for(self, model: str) -> int:
        """Most calls to `model` in progress at once."""
        with self._lock:
            return self._peaks.get(model, 0)

    def pending(self, model: str) -> int:
        """Scripted replies not yet consumed, so tests can check a script was used up."""
        with self._lock:
            return len(self._scripts.get(model, ()))

    def known_models(self) -> list[str]:
        """Models that have scripts or rules, reported by GET /v1/models."""
        with self._lock:
            return sorted(set(self._scripts) | set(self._rules))

    def close(self) -> None:
        """Stops the server and drops open connections; safe to call twice."""
        if not self._thread.is_alive():
            return
        self._server.shutdown()
        self._server.cut_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _serve(self, handler: _Handler, body: dict[str, Any]) -> None:
        messages = body.get("messages")
        params = {k: v for k, v in body.items() if k not in ("model", "messages")}
        request = RecordedRequest(
            model=str(body.get("model", "")),
            messages=messages if isinstance(messages, list) else [],
            params=params,
            started=time.monotonic(),
            headers={name.lower(): value for name, value in handler.headers.items()},
        )
        self._begin(request)
        try:
            outcome = self._decide(request)
        except Exception as exc:  # a broken test callable must fail the call loudly, not hang the client
            outcome = _Outcome(400, error=f"fakellm: reply callable raised {type(exc).__name__}: {exc}")
        if outcome.delay:
            time.sleep(outcome.delay)
        if outcome.status == 200:
            outcome.reply = cut_at_stop(outcome.reply, params.get("stop"))
        self._end(request, outcome)
        if outcome.raw:
            handler._send_raw(outcome.status, outcome.error)
        elif outcome.status != 200:
            kind = "rate_limit_error" if outcome.status == 429 else "invalid_request_error"
            if outcome.status >= 500:
                kind = "server_error"
            handler._send_error(outcome.status, outcome.error, kind, outcome.headers)
        elif params.get("stream"):
            handler._send_stream(self._stream_chunks(request, outcome.reply))
        else:
            handler._send_json(200, self._completion(request, outcome.reply, outcome.first_tokens))

    def _begin(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._in_flight_total += 1
            self._peak_total = max(self._peak_total, self._in_flight_total)
            count = self._in_flight.get(request.model, 0) + 1
            self._in_flight[request.model] = count
            self._peaks[request.model] = max(self._peaks.get(request.model, 0), count)

    def _end(self, request: RecordedRequest, outcome: _Outcome) -> None:
        """Closes the books before the response is written, so a sequential client never overlaps itself."""
        with self._lock:
            request.ended = time.monotonic()
            request.status = outcome.status
            request.reply = outcome.reply if outcome.status == 200 else None
            self._in_flight_total -= 1
            self._in_flight[request.model] -= 1

    def _decide(self, request: RecordedRequest) -> _Outcome:
        with self._lock:
            failure = next((f for f in self._failures if f.model is None or f.model == request.model), None)
            if failure is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
            queue = self._scripts.get(request.model)
            scripted = queue.popleft() if failure is None and queue else None
            rules = list(self._rules.get(request.model, ()))
        if failure is not None:
            message = failure.body or f"fakellm: injected HTTP {failure.status} for model {request.model!r}"
            return _Outcome(
                failure.status, error=message, delay=failure.delay, headers=failure.headers(), raw=failure.raw
            )
        if scripted is not None:
            return _Outcome(200, reply=scripted(request) if callable(scripted) else scripted)
        text = request.last_user
        for rule in rules:
            if rule.hits(text):
                reply = rule.reply(text) if callable(rule.reply) else rule.reply
                if isinstance(reply, Ranked):
                    return _Outcome(200, reply=reply.text, delay=rule.delay, first_tokens=reply.first_tokens)
                return _Outcome(200, reply=reply, delay=rule.delay)
        return _Outcome(
            400,
            error=(
                f"fakellm: no scripted reply left for model {request.model!r} and no rule matched; "
                f"last user message: {text[:200]!r}"
            ),
        )

    def _completion(
        self, request: RecordedRequest, reply: str, first_tokens: list[tuple[str, float]] | None = None
    ) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": reply},
            "finish_reason": "stop",
        }
        if first_tokens and request.params.get("logprobs"):
            top = [{"token": t, "logprob": math.log(p)} for t, p in first_tokens][: request.params.get("top_logprobs")]
            choice["logprobs"] = {"content": [{**top[0], "top_logprobs": top}]}
        return {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [choice],
            "usage": usage_for(request.messages, reply),
        }

    def _stream_chunks(self, request: RecordedRequest, reply: str) -> list[dict[str, Any]]:
        base = {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.model,
        }
        pieces = [reply[i : i + _STREAM_PIECE_CHARS] for i in range(0, len(reply), _STREAM_PIECE_CHARS)]
        deltas = [{"role": "assistant", "content": ""}] + [{"content": piece} for piece in pieces]
        chunks = [{**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]} for delta in deltas]
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        options = request.params.get("stream_options") or {}
        if options.get("include_usage"):
            chunks.append({**base, "choices": [], "usage": usage_for(request.messages, reply)})
        return chunks
