"""Shared fixtures: a scripted LLM server, a dead endpoint, and a hermetic way to run the `rlm` CLI."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakellm import FakeLLM

# Set before any test module imports litellm, which otherwise tries to download its cost map.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

_SCRUBBED_SUFFIXES = ("_API_KEY", "_API_BASE", "_BASE_URL")


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A fresh scripted server per test, so scripts and recorded requests never leak between tests."""
    server = FakeLLM()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def dead_url() -> Iterator[str]:
    """An endpoint that refuses connections: the port stays bound (never listening) so nothing can take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        sock.close()


def hermetic_env(root: Path, **extra: str) -> dict[str, str]:
    """Environment for CLI subprocesses with no real keys or endpoints and every user dir under root."""
    home = root / "home"
    dirs = {
        "HOME": home,
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_CACHE_HOME": home / ".cache",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("RLM_") and not name.endswith(_SCRUBBED_SUFFIXES)
    }
    env |= {name: str(path) for name, path in dirs.items()}
    return env | {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "NO_COLOR": "1"} | extra


@pytest.fixture
def rlm_env(tmp_path: Path) -> dict[str, str]:
    """hermetic_env for one test, with a placeholder OpenAI key."""
    return hermetic_env(tmp_path, OPENAI_API_KEY="sk-test")


@pytest.fixture
def run_rlm(tmp_path: Path, rlm_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs the installed `rlm` entry point in tmp_path; env_extra values of None unset a variable."""
    entry_point = Path(sys.executable).parent / "rlm"

    def run(
        *args: str,
        input: str | None = None,
        env_extra: dict[str, str | None] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        env = dict(rlm_env)
        for name, value in (env_extra or {}).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return subprocess.run(
            [str(entry_point), *args],
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            env=env,
            cwd=tmp_path,
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    return run


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def rlm_main(
    tmp_path: Path, rlm_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Ran]:
    """Runs `rlm` through cli.main() in this process, with run_rlm's environment and folder: the real
    parsing and error mapping, without a process start. stdin is a pipe holding `input` (empty by default)."""
    from rlm_cli import cli

    for name in set(os.environ) - set(rlm_env):
        monkeypatch.delenv(name)
    for name, value in rlm_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli.signal, "signal", lambda *_args: None)  # SIGPIPE's default would later kill pytest

    def run(*args: str, input: str = "") -> Ran:
        monkeypatch.setattr(sys, "argv", ["rlm", *args])
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(input.encode())))
        capsys.readouterr()
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return Ran(code if isinstance(code, int) else 1, out.out, out.err)

    return run
