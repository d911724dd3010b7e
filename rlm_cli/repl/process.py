"""The parent's side of a REPL process: start it sandboxed, run cells, serve its model calls, survive its faults.

Everything the child sends is untrusted: each wait is bounded in time, each message is checked, and a
child that dies, hangs or breaks the protocol is killed with everything it started, then restarted.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import itertools
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlm_cli.errors import BudgetExhausted, SandboxError
from rlm_cli.repl import protocol, workdir
from rlm_cli.repl.child import CappedOutput
from rlm_cli.repl.sandbox import SandboxPolicy, child_env, prepare_workdir, reap, release_ids, shield_parent

# Extra seconds past --exec-timeout before the parent kills a cell that ignored its own timer.
KILL_GRACE_S = 3.0
START_TIMEOUT_S = 60.0
# FINAL_VAR reads a variable outside any cell; the child gives up on a slow __repr__ after 10 s.
GETVAR_TIMEOUT_S = 30.0
# The child caps a cell's output at output_limit plus a one-line note; anything longer was forged.
_NOTE_ROOM = 100
_CELL_STATUSES = ("ok", "error", "timeout")

OnLLM = Callable[[list[str], "str | None", bool], list[str]]
# A choice among labels (classify): each prompt's reply text, with its first token's alternatives when given.
OnChoose = Callable[[list[str], "str | None"], list[tuple[str, "list[tuple[str, float]] | None"]]]

_live: set[ReplProcess] = set()
_live_lock = threading.Lock()


def kill_all() -> None:
    """Kill every REPL process group still alive and remove its temp dir; used on exit and on a second Ctrl-C."""
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        proc.close(graceful=False)


atexit.register(kill_all)


@dataclass
class CellResult:
    output: str
    cut: int = 0
    status: str = "ok"  # ok | error | timeout | crashed
    final: str | None = None
    state_lost: bool = False
    elapsed_s: float = 0.0
    notes: list[dict[str, Any]] = field(default_factory=list)  # engine/guide.Note fields, checked by _notes()


@dataclass
class ReplConfig:
    output_limit: int = 20_000
    sandbox: SandboxPolicy | None = None
    question: str = ""  # where classify() in the REPL finds the meanings of the labels it is given
    python: str = sys.executable
    extra_env: dict[str, str] = field(default_factory=dict)


# The child runs isolated (-I: no PYTHONPATH, no user site), so it is told where this rlm_cli lives: a checkout
# run with PYTHONPATH beside another installed version must not pair its parent with the other's child.
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BOOT = (
    "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
    "runpy.run_module('rlm_cli.repl.child', run_name='__main__')"
)


class ReplProcess:
    """One REPL child with its own temp dir; restarted in place when it dies or hangs."""

    def __init__(
        self,
        write_input: Callable[[str], str],
        config: ReplConfig,
        on_llm: OnLLM,
        on_choose: OnChoose | None = None,
    ) -> None:
        self.config = config
        self.on_llm = on_llm
        self.on_choose = on_choose  # None: choices are served as plain text, with no alternatives
        self.workdir, self._workdir_lock = workdir.create()
        self._write_input = write_input
        self.bundle: str | None = None  # written by the first start, which may run in a thread (start_soon)
        # The child's stderr, kept outside its workdir: a file there could be swapped for a symlink
        # that a restart would open, as root, for the next child to write into.
        self.stderr = tempfile.TemporaryFile(prefix="rlm-repl-stderr-")  # noqa: SIM115 - closed by close()
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.warnings: list[str] = []
        self._ids = itertools.count(1)
        self._lost_why: str | None = None  # set when a child was killed outside a cell; told with the next one
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None
        self._gate: threading.Event | None = None

    # --- life cycle -------------------------------------------------------------------------
    def start_soon(
        self, on_started: Callable[[list[str]], None] | None = None, gate: threading.Event | None = None
    ) -> None:
        """Spawn the child now and finish its start in a thread, so writing the input and the child's boot
        overlap the first model call. The first cell (or variable read) waits for it and raises what the start
        raised; `on_started` gets the sandbox's warnings once the child is up.

        `gate` is an event that write_input may wait on before it returns, holding the child's load back (the
        engine lets go of its own copy of the input first); close() sets it, so such a start always ends.
        The spawn stays in the calling thread: the child dies with the thread that forked it (PR_SET_PDEATHSIG).
        """
        self._gate = gate
        self._spawn()

        def finish() -> None:
            try:
                self._handshake()
            except BaseException as exc:  # handed to the thread that needs the child
                self._start_error = exc
                return
            if on_started is not None:
                on_started(self.warnings)

        self._starting = threading.Thread(target=finish, name="rlm-repl-start", daemon=True)
        self._starting.start()

    def _started(self) -> None:
        """Wait for a start begun by start_soon, and raise its error here."""
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        error, self._start_error = self._start_error, None
        if error is not None:
            raise error

    def start(self) -> None:
        self._spawn()
        self._handshake()

    def _spawn(self) -> None:
        policy = self.config.sandbox
        if policy is not None and policy.enabled:
            shield_parent()
        parent_sock, child_sock = socket.socketpair()
        env = child_env(self.workdir) | self.config.extra_env
        with child_sock:
            try:
                self.proc = subprocess.Popen(
                    [self.config.python, "-I", "-c", _BOOT, _PACKAGE_ROOT, str(child_sock.fileno())],
                    pass_fds=[child_sock.fileno()],
                    env=env,
                    cwd=self.workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=self.stderr,
                    start_new_session=True,
                )
            except OSError as exc:
                parent_sock.close()
                raise SandboxError(f"cannot start the REPL process: {exc}") from exc
        self.sock = parent_sock
        with _live_lock:
            _live.add(self)

    def _handshake(self) -> None:
        """Write the input once (the child boots meanwhile), then hand it the input and the policy."""
        if self.bundle is None:
            self.bundle = self._write_input(self.workdir)
            prepare_workdir(self.workdir)
        policy = self.config.sandbox
        assert self.sock is not None
        init = {
            "op": "init",
            "bundle": self.bundle,
            "output_limit": self.config.output_limit,
            "question": self.config.question,
            "sandbox": None if policy is None else dataclasses.asdict(policy),
        }
        limit = time.monotonic() + START_TIMEOUT_S
        try:
            protocol.send(self.sock, init, limit)
            ready = self._recv(limit)
            warnings = ready.get("warnings")
            if ready["op"] != "ready" or not isinstance(warnings, list):
                raise protocol.ProtocolError(f"expected ready, got {ready['op']!r}")
        except protocol.ChannelClosed as exc:
            detail = self._stderr_tail() or str(exc)
            self.close(graceful=False)
            raise SandboxError(f"the REPL process failed to start: {detail}") from exc
        self.warnings = [w for w in warnings if isinstance(w, str)]

    def _stderr_tail(self) -> str:
        """The child's last stderr line; pread, since the child shares the file offset."""
        fd = self.stderr.fileno()
        size = os.fstat(fd).st_size
        text = os.pread(fd, 4096, max(size - 4096, 0)).decode("utf-8", "replace").strip()
        return text.splitlines()[-1][:300] if text else ""

    def _kill(self) -> None:
        """Kill the child's process group, then every process of its sandbox uid (those that left the group)."""
        proc, sock = self.proc, self.sock
        self.proc = self.sock = None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            if self.config.sandbox is not None:
                reap(self.config.sandbox)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        if sock is not None:
            sock.close()

    def restart(self) -> None:
        self._kill()
        self.start()

    def close(self, graceful: bool = True) -> None:
        """Stop the child and its whole process group, and remove the temp dir."""
        starting = self._starting
        if starting is not None and starting is not threading.current_thread():
            if starting.is_alive():  # still booting: nothing in it to keep, and waiting would only delay the end
                graceful = False
                self._kill()
            if self._gate is not None:
                self._gate.set()  # a start held back at the gate goes on, and fails at once on the killed child
            starting.join()  # at once: the kill made its handshake fail
        if graceful and self.sock is not None and self.proc is not None:
            with contextlib.suppress(protocol.ChannelClosed):
                protocol.send(self.sock, {"op": "exit"}, time.monotonic() + 1)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1)
        self._kill()
        with _live_lock:
            _live.discard(self)
        release_ids(self.workdir)  # its processes are dead: the sandbox uid may serve another REPL
        lock, self._workdir_lock = self._workdir_lock, -1
        if lock >= 0:  # close() runs again from kill_all() at exit
            workdir.remove(self.workdir, lock)
        self.stderr.close()

    def _recv(self, limit: float) -> dict[str, Any]:
        """The child's next message, or ChannelClosed once `limit` (monotonic) passes."""
        assert self.sock is not None
        if not select.select([self.sock], [], [], max(limit - time.monotonic(), 0))[0]:
            raise protocol.ChannelTimeout("no answer in time")
        return protocol.recv(self.sock, deadline=limit)

    # --- running code -----------------------------------------------------------------------
    def run(self, code: str, timeout: float, deadline: float | None = None) -> CellResult:
        """Run one cell; the cell's timer excludes time spent waiting on model calls."""
        started = time.monotonic()
        lost, self._lost_why = self._lost_why, None
        try:
            self._started()
            if self.sock is None:
                self.start()
            result = self._run(code, timeout, deadline, started)
        except BaseException:
            # Ctrl-C or a spent budget in the middle of a cell: the run is ending, and the child with it.
            self._kill()
            raise
        if lost is not None:
            result.output = f"{self._lost_note(lost)}\n\n{result.output}"
            result.state_lost = True
        return result

    def _run(self, code: str, timeout: float, deadline: float | None, started: float) -> CellResult:
        assert self.sock is not None
        ident = next(self._ids)
        kill_at = started + timeout + KILL_GRACE_S
        try:
            protocol.send(self.sock, {"op": "exec", "id": ident, "code": code, "timeout": timeout}, kill_at)
            while True:
                limit = kill_at if deadline is None else min(kill_at, deadline)
                if not select.select([self.sock], [], [], max(limit - time.monotonic(), 0))[0]:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise BudgetExhausted("timeout", "time budget exhausted while code was running")
                    return self._lost(
                        started,
                        "timeout",
                        f"the cell ran past its {timeout:g}s limit and did not stop, so the REPL process was killed",
                    )
                message = protocol.recv(self.sock, deadline=limit)
                if message["op"] == "llm":
                    waited = time.monotonic()
                    reply = self._serve_llm(message)
                    kill_at += time.monotonic() - waited
                    protocol.send(self.sock, {"op": "llm_result", **reply}, kill_at)
                elif message["op"] != "result":
                    raise protocol.ProtocolError(f"unexpected message {message['op']!r}")
                elif message.get("id") == ident:
                    return self._cell_result(message, started)
                # else: a stale result (a cell forged one before its own): skip it
        except protocol.ChannelClosed as exc:
            if deadline is not None and time.monotonic() >= deadline:
                raise BudgetExhausted("timeout", "time budget exhausted while code was running") from exc
            return self._lost(started, "crashed", self._death(exc))

    def _cell_result(self, message: dict[str, Any], started: float) -> CellResult:
        """Trust nothing in the child's result: wrong types are dropped and oversized output is cut."""
        output = message.get("output")
        output = output if isinstance(output, str) else ""
        cut = message.get("cut")
        cut = cut if isinstance(cut, int) and cut > 0 else 0
        if len(output) > self.config.output_limit + _NOTE_ROOM:
            capped = CappedOutput(self.config.output_limit)
            capped.write(output)
            output, more = capped.render()
            cut += more
        status = message.get("status")
        final = message.get("final")
        return CellResult(
            output=output,
            cut=cut,
            status=status if status in _CELL_STATUSES else "error",
            final=final if isinstance(final, str) else None,
            elapsed_s=time.monotonic() - started,
            notes=_notes(message.get("notes")),
        )

    def _serve_llm(self, message: dict[str, Any]) -> dict[str, Any]:
        """The fields of the reply to one `llm` request: `results`, and `first_tokens` for a choice."""
        prompts = message.get("prompts")
        if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
            raise protocol.ProtocolError("malformed llm request")
        model = message.get("model")
        model = model if isinstance(model, str) else None
        if message.get("choose") is not True:
            return {"results": self.on_llm(prompts, model, bool(message.get("batched")))}
        if self.on_choose is None:
            return {"results": self.on_llm(prompts, model, True), "first_tokens": [None] * len(prompts)}
        replies = self.on_choose(prompts, model)
        return {
            "results": [text for text, _ in replies],
            "first_tokens": [top for _, top in replies],
        }

    def _death(self, exc: protocol.ChannelClosed) -> str:
        """Why the channel failed, in words for the model; a live child that spoke garbage is not waited for."""
        if isinstance(exc, protocol.ProtocolError):
            return f"the REPL process sent a malformed message ({exc}), so it was killed"
        if isinstance(exc, protocol.ChannelTimeout):
            return f"the REPL process stopped answering ({exc}), so it was killed"
        proc = self.proc
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
            code = proc.returncode
            if code is not None and code < 0:
                return f"the REPL process died (killed by signal {_signal_name(-code)})"
            if code is not None:
                return f"the REPL process died (exit code {code})"
        return f"the REPL process closed its channel ({exc}), so it was killed"

    def _lost(self, started: float, status: str, why: str) -> CellResult:
        self.restart()
        return CellResult(
            output=self._lost_note(why), status=status, state_lost=True, elapsed_s=time.monotonic() - started
        )

    @staticmethod
    def _lost_note(why: str) -> str:
        return (
            f"[REPL] {why}. It was restarted: every variable you made is gone "
            "(context, documents and the helper functions are back)."
        )

    def get_var(self, name: str) -> str | None:
        """The value of a REPL variable as text, or None when it does not exist or the child failed."""
        self._started()
        if self.sock is None:
            return None
        ident = next(self._ids)
        limit = time.monotonic() + GETVAR_TIMEOUT_S
        try:
            protocol.send(self.sock, {"op": "getvar", "id": ident, "name": name}, limit)
            while True:
                reply = self._recv(limit)
                if reply["op"] not in ("var", "result"):
                    raise protocol.ProtocolError(f"unexpected message {reply['op']!r}")
                if reply["op"] == "var" and reply.get("id") == ident:
                    break
        except protocol.ChannelClosed as exc:
            self._lost_why = self._death(exc)
            self._kill()  # restarted by the next cell, which tells the model its state is gone
            return None
        value = reply.get("value")
        return value if reply.get("found") is True and isinstance(value, str) else None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


_NOTE_KINDS = {"has_none", "only_none", "pasted"}


def _notes(raw: Any, most: int = 20) -> list[dict[str, Any]]:
    """The child's notes on a cell, keeping only well-formed ones: the child is not trusted."""
    if not isinstance(raw, list):
        return []
    kept = []
    for note in raw[:most]:
        if (
            isinstance(note, dict)
            and note.get("kind") in _NOTE_KINDS
            and isinstance(note.get("name"), str)
            and note["name"].isidentifier()
            and len(note["name"]) <= 100
            and all(type(note.get(k)) is int and 0 <= note[k] <= 2**62 for k in ("kept", "total"))
        ):
            kept.append({k: note[k] for k in ("kind", "name", "kept", "total")})
    return kept
