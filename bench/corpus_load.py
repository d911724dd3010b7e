"""Corpus loading against `cat` on the same logs, parent and REPL-child memory, and the PDF text cache.

Loading is also timed against reading the same files into new buffers ("fresh memory"): the cost of storing the
corpus at all, which `cat` never pays (docs/performance.md, "One large document").

Usage: .venv/bin/python bench/corpus_load.py [--mb 500] [--files 5000] [--pages 300] [--stdin]
`--files 1 --stdin` makes the corpus one large document read from stdin, as `big.log | rlm ask -` has it.
Targets: text loading within 2x of `cat`; peak RSS of parent + REPL child within 2x the corpus; a cached PDF at
least 20x faster than a cold one.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlm_cli.engine import loop  # noqa: E402
from rlm_cli.engine.loop import RLM, EngineConfig, Run  # noqa: E402
from rlm_cli.engine.model import Completion, ModelSpec  # noqa: E402
from rlm_cli.guidance import factory as guidance_factory  # noqa: E402
from rlm_cli.inputs.bundle import write_bundle  # noqa: E402
from rlm_cli.inputs.corpus import Corpus, CorpusOptions, load_corpus  # noqa: E402
from tests.test_corpus import make_text_pdf  # noqa: E402

SERVICES = ["api", "auth", "billing", "worker", "gateway", "db-proxy", "scheduler", "search", "notifier"]
LEVELS = ["INFO"] * 10 + ["DEBUG"] * 6 + ["WARN"] * 2 + ["ERROR"]
MESSAGES = [
    "request completed method=GET path=/api/v1/items/{n} status=200 duration_ms={m}",
    "request completed method=POST path=/api/v1/orders status={status} duration_ms={m}",
    "cache miss key=user:{n} ttl={m}s",
    "retrying connection to 10.0.{k}.{m}:5432 attempt={k}/5",
    "job {n} finished in {m}ms queue=default",
    'event={{"user": {n}, "action": "checkout", "items": {k}, "total": {m}.99}}',
    "slow query took {m}ms: SELECT * FROM orders WHERE customer_id = {n}",
    'Traceback (most recent call last):\n  File "/app/handlers.py", line {m}, in handle\n'
    "    result = process(payload)\nValueError: invalid payload id={n}",
    "health check ok uptime={n}s goroutines={m}",
]


def log_block(rng: random.Random, lines: int) -> str:
    """A few MB of varied log lines that files take slices of, so generating 500 MB stays fast."""
    out = []
    for _ in range(lines):
        message = rng.choice(MESSAGES).format(
            n=rng.randint(1, 999_999), m=rng.randint(1, 9_999), k=rng.randint(1, 5), status=rng.choice([201, 400, 500])
        )
        stamp = f"2024-05-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
        stamp += f"{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z"
        out.append(f"{stamp} {rng.choice(LEVELS):5s} [{rng.choice(SERVICES)}] {message}\n")
    return "".join(out)


def make_logs(directory: Path, total_bytes: int, files: int, rng: random.Random) -> list[Path]:
    """Files of varied sizes around total_bytes / files, spread over 50 service directories; one file is
    total_bytes long, made of slices of the block."""
    block = log_block(rng, 50_000)
    mean = total_bytes // files
    paths = []
    for i in range(files):
        size = mean if files == 1 else min(len(block) // 2, int(mean * rng.uniform(0.5, 1.5)))
        path = directory / f"svc-{i % 50:02d}" / f"run-{i:05d}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            out.write(f"# run {i} on host-{i % 13}\n")
            while size > 0:
                piece = min(size, len(block) // 2)
                start = block.index("\n", rng.randrange(len(block) - piece - 1)) + 1
                size -= out.write(block[start : start + piece])
        paths.append(path)
    return sorted(paths)


def read_fresh(files: list[Path]) -> list[bytes]:
    """The files' bytes, each read whole into a new buffer and all kept, as the loader keeps its text: the floor
    for any load that stores the corpus in memory. `cat` stores nothing, so it never pays for fresh pages."""
    out = []
    for path in files:
        with path.open("rb", buffering=0) as f:
            out.append(f.read())
    return out


def best_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
        del result
    return min(times)


def status(pid: int | str = "self") -> dict[str, int]:
    """A process's memory from /proc: VmRSS (now), VmHWM (peak since start or the last reset), RssAnon (private)."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM", "RssAnon")}  # KiB


