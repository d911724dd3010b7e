"""Helpers for the security suite: scripted replies, a hostile REPL child, and a user config file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakellm import FakeLLM

from rlm_cli import redaction


def fence(code: str) -> str:
    return f"```repl\n{code.strip()}\n```"


def model_args(fake: FakeLLM, *extra: str) -> list[str]:
    return ["--model", "openai/root", "--sub-model", "openai/sub", "--api-base", fake.url, *extra]


def shown(fake: FakeLLM) -> list[str]:
    """What the root model read at each call: item k holds the output of the code it wrote in reply k-1."""
    return [r.last_user for r in fake.requests_for("root")]


def trace_events(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's own config file (empty until a test writes it), for in-process load_settings calls."""
    path = tmp_path / "user-config.toml"
    monkeypatch.setenv("RLM_CONFIG", str(path))
    return path


@pytest.fixture(autouse=True)
def _no_registered_keys() -> Iterator[None]:
    """Keys registered for redaction by one in-process test must not redact another's text."""
    yield
    redaction.forget_all()
