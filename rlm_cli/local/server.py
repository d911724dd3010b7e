"""Start, stop and watch llama.cpp's OpenAI-compatible server (`python -m llama_cpp.server`) for the local model.

The pid file (server.json) records the pid, port and model. A pid file whose process is gone, or whose pid
now belongs to another program, is stale: it is removed and the server counts as down.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.request import ProxyHandler, build_opener

from rlm_cli.errors import ConfigError, ModelError, UsageError
from rlm_cli.local import (
    DEFAULT_MODEL,
    DEFAULT_PORT,
    SETUP_COMMAND,
    LocalPaths,
    ModelFile,
    server_missing,
    server_python,
    setup,
)

DEFAULT_CTX = 32768  # tokens: room for the RLM prompt, a REPL output and a reply
DEFAULT_WAIT = 300.0  # seconds for the model to load; a slow disk or a busy CPU can take minutes
_POLL = 0.2
_DIRECT = build_opener(ProxyHandler({}))  # 127.0.0.1 never goes through an http_proxy
_STOP_WAIT = 5.0  # a busy server finishes its request first on SIGTERM; nothing in it is worth the wait

Say = Callable[[str], None]


@dataclass
class ServerState:
    pid: int
    port: int
    model: str  # the name the server answers to
    python: str
    started: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@dataclass
class Status:
    state: str  # down | starting | up
    server: ServerState | None = None
    note: str | None = None  # what was cleaned up on the way, e.g. a stale pid file


def server_command(python: str, model: Path, port: int, alias: str, ctx: int, threads: int | None = None) -> list[str]:
    """llama_cpp.server's command line; without `threads` it uses its own defaults (half the logical CPUs
    to generate, all of them to read the prompt).

    One thread per logical CPU is much slower when another process also wants them: llama.cpp's threads
    wait on each other (measured on 2 busy cores: 0.7 generated tokens/s with 2 threads, 18 with 1).
    """
    command = [python, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--n_ctx", str(ctx), "--model_alias", alias]
    return command + (["--n_threads", str(threads), "--n_threads_batch", str(threads)] if threads else [])


def read_status(paths: LocalPaths) -> Status:
    """The truth: down (no live server of ours), starting (alive, not answering yet) or up (answers /v1/models)."""
    state = _load(paths)
    if state is None:
        return Status("down")
    if not _is_our_server(state):
        paths.state.unlink(missing_ok=True)
        return Status("down", note=f"removed a stale pid file (pid {state.pid} is not the rlm local server)")
    return Status("up" if _answers(state.url) else "starting", state)


def start(
    paths: LocalPaths,
    spec: ModelFile = DEFAULT_MODEL,
    *,
    port: int | None = None,
    preferred_port: int = DEFAULT_PORT,
    ctx: int = DEFAULT_CTX,
    threads: int | None = None,
    wait: float = DEFAULT_WAIT,
    say: Say = lambda _text: None,
) -> Status:
    """Start the server unless it already runs, and wait until it answers; harmless to call twice."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with _locked(paths):
        current = read_status(paths)
        if current.state == "up":
            return current
        if current.state == "starting":
            return _wait_ready(paths, current.server, wait, None)
        if not setup.is_ready(paths, spec):
            raise ConfigError(f"the local model is not set up; run: {SETUP_COMMAND}   (downloads {spec.size_text})")
        chosen = _choose_port(port, preferred_port)
        command = server_command(server_python(), paths.model(spec), chosen, spec.alias, ctx, threads)
        say(f"starting the local model server ({spec.alias}) on port {chosen}; log: {paths.log}")
        with open(paths.log, "wb") as log:
            try:
                process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            except OSError:  # RLM_LOCAL_PYTHON names no program
                raise ConfigError(server_missing(command[0])) from None
        state = ServerState(process.pid, chosen, spec.alias, command[0], time.time())
        _save(paths, state)
        return _wait_ready(paths, state, wait, process)


def stop(paths: LocalPaths) -> Status:
    """Stop our server if it runs (SIGTERM, then SIGKILL); the returned status names what was stopped."""
    current = read_status(paths)
    if current.server is None:
        return current
    pid = current.server.pid
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_WAIT
    while not _gone(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(_POLL / 2)
    paths.state.unlink(missing_ok=True)
    return Status("down", current.server)


def ensure_running(paths: LocalPaths, spec: ModelFile = DEFAULT_MODEL, say: Say = lambda _text: None) -> ServerState:
    """For `rlm ask` with the local model: the running server, started first if the model is set up."""
    current = read_status(paths)
    if current.state != "up":
        current = start(paths, spec, say=say)
    assert current.server is not None  # start() returns up or raises
    return current.server


def _wait_ready(paths: LocalPaths, state: ServerState, wait: float, process: subprocess.Popen | None) -> Status:
    deadline = time.monotonic() + wait
    while not _answers(state.url):
        alive = process.poll() is None if process is not None else _is_our_server(state)
        if not alive:
            paths.state.unlink(missing_ok=True)
            raise _start_failure(paths, state)
        if time.monotonic() > deadline:
            raise ModelError(
                f"the local model server is still starting after {wait:.0f} s; "
                f"'rlm local status' says when it is up (log: {paths.log})"
            )
        time.sleep(_POLL)
    return Status("up", state)


def _start_failure(paths: LocalPaths, state: ServerState) -> Exception:
    """Why the server exited: the log's last line, or the package to install."""
    try:
        lines = paths.log.read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    text = "\n".join(lines)
    if "No module named 'llama_cpp" in text or "No module named llama_cpp" in text:
        return ConfigError(server_missing(state.python))
    last = lines[-1] if lines else "no output"
    return ModelError(f"the local model server exited at start: {last} (log: {paths.log})")


def _answers(url: str) -> bool:
    try:
        with _DIRECT.open(f"{url}/models", timeout=2) as response:
            return response.status == 200
    except (URLError, OSError, ValueError):
        return False


def _is_our_server(state: ServerState) -> bool:
    """The pid is alive and runs llama_cpp.server on our port: a reused pid is someone else's process."""
    if _gone(state.pid):
        return False
    args = _command_line(state.pid)
    return "llama_cpp.server" in args and any(
        args[i : i + 2] == ["--port", str(state.port)] for i in range(len(args) - 1)
    )


def _command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:  # no /proc (macOS): ask ps
        done = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, check=False)
        return done.stdout.split()


def _gone(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0]:  # our own child that exited: reap it, or it lingers as a zombie
            return True
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, but another user's
        return False
    return False


def _choose_port(port: int | None, preferred: int) -> int:
    if port is not None:
        if not _port_free(port):
            raise UsageError(f"port {port} is in use; leave out --port to pick a free one")
        return port
    if _port_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _load(paths: LocalPaths) -> ServerState | None:
    try:
        return ServerState(**json.loads(paths.state.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):  # unreadable or from another version: nothing to trust
        paths.state.unlink(missing_ok=True)
        return None


def _save(paths: LocalPaths, state: ServerState) -> None:
    staging = paths.state.with_suffix(".tmp")
    staging.write_text(json.dumps(asdict(state)))
    staging.replace(paths.state)


@contextlib.contextmanager
def _locked(paths: LocalPaths) -> Iterator[None]:
    """One start at a time: two `rlm ask` runs at once share one server."""
    with open(paths.lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
