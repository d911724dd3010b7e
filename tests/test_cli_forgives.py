"""The mistakes a new user makes get the result or one line saying what to type (issue 19), run in-process."""

from __future__ import annotations

import json
import re
import shlex
import time
import tomllib
from pathlib import Path

import pytest
import typer
from conftest import fence

from rlm_cli import __version__, cli, render
from rlm_cli.errors import EXIT_BUDGET, EXIT_CONFIG, EXIT_INPUT, EXIT_OK, EXIT_USAGE

ROOT = Path(__file__).resolve().parent.parent
USAGE = "usage: rlm ask [OPTIONS] [PATH]... QUESTION"


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "app.log").write_text("x" * 5000 + "\n")
    return folder


def dry_run(rlm_main, *args: str) -> dict:
    result = rlm_main("ask", "--dry-run", "--json", *args)
    assert result.code == EXIT_OK, result.stderr
    return json.loads(result.stdout)


# --- C1, C3: sizes, durations and ranges, the same from a flag, the environment and a config file ----------


@pytest.mark.parametrize(("size", "chars"), [("1K", 1000), ("1KiB", 1024), ("2k", 2000), ("1500", 1500)])
def test_a_size_with_a_suffix_works_from_a_flag_the_environment_and_a_config_file(
    rlm_main, monkeypatch, tmp_path: Path, logs: Path, size: str, chars: int
):
    from_flag = dry_run(rlm_main, "--max-file-size", size, "logs", "q?")
    monkeypatch.setenv("RLM_MAX_FILE_SIZE", size)
    from_env = dry_run(rlm_main, "logs", "q?")
    monkeypatch.delenv("RLM_MAX_FILE_SIZE")
    (tmp_path / ".rlm.toml").write_text(f'max_file_size = "{size}"\n')
    from_file = dry_run(rlm_main, "logs", "q?")
    for report in (from_flag, from_env, from_file):
        (document,) = report["documents"]
        assert (document["chars"], document["truncated"]) == (chars, True)


def test_a_bad_value_gets_the_same_message_from_every_source(rlm_main, monkeypatch, tmp_path: Path, logs: Path):
    reason = "must be 1 or more, got '0'"  # about the value, not "empty"
    flag = rlm_main("ask", "--dry-run", "--max-file-size", "0", "logs", "q?")
    assert (flag.code, flag.stderr) == (
        EXIT_USAGE,
        f"rlm: error: Invalid value for '--max-file-size': {reason} (see 'rlm ask --help')\n",
    )
    monkeypatch.setenv("RLM_MAX_FILE_SIZE", "0")
    env = rlm_main("ask", "--dry-run", "logs", "q?")
    assert (env.code, env.stderr) == (EXIT_CONFIG, f"rlm: error: invalid value for RLM_MAX_FILE_SIZE: {reason}\n")
    monkeypatch.delenv("RLM_MAX_FILE_SIZE")
    project = tmp_path / ".rlm.toml"
    project.write_text("max_file_size = 0\n")
    from_file = rlm_main("ask", "--dry-run", "logs", "q?")
    assert (from_file.code, from_file.stderr) == (
        EXIT_CONFIG,
        f"rlm: error: invalid value for max_file_size in {project}: {reason}\n",
    )


@pytest.mark.parametrize(
    ("flag", "allowed"),
    [
        ("--timeout", "more than 0 s"),
        ("--exec-timeout", "more than 0 s"),
        ("--max-cost", "more than 0"),
        ("--max-iterations", "1 or more"),
        ("--concurrency", "1 or more"),
    ],
)
def test_a_zero_limit_is_refused_before_the_run_naming_the_flag_and_its_range(
    rlm_main, monkeypatch, logs: Path, dead_url: str, flag: str, allowed: str
):
    result = rlm_main("ask", "-m", "openai/x", "--api-base", dead_url, flag, "0", "logs", "q?")
    assert result.code == EXIT_USAGE
    assert (
        result.stderr == f"rlm: error: Invalid value for '{flag}': must be {allowed}, got '0' (see 'rlm ask --help')\n"
    )
    variable = "RLM_" + flag.lstrip("-").replace("-", "_").upper()
    monkeypatch.setenv(variable, "0")
    result = rlm_main("ask", "-m", "openai/x", "--api-base", dead_url, "logs", "q?")
    assert (result.code, result.stderr) == (
        EXIT_CONFIG,
        f"rlm: error: invalid value for {variable}: must be {allowed}, got '0'\n",
    )


