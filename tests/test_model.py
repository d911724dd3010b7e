"""The model client: which transport a model takes, what it sends, and which failures it retries."""

from __future__ import annotations

import email.utils
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest
from fakellm import FakeLLM, Ranked

from rlm_cli.engine import model as model_module
from rlm_cli.engine import openai_http, prices
from rlm_cli.engine.model import ModelClient, ModelSpec, RetryPolicy, retry_after
from rlm_cli.errors import ModelError

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "abcdefghijkl"}]


@pytest.fixture
def no_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails any test whose call reaches litellm: OpenAI-compatible servers must not need it."""

    def refuse() -> None:
        raise AssertionError("litellm was loaded for an OpenAI-compatible server")

    monkeypatch.setattr(model_module, "_lib", refuse)


def client(retries: int = 4, base_delay: float = 0.01, request_timeout: float = 30.0) -> ModelClient:
    return ModelClient(RetryPolicy(retries=retries, base_delay=base_delay, request_timeout=request_timeout))


def notices() -> tuple[list[str], object]:
    seen: list[str] = []
    return seen, seen.append


# --- the fast path ------------------------------------------------------------------------------------


def test_openai_compatible_server_gets_text_usage_stop_and_temperature_without_litellm(fake_llm: FakeLLM, no_litellm):
    fake_llm.script("root", "the answer STOP and more")
    spec = ModelSpec("openai/root", fake_llm.url, temperature=0.25, max_output_tokens=50)
    completion = client().complete(spec, MESSAGES, stop=["STOP"])
    assert completion.text == "the answer "
    assert (completion.input_tokens, completion.output_tokens) == (5, 3)  # fakellm counts chars / 4
    assert completion.model == "openai/root" and completion.cost_usd is None
    assert completion.latency_s > 0
    [request] = fake_llm.requests
    assert request.model == "root"  # the provider prefix is ours, not the server's
    assert request.params == {"temperature": 0.25, "max_tokens": 50, "stop": ["STOP"]}
    assert request.messages == MESSAGES


def test_a_known_openai_model_is_priced_from_litellm_s_table(fake_llm: FakeLLM, no_litellm):
    fake_llm.script("gpt-4o-mini", "priced")
    completion = client().complete(ModelSpec("openai/gpt-4o-mini", fake_llm.url, "sk-test"), MESSAGES)
    info = prices.lookup("gpt-4o-mini")
    assert info is not None and info.input_cost and info.output_cost
    assert completion.cost_usd == pytest.approx(5 * info.input_cost + 2 * info.output_cost)


def test_the_key_is_sent_as_a_bearer_token_and_none_is_sent_without_one(fake_llm: FakeLLM, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fake_llm.script("root", "one", "two")
    client().complete(ModelSpec("openai/root", fake_llm.url, "sk-secret"), MESSAGES)
    client().complete(ModelSpec("openai/root", fake_llm.url), MESSAGES)
    with_key, without = fake_llm.requests
    assert with_key.headers["authorization"] == "Bearer sk-secret"
    assert "authorization" not in without.headers
    endpoint = openai_http.route(ModelSpec("openai/root", fake_llm.url, "sk-secret"))
    assert "sk-secret" not in repr(endpoint)


@pytest.mark.parametrize(
    ("model", "api_base", "expected"),
    [
        ("openai/root", "http://h:1/v1/", ("http://h:1/v1/chat/completions", "root")),
        ("openai/gpt-4o-mini", None, ("https://api.openai.com/v1/chat/completions", "gpt-4o-mini")),
        ("gpt-4o-mini", None, ("https://api.openai.com/v1/chat/completions", "gpt-4o-mini")),
        ("hosted_vllm/qwen", "http://h:2/v1", ("http://h:2/v1/chat/completions", "qwen")),
        ("hosted_vllm/qwen", None, None),  # litellm knows where its variables put that server
        ("anthropic/claude-sonnet-4-5", None, None),
        ("gemini/gemini-2.5-flash", "http://h:3", None),
        ("claude-sonnet-4-5", None, None),  # a bare name the table gives to another provider
        ("no-such-model", "http://h:4/v1", None),
    ],
)
def test_route_takes_only_openai_compatible_servers(model, api_base, expected, monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    endpoint = openai_http.route(ModelSpec(model, api_base))
    assert (None if endpoint is None else (endpoint.url, endpoint.name)) == expected


def test_reasoning_models_get_only_the_parameters_they_accept():
    spec = ModelSpec("openai/o3-mini", temperature=0.0, max_output_tokens=100)
    endpoint = openai_http.route(spec)
    assert endpoint is not None and endpoint.reasoning
    body = openai_http.request_body(endpoint, spec, MESSAGES, ["STOP"])
    assert body == {"model": "o3-mini", "messages": MESSAGES, "max_completion_tokens": 100}


def test_first_token_alternatives_are_asked_for_and_read_back(no_litellm):
    spec = ModelSpec("openai/sub", top_logprobs=20, max_output_tokens=8)
    with FakeLLM() as fake:
        fake.rule("sub", ".", Ranked("bug", [("bug", 0.7), ("feature", 0.2)]))
        completion = client().complete(ModelSpec(**{**spec.__dict__, "api_base": fake.url}), MESSAGES)
        (request,) = fake.requests
    assert request.params["logprobs"] is True and request.params["top_logprobs"] == 20
    assert completion.text == "bug" and completion.first_tokens is not None
    assert [t for t, _ in completion.first_tokens] == ["bug", "feature"]
    assert completion.first_tokens[0][1] == pytest.approx(-0.3567, abs=1e-3)
    # Reasoning models refuse log-probabilities; a reply without them gives none, and so do odd shapes.
    reasoning = ModelSpec("openai/o3-mini", top_logprobs=20)
    assert "logprobs" not in openai_http.request_body(openai_http.route(reasoning), reasoning, MESSAGES, None)
    assert model_module.first_tokens(None, 20) is None
    # A server that sends more alternatives than were asked for is cut to the number asked.
    many = {"content": [{"top_logprobs": [{"token": t, "logprob": -1.0} for t in "abc"]}]}
    assert [t for t, _ in model_module.first_tokens(many, 2)] == ["a", "b"]
    # litellm hands objects, not dicts.
    token = types.SimpleNamespace(token="ent", logprob=-0.1)
    assert model_module.first_tokens(
        types.SimpleNamespace(content=[types.SimpleNamespace(top_logprobs=[token])]), 20
    ) == [("ent", -0.1)]
    assert model_module.first_tokens({"content": [{"top_logprobs": "x"}]}, 20) is None
    assert model_module.first_tokens({"content": [{"top_logprobs": [{"token": "a", "logprob": "x"}]}]}, 20) == []


def test_prices_come_from_the_table_without_importing_litellm(tmp_path: Path):
    probe = textwrap.dedent(
        """
        import sys
        from rlm_cli.engine import prices
        info = prices.lookup("openai/gpt-4o-mini")
        print(info.input_cost > 0, prices.lookup("groq/gpt-4o-mini"), "litellm" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["True", "None", "False"]


def test_cached_input_tokens_are_priced_at_the_cached_rate():
    info = prices.ModelInfo("openai", input_cost=1.0, output_cost=10.0, cached_input_cost=0.25)
    assert info.cost(100, 2, cached_tokens=40) == 60 * 1.0 + 40 * 0.25 + 2 * 10.0
    assert prices.ModelInfo(None, None, None).cost(100, 2) is None


# --- failing fast, retrying what may pass -------------------------------------------------------------


def test_a_refused_connection_ends_at_once_naming_the_url(dead_url: str, no_litellm):
    seen, on_retry = notices()
    with pytest.raises(ModelError) as error:
        client().complete(ModelSpec("openai/root", dead_url), MESSAGES, on_retry=on_retry)
    assert f"cannot connect to openai/root at {dead_url}/chat/completions" in error.value.message
    assert "refused" in error.value.message.lower()
    assert seen == []  # no retry


def test_an_unknown_host_ends_at_once(no_litellm):
    seen, on_retry = notices()
    with pytest.raises(ModelError, match=r"cannot connect to openai/root at http://no-such-host\.invalid/v1"):
        client().complete(ModelSpec("openai/root", "http://no-such-host.invalid/v1"), MESSAGES, on_retry=on_retry)
    assert seen == []


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (401, "authentication failed for openai/root at"),
        (403, "authentication failed for openai/root at"),
        (404, "model or URL not found: openai/root at"),
        (400, "refused the request (HTTP 400)"),
    ],
)
def test_errors_no_retry_can_fix_make_one_request(fake_llm: FakeLLM, status: int, words: str, no_litellm):
    fake_llm.fail("root", status=status, times=5, body="The model `root` does not exist.")
    with pytest.raises(ModelError) as error:
        client().complete(ModelSpec("openai/root", fake_llm.url), MESSAGES)
    assert words in error.value.message and fake_llm.url in error.value.message
    assert "does not exist" in error.value.message  # the server's own words
    assert len(fake_llm.requests) == 1


