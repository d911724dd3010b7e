"""The fake server must behave like a real OpenAI endpoint, or every test built on it proves nothing."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import litellm
import pytest
from fakellm import FakeLLM, RecordedRequest


def post(server: FakeLLM, model: str, content: str, **params: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Sends one chat-completions call with plain urllib; returns status, headers and decoded body."""
    body = {"model": model, "messages": [{"role": "user", "content": content}], **params}
    request = urllib.request.Request(
        f"{server.url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.load(error)


def text_of(body: dict[str, Any]) -> str:
    return body["choices"][0]["message"]["content"]


def test_litellm_round_trip_carries_reply_usage_and_params(fake_llm: FakeLLM) -> None:
    fake_llm.script("root", "hello world")
    response = litellm.completion(
        model="openai/root",
        api_base=fake_llm.url,
        api_key="x",
        messages=[{"role": "system", "content": "sys!"}, {"role": "user", "content": "abcdefghijkl"}],
        temperature=0.25,
        max_tokens=50,
    )
    assert response.choices[0].message.content == "hello world"
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (4, 3)
    assert response.usage.total_tokens == 7
    [recorded] = fake_llm.requests_for("root")
    assert recorded.params["temperature"] == 0.25
    assert recorded.params["max_tokens"] == 50
    assert recorded.last_user == "abcdefghijkl"
    assert recorded.status == 200
    assert recorded.reply == "hello world"
    assert recorded.ended is not None and recorded.ended >= recorded.started


def test_litellm_streaming_reassembles_reply_and_reports_usage(fake_llm: FakeLLM) -> None:
    reply = "a fairly long reply that spans several stream chunks, then STOP and more"
    fake_llm.script("root", reply)
    stream = litellm.completion(
        model="openai/root",
        api_base=fake_llm.url,
        api_key="x",
        messages=[{"role": "user", "content": "go"}],
        stream=True,
        stream_options={"include_usage": True},
        stop=["STOP"],
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == reply[: reply.index("STOP")]
    assert len(chunks) > 3
    usage = litellm.stream_chunk_builder(chunks).usage
    assert usage.completion_tokens == -(-len(text) // 4)
    assert fake_llm.requests[0].params["stream"] is True


def test_scripted_replies_are_consumed_in_order_then_exhaustion_is_a_loud_400(fake_llm: FakeLLM) -> None:
    def echo(request: RecordedRequest) -> str:
        return f"you said {request.last_user} to {request.model}"

    fake_llm.script("root", "first", echo)
    fake_llm.script("root", "third")
    assert fake_llm.pending("root") == 3
    assert text_of(post(fake_llm, "root", "one")[2]) == "first"
    assert text_of(post(fake_llm, "root", "two")[2]) == "you said two to root"
    assert text_of(post(fake_llm, "root", "three")[2]) == "third"
    assert fake_llm.pending("root") == 0

    status, _, body = post(fake_llm, "root", "x" * 300)
    assert status == 400
    message = body["error"]["message"]
    assert message.startswith("fakellm: no scripted reply left for model 'root'")
    assert "x" * 200 in message and "x" * 201 not in message
    assert [r.status for r in fake_llm.requests] == [200, 200, 200, 400]


def test_rules_match_last_user_message_persist_and_follow_the_script(fake_llm: FakeLLM) -> None:
    fake_llm.script("sub", "scripted first")
    fake_llm.rule("sub", r"capital of (\w+)", lambda text: "Paris" if "France" in text else "?")
    fake_llm.rule("sub", re.compile("count", re.IGNORECASE), "42")
    fake_llm.rule("sub", lambda text: text.endswith("!"), "bang")
    fake_llm.rule("sub", "", "fallback")

    assert text_of(post(fake_llm, "sub", "capital of France?")[2]) == "scripted first"
    assert text_of(post(fake_llm, "sub", "capital of France?")[2]) == "Paris"
    assert text_of(post(fake_llm, "sub", "capital of France?")[2]) == "Paris"
    assert text_of(post(fake_llm, "sub", "COUNT the lines")[2]) == "42"
    assert text_of(post(fake_llm, "sub", "wow!")[2]) == "bang"
    assert text_of(post(fake_llm, "sub", "anything else")[2]) == "fallback"
    assert post(fake_llm, "root", "capital of France?")[0] == 400


def test_rules_look_only_at_the_last_user_message(fake_llm: FakeLLM) -> None:
    fake_llm.rule("sub", "needle", "found")
    body = {
        "model": "sub",
        "messages": [
            {"role": "user", "content": "needle"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "hay"}]},
        ],
    }
    request = urllib.request.Request(f"{fake_llm.url}/chat/completions", data=json.dumps(body).encode())
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    raised.value.close()
    assert raised.value.code == 400
    assert fake_llm.requests[0].last_user == "hay"


def test_stop_sequences_cut_the_reply_at_the_earliest_one(fake_llm: FakeLLM) -> None:
    invented = "```repl\nprint(1)\n```\nREPL output:\n1\n```repl\nFINAL(2)\n```"
    fake_llm.script("root", invented, invented, "no stop here")
    _, _, body = post(fake_llm, "root", "go", stop=["```repl\nFINAL", "\nREPL output:"])
    assert text_of(body) == "```repl\nprint(1)\n```"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert text_of(post(fake_llm, "root", "go", stop="REPL")[2]) == "```repl\nprint(1)\n```\n"
    assert text_of(post(fake_llm, "root", "go", stop=["zzz"])[2]) == "no stop here"
    assert fake_llm.requests[0].reply == "```repl\nprint(1)\n```"


def test_fail_injects_errors_then_recovers(fake_llm: FakeLLM) -> None:
    fake_llm.script("root", "finally")
    fake_llm.rule("sub", "", "sub ok")
    fake_llm.fail("root", status=500, times=2, retry_after=None)

    assert text_of(post(fake_llm, "sub", "s")[2]) == "sub ok"
    status, headers, body = post(fake_llm, "root", "r")
    assert status == 500
    assert "Retry-After" not in headers
    assert body["error"]["type"] == "server_error"
    assert post(fake_llm, "root", "r")[0] == 500
    assert text_of(post(fake_llm, "root", "r")[2]) == "finally"
    assert fake_llm.pending("root") == 0

    fake_llm.fail(None, status=503, body="overloaded")
    status, _, body = post(fake_llm, "sub", "s")
    assert (status, body["error"]["message"]) == (503, "overloaded")
    assert text_of(post(fake_llm, "sub", "s")[2]) == "sub ok"
    assert [r.status for r in fake_llm.requests] == [200, 500, 500, 200, 503, 200]


def test_429_carries_retry_after_and_an_openai_error_body(fake_llm: FakeLLM) -> None:
    fake_llm.fail("root", status=429, delay=0.05)
    status, headers, body = post(fake_llm, "root", "r")
    assert status == 429
    assert headers["Retry-After"] == "0"
    assert body["error"]["type"] == "rate_limit_error"
    assert "429" in body["error"]["message"]
    recorded = fake_llm.requests[0]
    assert recorded.ended is not None and recorded.ended - recorded.started >= 0.05


def test_reply_raw_sends_a_page_as_is_then_serves_the_script(fake_llm: FakeLLM) -> None:
    fake_llm.reply_raw("root", "<html>sign in</html>", status=502)
    fake_llm.script("root", "after")
    request = urllib.request.Request(f"{fake_llm.url}/chat/completions", data=b'{"model": "root", "messages": []}')
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    with error.value:
        assert (error.value.code, error.value.headers["Content-Type"]) == (502, "text/html")
        assert error.value.read() == b"<html>sign in</html>"
    assert post(fake_llm, "root", "again")[2]["choices"][0]["message"]["content"] == "after"


def test_litellm_retries_injected_failures_without_backoff(fake_llm: FakeLLM) -> None:
    fake_llm.script("root", "warm", "recovered")
    messages = [{"role": "user", "content": "q"}]
    litellm.completion(model="openai/root", api_base=fake_llm.url, api_key="x", messages=messages)
    fake_llm.fail("root", status=429)
    fake_llm.fail("root", status=503)
    began = time.monotonic()
    response = litellm.completion(model="openai/root", api_base=fake_llm.url, api_key="x", messages=messages)
    assert response.choices[0].message.content == "recovered"
    assert time.monotonic() - began < 1.0
    assert [r.status for r in fake_llm.requests] == [200, 429, 503, 200]


def test_a_raising_reply_callable_becomes_a_400(fake_llm: FakeLLM) -> None:
    fake_llm.script("root", lambda request: str(1 / 0))
    status, _, body = post(fake_llm, "root", "r")
    assert status == 400
    assert "ZeroDivisionError" in body["error"]["message"]


def test_parallel_delayed_calls_overlap_and_sequential_calls_do_not(fake_llm: FakeLLM) -> None:
    fake_llm.rule("sub", "", "done", delay=0.3)
    fake_llm.rule("root", "", "quick")
    for _ in range(3):
        post(fake_llm, "root", "r")
    assert fake_llm.peak_concurrency == 1

    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(text_of(post(fake_llm, "sub", "s")[2]))) for _ in range(4)
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["done"] * 4
    assert time.monotonic() - began < 1.0
    assert fake_llm.peak_concurrency >= 4
    assert fake_llm.peak_concurrency_for("sub") == 4
    assert fake_llm.peak_concurrency_for("root") == 1


