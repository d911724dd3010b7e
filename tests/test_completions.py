"""The committed completion scripts must match what the Typer app generates, and must really complete."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

COMPLETIONS = Path(__file__).resolve().parent.parent / "completions"


def _generator():
    spec = importlib.util.spec_from_file_location("generate", COMPLETIONS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_completion_scripts_are_current():
    for name, text in _generator().scripts().items():
        committed = (COMPLETIONS / name).read_text()
        assert committed == text, f"completions/{name} is stale: run python completions/generate.py"


def test_bash_completion_offers_subcommands_and_flags(rlm_env):
    rlm = str(Path(sys.executable).parent / "rlm")
    env = dict(rlm_env, _RLM_COMPLETE="complete_bash", COMP_WORDS="rlm ", COMP_CWORD="1")
    out = subprocess.run([rlm], env=env, capture_output=True, text=True, timeout=30).stdout.split()
    assert {"ask", "trace", "config"} <= set(out)
    env = dict(rlm_env, _RLM_COMPLETE="complete_bash", COMP_WORDS="rlm ask --max-it", COMP_CWORD="2")
    out = subprocess.run([rlm], env=env, capture_output=True, text=True, timeout=30).stdout.split()
    assert out == ["--max-iterations"]