def test_durations_take_units(rlm_main, logs: Path):
    result = rlm_main("ask", "--dry-run", "--timeout", "2m", "--exec-timeout", "90s", "logs", "q?")
    assert result.code == EXIT_OK, result.stderr
    bad = rlm_main("ask", "--dry-run", "--timeout", "soon", "logs", "q?")
    assert bad.code == EXIT_USAGE and "'soon' is not a duration" in bad.stderr


# --- C2, C12: argument order and a forgotten question --------------------------------------------------------


def test_a_question_written_first_still_works_with_a_note(rlm_main, logs: Path):
    report = dry_run(rlm_main, "-v", "what failed?", "./logs/")
    assert [d["path"] for d in report["documents"]] == ["logs/app.log"]
    assert "what failed?" in report["messages"][-1]["content"]
    result = rlm_main("ask", "--dry-run", "what failed?", "./logs/")
    assert result.stderr == f"rlm: note: took 'what failed?' as the question (it goes last; {USAGE})\n"


def test_a_question_first_before_a_missing_path_says_the_question_goes_last(rlm_main):
    result = rlm_main("ask", "--dry-run", "what failed?", "./nowhere/")
    assert result.code == EXIT_INPUT
    assert result.stderr == (
        f"rlm: error: no such file or directory: what failed? (if that is the question, it goes last; {USAGE})\n"
    )


def test_a_forgotten_question_is_missing_question_not_empty_stdin(rlm_main, logs: Path):
    result = rlm_main("ask", "-m", "openai/x", "./logs/")  # stdin is an empty pipe, as in CI
    assert (result.code, result.stderr) == (EXIT_USAGE, f"rlm: error: missing QUESTION after ./logs/; {USAGE}\n")
    bare = rlm_main("ask")
    assert (bare.code, bare.stderr) == (EXIT_USAGE, f"rlm: error: missing QUESTION; {USAGE}\n")


# --- C9, C10, C11 and the rest: help, version, config, trace -------------------------------------------------


def help_examples() -> list[str]:
    """Every line under 'Examples:' in the help of every command."""
    examples = []

    def visit(command: typer.core.TyperCommand, ctx: typer.Context) -> None:
        lines = command.get_help(ctx).splitlines()
        if "  Examples:" in lines:
            start = lines.index("  Examples:") + 1
            end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
            examples.extend(line.strip() for line in lines[start:end])
        for name, sub in getattr(command, "commands", {}).items():
            visit(sub, typer.Context(sub, info_name=name, parent=ctx))

    root = typer.main.get_command(cli.app)
    visit(root, typer.Context(root, info_name="rlm"))
    return examples


def test_every_help_example_runs_as_written(rlm_main, tmp_path: Path):
    examples = help_examples()
    assert len(examples) >= 5 and any("|" in example for example in examples)
    ask = typer.main.get_command(cli.app).commands["ask"]
    for example in examples:
        piped, _, command = example.rpartition("|")
        args = shlex.split(command)
        assert args[0] == "rlm", example
        args = args[1:]
        if args[0] == "ask":
            args.insert(1, "--dry-run")  # no model call: the example's own words are what is checked
            for path in ask.make_context("ask", args[1:]).params["args"][:-1]:
                if path.endswith("/"):
                    (tmp_path / path).mkdir(parents=True, exist_ok=True)
                    (tmp_path / path / "a.log").write_text("a line\n")
                elif path != "-":
                    (tmp_path / path).write_text("a line\n")
        result = rlm_main(*args, input="piped text\n" if piped else "")
        assert result.code == EXIT_OK, (example, result.stderr)


