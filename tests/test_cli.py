"""The command-line experience: streams, errors and exit codes, aliases, secrets, traces, terminals, start-up."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from conftest import fence

from rlm_cli.errors import EXIT_CONFIG, EXIT_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SECRET = "secret-key-value-9f8e7d"  # not shaped like any provider key: only keeping it out can hide it
CODE = "\n".join(
    [
        'parts = ["alpha", "beta", "gamma"]',
        'answer = ", ".join(llm_query_batched([f"Upper: {p}" for p in parts]))',
        "print(answer)",
    ]
)


def script_run(fake, root: str = "root") -> None:
    """One turn that batches three sub-calls and prints their answers, then FINAL_VAR."""
    fake.script(root, "I will ask the sub-model.\n" + fence(CODE), "FINAL_VAR(answer)")
    fake.rule("sub", "Upper: ", lambda prompt: prompt.rsplit(" ", 1)[1].upper())


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("alpha\nbeta\ngamma\n")
    return path


def one_json(stdout: str) -> dict:
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


def error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlm: error: "), stderr
    return lines[0]


# --- errors: one line, the right code, and one JSON object with --json ----------------------------------


def test_json_errors_are_one_object_with_the_exit_code(run_rlm, notes):
    cases = [
        (("ask", "--json", "nonexistent", "q"), EXIT_INPUT, "input", "no such file or directory: nonexistent"),
        (("ask", "--json", str(notes), "q"), EXIT_CONFIG, "config", "no model configured"),
        (("ask", "--json", "--max-iterations", "0", str(notes), "q"), EXIT_USAGE, "usage", "--max-iterations"),
        (("ask", "--json"), EXIT_USAGE, "usage", "missing QUESTION"),
    ]
    for args, code, kind, message in cases:
        result = run_rlm(*args)
        assert result.returncode == code, (args, result.stderr)
        data = one_json(result.stdout)
        assert (data["schema"], data["status"], data["final"], data["answer"]) == ("rlm.result/1", "error", False, None)
        assert data["error"]["type"] == kind and message in data["error"]["message"]
        assert "Traceback" not in result.stderr and result.stderr.startswith("rlm: error: ")


def test_usage_errors_are_one_line_with_exit_2(run_rlm, notes):
    for args, message in [
        (("ask", "--bogus", str(notes), "q"), "No such option: --bogus"),
        (("ask", "--max-cost", "cheap", str(notes), "q"), "Invalid value for '--max-cost'"),
        (("ask",), "missing QUESTION"),
        (("ask", str(notes), "   "), "the question is empty"),
        (("frobnicate",), "No such command 'frobnicate'"),
    ]:
        result = run_rlm(*args)
        assert result.returncode == EXIT_USAGE, (args, result.stderr)
        assert message in error_line(result.stderr)
        assert result.stdout == ""


def test_unexpected_exception_is_one_line_unless_debug(monkeypatch, capsys, notes):
    from rlm_cli import cli, runner

    def broken(*_args: object, **_kwargs: object) -> int:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(runner, "ask", broken)
    # main() sets SIGPIPE to its default (right for a CLI); in this process it would later kill pytest.
    monkeypatch.setattr(cli.signal, "signal", lambda *_args: None)
    for debug in ([], ["--debug"]):
        monkeypatch.setattr(sys, "argv", ["rlm", "ask", *debug, "-m", "openai/x", str(notes), "q"])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        assert exit_info.value.code == EXIT_INTERNAL
        err = capsys.readouterr().err
        assert "internal error: ZeroDivisionError: boom" in err
        assert ("Traceback" in err) == bool(debug)
        if not debug:
            assert error_line(err).endswith("(run with --debug for the traceback)")


# --- no hang without input ---------------------------------------------------------------------------


def test_no_input_errors_at_once_whatever_stdin_is(run_rlm, rlm_env, tmp_path: Path):
    result = run_rlm("ask", "-m", "openai/x", "what is this?")  # stdin is /dev/null: an empty pipe
    assert result.returncode == EXIT_INPUT
    assert "stdin" in error_line(result.stderr)
    rlm = str(Path(sys.executable).parent / "rlm")
    for args, message in [((), "no input: give files"), (("-",), "stdin is a terminal")]:
        main_fd, tty_fd = pty.openpty()
        try:
            done = subprocess.run(
                [rlm, "ask", "-m", "openai/x", *args, "q"],
                stdin=tty_fd,
                capture_output=True,
                text=True,
                env=rlm_env,
                cwd=tmp_path,
                timeout=30,
            )
        finally:
            os.close(main_fd)
            os.close(tty_fd)
        assert done.returncode == EXIT_INPUT
        assert message in error_line(done.stderr)


# --- a real run: aliases, secrets, traces, replay --------------------------------------------------------


def test_alias_run_keeps_the_key_out_and_saves_a_replayable_trace(fake_llm, rlm_main, tmp_path: Path, notes):
    user_file = tmp_path / "home" / ".config" / "rlm" / "config.toml"  # a project file may not set an api_base
    user_file.parent.mkdir(parents=True, exist_ok=True)
    user_file.write_text(
        f'[aliases.local]\nmodel = "openai/aliased"\napi_base = "{fake_llm.url}"\n'
        f'[aliases.small]\nmodel = "openai/sub"\napi_base = "{fake_llm.url}"\n'
    )
    script_run(fake_llm, root="aliased")
    extra = tmp_path / "copy.jsonl"
    args = ("ask", "-m", "local", "--sub-model", "small", "--api-key", SECRET, "-v", "--trace-file", str(extra))
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 8)  # skipped, with a warning in the trace
    result = rlm_main(*args, str(notes), "blob.bin", "Shout every word.")
    assert result.code == EXIT_OK, result.stderr
    assert result.stdout == "ALPHA, BETA, GAMMA\n"
    # The aliases alone pointed both models at the scripted server.
    assert len(fake_llm.requests_for("aliased")) == 2 and len(fake_llm.requests_for("sub")) == 3
    assert "\x1b" not in result.stderr  # stderr is a pipe: plain lines
    assert "prompt | Upper: beta" in result.stderr  # -v shows sub-call prompts
    # The live view shows the code as it starts, its sub-calls under it, then its output.
    order = ["code #1, 3 lines:", "- 1/3 prompts[", "batch 1: 3/3 done", "code #1 ran", "| ALPHA, BETA, GAMMA"]
    positions = [result.stderr.index(text) for text in order]
    assert positions == sorted(positions)

    traces = list((tmp_path / "home" / ".local" / "share" / "rlm" / "traces").glob("*.jsonl"))
    assert len(traces) == 1 and traces[0].read_bytes() == extra.read_bytes()
    for text in (result.stdout, result.stderr, extra.read_text()):
        assert SECRET not in text
    events = [json.loads(line) for line in extra.read_text().splitlines()]
    assert events[0]["type"] == "run_started" and events[0]["config"]["model"] == "openai/aliased"
    assert events[1]["type"] == "notice" and "skipped blob.bin" in events[1]["message"]
    assert "api_key" not in json.dumps(events[0]["config"])
    reply = next(e for e in events if e["type"] == "model_reply")
    code = next(e for e in events if e["type"] == "code_executed")
    subcall = next(e for e in events if e["type"] == "subcall_finished")
    assert "I will ask the sub-model." in reply["text"] and code["code"].strip() == CODE
    assert code["output"].strip() == "ALPHA, BETA, GAMMA"
    assert subcall["prompt"].startswith("Upper: ") and subcall["response"].isupper()
    assert subcall["input_tokens"] > 0 and subcall["latency_s"] > 0
    assert events[-1]["type"] == "run_finished" and events[-1]["answer"] == "ALPHA, BETA, GAMMA"

    shown = rlm_main("trace", "show", "last")
    assert shown.code == EXIT_OK, shown.stderr
    assert 'llm_query_batched([f"Upper: {p}" for p in parts])' in shown.stdout
    assert shown.stdout.rstrip().endswith("answer:\n  ALPHA, BETA, GAMMA")
    listed = rlm_main("trace", "list")
    assert listed.stdout.startswith(traces[0].stem) and "Shout every word." in listed.stdout
    assert rlm_main("trace", "path", "last").stdout.strip() == str(traces[0])


def test_quiet_local_server_run_prints_only_the_answer_and_needs_no_key(fake_llm, rlm_main, notes, monkeypatch):
    script_run(fake_llm)
    monkeypatch.delenv("OPENAI_API_KEY")
    result = rlm_main("ask", "-q", "-m", "openai/root", "--sub-model", "openai/sub", "--api-base", fake_llm.url,
                      str(notes), "Shout every word.")  # fmt: skip
    assert result.code == EXIT_OK, result.stderr
    assert (result.stdout, result.stderr) == ("ALPHA, BETA, GAMMA\n", "")


@pytest.mark.slow
def test_a_terminal_gets_the_rich_view_and_stdout_stays_clean(fake_llm, rlm_env, tmp_path: Path, notes):
    script_run(fake_llm)
    env = {k: v for k, v in rlm_env.items() if k != "NO_COLOR"} | {"TERM": "xterm-256color"}
    main_fd, tty_fd = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(main_fd, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    args = ["ask", "-m", "openai/root", "--sub-model", "openai/sub", "--api-base", fake_llm.url]
    try:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "rlm"), *args, str(notes), "Shout every word."],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=tty_fd,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
    finally:
        os.close(tty_fd)
        reader.join(timeout=10)
        os.close(main_fd)
    view = b"".join(chunks).decode("utf-8", "replace")
    assert done.returncode == EXIT_OK, view
    assert done.stdout == b"ALPHA, BETA, GAMMA\n"  # a pipe: no escape codes, nothing but the answer
    assert "\x1b[" in view
    plain = ANSI.sub("", view)
    assert "[turn 1/20]" in plain and "code #1, 3 lines:" in plain and "batch 1: 3/3 done" in plain
    assert "run ok: 2 iterations, 3 sub-calls" in plain


# --- start-up: the light commands never import the heavy libraries ----------------------------------------


def test_light_commands_never_import_litellm(tmp_path: Path, rlm_env, notes):
    probe = textwrap.dedent(
        """
        import sys
        from rlm_cli import cli
        heavy = ("litellm", "openai", "httpx", "pydantic", "rich", "pypdf")
        for args in sys.argv[1:]:
            sys.argv = ["rlm", *args.split("|")]
            try:
                cli.main()
            except SystemExit:
                pass
            loaded = [name for name in heavy if name in sys.modules]
            print("LOADED", args, loaded, file=sys.stderr)
        """
    )
    commands = [
        "--version",
        "--help",
        "ask|--help",
        "trace|list",
        "trace|path",
        "trace|show|last",
        "config|path",
        "config|show",
        "local|status",
        f"ask|--dry-run|{notes}|q",
        f"ask|--dry-run|--max-iterations|3|--timeout|2m|--guidance|off|-m|openai/x|{notes}|q",
        f"ask|{notes}|q",  # no model configured, and a key set: a config error, fast
    ]
    done = subprocess.run(
        [sys.executable, "-c", probe, *commands],
        capture_output=True,
        text=True,
        env=rlm_env,
        cwd=tmp_path,
        timeout=60,
    )
    reports = [line for line in done.stderr.splitlines() if line.startswith("LOADED")]
    assert reports == [f"LOADED {args} []" for args in commands], done.stderr
