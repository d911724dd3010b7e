"""The model client: one interface over two transports, behind retries, timeouts and usage accounting.

Servers that speak the OpenAI chat API (OpenAI, vLLM, llama.cpp, Ollama, gateways) are reached over plain
HTTP (openai_http.py); litellm, whose import costs seconds, is loaded only for providers that need its
translation (Anthropic, Gemini, Bedrock, Vertex...). Neither is imported before the first call, because
most commands (`--help`, `trace`, `config`, `--dry-run`) never reach a model.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rlm_cli.errors import ModelError
from rlm_cli.redaction import redact_text
from rlm_cli.sanitize import encodable

_litellm: Any = None
_import_lock = threading.Lock()


def _lib() -> Any:
    """Import litellm once, offline-safe (no cost-map download at import)."""
    global _litellm
    with _import_lock:
        if _litellm is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            litellm.suppress_debug_info = True
            litellm.drop_params = True
            litellm.telemetry = False
            _litellm = litellm
    return _litellm


@dataclass
class ModelSpec:
    """Where and how to reach one model; `api_key` never leaves this object."""

    model: str
    api_base: str | None = None
    api_key: str | None = None
    temperature: float | None = None
    max_output_tokens: int | None = None
    # Ask for the most likely first tokens of the reply, with their log-probabilities (0: not asked). A choice
    # among labels is read from them, where a small model's text would add words or drift to a favourite label.
    top_logprobs: int = 0


# The first token of a reply and its alternatives: (token, log-probability), most likely first.
Alternatives = list[tuple[str, float]]


@dataclass
class Completion:
    text: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    latency_s: float
    first_tokens: Alternatives | None = None  # when asked for, and the server gave them


def first_tokens(logprobs: Any, most: int) -> Alternatives | None:
    """The `most` likeliest alternatives for a reply's first token, from the `logprobs` of an OpenAI-style choice
    (dict or object); a server may send more than were asked for."""

    def field(value: Any, name: str) -> Any:
        return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)

    content = field(logprobs, "content") if logprobs is not None else None
    if not isinstance(content, list) or not content:
        return None
    top = field(content[0], "top_logprobs")
    if not isinstance(top, list):
        return None
    found = [(field(t, "token"), field(t, "logprob")) for t in top]
    kept = [(str(token), float(lp)) for token, lp in found if isinstance(token, str) and isinstance(lp, int | float)]
    return kept[:most]


class CallFailed(Exception):
    """One failed attempt, classified once by its transport: retry only when `transient`."""

    def __init__(self, message: str, transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.retry_after = retry_after  # seconds the server asked us to wait, if it said


# One attempt at a completion over one transport: (spec, messages, stop, timeout) -> Completion, or CallFailed.
Attempt = Callable[[ModelSpec, list[dict[str, str]], "list[str] | None", float], Completion]


@dataclass
class RetryPolicy:
    retries: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    request_timeout: float = 300.0


class ModelClient:
    """Thread-safe; one instance serves the root model, sub-models and recursive runs."""

    def __init__(self, retry: RetryPolicy | None = None) -> None:
        self.retry = retry or RetryPolicy()
        self._http: Any = None
        self._http_lock = threading.Lock()

    def complete(
        self,
        spec: ModelSpec,
        messages: list[dict[str, str]],
        *,
        stop: list[str] | None = None,
        deadline: float | None = None,
        on_retry: Any = None,
    ) -> Completion:
        """One chat completion; transient faults are retried with exponential backoff and jitter.

        A fault no retry can fix (refused connection, unknown host, bad key, unknown model) ends at once.
        """
        attempt_once = self._transport(spec)
        attempt = 0
        while True:
            timeout = self.retry.request_timeout
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    raise ModelError(f"{spec.model}: no time left for a model call")
            try:
                completion = attempt_once(spec, messages, stop, timeout)
            except CallFailed as exc:
                message = redact_text(exc.message)  # servers echo keys back in their error text
                attempt += 1
                if not exc.transient or attempt > self.retry.retries:
                    if exc.transient:
                        message += f" (gave up after {attempt} attempt{'s' if attempt > 1 else ''})"
                    raise ModelError(message) from exc
                delay = min(self.retry.max_delay, self.retry.base_delay * 2 ** (attempt - 1))
                delay *= 0.5 + random.random() / 2
                if exc.retry_after is not None:  # the server knows better than our schedule
                    delay = min(self.retry.max_delay, exc.retry_after)
                if deadline is not None and time.monotonic() + delay >= deadline:
                    raise ModelError(message + " (no time left to retry)") from exc
                if on_retry is not None:
                    on_retry(f"{message}; retry {attempt}/{self.retry.retries} in {delay:.1f}s")
                time.sleep(delay)
                continue
            # A "\\ud800" escape in a server's JSON is a lone surrogate, which no UTF-8 write accepts.
            completion.text = encodable(completion.text)
            return completion

    def _transport(self, spec: ModelSpec) -> Attempt:
        """The function making one attempt for `spec`: plain HTTP when the server speaks OpenAI, else litellm."""
        from rlm_cli.engine import openai_http

        endpoint = openai_http.route(spec)
        if endpoint is None:
            return _litellm_attempt
        with self._http_lock:
            if self._http is None:
                self._http = openai_http.OpenAIHTTP()
            http = self._http
        return lambda spec, messages, stop, timeout: http.complete(endpoint, spec, messages, stop, timeout)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a 429 or 503 asks us to wait: retry-after-ms, or Retry-After in seconds or as an HTTP date."""
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(float(millis) / 1000, 0.0)
        value = headers.get("retry-after")
        if value is None:
            return None
        if value.strip().replace(".", "", 1).isdigit():
            return float(value)
        import email.utils  # rare: most servers send seconds

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _litellm_attempt(
    spec: ModelSpec, messages: list[dict[str, str]], stop: list[str] | None, timeout: float
) -> Completion:
    """One attempt through litellm, for providers whose APIs need its translation."""
    litellm = _lib()
    kwargs: dict[str, Any] = {"model": spec.model, "messages": messages}
    if spec.api_base:
        kwargs["api_base"] = spec.api_base
    if spec.api_key:
        kwargs["api_key"] = spec.api_key
    if spec.temperature is not None:
        kwargs["temperature"] = spec.temperature
    if spec.max_output_tokens:
        kwargs["max_tokens"] = spec.max_output_tokens
    if stop:
        kwargs["stop"] = stop
    if spec.top_logprobs:
        # drop_params: a provider without log-probabilities answers in text, which the caller reads instead.
        kwargs.update(logprobs=True, top_logprobs=spec.top_logprobs, drop_params=True)
    started = time.monotonic()
    try:
        response = litellm.completion(timeout=timeout, num_retries=0, max_retries=0, **kwargs)
    except Exception as exc:  # litellm raises many types; classify them once here
        transient, message = _classify(exc, spec)
        headers = getattr(getattr(exc, "response", None), "headers", None)
        wait = retry_after(headers) if isinstance(headers, Mapping) else None
        raise CallFailed(message, transient, wait) from exc
    return _to_completion(response, spec, time.monotonic() - started)


