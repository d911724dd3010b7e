"""The sandbox against real attacks: every test runs a real child that applies a policy, then misbehaves."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rlm_cli.repl import sandbox
from rlm_cli.repl.sandbox import SandboxPolicy, child_env, landlock_abi, prepare_workdir

ROOT = str(Path(sandbox.__file__).resolve().parent.parent)
IS_ROOT = os.geteuid() == 0
ABI = landlock_abi()
needs_landlock = pytest.mark.skipif(ABI == 0, reason="Landlock unavailable on this kernel")
needs_root = pytest.mark.skipif(not IS_ROOT, reason="a private sandbox uid needs root")
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox confines only on Linux")

PRELUDE = """\
import json, os, sys
from rlm_cli.repl import sandbox
WARNINGS = sandbox.apply(sandbox.SandboxPolicy(**json.loads(sys.argv[1])))
ARGS = sys.argv[2:]
"""


def launch(
    tmp_path: Path, body: str, *args: str, pass_fds: tuple[int, ...] = (), **overrides: object
) -> tuple[subprocess.Popen[str], SandboxPolicy]:
    """Start a child that applies the policy for a fresh workdir, then runs `body` with `ARGS`."""
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    policy = SandboxPolicy.for_input(1000, str(workdir), **overrides)
    prepare_workdir(str(workdir))
    env = child_env(str(workdir)) | {"PYTHONPATH": ROOT}
    script = PRELUDE + textwrap.dedent(body)
    proc = subprocess.Popen(
        [sys.executable, "-c", script, json.dumps(dataclasses.asdict(policy)), *args],
        env=env,
        cwd=workdir,
        pass_fds=pass_fds,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return proc, policy


def run(
    tmp_path: Path, body: str, *args: str, timeout: float = 60, **overrides: object
) -> subprocess.CompletedProcess[str]:
    proc, _ = launch(tmp_path, body, *args, **overrides)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def live_pids_of(uid: int) -> list[int]:
    """Processes (zombies excluded) whose real uid is `uid`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
            pids.append(int(entry.name))
    return pids


