"""The parent's side of a REPL process: start it sandboxed, run cells, serve its model calls, survive its faults."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rlm_cli import protocol
from rlm_cli.errors import BudgetExhausted, SandboxError
from rlm_cli.sandbox import SandboxPolicy, child_env, prepare_workdir, reap

# Extra seconds past --exec-timeout before the parent kills a cell that ignored its own timer.
KILL_GRACE_S = 3.0
START_TIMEOUT_S = 60.0

OnLLM = Callable[[list[str], "str | None", bool], list[str]]

_live: set[ReplProcess] = set()
_live_lock = threading.Lock()


def kill_all() -> None:
    """Kill every REPL process group still alive; used on exit and on a second Ctrl-C."""
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        proc.close(graceful=False)


atexit.register(kill_all)


@dataclass
class CellResult:
    output: str
    cut: int = 0
    status: str = "ok"  # ok | error | timeout | killed | crashed
    final: str | None = None
    state_lost: bool = False
    elapsed_s: float = 0.0


@dataclass
class ReplConfig:
    output_limit: int = 20_000
    sandbox: SandboxPolicy | None = None
    python: str = sys.executable
    extra_env: dict[str, str] = field(default_factory=dict)


class ReplProcess:
    """One REPL child with its own temp dir; restarted in place when it dies or hangs."""

    def __init__(self, write_input: Callable[[str], str], config: ReplConfig, on_llm: OnLLM) -> None:
        self.config = config
        self.on_llm = on_llm
        self.workdir = tempfile.mkdtemp(prefix="rlm-repl-")
        self.bundle = write_input(self.workdir)
        prepare_workdir(self.workdir)
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.warnings: list[str] = []
        self.restarts = 0

    # --- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        parent_sock, child_sock = socket.socketpair()
        stderr_path = Path(self.workdir) / "repl-stderr.log"
        env = child_env(self.workdir) | self.config.extra_env
        with open(stderr_path, "ab") as stderr:
            self.proc = subprocess.Popen(
                [self.config.python, "-I", "-m", "rlm_cli.repl_child", str(child_sock.fileno())],
                pass_fds=[child_sock.fileno()],
                env=env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        child_sock.close()
        self.sock = parent_sock
        with _live_lock:
            _live.add(self)
        policy = self.config.sandbox
        init = {
            "op": "init",
            "bundle": self.bundle,
            "output_limit": self.config.output_limit,
            "sandbox": None if policy is None else dataclasses.asdict(policy),
        }
        try:
            protocol.send(parent_sock, init)
            if not select.select([parent_sock], [], [], START_TIMEOUT_S)[0]:
                raise protocol.ChannelClosed("no answer")
            ready = protocol.recv(parent_sock)
        except protocol.ChannelClosed as exc:
            detail = self._stderr_tail() or str(exc)
            self.close(graceful=False)
            raise SandboxError(f"the REPL process failed to start: {detail}") from exc
        self.warnings = list(ready.get("warnings") or [])

    def _stderr_tail(self) -> str:
        try:
            text = (Path(self.workdir) / "repl-stderr.log").read_text("utf-8", "replace").strip()
        except OSError:
            return ""
        return text.splitlines()[-1][:300] if text else ""

    def _kill(self) -> None:
        proc = self.proc
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            if self.config.sandbox is not None:
                reap(self.config.sandbox)  # processes that left the group with setsid
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if self.sock is not None:
            self.sock.close()
        self.proc = None
        self.sock = None

    def restart(self) -> None:
        self._kill()
        self.restarts += 1
        self.start()

    def close(self, graceful: bool = True) -> None:
        """Stop the child and its whole process group, and remove the temp dir."""
        if graceful and self.sock is not None and self.proc is not None:
            with contextlib.suppress(protocol.ChannelClosed):
                protocol.send(self.sock, {"op": "exit"})
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1)
        self._kill()
        with _live_lock:
            _live.discard(self)
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- running code -----------------------------------------------------------------------
    def run(self, code: str, timeout: float, deadline: float | None = None) -> CellResult:
        """Run one cell; the cell's timer excludes time spent waiting on model calls."""
        started = time.monotonic()
        if self.sock is None:
            self.start()
        assert self.sock is not None
        try:
            protocol.send(self.sock, {"op": "exec", "code": code, "timeout": timeout})
            kill_at = time.monotonic() + timeout + KILL_GRACE_S
            while True:
                limit = kill_at if deadline is None else min(kill_at, deadline)
                if not select.select([self.sock], [], [], max(limit - time.monotonic(), 0))[0]:
                    if deadline is not None and time.monotonic() >= deadline:
                        self._kill()
                        raise BudgetExhausted("timeout", "time budget exhausted while code was running")
                    return self._lost(
                        started,
                        "timeout",
                        f"the cell ran past its {timeout:g}s limit and did not stop, so the REPL process was killed",
                    )
                message = protocol.recv(self.sock)
                if message["op"] == "llm":
                    waited = time.monotonic()
                    results = self._serve_llm(message)
                    kill_at += time.monotonic() - waited
                    protocol.send(self.sock, {"op": "llm_result", "results": results})
                elif message["op"] == "result":
                    return CellResult(
                        output=str(message.get("output", "")),
                        cut=int(message.get("cut") or 0),
                        status=str(message.get("status", "ok")),
                        final=message.get("final") if isinstance(message.get("final"), str) else None,
                        elapsed_s=time.monotonic() - started,
                    )
                else:
                    raise protocol.ChannelClosed(f"unexpected message {message['op']!r}")
        except protocol.ChannelClosed as exc:
            return self._lost(started, "crashed", f"the REPL process died ({self._death(exc)})")

    def _serve_llm(self, message: dict) -> list[str]:
        prompts = message.get("prompts")
        if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
            raise protocol.ChannelClosed("malformed llm request")
        model = message.get("model")
        return self.on_llm(prompts, model if isinstance(model, str) else None, bool(message.get("batched")))

    def _death(self, exc: Exception) -> str:
        proc = self.proc
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
            code = proc.returncode
            if code is not None and code < 0:
                return f"killed by signal {signal.Signals(-code).name}"
            if code is not None:
                return f"exit code {code}"
        return str(exc)

    def _lost(self, started: float, status: str, why: str) -> CellResult:
        self.restart()
        note = (
            f"[REPL] {why}. It was restarted: every variable you made is gone "
            "(context, documents and the helper functions are back)."
        )
        return CellResult(output=note, status=status, state_lost=True, elapsed_s=time.monotonic() - started)

    def get_var(self, name: str) -> str | None:
        """The value of a REPL variable as text, or None when it does not exist."""
        if self.sock is None:
            return None
        try:
            protocol.send(self.sock, {"op": "getvar", "name": name})
            if not select.select([self.sock], [], [], 30)[0]:
                return None
            reply = protocol.recv(self.sock)
        except protocol.ChannelClosed:
            return None
        return reply.get("value") if reply.get("found") else None
