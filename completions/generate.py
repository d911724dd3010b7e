"""Regenerate the shell completion scripts from the CLI's click app: `python completions/generate.py`.

tests/test_completions.py fails when the committed scripts are stale.
"""

from __future__ import annotations

from pathlib import Path

from click.shell_completion import get_completion_class

from rlm_cli.cli import cli

HERE = Path(__file__).resolve().parent
SHELLS = {"bash": "rlm.bash", "zsh": "rlm.zsh", "fish": "rlm.fish"}
COMPLETE_VAR = "_RLM_COMPLETE"


def scripts() -> dict[str, str]:
    """The completion script for each shell, keyed by file name."""
    result = {}
    for shell, name in SHELLS.items():
        complete = get_completion_class(shell)
        assert complete is not None, f"click has no completion for {shell}"
        result[name] = complete(cli, {}, "rlm", COMPLETE_VAR).source().rstrip() + "\n"
    return result


if __name__ == "__main__":
    for name, text in scripts().items():
        (HERE / name).write_text(text)
        print(f"wrote completions/{name}")