def state_of(pid: int) -> str:
    """The kernel's one-letter process state, or "gone"."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_child_env_drops_every_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    monkeypatch.setenv("MY_TOKEN", "tok-456")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    env = json.loads(ok(run(tmp_path, "print(json.dumps(dict(os.environ)))")))
    assert "sk-secret-123" not in json.dumps(env) and "tok-456" not in json.dumps(env)
    assert env["HOME"] == env["TMPDIR"] == str(tmp_path / "work")
    assert env["PATH"] == "/usr/bin:/bin" and env["LC_ALL"] == "C.UTF-8"
    allowed = set(child_env("/w")) | {"PYTHONPATH", "LANG", "LANGUAGE", "TZ"}
    assert {name for name in env if not name.startswith("LC_")} <= allowed


def test_code_planted_in_the_workdir_never_runs_at_startup(tmp_path: Path) -> None:
    """The workdir outlives a crashed child; a restarted one must not import what model code left there."""
    workdir = tmp_path / "work"
    site = workdir / ".local" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    site.mkdir(parents=True)
    (site / "usercustomize.py").write_text("print('PWNED by usercustomize')\n")
    (workdir / "rlm_cli").mkdir()
    (workdir / "rlm_cli" / "__init__.py").write_text("print('PWNED by a shadow package')\n")
    out = ok(run(tmp_path, "print(sandbox.__file__)"))
    assert "PWNED" not in out
    assert out.strip() == sandbox.__file__


@needs_landlock
def test_writes_only_inside_the_workdir(tmp_path: Path) -> None:
    targets = [os.path.expanduser("~"), "/tmp", ROOT, str(tmp_path)]
    body = """
    for target in ARGS:
        path = os.path.join(target, f"rlm-sandbox-probe-{os.getpid()}")
        try:
            open(path, "w").close()
            print("WROTE", path)
        except PermissionError:
            print("denied", target)
    with open("inside.txt", "w") as f:
        f.write("fine")
    os.mkdir("sub")
    os.rename("inside.txt", "sub/moved.txt")
    print("inside ok")
    """
    result = run(tmp_path, body, *targets)
    for line in result.stdout.splitlines():
        if line.startswith("WROTE "):
            os.unlink(line.removeprefix("WROTE "))
    out = ok(result)
    assert "WROTE" not in out
    assert out.count("denied") == len(targets) and "inside ok" in out
    assert (tmp_path / "work" / "sub" / "moved.txt").read_text() == "fine"


@needs_landlock
def test_reads_are_confined_but_the_stdlib_still_imports(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    (outside / "secret.txt").chmod(0o644)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the corpus")
    corpus.chmod(0o644)
    body = """
    for path in (ARGS[0], "/etc/passwd", ARGS[2]):
        try:
            open(path).read() if not os.path.isdir(path) else os.listdir(path)
            print("READ", path)
        except PermissionError:
            print("denied")
    print(open(ARGS[1]).read())
    import collections, concurrent.futures, decimal, hashlib, itertools, math, re, sqlite3, statistics
    import textwrap, zlib
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        squares = list(pool.map(lambda x: x * x, range(4)))
    print(statistics.mean(squares), hashlib.sha256(b"x").hexdigest()[:6], textwrap.shorten("a b c", 9))
    """
    out = ok(
        run(tmp_path, body, str(outside / "secret.txt"), str(corpus), os.path.expanduser("~"), read_paths=[str(corpus)])
    )
    assert "READ" not in out and out.count("denied") == 3
    assert "the corpus" in out and "3.5 2d7116 a b c" in out


def test_no_tcp_or_udp(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    body = """
    import socket
    try:
        socket.create_connection(("127.0.0.1", int(ARGS[0])), timeout=2)
        print("CONNECTED")
    except OSError as exc:
        print("tcp blocked", exc.errno)
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", 9))
        print("SENT")
    except OSError as exc:
        print("udp blocked", exc.errno)
    """
    try:
        result = run(tmp_path, body, str(listener.getsockname()[1]))
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    out = ok(result)
    assert "tcp blocked" in out and "udp blocked" in out
    assert "CONNECTED" not in out and "SENT" not in out


def test_inherited_socketpair_still_works(tmp_path: Path) -> None:
    parent, child = socket.socketpair()
    body = """
    import socket
    sock = socket.socket(fileno=int(ARGS[0]))
    sock.sendall(b"ping")
    print(sock.recv(4).decode())
    """
    with parent, child:
        proc, _ = launch(tmp_path, body, str(child.fileno()), pass_fds=(child.fileno(),))
        child.close()
        parent.settimeout(30)
        assert parent.recv(4) == b"ping"
        parent.sendall(b"pong")
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.strip() == "pong"


def test_huge_allocation_fails_and_the_child_survives(tmp_path: Path) -> None:
    body = """
    try:
        block = bytearray(12 << 30)
        print("ALLOCATED")
    except MemoryError:
        print("MemoryError")
    print("alive", len(bytearray(10 << 20)))
    """
    out = ok(run(tmp_path, body))
    assert out.split() == ["MemoryError", "alive", str(10 << 20)]


@needs_root
def test_fork_bomb_is_bounded_and_reaped(tmp_path: Path) -> None:
    body = """
    import time
    forks = 0
    for _ in range(500):
        try:
            pid = os.fork()
        except OSError:
            continue
        if pid == 0:
            os.setsid()  # try to leave the process group the parent would kill
            try:
                os.fork()
            except OSError:
                pass
            time.sleep(120)
            os._exit(0)
        forks += 1
    print(forks, flush=True)
    time.sleep(120)
    """
    proc, policy = launch(tmp_path, body, max_processes=16)
    assert policy.uid is not None
    try:
        forks = int(proc.stdout.readline() or "-1")
        assert 0 < forks < 16, proc.stderr.read()
        assert 0 < len(live_pids_of(policy.uid)) <= 16
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert live_pids_of(policy.uid), "escaped processes should outlive the process group"
    finally:
        assert sandbox.reap(policy)
        proc.kill()
        proc.communicate()
    deadline = time.monotonic() + 10
    while live_pids_of(policy.uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_pids_of(policy.uid) == []


@needs_root
def test_each_workdir_gets_its_own_uid(tmp_path: Path) -> None:
    first, second = SandboxPolicy.for_input(1, str(tmp_path / "a")), SandboxPolicy.for_input(1, str(tmp_path / "b"))
    assert first.uid is not None and second.uid is not None and first.uid != second.uid
    assert SandboxPolicy.for_input(1, str(tmp_path / "a")).uid == first.uid
    assert SandboxPolicy.for_input(1, str(tmp_path / "a"), enabled=False).uid is None


def test_cpu_limit_kills_a_busy_loop(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run(tmp_path, "print('spinning', flush=True)\nwhile True:\n    pass\n", cpu_seconds=1)
    assert "spinning" in result.stdout
    assert result.returncode in (-signal.SIGXCPU, -signal.SIGKILL)
    assert time.monotonic() - started < 15


@needs_landlock
def test_child_cannot_signal_the_parent(tmp_path: Path) -> None:
    if ABI < 6 and not IS_ROOT:
        pytest.skip("without a uid switch, only Landlock ABI 6 scopes signals")
    body = """
    try:
        os.kill(int(ARGS[0]), 0)
        print("SIGNALLED")
    except PermissionError:
        print("denied")
    """
    assert ok(run(tmp_path, body, str(os.getpid()))).strip() == "denied"


def test_child_dies_with_its_parent(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    policy = SandboxPolicy.for_input(1000, str(workdir))
    prepare_workdir(str(workdir))
    grandchild = PRELUDE + "print(os.getpid(), flush=True)\nimport time\ntime.sleep(120)\n"
    middle = f"""
