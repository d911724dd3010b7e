"""Option values are converted as typer would convert them, without loading pydantic."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from rlm_cli import cli, runner
from rlm_cli.errors import EXIT_OK, EXIT_USAGE


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Runs `rlm ask ARGS... FILE q` in-process and returns (exit code, what runner.ask received)."""
    seen: dict[str, Any] = {}
    notes = tmp_path / "notes.txt"
    notes.write_text("alpha\n")

    def ask(paths: list[str], question: str, settings: Any, out: Any, dry_run: bool = False) -> int:
        seen.update(paths=paths, settings=settings, out=out)
        return EXIT_OK

    monkeypatch.setattr(runner, "ask", ask)
    monkeypatch.setattr(cli.signal, "signal", lambda *_args: None)  # SIGPIPE's default would later kill pytest

    def run(*args: str) -> tuple[int, dict[str, Any]]:
        monkeypatch.setattr(sys, "argv", ["rlm", "ask", *args, str(notes), "q"])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        return exit_info.value.code, seen

    return run


def test_values_arrive_with_their_types(parsed, tmp_path: Path):
    code, seen = parsed(
        "--max-iterations", "3", "--temperature", "0.5", "--timeout", "2m", "--hidden", "-m", "openai/x",
        "--include", "*.log", "--include", "*.txt", "--trace-file", str(tmp_path / "t.jsonl"),
    )  # fmt: skip
    assert code == EXIT_OK
    settings = seen["settings"]
    assert settings["max_iterations"] == 3 and type(settings["max_iterations"]) is int
    assert settings["temperature"] == 0.5 and type(settings["temperature"]) is float
    assert settings["timeout"] == 120.0
    assert settings["include"] == ["*.log", "*.txt"] and settings["hidden"] is True
    assert settings["model"] == "openai/x"
    assert seen["out"].trace_file == tmp_path / "t.jsonl"


def test_a_choice_is_matched_in_any_case(parsed):
    code, seen = parsed("--guidance", "OFF")
    assert code == EXIT_OK and seen["settings"]["guidance"] == "off"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--max-iterations", "1.5"), "'--max-iterations': '1.5' is not a whole number"),  # the setting's parser
        (("--max-iterations", "0"), "'--max-iterations': must be 1 or more, got '0'"),
        (("--temperature", "warm"), "'--temperature': 'warm' is not a number"),
        (("--guidance", "lots"), "'--guidance': Value error, 'lots' is not one of 'off', 'small'"),
    ],
)
def test_bad_values_are_usage_errors_in_typer_s_words(parsed, capsys, args: tuple[str, ...], message: str):
    code, _ = parsed(*args)
    assert code == EXIT_USAGE
    assert f"rlm: error: Invalid value for {message}" in capsys.readouterr().err