def test_models_endpoint_lists_scripted_and_ruled_models(fake_llm: FakeLLM) -> None:
    fake_llm.script("root", "r")
    fake_llm.rule("sub", "", "s")
    with urllib.request.urlopen(f"{fake_llm.url}/models", timeout=10) as response:
        listing = json.load(response)
    assert [m["id"] for m in listing["data"]] == ["root", "sub"]


def test_dead_url_refuses_connections(dead_url: str) -> None:
    with pytest.raises(urllib.error.URLError) as raised:
        urllib.request.urlopen(f"{dead_url}/models", timeout=5)
    assert isinstance(raised.value.reason, ConnectionRefusedError)


def test_close_is_prompt_with_a_keep_alive_connection_open() -> None:
    server = FakeLLM()
    server.script("root", "hi")
    messages = [{"role": "user", "content": "q"}]
    response = litellm.completion(model="openai/root", api_base=server.url, api_key="x", messages=messages)
    assert response.choices[0].message.content == "hi"
    began = time.monotonic()
    server.close()
    server.close()
    assert time.monotonic() - began < 2


def test_rlm_env_is_hermetic(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "real")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://real.example")
    monkeypatch.setenv("RLM_MODEL", "real")
    rlm_env: dict[str, str] = request.getfixturevalue("rlm_env")
    assert not {"ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "RLM_MODEL"} & rlm_env.keys()
    assert rlm_env["OPENAI_API_KEY"] == "sk-test"
    assert rlm_env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert rlm_env["NO_COLOR"] == "1"
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        assert Path(rlm_env[name]).is_dir() and Path(rlm_env[name]).is_relative_to(tmp_path)