import json, subprocess, sys, time
proc = subprocess.Popen([sys.executable, "-c", {grandchild!r}, {json.dumps(dataclasses.asdict(policy))!r}],
                        env={child_env(str(workdir)) | {"PYTHONPATH": ROOT}!r}, cwd={str(workdir)!r})
time.sleep(120)
"""
    proc = subprocess.Popen([sys.executable, "-c", middle], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while state_of(pid) not in ("Z", "gone") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state_of(pid) in ("Z", "gone")
    finally:
        proc.kill()
        proc.communicate()


def test_apply_refuses_to_leave_a_thread_unconfined(tmp_path: Path) -> None:
    script = """
import sys, threading, time
from rlm_cli.repl import sandbox
threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
try:
    sandbox.apply(sandbox.SandboxPolicy())
except sandbox.SandboxError as exc:
    print("refused:", exc)
"""
    env = child_env(str(tmp_path)) | {"PYTHONPATH": ROOT}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert "refused: the sandbox must be applied before any thread starts" in result.stdout, result.stderr


@needs_landlock
def test_missing_write_path_is_an_error_not_a_silent_hole(tmp_path: Path) -> None:
    body = "print('UNREACHABLE')"
    result = run(tmp_path, body, write_paths=[str(tmp_path / "work"), str(tmp_path / "missing")])
    assert result.returncode != 0 and "UNREACHABLE" not in result.stdout
    assert "SandboxError" in result.stderr and "missing" in result.stderr


@needs_root
def test_forgetting_prepare_workdir_is_a_clear_error(tmp_path: Path) -> None:
    workdir = tmp_path / "unprepared"
    workdir.mkdir()
    policy = SandboxPolicy.for_input(1000, str(workdir))
    script = PRELUDE + "print('UNREACHABLE')"
    env = child_env(str(workdir)) | {"PYTHONPATH": ROOT}
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(dataclasses.asdict(policy))],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0 and "call prepare_workdir() on it first" in result.stderr


def test_no_sandbox_is_an_explicit_opt_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("readable")
    body = "print(open(ARGS[0]).read(), os.getuid(), WARNINGS)"
    out = ok(run(tmp_path, body, str(outside), enabled=False))
    assert out.split() == ["readable", str(os.getuid()), "[]"]


def test_landlock_abi_is_reported() -> None:
    assert isinstance(ABI, int) and ABI >= 0


def test_without_landlock_the_other_limits_stay_and_it_says_so(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    policy = SandboxPolicy.for_input(1000, str(workdir))
    prepare_workdir(str(workdir))
    readable = tmp_path / "readable.txt"
    readable.write_text("only Landlock hides me")
    readable.chmod(0o644)
    script = """
