"""Untrusted REPL code and faults, end to end: each attack is a root turn the scripted model writes.

What the model saw of an attack is the next request's last user message. After every ending, the
run's private TMPDIR must be empty and no process the run started may be left alive.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import pytest
from conftest import FORGE, fence, hermetic_env, model_args
from fakellm import FakeLLM, RecordedRequest

from rlm_cli.engine.events import CodeExecuted
from rlm_cli.errors import EXIT_INTERRUPTED, EXIT_MODEL, EXIT_OK
from rlm_cli.repl import protocol
from rlm_cli.repl.process import ReplProcess
from rlm_cli.repl.sandbox import landlock_abi

RLM = Path(sys.executable).parent / "rlm"
IS_ROOT = os.geteuid() == 0
ABI = landlock_abi()
needs_landlock = pytest.mark.skipif(ABI == 0, reason="Landlock unavailable on this kernel")
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox confines only on Linux")

ENV_SECRET = "sk-test-secret-4242"
TOKEN_SECRET = "tok-service-9876"
FLAG_SECRET = "sk-flag-secret-1357"


def shown(fake: FakeLLM) -> list[str]:
    """What the root model read at each call: item k holds the output of the code it wrote in reply k-1."""
    return [r.last_user for r in fake.requests_for("root")]


def strays(marker: str) -> list[str]:
    """Live processes whose working directory or environment lies under `marker`, a run's private TMPDIR."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue  # a zombie holds nothing but its pid until init collects it
            cwd = os.readlink(entry / "cwd")
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue  # exited meanwhile, or not ours to read
        if cwd.startswith(marker) or f"={marker}".encode() in environ:
            found.append(f"{entry.name}: {cmdline}")
    return found


