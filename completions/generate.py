"""Regenerate the shell completion scripts from the Typer app: `python completions/generate.py`.

tests/test_completions.py fails when the committed scripts are stale.
"""

from __future__ import annotations

from pathlib import Path

from typer._completion_shared import get_completion_script

HERE = Path(__file__).resolve().parent
SHELLS = {"bash": "rlm.bash", "zsh": "rlm.zsh", "fish": "rlm.fish"}


def scripts() -> dict[str, str]:
    """The completion script for each shell, keyed by file name."""
    from rlm_cli.cli import app  # noqa: F401 - the app must import cleanly for its completions to work

    return {
        name: get_completion_script(prog_name="rlm", complete_var="_RLM_COMPLETE", shell=shell).rstrip() + "\n"
        for shell, name in SHELLS.items()
    }


if __name__ == "__main__":
    for name, text in scripts().items():
        (HERE / name).write_text(text)
        print(f"wrote completions/{name}")
