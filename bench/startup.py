"""Start-up, shutdown and failure cost of the `rlm` process, side by side with a minimal client, in one run.

Run:  .venv/bin/python bench/startup.py [--runs 7] [--rlm "CMD"]

Against an instant local fake server (tests/fakellm.py, in its own process), a trivial two-turn run: a
`repl` block that prints len(context), then FINAL(done). `rlm ask` as a whole process, against a minimal
client that makes the same two chat calls (with the openai SDK if installed; with raw httpx if not, or
with --client httpx) and runs the block in a fresh `python3 -I -c` child. Also `rlm ask --help` against
`python -c "import typer"`, and the time `rlm` takes to report a dead --api-base. Rounds are interleaved
so machine load hits both sides alike; figures are medians. --rlm times another build, e.g.
--rlm "env PYTHONPATH=/tmp/old python -m rlm_cli" --extra "" for one without --guidance.
Targets: trivial run <= 1.5x, --help <= 2x, dead server < 2 s with exit 4.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
sys.path.insert(0, str(TESTS))

from conftest import hermetic_env  # noqa: E402

BLOCK = "print(len(context))"
FEEDBACK = "REPL output of block 1"  # how rlm shows a block's output to the model (prompts.cell_feedback)
# The server answers the first turn with the block and a turn that carries its output with the answer.
_SERVER = f"""
import sys
sys.path.insert(0, sys.argv[1])
from fakellm import FakeLLM
with FakeLLM() as fake:
    fake.rule("root", {FEEDBACK!r}, "FINAL(done)")
    fake.rule("root", "", "```repl\\n{BLOCK}\\n```")
    print(fake.url, flush=True)
    sys.stdin.read()
"""
# The minimal client: two chat calls and one block in a fresh isolated child, nothing else.
_MINIMAL = f"""
import subprocess, sys
url, path, client = sys.argv[1:4]
try:
    if client == "httpx":
        raise ImportError("raw httpx asked for")
    from openai import OpenAI
    client = OpenAI(base_url=url, api_key="none", max_retries=0)
    def chat(messages):
        return client.chat.completions.create(model="root", messages=messages).choices[0].message.content
except ImportError:
    import httpx
    http = httpx.Client()
    def chat(messages):
        reply = http.post(url + "/chat/completions", json={{"model": "root", "messages": messages}})
        return reply.json()["choices"][0]["message"]["content"]
messages = [{{"role": "system", "content": "Answer with code."}}, {{"role": "user", "content": "How long is it?"}}]
reply = chat(messages)
code = reply.split("```repl\\n", 1)[1].split("```", 1)[0]
runner = "import sys\\ncontext = open(sys.argv[1]).read()\\n" + code
output = subprocess.run([sys.executable, "-I", "-c", runner, path], capture_output=True, text=True).stdout
messages += [{{"role": "assistant", "content": reply}}, {{"role": "user", "content": {FEEDBACK!r} + ":\\n" + output}}]
print(chat(messages).removeprefix("FINAL(").removesuffix(")"))
"""


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_mib: float
    code: int
    stdout: str


def measure(cmd: list[str], env: dict[str, str], cwd: str) -> Sample:
    """Wall time, CPU (user + system, the process and the children it waited for) and peak RSS of one run."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, out)


@contextmanager
def fake_server() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(TESTS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def dead_url() -> tuple[socket.socket, str]:
    """A bound port that never listens: connecting is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def median(samples: list[Sample], field: str) -> float:
    return statistics.median(getattr(s, field) for s in samples)


def row(name: str, ours: float, theirs: float | None, unit: str, target: str = "") -> None:
    other = "" if theirs is None else f"{theirs:10.2f} {unit:4s}"
    ratio = "" if not theirs else f"{ours / theirs:6.2f}x"
    print(f"{name:34s} {ours:10.2f} {unit:4s} {other:15s} {ratio:8s} {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="interleaved rounds; medians are reported")
    parser.add_argument("--rlm", default=str(Path(sys.executable).parent / "rlm"), help="the rlm command to time")
    # Without guidance, rlm makes the same two calls as the minimal client (guidance adds a reading sub-call).
    parser.add_argument("--extra", default="--guidance off", help="more `rlm ask` arguments ('' for old builds)")
    parser.add_argument("--client", choices=["openai", "httpx"], default="openai", help="the minimal client's library")
    args = parser.parse_args()
    rlm = shlex.split(args.rlm)
    extra = shlex.split(args.extra)

    with tempfile.TemporaryDirectory(prefix="rlm-bench-startup-") as work, fake_server() as url:
        env = hermetic_env(Path(work))
        data = Path(work) / "input.log"
        data.write_text(
            "".join(f"2026-11-01T10:00:{i % 60:02d} INFO svc-{i % 4} request {i} done\n" for i in range(2000))
        )
        ours = [*rlm, "ask", str(data), "How long is it?", "-q", *extra, "-m", "openai/root", "--api-base", url]
        minimal = [sys.executable, "-c", _MINIMAL, url, str(data), args.client]
        help_ours, help_typer = [*rlm, "ask", "--help"], [sys.executable, "-c", "import typer"]
        for cmd in (ours, minimal, help_ours, help_typer):  # warm-up: bytecode and page cache
            measure(cmd, env, work)

        runs: dict[str, list[Sample]] = {"ours": [], "minimal": [], "help": [], "typer": []}
        for _ in range(args.runs):
            for name, cmd in (("ours", ours), ("minimal", minimal), ("help", help_ours), ("typer", help_typer)):
                runs[name].append(measure(cmd, env, work))
        for name in ("ours", "minimal"):
            answers = {(s.code, s.stdout.strip()) for s in runs[name]}
            assert answers == {(0, "done")}, f"{name} did not answer 'done': {answers}"

        sock, dead = dead_url()
        with sock:
            dead_cmd = [*rlm, "ask", str(data), "q", "-m", "openai/root", "--api-base", dead]
            deaths = [measure(dead_cmd, env, work) for _ in range(3)]

    client = "openai SDK" if args.client == "openai" and _has_openai() else "raw httpx"
    print(f"{args.runs} interleaved rounds, medians; minimal client: {client}; {os.cpu_count()} CPUs")
    print(f"{'measure':34s} {'rlm':>15s} {'minimal':>15s} {'ratio':8s} target")
    row("trivial two-turn run, wall", median(runs["ours"], "wall"), median(runs["minimal"], "wall"), "s", "<= 1.5x")
    row("trivial two-turn run, CPU", median(runs["ours"], "cpu"), median(runs["minimal"], "cpu"), "s")
    row("trivial two-turn run, peak RSS", median(runs["ours"], "rss_mib"), median(runs["minimal"], "rss_mib"), "MiB")
    row("ask --help vs import typer, wall", median(runs["help"], "wall"), median(runs["typer"], "wall"), "s", "<= 2x")
    codes = sorted({s.code for s in deaths})
    row(f"dead server to error (exit {codes})", median(deaths, "wall"), None, "s", "< 2 s, exit 4")
    print(json.dumps({name: [round(s.wall, 3) for s in samples] for name, samples in runs.items()}))


def _has_openai() -> bool:
    import importlib.util

    return importlib.util.find_spec("openai") is not None


if __name__ == "__main__":
    main()
