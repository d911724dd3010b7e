"""Engine overhead against the scripted server: per-turn cost outside the model, and sub-call fan-out.

Run:  .venv/bin/python bench/engine_overhead.py [--turns 40] [--subcalls 100] [--latency 0.2] [--concurrency 16]
Prints figures; it is a benchmark, not a test. Targets: per-turn overhead median <= 20 ms;
100 sub-calls at 200 ms with concurrency 16 within 1.3x of ceil(100/16) x 0.2 s.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakellm import FakeLLM  # noqa: E402

from rlm_cli import events as ev  # noqa: E402
from rlm_cli.engine import RLM, EngineConfig, Run, corpus_from_text  # noqa: E402
from rlm_cli.llm import ModelClient, ModelSpec  # noqa: E402
from rlm_cli.budget import Limits  # noqa: E402


def _config(fake: FakeLLM, iterations: int, concurrency: int) -> EngineConfig:
    return EngineConfig(
        root=ModelSpec("openai/root", fake.url, "sk-bench"),
        sub=ModelSpec("openai/sub", fake.url, "sk-bench"),
        limits=Limits(max_iterations=iterations),
        concurrency=concurrency,
    )


def per_turn_overhead(turns: int) -> list[float]:
    """Wall time of each turn minus the server's own handling time of its request."""
    text = "\n".join(f"line {i} INFO ok" for i in range(20_000))
    with FakeLLM() as fake:
        fake.script("root", *["```repl\nx = len(context)\nprint(x)\n```"] * turns, "FINAL(done)")
        starts: list[float] = []

        def emit(event: ev.Event) -> None:
            if isinstance(event, ev.TurnStarted):
                starts.append(time.perf_counter())

        run = Run(_config(fake, turns + 1, 8), ModelClient(), emit)
        RLM(run).solve("bench", corpus_from_text(text))
        starts.append(time.perf_counter())
        served = [r.ended - r.started for r in fake.requests_for("root")]
    walls = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # The first turn includes litellm's import and the REPL start: report it apart.
    return [w - s for w, s in zip(walls[1:], served[1:], strict=False)]


def fan_out(n: int, latency: float, concurrency: int) -> float:
    with FakeLLM() as fake:
        code = f"r = llm_query_batched(['q'] * {n})\nprint(len(r))"
        fake.script("root", f"```repl\n{code}\n```", "FINAL(done)")
        fake.rule("sub", "", "a", delay=latency)
        durations: list[float] = []
        started: dict[int, float] = {}

        def emit(event: ev.Event) -> None:
            if isinstance(event, ev.BatchStarted):
                started[event.batch_id] = time.perf_counter()
            elif isinstance(event, ev.BatchFinished):
                durations.append(time.perf_counter() - started[event.batch_id])

        run = Run(_config(fake, 3, concurrency), ModelClient(), emit)
        RLM(run).solve("bench", corpus_from_text("x"))
        print(f"  server peak concurrency: {fake.peak_concurrency_for('sub')}")
    return durations[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--subcalls", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    overhead = per_turn_overhead(args.turns)
    print(f"per-turn overhead over {len(overhead)} turns: median {statistics.median(overhead) * 1000:.1f} ms, "
          f"p90 {sorted(overhead)[int(len(overhead) * 0.9)] * 1000:.1f} ms (target: median <= 20 ms)")
    wall = fan_out(args.subcalls, args.latency, args.concurrency)
    floor = math.ceil(args.subcalls / args.concurrency) * args.latency
    print(f"{args.subcalls} sub-calls at {args.latency * 1000:.0f} ms, concurrency {args.concurrency}: "
          f"{wall:.2f} s; floor {floor:.2f} s; ratio {wall / floor:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
