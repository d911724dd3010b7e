"""What the sandbox adds to a REPL child's startup: median wall time of spawns with and without apply()."""

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

from rlm_cli.sandbox import SandboxPolicy, child_env, landlock_abi, prepare_workdir  # noqa: E402

SPAWNS = 20
VARIANTS = {
    "bare python": "print(1)",
    "import sandbox, no apply": "import rlm_cli.sandbox; print(1)",
    "import sandbox + apply": (
        "import json, sys, rlm_cli.sandbox as s; s.apply(s.SandboxPolicy(**json.loads(sys.argv[1]))); print(1)"
    ),
}


def spawn_ms(code: str, policy_json: str, env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, policy_json], env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


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


if __name__ == "__main__":
    main()