def _to_completion(response: Any, spec: ModelSpec, latency: float) -> Completion:
    choice = response.choices[0]
    text = getattr(choice.message, "content", None) or ""
    usage = getattr(response, "usage", None)
    input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    # litellm prices the response while logging it; None means it knows no price for this model.
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    cost = None if cost is None else float(cost)
    top = first_tokens(getattr(choice, "logprobs", None), spec.top_logprobs) if spec.top_logprobs else None
    return Completion(text, spec.model, input_tokens, output_tokens, cost, latency, top)


_TRANSIENT = (
    "RateLimitError",
    "APIConnectionError",
    "Timeout",
    "ServiceUnavailableError",
    "InternalServerError",
    "BadGatewayError",
)


def _classify(exc: Exception, spec: ModelSpec) -> tuple[bool, str]:
    """Return (is_transient, one-line message) for a litellm exception."""
    name = type(exc).__name__
    where = f" at {spec.api_base}" if spec.api_base else ""
    detail = _clean_detail(str(getattr(exc, "message", None) or exc))
    status = getattr(exc, "status_code", None)
    if _is_connect_failure(exc):
        return False, f"cannot connect to {spec.model}{where}: is the server running and the URL right?"
    if name == "AuthenticationError" or "missing credentials" in detail.lower():
        return False, f"authentication failed for {spec.model}{where}: check the API key ({detail})"
    if name == "RateLimitError":
        return True, f"rate limited by {spec.model}{where}"
    if name == "APIConnectionError":
        return True, f"connection error with {spec.model}{where}: {detail}"
    if name == "Timeout":
        return True, f"{spec.model}{where} timed out"
    if name in _TRANSIENT or (isinstance(status, int) and status >= 500):
        return True, f"{spec.model}{where} failed with a server error: {detail}"
    if name == "NotFoundError":
        return False, f"model not found: {spec.model}{where} ({detail})"
    if name == "ContextWindowExceededError":
        return False, f"prompt too long for {spec.model}: {detail}"
    if name == "BadRequestError" and "LLM Provider NOT provided" in detail:
        return False, (
            f"unknown model {spec.model!r}: prefix it with a provider, e.g. openai/gpt-4o-mini, "
            "or openai/<name> with --api-base for a local OpenAI-compatible server"
        )
    return False, f"{spec.model}{where}: {name}: {detail}"


_NOISE = re.compile(r"^(?:litellm\.\w+:\s*)?(?:\w+Error:\s*)?(?:\w+Exception - )?")


def _clean_detail(text: str) -> str:
    """litellm prefixes messages with its class names; keep only what the server said."""
    return _NOISE.sub("", " ".join(text.split()))[:300]


def _is_connect_failure(exc: BaseException) -> bool:
    """True when no connection could be made at all (refused, unknown host), whatever litellm calls it.

    A connect timeout is not one: the host may only be slow, so it is retried like any timeout.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or type(current).__name__ == "ConnectError":
            return True
        current = current.__cause__ or current.__context__
    return False
