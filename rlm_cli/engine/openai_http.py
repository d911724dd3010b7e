"""Chat completions over plain HTTP for servers that speak the OpenAI API: OpenAI, vLLM, llama.cpp, Ollama...

These need no translation, so they skip litellm, whose import alone costs seconds. One httpx client (a pool
of kept-alive connections) serves every thread. Each failed attempt is raised as a CallFailed that says
whether retrying can help; the retry loop itself lives in model.py, shared with the litellm path.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

if "httpx" not in sys.modules:
    # httpx's __init__ imports its command-line tool, which loads click, rich and pygments: two thirds of its
    # import time, for a tool we never run. A None entry makes that one import fail, which httpx allows for.
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
    import httpx

    del sys.modules["httpx._main"]
else:
    import httpx

from rlm_cli.engine import prices  # noqa: E402
from rlm_cli.engine.model import CallFailed, Completion, ModelSpec, first_tokens, retry_after  # noqa: E402

OPENAI_URL = "https://api.openai.com/v1"
# Providers whose servers speak the OpenAI chat API as is, and the variable litellm reads their key from.
# Only `openai` has a default URL; the others take this path when given an api_base.
COMPATIBLE = {
    "openai": "OPENAI_API_KEY",
    "custom_openai": "OPENAI_API_KEY",
    "hosted_vllm": "HOSTED_VLLM_API_KEY",
    "lm_studio": "LM_STUDIO_API_KEY",
}
_PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
# Statuses worth another attempt: request timeout, conflict, rate limit; 5xx are added below.
_TRANSIENT_STATUS = {408, 409, 429}
_TOO_LONG = ("context length", "context_length", "maximum context", "too many tokens", "prompt is too long")


@dataclass(frozen=True)
class Endpoint:
    """Where one model's chat completions go: the URL, the name the server knows it by, and the key."""

    url: str
    name: str
    key: str | None = field(repr=False)  # never shown, even in a debug dump
    reasoning: bool = False  # OpenAI reasoning models refuse temperature and stop, and want max_completion_tokens


def route(spec: ModelSpec) -> Endpoint | None:
    """The OpenAI-compatible endpoint for `spec`, or None when its provider needs litellm's translation."""
    provider, slash, name = spec.model.partition("/")
    if not slash:  # a bare name: the price table says whose it is (gpt-4o-mini is openai's)
        info = prices.lookup(spec.model)
        if info is None or info.provider != "openai":
            return None
        provider, name = "openai", spec.model
    key_variable = COMPATIBLE.get(provider)
    if key_variable is None or not name:
        return None
    base = spec.api_base
    if provider == "openai":
        base = base or os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE") or OPENAI_URL
    if not base:
        return None
    info = prices.lookup(spec.model)
    return Endpoint(
        url=base.rstrip("/") + "/chat/completions",
        name=name,
        key=spec.api_key or os.environ.get(key_variable) or None,
        reasoning=info is not None and info.reasoning,
    )


class OpenAIHTTP:
    """Sends chat completions to OpenAI-compatible endpoints; thread-safe."""

    def __init__(self) -> None:
        self._clients: dict[bool, httpx.Client] = {}
        self._lock = threading.Lock()

    def _http(self, url: str) -> httpx.Client:
        # Loading the certificate store costs 80-200 ms. A plain http:// URL with no proxy to go through never
        # speaks TLS (redirects are not followed), so its client needs no store; any other URL gets full checks.
        plain = url.startswith("http://") and not any(os.environ.get(name) for name in _PROXY_VARIABLES)
        with self._lock:
            if plain not in self._clients:
                # No pool cap below the engine's own concurrency bound; idle connections are kept for the next turn.
                limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
                self._clients[plain] = httpx.Client(limits=limits, follow_redirects=False, verify=not plain)
            return self._clients[plain]

    def complete(
        self,
        endpoint: Endpoint,
        spec: ModelSpec,
        messages: list[dict[str, str]],
        stop: list[str] | None,
        timeout: float,
    ) -> Completion:
        """One attempt; raises CallFailed, classified, on any failure."""
        body = request_body(endpoint, spec, messages, stop)
        headers = {"Authorization": f"Bearer {endpoint.key}"} if endpoint.key else {}
        started = time.monotonic()
        try:
            response = self._http(endpoint.url).post(endpoint.url, json=body, headers=headers, timeout=timeout)
        except httpx.ConnectError as exc:  # refused, unknown host, unreachable: no retry will change that
            reason = _reason(exc)
            raise CallFailed(
                f"cannot connect to {spec.model} at {endpoint.url} ({reason}): is the server running and the URL right?"
            ) from exc
        except httpx.TimeoutException as exc:
            raise CallFailed(f"{spec.model} at {endpoint.url} timed out", transient=True) from exc
        except httpx.TransportError as exc:  # the connection broke mid-request
            raise CallFailed(f"connection error with {endpoint.url}: {_reason(exc)}", transient=True) from exc
        latency = time.monotonic() - started
        if response.status_code != 200:
            raise _http_failure(response, spec, endpoint)
        return to_completion(response, spec, endpoint, latency)


