"""Keys never appear in anything rlm writes, even when a server echoes them back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakellm import FakeLLM

from rlm_cli import redaction
from rlm_cli.errors import EXIT_MODEL, ModelError
from security.conftest import model_args

FLAG_KEY = "flag-key-0123456789"  # no provider's shape: only its registration can find it
ENV_KEY = "env-key-9876543210"


def test_registered_values_and_authorization_headers_are_redacted() -> None:
    redaction.register([FLAG_KEY, "short", None])
    text = redaction.redact_text(f"key {FLAG_KEY}; Authorization: Bearer abc.def; x-api-key: zzz; short")
    assert text == "key [redacted]; Authorization: Bearer [redacted]; x-api-key: [redacted]; short"
    redaction.register_env({"OPENAI_API_KEY": ENV_KEY, "HOME": "/home/someone-long"})
    assert redaction.redact_text(f"{ENV_KEY} /home/someone-long") == "[redacted] /home/someone-long"
    assert ModelError(f"server said {FLAG_KEY}").message == "server said [redacted]"


def test_a_server_echoing_the_keys_leaks_them_nowhere(
    fake_llm: FakeLLM, rlm_main, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app.log").write_text("line\n")
    echo = f"Incorrect API key provided: {FLAG_KEY} (env {ENV_KEY}); Authorization: Bearer {FLAG_KEY}"
    fake_llm.fail("root", status=500, body=echo)  # retried: the retry notice quotes it too
    fake_llm.fail("root", status=401, body=echo)
    trace_file = tmp_path / "run.jsonl"
    args = ["ask", "app.log", "q?", "--json", "-v", "--api-key", FLAG_KEY, "--trace-file", str(trace_file)]
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("RLM_RETRY_DELAY", "0.01")
    result = rlm_main(*args, *model_args(fake_llm))
    assert result.code == EXIT_MODEL, result.stderr
    envelope = json.loads(result.stdout)
    assert "Incorrect API key provided: [redacted]" in envelope["error"]["message"]
    assert "retry 1/" in result.stderr
    saved = Path(envelope["trace"]).read_text()
    for written in (result.stdout, result.stderr, saved, trace_file.read_text()):
        assert FLAG_KEY not in written and ENV_KEY not in written