def test_a_prompt_too_long_is_said_so(fake_llm: FakeLLM):
    fake_llm.fail("root", status=400, body="This model's maximum context length is 8192 tokens.")
    with pytest.raises(ModelError, match="prompt too long for openai/root: This model's maximum context"):
        client().complete(ModelSpec("openai/root", fake_llm.url), MESSAGES)


def test_server_errors_are_retried_then_given_up(fake_llm: FakeLLM):
    fake_llm.fail("root", status=503, times=10, retry_after=None)
    seen, on_retry = notices()
    with pytest.raises(ModelError, match=r"HTTP 503 from openai/root at .* \(gave up after 3 attempts\)"):
        client(retries=2).complete(ModelSpec("openai/root", fake_llm.url), MESSAGES, on_retry=on_retry)
    assert len(fake_llm.requests) == 3
    assert [s.split("; ")[-1][:9] for s in seen] == ["retry 1/2", "retry 2/2"]


def test_a_rate_limit_waits_as_long_as_retry_after_says(fake_llm: FakeLLM):
    fake_llm.fail("root", status=429, times=1, retry_after=0.3)
    fake_llm.script("root", "after the wait")
    seen, on_retry = notices()
    # A 50 s backoff would show as "in 25.0s" or more: the server's 0.3 s wins.
    completion = client(base_delay=50).complete(ModelSpec("openai/root", fake_llm.url), MESSAGES, on_retry=on_retry)
    assert completion.text == "after the wait"
    assert [s.split("; ")[-1] for s in seen] == ["retry 1/4 in 0.3s"]
    assert seen[0].startswith(f"rate limited by openai/root at {fake_llm.url}")


