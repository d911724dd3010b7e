"""What the sandbox adds to a REPL child's startup: median wall times of spawns with and without apply().

Two views: a bare `python -c` spawn per variant (the cost of apply() itself), and a whole REPL start as
the engine sees it, through ReplProcess (spawn, init message, sandbox, loading the input, ready),
plus the close that kills and reaps it.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rlm_cli.engine.loop import corpus_from_text  # noqa: E402
from rlm_cli.inputs.bundle import write_bundle  # noqa: E402
from rlm_cli.repl.process import ReplConfig, ReplProcess  # noqa: E402
from rlm_cli.repl.sandbox import SandboxPolicy, child_env, landlock_abi, prepare_workdir  # noqa: E402

SPAWNS = 20
VARIANTS = {
    "bare python": "print(1)",
    "import sandbox, no apply": "import rlm_cli.repl.sandbox; print(1)",
    "import sandbox + apply": (
        "import json, sys, rlm_cli.repl.sandbox as s; s.apply(s.SandboxPolicy(**json.loads(sys.argv[1]))); print(1)"
    ),
}
REPL_INPUT = "2026-11-01T10:00:00 INFO svc-1 request done\n" * 20_000  # about 1 MB


def spawn_ms(code: str, policy_json: str, env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, policy_json], env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def repl_ms(sandbox: bool) -> tuple[float, float]:
    """One ReplProcess start (to ready) and close (kill, reap, remove the temp dir), in ms."""
    corpus = corpus_from_text(REPL_INPUT)

    def write_input(workdir: str) -> str:
        return write_bundle(corpus, workdir)

    repl = ReplProcess(write_input, ReplConfig(), lambda prompts, _model, _batched: ["" for _ in prompts])
    repl.config.sandbox = SandboxPolicy.for_input(corpus.total_chars, repl.workdir, enabled=sandbox)
    start = time.perf_counter()
    repl.start()
    started = time.perf_counter()
    repl.close()
    return (started - start) * 1000, (time.perf_counter() - started) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rlm-bench-") as workdir, tempfile.TemporaryDirectory() as pycache:
        policy = SandboxPolicy.for_input(1_000_000, workdir)
        prepare_workdir(workdir)
        # Bytecode cached as an installed package would have it, so the figures exclude compiling.
        env = child_env(workdir) | {"PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": pycache}
        del env["PYTHONDONTWRITEBYTECODE"]
        policy_json = json.dumps(dataclasses.asdict(policy))
        print(f"Landlock ABI {landlock_abi()}, uid switch: {policy.uid is not None}, median of {SPAWNS} spawns")
        for code in VARIANTS.values():  # warm-up: writes bytecode, heats the page cache
            spawn_ms(code, policy_json, env, workdir)
        # Interleaved rounds, so load from anything else on the machine hits every variant alike.
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(SPAWNS):
            for name, code in VARIANTS.items():
                times[name].append(spawn_ms(code, policy_json, env, workdir))
        for name, samples in times.items():
            print(f"{name:28s} {statistics.median(samples):7.1f} ms")

    print(f"\nReplProcess with a {len(REPL_INPUT) / 1e6:.1f} MB input, median of {SPAWNS}: start to ready, close")
    repl_ms(True)  # warm-up
    rounds: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(SPAWNS):
        for sandbox in rounds:
            rounds[sandbox].append(repl_ms(sandbox))
    for sandbox, samples in rounds.items():
        start = statistics.median(s[0] for s in samples)
        close = statistics.median(s[1] for s in samples)
        print(f"{'sandbox on' if sandbox else 'sandbox off (--no-sandbox)':28s} {start:7.1f} ms {close:7.1f} ms")


if __name__ == "__main__":
    main()
