"""The committed completion scripts must match what the Typer app generates, and must really complete."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

COMPLETIONS = Path(__file__).resolve().parent.parent / "completions"
BIN = Path(sys.executable).parent


def _generator():
    spec = importlib.util.spec_from_file_location("generate", COMPLETIONS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _complete(env: dict[str, str], shell: str, words: str, cword: int | None = None, action: str = "get-args"):
    """What the rlm process answers a shell's completion script (Typer's protocol: bash passes COMP_WORDS and
    COMP_CWORD, zsh and fish the command line so far)."""
    env = dict(env, _RLM_COMPLETE=f"complete_{shell}", _TYPER_COMPLETE_ARGS=words, _TYPER_COMPLETE_FISH_ACTION=action)
    if cword is not None:
        env.update(COMP_WORDS=words, COMP_CWORD=str(cword))
    return subprocess.run([str(BIN / "rlm")], env=env, capture_output=True, text=True, timeout=30)


def test_completion_scripts_are_current():
    for name, text in _generator().scripts().items():
        committed = (COMPLETIONS / name).read_text()
        assert committed == text, f"completions/{name} is stale: run python completions/generate.py"


def test_bash_script_completes_commands_and_flags(rlm_env):
    script = (
        f"source {COMPLETIONS / 'rlm.bash'}\n"
        'COMP_WORDS=(rlm a); COMP_CWORD=1; _rlm_completion rlm; echo "${COMPREPLY[*]}"\n'
        'COMPREPLY=(); COMP_WORDS=(rlm ask --max-it); COMP_CWORD=2; _rlm_completion rlm; echo "${COMPREPLY[*]}"\n'
    )
    env = dict(rlm_env, PATH=f"{BIN}:{rlm_env['PATH']}")
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60).stdout
    assert out.splitlines() == ["ask", "--max-iterations"]


def test_ask_arguments_complete_as_files_in_every_shell(rlm_env):
    # No candidates from rlm: each shell then completes file names itself (bash `-o default`, zsh `_files`,
    # fish's condition fails so its own file completion applies).
    assert _complete(rlm_env, "bash", "rlm ask ap", 2).stdout.split() == []
    assert _complete(rlm_env, "zsh", "rlm ask ap").stdout.split() == ["_files"]
    assert _complete(rlm_env, "fish", "rlm ask ap", action="is-args").returncode == 1
    assert _complete(rlm_env, "bash", "rlm ask --js", 2).stdout.split() == ["--json"]


def test_trace_show_completes_run_ids(rlm_env, tmp_path: Path):
    traces = tmp_path / "traces"
    traces.mkdir()
    for run_id in ("20261122-010000-aaaaaa", "20261121-090000-bbbbbb"):
        (traces / f"{run_id}.jsonl").write_text("")
    env = dict(rlm_env, RLM_TRACE_DIR=str(traces))
    assert _complete(env, "bash", "rlm trace show ", 3).stdout.split() == [
        "last",
        "20261122-010000-aaaaaa",
        "20261121-090000-bbbbbb",
    ]
    assert _complete(env, "bash", "rlm trace show 20261122", 3).stdout.split() == ["20261122-010000-aaaaaa"]


def test_completing_loads_no_heavy_library(rlm_env):
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print([m for m in ('pydantic', 'httpx', 'litellm', 'rich') if m in sys.modules]))\n"
        "sys.argv = ['rlm']\n"
        "from rlm_cli import cli\n"
        "cli.main()\n"
    )
    env = dict(rlm_env, _RLM_COMPLETE="complete_bash", _TYPER_COMPLETE_ARGS="rlm ask --js")
    env.update(COMP_WORDS="rlm ask --js", COMP_CWORD="2")
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=30)
    assert done.stdout.split() == ["--json", "[]"], done.stderr
