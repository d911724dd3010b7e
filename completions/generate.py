"""Regenerate the shell completion scripts from the CLI's Typer app: `python completions/generate.py`.

tests/test_completions.py fails when the committed scripts are stale.
"""

from __future__ import annotations

from pathlib import Path

from typer._completion_shared import get_completion_script

from rlm_cli.cli import app

HERE = Path(__file__).resolve().parent
SHELLS = {"bash": "rlm.bash", "zsh": "rlm.zsh", "fish": "rlm.fish"}
COMPLETE_VAR = "_RLM_COMPLETE"


def scripts() -> dict[str, str]:
    """The completion script for each shell, keyed by file name, as `rlm --show-completion SHELL` prints it."""
    prog_name = app.info.name
    assert isinstance(prog_name, str)
    return {
        name: get_completion_script(prog_name=prog_name, complete_var=COMPLETE_VAR, shell=shell) + "\n"
        for shell, name in SHELLS.items()
    }


if __name__ == "__main__":
    for name, text in scripts().items():
        (HERE / name).write_text(text)
        print(f"wrote completions/{name}")
