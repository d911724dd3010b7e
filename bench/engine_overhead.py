"""Engine overhead against the scripted server: per-turn cost outside the model, and sub-call fan-out.

Run:  .venv/bin/python bench/engine_overhead.py [--turns 40] [--subcalls 100] [--latency 0.2] [--concurrency 16]
Prints figures; it is a benchmark, not a test. Targets: per-turn overhead median <= 20 ms;
100 sub-calls at 200 ms with concurrency 16 within 1.2x of ceil(100/16) x 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rlm_cli.engine import events as ev  # noqa: E402
from rlm_cli.engine.budget import Limits  # noqa: E402
from rlm_cli.engine.loop import RLM, EngineConfig, Run, corpus_from_text  # noqa: E402
from rlm_cli.engine.model import ModelClient, ModelSpec  # noqa: E402

TESTS = Path(__file__).resolve().parent.parent / "tests"
# The scripted server runs in its own process, as a real one would, so it does not share our GIL.
_SERVER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from fakellm import FakeLLM
spec = json.loads(sys.argv[2])
with FakeLLM() as fake:
    fake.script("root", *spec["script"])
    for model, reply, delay in spec["rules"]:
        fake.rule(model, "", reply, delay=delay)
    print(fake.url, flush=True)
    sys.stdin.read()
    print(json.dumps({"served": [r.ended - r.started for r in fake.requests_for("root")],
                      "peak": fake.peak_concurrency_for("sub")}), flush=True)
"""


class _Server:
    url: str = ""
    stats: dict[str, Any] = {}


@contextmanager
def scripted_server(script: list[str], rules: list[tuple[str, str, float]]) -> Iterator[_Server]:
    spec = json.dumps({"script": script, "rules": rules})
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(TESTS), spec], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    server = _Server()
    server.url = proc.stdout.readline().strip()
    try:
        yield server
    finally:
        out, _ = proc.communicate("", timeout=30)
        server.stats = json.loads(out)


def _config(url: str, iterations: int, concurrency: int) -> EngineConfig:
    return EngineConfig(
        root=ModelSpec("openai/root", url, "sk-bench"),
        sub=ModelSpec("openai/sub", url, "sk-bench"),
        limits=Limits(max_iterations=iterations),
        concurrency=concurrency,
    )


def per_turn_overhead(turns: int) -> tuple[list[float], list[float]]:
    """Per turn: wall time minus the server's handling time, and the part of it spent outside the model client."""
    text = "\n".join(f"line {i} INFO ok" for i in range(20_000))
    starts: list[float] = []
    client_walls: list[float] = []

    def emit(event: ev.Event) -> None:
        if isinstance(event, ev.TurnStarted):
            starts.append(time.perf_counter())
        elif isinstance(event, ev.ModelReply):
            client_walls.append(event.latency_s)

    with scripted_server(["```repl\nx = len(context)\nprint(x)\n```"] * turns + ["FINAL(done)"], []) as server:
        run = Run(_config(server.url, turns + 1, 8), ModelClient(), emit)
        RLM(run).solve("bench", corpus_from_text(text))
        starts.append(time.perf_counter())
    served = server.stats["served"]
    walls = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # The first turn includes the HTTP stack's import and the REPL start: leave it out.
    total = [w - s for w, s in zip(walls[1:], served[1:], strict=False)]
    engine = [w - c for w, c in zip(walls[1:], client_walls[1:], strict=False)]
    return total, engine


def fan_out(n: int, latency: float, concurrency: int) -> float:
    code = f"r = llm_query_batched(['q'] * {n})\nprint(len(r))"
    durations: list[float] = []
    started: dict[int, float] = {}

    def emit(event: ev.Event) -> None:
        if isinstance(event, ev.BatchStarted):
            started[event.batch_id] = time.perf_counter()
        elif isinstance(event, ev.BatchFinished):
            durations.append(time.perf_counter() - started[event.batch_id])

    with scripted_server([f"```repl\n{code}\n```", "FINAL(done)"], [("sub", "a", latency)]) as server:
        run = Run(_config(server.url, 3, concurrency), ModelClient(), emit)
        RLM(run).solve("bench", corpus_from_text("x"))
    print(f"  server peak concurrency: {server.stats['peak']}")
    return durations[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--subcalls", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    overhead, engine = per_turn_overhead(args.turns)
    print(
        f"per-turn overhead over {len(overhead)} turns: median {statistics.median(overhead) * 1000:.1f} ms, "
        f"p90 {sorted(overhead)[int(len(overhead) * 0.9)] * 1000:.1f} ms (target: median <= 20 ms)"
    )
    print(
        f"  of which outside the model client (REPL, parsing, events): median {statistics.median(engine) * 1000:.1f} ms"
    )
    wall = fan_out(args.subcalls, args.latency, args.concurrency)
    floor = math.ceil(args.subcalls / args.concurrency) * args.latency
    print(
        f"{args.subcalls} sub-calls at {args.latency * 1000:.0f} ms, concurrency {args.concurrency}: "
        f"{wall:.2f} s; floor {floor:.2f} s; ratio {wall / floor:.2f} (target <= 1.2)"
    )


if __name__ == "__main__":
    main()