def request_body(
    endpoint: Endpoint, spec: ModelSpec, messages: list[dict[str, str]], stop: list[str] | None
) -> dict[str, Any]:
    """The JSON of a chat-completions request; reasoning models get only the parameters they accept."""
    body: dict[str, Any] = {"model": endpoint.name, "messages": messages}
    if spec.temperature is not None and not (endpoint.reasoning and spec.temperature != 1):
        body["temperature"] = spec.temperature
    if spec.max_output_tokens:
        body["max_completion_tokens" if endpoint.reasoning else "max_tokens"] = spec.max_output_tokens
    if stop and not endpoint.reasoning:
        body["stop"] = stop
    if spec.top_logprobs and not endpoint.reasoning:  # reasoning models refuse log-probabilities
        body.update(logprobs=True, top_logprobs=spec.top_logprobs)
    return body


def to_completion(response: httpx.Response, spec: ModelSpec, endpoint: Endpoint, latency: float) -> Completion:
    """Text, usage and cost from a 200 reply; anything that is not a chat completion is a hard failure."""
    try:
        data = response.json()
        message = data["choices"][0]["message"]
    except (ValueError, LookupError, TypeError) as exc:
        raise CallFailed(
            f"{endpoint.url} did not answer like an OpenAI-compatible server: {_snippet(response.text)}"
        ) from exc
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    input_tokens = _count(usage.get("prompt_tokens"))
    output_tokens = _count(usage.get("completion_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    info = prices.lookup(spec.model)
    cost = None if info is None else info.cost(input_tokens, output_tokens, cached)
    text = message.get("content") if isinstance(message, dict) else None
    top = first_tokens(data["choices"][0].get("logprobs"), spec.top_logprobs) if spec.top_logprobs else None
    return Completion(
        text if isinstance(text, str) else "", spec.model, input_tokens, output_tokens, cost, latency, top
    )


def _http_failure(response: httpx.Response, spec: ModelSpec, endpoint: Endpoint) -> CallFailed:
    status = response.status_code
    detail = _error_detail(response)
    where = f"{spec.model} at {endpoint.url}"
    if status in (401, 403):
        return CallFailed(f"authentication failed for {where} (HTTP {status}): check the API key ({detail})")
    if status == 404:
        return CallFailed(f"model or URL not found: {where} (HTTP 404: {detail})")
    if status in _TRANSIENT_STATUS or status >= 500:
        kind = "rate limited by" if status == 429 else f"HTTP {status} from"
        return CallFailed(f"{kind} {where}: {detail}", transient=True, retry_after=retry_after(response.headers))
    if any(words in detail.lower() for words in _TOO_LONG):
        return CallFailed(f"prompt too long for {spec.model}: {detail}")
    return CallFailed(f"{where} refused the request (HTTP {status}): {detail}")


def _error_detail(response: httpx.Response) -> str:
    """The server's own words: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or the raw text."""
    try:
        data = response.json()
    except ValueError:
        return _snippet(response.text)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return _snippet(str(error["message"]))
        for value in (error, data.get("detail"), data.get("message")):
            if value:
                return _snippet(value if isinstance(value, str) else json.dumps(value))
    return _snippet(response.text)


def _reason(exc: httpx.HTTPError) -> str:
    """The OS's words for a failed connection ("Connection refused", "Name or service not known")."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    return text.split("] ", 1)[-1] if text else type(exc).__name__


def _snippet(text: str) -> str:
    return " ".join(text.split())[:300] or "no details"


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