def reset_peak() -> None:
    """Start this process's VmHWM over from its current RSS (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


# The model's turns: a block that tests for words the logs never hold (the guidance checks then read every
# document, and every part of those words), an answer from it (questioned once), the same answer again.
REPLIES = [
    "```repl\nprint(len(context), sum('payment declined twice' in d for d in documents))\n```",
    "FINAL(42)",
    "FINAL(42)",
]


class Script:
    """A model client that replies from REPLIES, so the engine runs as in `rlm ask` with no model server."""

    def __init__(self, on_call: Callable[[], None]) -> None:
        self.replies = list(REPLIES)
        self.on_call = on_call

    def complete(self, spec: ModelSpec, messages: list[dict[str, str]], **_: object) -> Completion:
        self.on_call()
        return Completion(self.replies.pop(0) if self.replies else "FINAL(42)", spec.model, 0, 0, None, 0.0)


def engine_memory(corpus: Corpus) -> dict[str, float]:
    """Run the engine on `corpus` (small guidance, sandboxed REPL child) and measure both processes' memory (KiB).

    The parent's load and the child's load do not overlap: the engine hands the input off (writes the bundle,
    builds the first message), releases its copy, and only then lets the child load (engine/loop.py). So the
    run has two phases, and the combined peak is the larger of their sums:
    - before the child loads: the parent's peak so far (loading, describing, writing) + the waiting child's peak;
    - from then on: the parent's peak since the hand-off (its VmHWM reset at that moment) + the child's peak.
    Each sum is of peaks, so it can only overstate the combined RSS at any one moment.
    """
    found: dict[str, float] = {}
    rlm: RLM | None = None
    release = loop.release

    def timed_release(corpus: Corpus, bundle: str) -> None:
        assert rlm is not None and rlm.repl is not None and rlm.repl.proc is not None
        found["hand_off_parent"] = status()["VmHWM"]
        found["hand_off_child"] = status(rlm.repl.proc.pid)["VmHWM"]
        release(corpus, bundle)
        reset_peak()
        found["released_s"] = time.perf_counter()

    def on_call() -> None:  # the second call comes after the block ran: the child is loaded and alive
        if rlm is not None and rlm.repl is not None and rlm.repl.proc is not None and "released_s" in found:
            child = status(rlm.repl.proc.pid)
            found["child_peak"], found["child_private"] = (
                max(found.get("child_peak", 0), child["VmHWM"]),
                child["RssAnon"],
            )

    config = EngineConfig(
        root=ModelSpec("script"), sub=ModelSpec("script"), guide=guidance_factory("small"), guidance="small"
    )
    loop.release = timed_release
    try:
        rlm = RLM(Run(config, Script(on_call), lambda event: None))
        started = time.perf_counter()
        outcome = rlm.solve("How many payments were declined twice?", corpus)
        found["solve_s"] = time.perf_counter() - started
    finally:
        loop.release = release
    assert outcome.answer == "42" and "child_peak" in found, outcome
    found["after_parent"] = status()["VmHWM"]
    return found


def child_load(bundle: str) -> float:
    """The time the REPL child's load_bundle takes on `bundle`, in a fresh process."""
    code = (
        "import sys, time\n"
        "from rlm_cli.inputs.bundle import load_bundle\n"
        "t = time.perf_counter(); context, documents = load_bundle(sys.argv[1]); print(time.perf_counter() - t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, bundle], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=500, help="megabytes of logs to generate")
    parser.add_argument("--files", type=int, default=5000, help="number of log files")
    parser.add_argument("--pages", type=int, default=300, help="pages in the generated PDF")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each measurement; the best counts")
    parser.add_argument("--stdin", action="store_true", help="feed the one file (--files 1) on stdin")
    args = parser.parse_args()
    if args.stdin and args.files != 1:
        parser.error("--stdin reads one file: give --files 1")

    work = Path(tempfile.mkdtemp(prefix="rlm-bench-corpus-"))
    try:
        rng = random.Random(7)
        files = make_logs(work / "logs", args.mb * 1_000_000, args.files, rng)
        megabytes = sum(path.stat().st_size for path in files) / 1e6
        print(f"generated {len(files):,} log files, {megabytes:,.0f} MB, in {work}")

        cat = ["cat", *map(str, files)]
        subprocess.run(cat, stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        cat_s = best_of(args.runs, lambda: subprocess.run(cat, stdout=subprocess.DEVNULL, check=True))
        options = CorpusOptions(max_file_size=10**12, max_total_size=10**12)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        def load() -> Corpus:
            if not args.stdin:
                return load_corpus([str(work / "logs")], options)
            with files[0].open("rb") as stdin:
                return load_corpus(["-"], options, stdin=stdin)

        load_s = best_of(args.runs, load)
        corpus = load()
        parent_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        corpus_mib = corpus.total_chars / 2**20
        started = time.perf_counter()
        bundle = write_bundle(corpus, str(work / "bundle"))
        bundle_s = time.perf_counter() - started
        child_s = child_load(bundle)
        memory = engine_memory(corpus)
        fresh_s = best_of(args.runs, lambda: read_fresh(files))  # after the memory figures, which it would raise

        print(f"cat          {cat_s:7.3f} s  {megabytes / cat_s:8.0f} MB/s")
        ratio = load_s / cat_s
        print(
            f"load_corpus  {load_s:7.3f} s  {megabytes / load_s:8.0f} MB/s  {ratio:.2f}x the time of cat (target <= 2x)"
        )
        print(
            f"fresh memory {fresh_s:7.3f} s  {megabytes / fresh_s:8.0f} MB/s  the files read whole into new buffers; "
            f"load_corpus takes {load_s / fresh_s:.2f}x that"
        )
        print(f"write_bundle {bundle_s:7.3f} s   child load_bundle {child_s:.3f} s")
        print(f"engine run (hand-off, child load, one block, guidance checks, two answers) {memory['solve_s']:.1f} s")

        def mib(kib: float) -> str:
            return f"{kib / 1024:,.0f} MiB"

        before = memory["hand_off_parent"] + memory["hand_off_child"]
        after = memory["after_parent"] + memory["child_peak"]
        print(
            f"peak RSS before the hand-off: parent {mib(memory['hand_off_parent'])} (after loading {mib(parent_kib)}, "
            f"before {mib(rss_before)}) + waiting child {mib(memory['hand_off_child'])} "
            f"= {before / 1024 / corpus_mib:.2f}x"
        )
        print(
            f"peak RSS after it: parent {mib(memory['after_parent'])} + child {mib(memory['child_peak'])} "
            f"(private {mib(memory['child_private'])}) = {after / 1024 / corpus_mib:.2f}x"
        )
        print(
            f"peak RSS, parent + child: {max(before, after) / 1024 / corpus_mib:.2f}x the {corpus_mib:,.0f} MiB corpus "
            f"(target <= 2x); the two lifetime peaks added, as if they met: "
            f"{(memory['hand_off_parent'] + memory['child_peak']) / 1024 / corpus_mib:.2f}x"
        )
        del corpus

        pdf = work / "pdf" / "report.pdf"
        pdf.parent.mkdir()
        lines = [f"step {rng.randint(1, 99)} took {rng.random():.3f}s on worker {rng.randint(1, 9)}" for _ in range(45)]
        pdf.write_bytes(
            make_text_pdf([[f"page {page}: {line}" for line in lines] for page in range(1, args.pages + 1)])
        )
        os.environ["RLM_CACHE_DIR"] = str(work / "cache")
        started = time.perf_counter()
        cold = load_corpus([str(pdf)], CorpusOptions())
        cold_s = time.perf_counter() - started
        cached_s = best_of(args.runs, lambda: load_corpus([str(pdf)], CorpusOptions()))
        pages = cold.documents[0].pages or 0
        print(
            f"PDF {pages} pages: cold {cold_s:.3f} s ({pages / cold_s:,.0f} pages/s), cached {cached_s:.4f} s "
            f"({pages / cached_s:,.0f} pages/s); speedup {cold_s / cached_s:,.0f}x (target >= 20x)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
