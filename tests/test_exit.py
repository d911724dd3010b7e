"""Leaving without interpreter teardown (rlm_cli/entry.py) keeps every exit code, output byte and saved file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fakellm import FakeLLM

from rlm_cli.errors import EXIT_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE


def fence(code: str) -> str:
    return f"```repl\n{code}\n```"


def test_a_large_answer_reaches_the_pipe_whole_and_both_traces_are_complete(fake_llm: FakeLLM, run_rlm, tmp_path: Path):
    # 300 kB is several pipe buffers: an exit that skipped the flush would cut the JSON short.
    fake_llm.script("root", fence('big = "x" * 300_000 + "END"\nprint(len(big))'), "FINAL_VAR(big)")
    (tmp_path / "in.txt").write_text("some input\n")
    copy = tmp_path / "copy.jsonl"
    args = ["--json", "--trace-file", str(copy), "--guidance", "off", "-m", "openai/root", "--api-base", fake_llm.url]
    result = run_rlm("ask", "in.txt", "q?", *args)
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.endswith("}\n")
    data = json.loads(result.stdout)
    assert data["status"] == "ok" and data["answer"] == "x" * 300_000 + "END"
    saved = Path(data["trace"]).read_text()
    assert saved == copy.read_text()
    events = [json.loads(line) for line in saved.splitlines()]
    assert events[0]["type"] == "run_started" and events[-1]["type"] == "run_finished"
    assert events[-1]["answer"] == data["answer"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--version"], EXIT_OK),
        (["ask", "--help"], EXIT_OK),
        (["ask", "--max-iterations", "zero", "f", "q"], EXIT_USAGE),
        (["ask", "no-such-file", "q"], EXIT_INPUT),
    ],
)
def test_exit_codes_come_through_the_entry_point(run_rlm, args: list[str], code: int):
    result = run_rlm(*args)
    assert result.returncode == code, result.stderr
    assert (result.stdout if code == EXIT_OK else result.stderr).strip()


@pytest.mark.parametrize(
    ("code", "expected", "stderr"),
    [("None", EXIT_OK, ""), ("5", 5, ""), ("'no way'", EXIT_INTERNAL, "no way\n")],
)
def test_leave_flushes_what_was_written_and_exits_as_sys_exit_would(code: str, expected: int, stderr: str):
    probe = f"import sys\nfrom rlm_cli.entry import leave\nsys.stdout.write('unflushed')\nleave({code})\nprint('never')"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (expected, "unflushed", stderr)