import json, os, resource, socket, sys
from rlm_cli.repl import sandbox
sandbox.landlock_abi = lambda: 0  # as on a kernel without Landlock
print(json.dumps(sandbox.apply(sandbox.SandboxPolicy(**json.loads(sys.argv[1])))))
print(resource.getrlimit(resource.RLIMIT_AS)[0], os.getuid())
try:
    socket.socket()
    print("SOCKET")
except OSError:
    print("no sockets")
print(open(sys.argv[2]).read())
"""
    env = child_env(str(workdir)) | {"PYTHONPATH": ROOT}
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(dataclasses.asdict(policy)), str(readable)],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=30,
    )
    warnings, limits, sockets, text = ok(result).splitlines()
    assert sum("Landlock unavailable" in w for w in json.loads(warnings)) == 1
    assert limits.split() == [str(policy.memory_bytes), str(policy.uid if IS_ROOT else os.getuid())]
    assert sockets == "no sockets"  # the seccomp filter still blocks new sockets
    assert text == "only Landlock hides me"  # what only Landlock confines is open: hence the warning


def test_input_files_are_read_only_to_the_child(tmp_path: Path) -> None:
    """A restarted child loads its input again from the workdir: model code must not overwrite it by accident."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "context.txt").write_text("the input")
    body = """
print(open("context.txt").read())
try:
    open("context.txt", "w").write("clobbered")
    print("OVERWROTE")
except PermissionError:
    print("read-only")
open("notes.txt", "w").write("mine")
"""
    out = ok(run(tmp_path, body))
    assert out.split("\n")[:2] == ["the input", "read-only"]
    assert (workdir / "context.txt").read_text() == "the input" and (workdir / "notes.txt").read_text() == "mine"


@needs_root
def test_a_shielded_parent_hides_its_environment_from_a_child_of_its_own_uid(tmp_path: Path) -> None:
    """Where neither Landlock nor a uid switch protects it, /proc/<parent>/environ must still be closed."""
    middle = """
import ctypes, os, sys
from rlm_cli.repl.sandbox import shield_parent  # imported while root can still read the Python installation
os.setgroups([])
os.setresgid(65534, 65534, 65534)
os.setresuid(65534, 65534, 65534)
ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # dumpable again, as a process that never changed uid
if sys.argv[1] == "shield":
    shield_parent()
if os.fork() == 0:  # the child: same uid, no Landlock, no seccomp
    try:
        print(open(f"/proc/{os.getppid()}/environ").read(), flush=True)
    except OSError:
        print("denied", flush=True)
    os._exit(0)
os.wait()
"""
    env = {"PYTHONPATH": ROOT, "SHIELD_SECRET": "sk-shield-123"}
    outputs = {}
    for mode in ("bare", "shield"):
        result = subprocess.run(
            [sys.executable, "-c", middle, mode], env=env, cwd="/", capture_output=True, text=True, timeout=30
        )
        outputs[mode] = ok(result)
    assert "sk-shield-123" in outputs["bare"]  # the hole is real
    assert outputs["shield"].strip() == "denied"