def test_a_request_that_times_out_is_retried(fake_llm: FakeLLM):
    fake_llm.rule("root", "", "too late", delay=2.0)
    seen, on_retry = notices()
    with pytest.raises(ModelError, match=r"openai/root at .* timed out \(gave up after 2 attempts\)"):
        client(retries=1, request_timeout=0.2).complete(
            ModelSpec("openai/root", fake_llm.url), MESSAGES, on_retry=on_retry
        )
    assert len(seen) == 1 and len(fake_llm.requests) == 2


def test_a_reply_that_is_not_a_chat_completion_is_a_clear_error(fake_llm: FakeLLM):
    fake_llm.reply_raw("root", "<html>a login page from a proxy</html>")
    with pytest.raises(ModelError, match="did not answer like an OpenAI-compatible server: .*a login page"):
        client().complete(ModelSpec("openai/root", fake_llm.url), MESSAGES)
    assert len(fake_llm.requests) == 1


def test_the_run_deadline_bounds_the_retries(fake_llm: FakeLLM):
    fake_llm.fail("root", status=500, times=10, retry_after=5)
    with pytest.raises(ModelError, match=r"no time left to retry"):
        client().complete(ModelSpec("openai/root", fake_llm.url), MESSAGES, deadline=time.monotonic() + 2)
    assert len(fake_llm.requests) == 1


def test_retry_after_reads_milliseconds_seconds_and_dates():
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"retry-after": "2"}) == 2.0
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= retry_after({"retry-after": later}) <= 61
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_litellm_s_connection_errors_are_not_retried_either():
    refused = ConnectionRefusedError(111, "Connection refused")
    wrapped = RuntimeError("APIConnectionError")
    wrapped.__cause__ = refused
    transient, message = model_module._classify(wrapped, ModelSpec("anthropic/x", "http://h:9"))
    assert not transient and message.startswith("cannot connect to anthropic/x at http://h:9")


# --- the litellm path -----------------------------------------------------------------------------------


def test_providers_that_need_translation_go_through_litellm_with_the_same_interface(fake_llm: FakeLLM):
    # deepseek speaks the OpenAI API too, so the scripted server can stand in for it; rlm routes it to litellm.
    spec = ModelSpec("deepseek/root", fake_llm.url, "k", temperature=0.0)
    assert openai_http.route(spec) is None
    fake_llm.script("root", "through litellm STOP cut")
    completion = client().complete(spec, MESSAGES, stop=["STOP"])
    assert (completion.text, completion.model) == ("through litellm ", "deepseek/root")
    assert (completion.input_tokens, completion.output_tokens) == (5, 4)


def test_litellm_s_refused_connection_ends_at_once_too(dead_url: str):
    seen, on_retry = notices()
    with pytest.raises(ModelError, match=f"cannot connect to deepseek/root at {dead_url}"):
        client().complete(ModelSpec("deepseek/root", dead_url, "k"), MESSAGES, on_retry=on_retry)
    assert seen == []
