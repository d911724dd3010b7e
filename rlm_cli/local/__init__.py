"""`rlm local`: a small model on this machine, served by llama.cpp's OpenAI-compatible server.

This package loads only when a `rlm local` command runs or `rlm ask` uses the `local` model, so the
other commands start as fast as before. The files live in the user's cache dir (platformdirs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelFile:
    """One GGUF file: where the Hub keeps it, the checksum it must have, and the name the server gives it."""

    repo: str
    filename: str
    sha256: str
    alias: str  # the server's model name, and the `openai/<alias>` model rlm asks for
    size_text: str  # for messages and docs: the download the user agrees to


DEFAULT_MODEL = ModelFile(
    repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    alias="qwen2.5-coder-1.5b",
    size_text="1.1 GB",
)
DEFAULT_PORT = 8089
SETUP_COMMAND = "rlm local setup"


@dataclass(frozen=True)
class LocalPaths:
    """Every file `rlm local` writes, under one folder."""

    root: Path

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def state(self) -> Path:
        """The pid file: the server's pid, port and model, as JSON."""
        return self.root / "server.json"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def lock(self) -> Path:
        return self.root / "server.lock"

    def model(self, spec: ModelFile) -> Path:
        return self.models / spec.filename


def local_paths() -> LocalPaths:
    from platformdirs import user_cache_dir

    return LocalPaths(Path(user_cache_dir("rlm")) / "local")


def server_python() -> str:
    """The interpreter that runs llama_cpp.server: RLM_LOCAL_PYTHON, else the one running rlm.

    Read from the environment only, never from a settings file: a project's .rlm.toml is untrusted, and
    this names a program to run.
    """
    import sys

    return os.environ.get("RLM_LOCAL_PYTHON") or sys.executable


def server_missing(python: str) -> str:
    """The message for an interpreter that cannot run llama_cpp.server."""
    return (
        f"llama-cpp-python is not installed for {python}: pip install 'rlm-ask[local]' "
        "(or set RLM_LOCAL_PYTHON to a python that has llama-cpp-python[server])"
    )