def test_rlm_help_shows_the_help_of_rlm_or_of_a_command(rlm_main):
    assert rlm_main("help").stdout == rlm_main("--help").stdout
    assert rlm_main("help", "ask").stdout == rlm_main("ask", "--help").stdout
    assert rlm_main("help", "trace", "show").stdout == rlm_main("trace", "show", "--help").stdout
    unknown = rlm_main("help", "frobnicate")
    assert (unknown.code, unknown.stderr) == (EXIT_USAGE, "rlm: error: no command 'rlm frobnicate' (see 'rlm help')\n")


def test_a_missing_option_value_points_to_the_commands_own_help(rlm_main):
    result = rlm_main("ask", "-m")
    assert (result.code, result.stderr) == (
        EXIT_USAGE,
        "rlm: error: Option '-m' requires an argument (see 'rlm ask --help')\n",
    )


def test_dash_capital_v_prints_the_version(rlm_main):
    short, long = rlm_main("-V"), rlm_main("--version")
    assert (short.code, short.stdout) == (EXIT_OK, f"rlm {__version__}\n") and short.stdout == long.stdout


def test_rlm_config_alone_shows_each_setting_and_where_it_came_from(rlm_main, monkeypatch, tmp_path: Path):
    project = tmp_path / ".rlm.toml"
    project.write_text('max_file_size = "2M"\n')
    monkeypatch.setenv("RLM_TIMEOUT", "5m")
    result = rlm_main("config")
    assert result.code == EXIT_OK, result.stderr
    rows = {line.split()[0]: line.split(maxsplit=2)[1:] for line in result.stdout.splitlines()}
    assert rows["max_file_size"] == ["2000000", f"({project})"]
    assert rows["timeout"] == ["300.0", "(env RLM_TIMEOUT)"]
    assert rows["max_iterations"] == ["20", "(default)"]
    assert result.stdout == rlm_main("config", "show").stdout


# --- C6, C8: a slow model in CI, and a run that ends while the model only writes code ---------------------


def test_a_slow_model_gets_a_waiting_line_and_json_stays_one_object(rlm_main, fake_llm, monkeypatch, logs: Path):
    monkeypatch.setattr(render, "WAITING_INTERVAL_S", 0.5)  # 10 s in real use

    def slow(_request: object) -> str:
        time.sleep(2.5)
        return fence("print('all good')")

    fake_llm.script("root", slow, "FINAL(all good)")
    result = rlm_main("ask", "--json", "-m", "openai/root", "--api-base", fake_llm.url, "logs", "what failed?")
    assert result.code == EXIT_OK, result.stderr
    assert re.search(r"^rlm: waiting for openai/root \(turn 1/20\)\.\.\. \d+ s$", result.stderr, re.M), result.stderr
    (line,) = result.stdout.splitlines()
    assert json.loads(line)["answer"] == "all good"


def test_iterations_spent_on_code_alone_end_with_the_last_output_not_code(rlm_main, fake_llm, logs: Path):
    fake_llm.script(
        "root",
        fence("print('scanning')"),
        fence("print('found:')\nprint('3 services failed: api, db, web')"),
        fence("print('one more look')"),  # the last call, asked for an answer, writes code again
    )
    args = ("--json", "-m", "openai/root", "--api-base", fake_llm.url, "--max-iterations", "2")
    result = rlm_main("ask", *args, "logs", "which services failed?")
    assert result.code == EXIT_BUDGET, result.stderr
    data = json.loads(result.stdout)
    assert (data["status"], data["final"]) == ("budget_exhausted", False)
    assert data["answer"] == "found:\n3 services failed: api, db, web"
    listed = rlm_main("trace")  # `rlm trace` alone lists recent traces
    assert listed.code == EXIT_OK and re.match(r"\d{8}-\d{6}-\w+ +budget_exhausted +which services", listed.stdout)


# --- C7: a distribution name of its own, and an install line that works before and after a release --------


def test_the_readme_installs_this_distribution_from_its_repository():
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    assert name not in ("rlm", "rlm-cli")  # both are other RLM tools' names
    installs = re.findall(r"^\s+pip install (.+?)(?:\s+#.*)?$", (ROOT / "README.md").read_text(), re.M)
    assert installs and all(line.startswith(f'"{name} @ git+https://') for line in installs)
