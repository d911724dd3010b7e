"""Temp dirs go away on every exit path, and those of killed runs are swept at the next start."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakellm import FakeLLM

from rlm_cli.errors import EXIT_INTERRUPTED
from rlm_cli.repl import workdir
from security.conftest import fence, model_args


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_only_unlocked_dirs_of_dead_runs_are_swept(tmp_path: Path) -> None:
    dead = _dead_pid()
    stale = tmp_path / f"rlm-repl-{dead}-abc123"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "data.txt").write_text("left by a killed run")
    live = tmp_path / f"rlm-repl-{os.getpid()}-mine"
    live.mkdir()
    locked = tmp_path / f"rlm-repl-{dead}-locked"  # a live run in another pid namespace
    locked.mkdir()
    target = tmp_path / "user-data"
    target.mkdir()
    (target / "keep.txt").write_text("the user's")
    link = tmp_path / f"rlm-repl-{dead}-link"
    link.symlink_to(target)
    other = tmp_path / "rlm-repl-old-style"
    other.mkdir()
    holder = os.open(locked, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        assert workdir.sweep_stale(str(tmp_path)) == [str(stale)]
    finally:
        os.close(holder)
    assert not stale.exists() and live.exists() and locked.exists() and other.exists()
    assert link.is_symlink() and (target / "keep.txt").exists()


@pytest.mark.slow  # a signal to a real rlm process
def test_sighup_ends_the_run_with_its_partial_answer_and_no_temp_dir(
    fake_llm: FakeLLM, rlm_env: dict[str, str], tmp_path: Path
) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    (tmp_path / "app.log").write_text("line\n")
    fake_llm.script("root", fence("print('started', flush=True)\nimport time\ntime.sleep(60)"))
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "rlm"), "ask", "app.log", "q?", "--json", *model_args(fake_llm)],
        env=rlm_env | {"TMPDIR": str(tmpdir)},
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(tmpdir.glob("rlm-repl-*")) or not fake_llm.requests_for("root"):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        time.sleep(1.0)  # the block is running
        proc.send_signal(signal.SIGHUP)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_INTERRUPTED, stderr
    assert json.loads(stdout)["status"] == "interrupted"
    assert list(tmpdir.iterdir()) == []