def assert_clean(tmpdir: Path) -> None:
    """Nothing of the run survives it: no process, no temp dir."""
    deadline = time.monotonic() + 5
    while (left := strays(str(tmpdir))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == []
    assert list(tmpdir.iterdir()) == []


def repl_child_of(tmpdir: Path) -> int:
    """The pid of the run's REPL process, found the way an operator would: through /proc."""
    for line in strays(str(tmpdir)):
        pid, cmdline = line.split(": ", 1)
        if "rlm_cli.repl.child" in cmdline:
            return int(pid)
    raise AssertionError(f"no REPL process under {tmpdir}")


def wait_for_requests(fake: FakeLLM, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(fake.requests_for("root")) < count:
        assert time.monotonic() < deadline, f"the model got {len(fake.requests_for('root'))} calls, not {count}"
        time.sleep(0.05)
    time.sleep(1.0)  # the reply is parsed and its code is running


def trace_events(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def launch(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """Start the installed `rlm` like the run_rlm fixture does, but without waiting for it."""
    return subprocess.Popen(
        [str(RLM), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# --- one run, many attacks -------------------------------------------------------------------------


@dataclass
class AttackRun:
    """A finished run whose root model tried one attack per turn; the tests below each check one."""

    root: Path
    tmpdir: Path
    url: str
    returncode: int
    result: dict[str, Any]
    stderr: str
    shown: list[str]
    first_prompt: str
    trace: list[dict[str, Any]]
    peak_rss_mb: float
    listener_accepted: bool
    input_before: dict[str, bytes]
    strays: list[str]
    tmp_left: list[str]


ATTACKS = {
    "secrets": """
import os
print(dict(os.environ))
print(open('/proc/self/environ').read())
for name in ('environ', 'cmdline'):
    try:
        print('parent', name, open(f'/proc/{os.getppid()}/{name}').read())
    except OSError as exc:
        print('parent', name, 'denied:', type(exc).__name__)
try:
    pids = [p for p in os.listdir('/proc') if p.isdigit() and p != str(os.getpid())]
except OSError as exc:
    pids = [str(os.getppid()), '1']
    print('proc listing denied:', type(exc).__name__)
for pid in pids:
    for name in ('environ', 'cmdline'):
        try:
            text = open(f'/proc/{pid}/{name}', errors='replace').read()
        except OSError:
            continue
        if 'sk-' in text or 'TOKEN' in text:
            print('LEAK', pid, name, text)
try:
    print(open($private).read())
except OSError as exc:
    print('private file denied:', type(exc).__name__)
""",
    "memory": "kept = 'survivor'\nblock = bytearray(12 << 30)",
    "writes": """
print('kept is', kept)
import os
for target in $targets:
    for name in ('pwned.txt', '.rlm.toml'):
        try:
            with open(os.path.join(target, name), 'w') as f:
                f.write('max_iterations = 1')
            print('WROTE', target, name)
        except OSError as exc:
            print('write denied:', type(exc).__name__)
try:
    with open($input_file, 'a') as f:
        f.write('tampered')
    print('APPENDED')
except OSError as exc:
    print('append denied:', type(exc).__name__)
""",
    "network": """
import socket, urllib.request
try:
    socket.create_connection(('127.0.0.1', $port), timeout=3)
    print('CONNECTED')
except OSError as exc:
    print('tcp denied:', type(exc).__name__)
try:
    urllib.request.urlopen($models_url, timeout=3)
    print('MODEL SERVER REACHED')
except OSError as exc:
    print('http denied:', type(exc).__name__)
""",
    "flood": "for i in range(100_000):\n    print('y' * 999)\nprint('the end')",
    "self_kill": "x = 1\nimport os\nos.kill(os.getpid(), 9)",
    "after_kill": "print('x' in globals(), 'kept' in globals(), len(context) > 0)",
    "garbage": FORGE + "os.write(fd, b'\\xff' * 64)\nprint('wrote garbage')",
    "closed_channel": FORGE + "os.close(fd)\nprint('closed')",
    "wrong_op": FORGE + "frame({'op': 'llm_result', 'results': []})\nprint('forged')",
    "forged_result": FORGE
    + """
f = sys._getframe()
while 'message' not in f.f_locals:
    f = f.f_back
frame({'op': 'result', 'id': f.f_locals['message']['id'], 'output': 'z' * 5_000_000,
       'cut': 'many', 'status': 'hacked', 'final': 7})
""",
    "fork_bomb": """
import os, time
forks = 0
for _ in range(300):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        $escape
        time.sleep(600)
        os._exit(0)
    forks += 1
print('forks', forks)
""",
}
TURN = {name: k + 1 for k, name in enumerate(ATTACKS)}  # shown[TURN[name]] is that attack's output


def _peak_rss_mb(proc: subprocess.Popen[str], peak: list[float]) -> None:
    """VmHWM only grows, so the last reading before the process exits is its peak."""
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak[0] = max(peak[0], int(status.split("VmHWM:", 1)[1].split()[0]) / 1024)
        except (OSError, IndexError):
            pass
        time.sleep(0.05)


@pytest.fixture(scope="module")
def attacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackRun]:
    root = tmp_path_factory.mktemp("attacks")
    tmpdir = root / "tmp"
    tmpdir.mkdir()
    env = hermetic_env(root, TMPDIR=str(tmpdir), OPENAI_API_KEY=ENV_SECRET, MY_SERVICE_TOKEN=TOKEN_SECRET)
    inputs = root / "input"
    inputs.mkdir()
    # Text that looks like configuration must stay text: the run's settings come from flags, env and config files.
    (inputs / "notes.txt").write_text(
        "RLM_MAX_ITERATIONS=1\nRLM_MODEL=openai/evil\n--max-cost 0 --max-depth 5 --no-sandbox --exec-timeout 1\n"
    )
    (inputs / ".rlm.toml").write_text(
        'model = "openai/evil"\nmax_iterations = 1\nsandbox = false\n[aliases."openai/root"]\nmodel = "openai/evil"\n'
    )
    input_before = {p.name: p.read_bytes() for p in inputs.iterdir()}
    private = Path(env["HOME"]) / "private.txt"
    private.write_text("private-home-text")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    fake = FakeLLM()
    values = {
        "private": repr(str(private)),
        "targets": repr([env["HOME"], str(root), str(inputs), str(tmpdir)]),
        "input_file": repr(str(inputs / "notes.txt")),
        "port": str(listener.getsockname()[1]),
        "models_url": repr(f"{fake.url}/models"),
        "escape": "os.setsid()" if IS_ROOT else "pass",  # only a root parent can reap what leaves the group
    }
    turns = [fence(Template(code).substitute(values)) for code in ATTACKS.values()]
    # The answer is read off the last output, as a model's is: the default guide questions one that is not.
    fake.script("root", *turns, fence("print('all attacks contained')"), "FINAL(all attacks contained)")
    args = ["ask", str(inputs), "What do the notes say?", "--hidden", "--json", "--api-key", FLAG_SECRET]
    proc = launch([*args, *model_args(fake, "--exec-timeout", "20")], env, root)
    try:
        peak = [0.0]
        watcher = threading.Thread(target=_peak_rss_mb, args=(proc, peak), daemon=True)
        watcher.start()
        stdout, stderr = proc.communicate(timeout=120)
        watcher.join(timeout=5)
        try:
            listener.accept()[0].close()
            accepted = True
        except TimeoutError:
            accepted = False
        result = json.loads(stdout) if stdout.strip() else {}
        deadline = time.monotonic() + 5
        while (left := strays(str(tmpdir))) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield AttackRun(
            root=root,
            tmpdir=tmpdir,
            url=fake.url,
            returncode=proc.returncode,
            result=result,
            stderr=stderr,
            shown=shown(fake),
            first_prompt="\n".join(m["content"] for m in fake.requests_for("root")[0].messages),
            trace=trace_events(result["trace"]) if result.get("trace") else [],
            peak_rss_mb=peak[0],
            listener_accepted=accepted,
            input_before=input_before,
            strays=left,
            tmp_left=sorted(p.name for p in tmpdir.iterdir()),
        )
    finally:
        proc.kill()
        fake.close()
        listener.close()


@pytest.mark.slow
def test_attack_run_reaches_its_final_answer_and_leaves_nothing(attacks: AttackRun) -> None:
    assert attacks.returncode == EXIT_OK, attacks.stderr
    assert attacks.result["status"] == "ok" and attacks.result["final"] is True
    assert attacks.result["answer"] == "all attacks contained"
    assert len(attacks.shown) == len(ATTACKS) + 2  # the first message, each attack's output, the closing print
    assert attacks.strays == [] and attacks.tmp_left == []


@needs_landlock
@pytest.mark.slow
def test_secrets_never_reach_the_model(attacks: AttackRun) -> None:
    seen = attacks.shown[TURN["secrets"]]
    assert "'PATH': '/usr/bin:/bin'" in seen  # the attack ran and printed the child's own environment
    assert "parent environ denied: PermissionError" in seen and "parent cmdline denied: PermissionError" in seen
    assert "private file denied: PermissionError" in seen and "private-home-text" not in seen
    assert "LEAK" not in seen
    for secret in (ENV_SECRET, TOKEN_SECRET, FLAG_SECRET, "MY_SERVICE_TOKEN"):
        assert secret not in "".join(attacks.shown)
        assert all(secret not in json.dumps(event) for event in attacks.trace)


@pytest.mark.slow
def test_a_12_gib_allocation_fails_and_the_repl_keeps_its_state(attacks: AttackRun) -> None:
    assert "MemoryError" in attacks.shown[TURN["memory"]]
    assert "kept is survivor" in attacks.shown[TURN["writes"]]


@pytest.mark.skipif(ABI == 0 and not IS_ROOT, reason="neither Landlock nor a private uid confines writes")
@pytest.mark.slow
def test_writes_outside_the_workdir_fail(attacks: AttackRun) -> None:
    seen = attacks.shown[TURN["writes"]]
    assert seen.count("write denied: PermissionError") == 8 and "WROTE" not in seen
    assert "append denied: PermissionError" in seen and "APPENDED" not in seen
    for directory in (attacks.root / "home", attacks.root, attacks.root / "input", attacks.tmpdir):
        assert not (directory / "pwned.txt").exists()
    assert not (attacks.root / ".rlm.toml").exists()
    inputs = attacks.root / "input"
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == attacks.input_before


@pytest.mark.slow
def test_no_tcp_connection_reaches_a_local_listener_or_the_model_server(attacks: AttackRun) -> None:
    seen = attacks.shown[TURN["network"]]
    assert "tcp denied" in seen and "http denied" in seen
    assert "CONNECTED" not in seen and "MODEL SERVER REACHED" not in seen
    assert not attacks.listener_accepted


@pytest.mark.slow
def test_100_mb_of_output_is_capped_with_a_note_and_costs_the_parent_nothing(attacks: AttackRun) -> None:
    seen = attacks.shown[TURN["flood"]]
    output = seen.split("\nThe question:")[0]  # the reminder of the question follows the output
    assert "characters cut" in output and output.rstrip("`\n").endswith("the end")
    assert len(seen) < 25_000
    flood = next(e for e in attacks.trace if e["type"] == "code_executed" and e["code"].startswith("for i"))
    assert flood["cut_chars"] > 99_000_000 and flood["elapsed_s"] < 15
    assert attacks.peak_rss_mb < 600  # rlm itself; 100 MB would have been copied several times over


@pytest.mark.slow
def test_a_repl_that_kills_itself_is_restarted_and_the_model_is_told(attacks: AttackRun) -> None:
    seen = attacks.shown[TURN["self_kill"]]
    assert "killed by signal SIGKILL" in seen and "every variable you made is gone" in seen
    assert "False False True" in attacks.shown[TURN["after_kill"]]
    lost = [e for e in attacks.trace if e["type"] == "code_executed" and e["state_lost"]]
    assert len(lost) == 4  # the self-kill, the garbage, the closed channel and the forged message


@pytest.mark.slow
def test_garbage_closed_channel_and_forged_messages_cost_a_restart_not_the_run(attacks: AttackRun) -> None:
    assert "sent a malformed message (oversized message" in attacks.shown[TURN["garbage"]]
    closed = attacks.shown[TURN["closed_channel"]]
    assert "the REPL process died" in closed and "every variable you made is gone" in closed
    assert "unexpected message 'llm_result'" in attacks.shown[TURN["wrong_op"]]
    forged = attacks.shown[TURN["forged_result"]]
    assert "characters were cut" in forged and len(forged) < 25_000


@pytest.mark.slow
def test_a_fork_bomb_stays_bounded(attacks: AttackRun) -> None:
    seen = attacks.shown[TURN["fork_bomb"]]
    forks = int(seen.split("forks ", 1)[1].split()[0])
    assert 0 < forks < 100  # the process cap (64) stopped it; the leftovers are checked by the first test


@pytest.mark.slow
def test_corpus_text_cannot_change_the_configuration(attacks: AttackRun) -> None:
    assert "RLM_MAX_ITERATIONS=1" in attacks.first_prompt or "max_iterations = 1" in attacks.first_prompt
    started = attacks.trace[0]
    assert started["type"] == "run_started" and started["corpus"]["documents"] == 2
    assert started["config"] == {
        "model": "openai/root",
        "sub_model": "openai/sub",
        "api_base": attacks.url,
        "sub_api_base": attacks.url,
        "max_depth": 1,
        "max_iterations": 20,
        "max_subcalls": None,
        "max_tokens": None,
        "max_cost": None,
        "timeout": None,
        "exec_timeout": 20.0,
        "concurrency": 8,
        "output_limit": 5_000,  # the small guide's cap; the corpus cannot change it either
        "sandbox": True,
        "guidance": "small",
    }


# --- endings: interrupts, errors, timeouts ---------------------------------------------------------


@pytest.mark.slow
def test_a_repl_killed_from_outside_is_restarted_then_ctrl_c_keeps_the_partial_answer_and_trace(
    fake_llm: FakeLLM, rlm_env: dict[str, str], tmp_path: Path
) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    (tmp_path / "app.log").write_text("line\n" * 100)
    sleep = "import time\ntime.sleep(60)"
    fake_llm.script("root", "Probably 42 errors.", fence(f"x = 1\n{sleep}"), fence(f"print('x' in globals())\n{sleep}"))
    args = ["ask", "app.log", "How many errors?", "--json", *model_args(fake_llm)]
    proc = launch(args, rlm_env | {"TMPDIR": str(tmpdir)}, tmp_path)
    try:
        wait_for_requests(fake_llm, 2)
        os.kill(repl_child_of(tmpdir), signal.SIGKILL)
        wait_for_requests(fake_llm, 3)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_INTERRUPTED, stderr
    restarted = shown(fake_llm)[2]
    assert "killed by signal SIGKILL" in restarted and "every variable you made is gone" in restarted
    result = json.loads(stdout)
    assert result["status"] == "interrupted" and result["answer"] == "Probably 42 errors."
    finished = trace_events(result["trace"])[-1]
    assert finished["type"] == "run_finished" and finished["status"] == "interrupted"
    assert "Traceback" not in stderr
    assert_clean(tmpdir)


@pytest.mark.slow
def test_sigterm_without_sandbox_exits_130_with_the_partial_answer(
    fake_llm: FakeLLM, rlm_env: dict[str, str], tmp_path: Path
) -> None:
    """--no-sandbox really is unconfined (the code reads and writes outside its workdir); SIGTERM still cleans up."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    (tmp_path / "app.log").write_text("line\n" * 100)
    outside, proof = tmp_path / "outside.txt", tmp_path / "proof.txt"
    outside.write_text("outside-text")
    escape = f"open({str(proof)!r}, 'w').write(open({str(outside)!r}).read())\nimport time\ntime.sleep(60)"
    fake_llm.script("root", "Probably 42 errors.", fence(escape))
    args = ["ask", "app.log", "q?", "--no-sandbox", "--trace-file", "run.jsonl", *model_args(fake_llm)]
    proc = launch(args, rlm_env | {"TMPDIR": str(tmpdir)}, tmp_path)
    try:
        wait_for_requests(fake_llm, 2)
        started = time.monotonic()
        proc.terminate()
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_INTERRUPTED, stderr
    assert time.monotonic() - started < 5
    assert stdout.strip() == "Probably 42 errors."
    assert "rlm: interrupted" in stderr and "Traceback" not in stderr
    assert proof.read_text() == "outside-text"
    finished = trace_events(tmp_path / "run.jsonl")[-1]
    assert finished["type"] == "run_finished" and finished["status"] == "interrupted"
    assert_clean(tmpdir)


@pytest.mark.slow
def test_server_faults_are_retried_then_end_the_run_cleanly(fake_llm: FakeLLM, run_rlm, tmp_path: Path) -> None:
    """429 and 5xx are retried; a server that then stops answering in time ends the run with exit 4."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    (tmp_path / "app.log").write_text("line\n" * 100)

    def code_then_outage(_: RecordedRequest) -> str:
        fake_llm.fail("root", status=503, times=1)
        fake_llm.fail("root", status=500, times=99, delay=3)  # longer than the request timeout
        return fence("print(len(context))")

    fake_llm.fail("root", status=429, times=1)
    fake_llm.script("root", "Probably 7 services.", code_then_outage)
    env = {"TMPDIR": str(tmpdir), "RLM_RETRIES": "2", "RLM_RETRY_DELAY": "0.01", "RLM_REQUEST_TIMEOUT": "1"}
    result = run_rlm("ask", "app.log", "q?", "--json", *model_args(fake_llm), env_extra=env, timeout=60)
    assert result.returncode == EXIT_MODEL, result.stderr
    assert "Traceback" not in result.stderr and "timed out" in result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "error" and data["error"]["type"] == "model"
    assert data["answer"] == "Probably 7 services."
    roots = fake_llm.requests_for("root")
    assert [r.status for r in roots[:4]] == [429, 200, 200, 503] and len(roots) == 6
    finished = trace_events(data["trace"])[-1]
    assert finished["type"] == "run_finished" and finished["status"] == "error"
    assert_clean(tmpdir)


def test_the_run_timeout_cleans_up(model, solve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))  # the REPL's workdir and stderr file go here
    model.script("root", fence("import os\nprint(os.getcwd())") + "\n" + fence("import time\ntime.sleep(60)"))
    run = solve("q?", "line\n" * 100, timeout=2)
    assert run.outcome.status == "budget_exhausted" and run.outcome.error.budget == "timeout"
    ran = run.of_type(CodeExecuted)
    assert len(ran) == 1 and ran[0].output.startswith(str(tmpdir))  # the REPL worked there; the sleep was cut
    assert_clean(tmpdir)


# --- the parent against a hostile child, without the CLI ---------------------------------------------


@pytest.mark.slow
def test_a_child_that_stalls_mid_message_or_stops_reading_is_killed_in_time(hostile_repl: ReplProcess) -> None:
    stall = FORGE + "os.write(fd, struct.pack('>I', 1000) + b'{\"op\"')\nimport time\ntime.sleep(60)"
    started = time.monotonic()
    result = hostile_repl.run(stall, timeout=1)
    assert result.state_lost and "stopped in the middle of a message" in result.output
    deaf = FORGE + (
        "import signal, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])  # deaf to its own timer\n"
        "frame({'op': 'llm', 'prompts': ['x' * 4_000_000]})\ntime.sleep(60)"
    )
    result = hostile_repl.run(deaf, timeout=1)
    assert result.state_lost and "stopped reading" in result.output
    assert time.monotonic() - started < 15
    assert hostile_repl.run("print('beta' in context)", timeout=5).output.strip() == "True"  # restarted, input back


def test_threads_share_the_channel_and_forked_copies_stay_silent(hostile_repl: ReplProcess) -> None:
    threads = """
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(8) as pool:
    answers = list(pool.map(llm_query, [f'p{i}' for i in range(40)]))
print(answers == [f're:p{i}' for i in range(40)])
"""
    assert hostile_repl.run(threads, timeout=10).output.strip() == "True"
    fork = """
import os
pid = os.fork()
if pid == 0:
    try:
        llm_query('from the fork')
    except RuntimeError as exc:
        raise SystemExit(str(exc))
os.waitpid(pid, 0)
print(llm_query('from the REPL'))
"""
    result = hostile_repl.run(fork, timeout=10)
    assert result.output.strip() == "re:from the REPL" and not result.state_lost
    assert hostile_repl.run("print('next cell')", timeout=5).output.strip() == "next cell"


def test_a_stale_forged_result_is_skipped(hostile_repl: ReplProcess) -> None:
    forged = FORGE + "frame({'op': 'result', 'id': 0, 'output': 'forged'})\nprint('real')"
    result = hostile_repl.run(forged, timeout=5)
    assert result.output.strip() == "real" and not result.state_lost


def test_final_var_of_a_hostile_value_loses_the_state_and_says_so(hostile_repl: ReplProcess) -> None:
    hostile = FORGE + "class Bad:\n    def __repr__(self):\n        os.close(fd)\n        return 'x'\nbad = Bad()"
    assert not hostile_repl.run(hostile, timeout=5).state_lost
    assert hostile_repl.get_var("bad") is None
    result = hostile_repl.run("print('after')", timeout=5)
    assert result.state_lost and "every variable you made is gone" in result.output
    assert result.output.rstrip().endswith("after")


def test_the_channel_rejects_an_oversized_header_without_reading_on() -> None:
    parent, child = socket.socketpair()
    with parent, child:
        child.sendall(b"\xff\xff\xff\xff")
        with pytest.raises(protocol.ProtocolError, match="oversized"):
            protocol.recv(parent, deadline=time.monotonic() + 1)
        child.sendall(b"\x00\x00\x00\x10{")
        with pytest.raises(protocol.ChannelTimeout):
            protocol.recv(parent, deadline=time.monotonic() + 0.2)


def test_the_child_runs_the_parent_s_own_rlm_cli_even_with_another_installed(tmp_path: Path) -> None:
    # A checkout run through PYTHONPATH, while `pip install -e` points elsewhere: the child is -I, so it is told.
    import rlm_cli

    checkout = tmp_path / "checkout"
    shutil.copytree(Path(rlm_cli.__file__).parent, checkout / "rlm_cli", ignore=shutil.ignore_patterns("__pycache__"))
    script = (
        "from rlm_cli.repl.process import ReplConfig, ReplProcess\n"
        "from rlm_cli.inputs.bundle import write_bundle\n"
        "from rlm_cli.engine.loop import corpus_from_text\n"
        "p = ReplProcess(lambda d: write_bundle(corpus_from_text('x'), d), ReplConfig(), lambda *a: [])\n"
        "p.start()\n"
        "print(p.run('import rlm_cli; print(rlm_cli.__file__)', 10).output.strip())\n"
        "p.close()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    run = subprocess.run  # from tmp_path: "-c" puts the working directory first on sys.path
    result = run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == str(checkout / "rlm_cli" / "__init__.py"), result.stderr
