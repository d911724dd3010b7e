"""Corpus loading against `cat` on the same logs, parent and REPL-child memory, and the PDF text cache.

Usage: .venv/bin/python bench/corpus_load.py [--mb 500] [--files 5000] [--pages 300]
Targets: text loading within 2x of `cat`; a cached PDF at least 20x faster than a cold one.
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

from rlm_cli.inputs.bundle import write_bundle  # noqa: E402
from rlm_cli.inputs.corpus import CorpusOptions, load_corpus  # noqa: E402
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
    """Files of varied sizes around total_bytes / files, spread over 50 service directories."""
    block = log_block(rng, 50_000)
    mean = total_bytes // files
    paths = []
    for i in range(files):
        size = min(len(block) // 2, int(mean * rng.uniform(0.5, 1.5)))
        start = block.index("\n", rng.randrange(len(block) - size - 1)) + 1
        path = directory / f"svc-{i % 50:02d}" / f"run-{i:05d}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# run {i} on host-{i % 13}\n" + block[start : start + size], encoding="utf-8")
        paths.append(path)
    return sorted(paths)


def best_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
        del result
    return min(times)


def child_memory(bundle: str) -> tuple[float, int, int]:
    """Load the bundle as the REPL child does, in a fresh process: its time, peak RSS and private memory (KiB).

    Peak RSS includes the bundle file's page cache, mapped while it is decoded. Private (anonymous) memory after
    loading is what the child itself holds; decoding these ASCII logs allocates only the string, so it was the peak.
    """
    code = (
        "import resource, sys, time\n"
        "from rlm_cli.inputs.bundle import load_bundle\n"
        "t = time.perf_counter(); context, documents = load_bundle(sys.argv[1]); t = time.perf_counter() - t\n"
        "status = dict(line.split(':', 1) for line in open('/proc/self/status'))\n"
        "print(t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, status['RssAnon'].split()[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code, bundle], capture_output=True, text=True, check=True, cwd=ROOT)
    seconds, rss, private = out.stdout.split()
    return float(seconds), int(rss), int(private)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=500, help="megabytes of logs to generate")
    parser.add_argument("--files", type=int, default=5000, help="number of log files")
    parser.add_argument("--pages", type=int, default=300, help="pages in the generated PDF")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each measurement; the best counts")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rlm-bench-corpus-"))
    try:
        rng = random.Random(7)
        files = make_logs(work / "logs", args.mb * 1_000_000, args.files, rng)
        megabytes = sum(path.stat().st_size for path in files) / 1e6
        print(f"generated {len(files):,} log files, {megabytes:,.0f} MB, in {work}")

        cat = ["cat", *map(str, files)]
        subprocess.run(cat, stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        cat_s = best_of(args.runs, lambda: subprocess.run(cat, stdout=subprocess.DEVNULL, check=True))
        options = CorpusOptions(max_total_size=10**12)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        load_s = best_of(args.runs, lambda: load_corpus([str(work / "logs")], options))
        corpus = load_corpus([str(work / "logs")], options)
        parent_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        bundle = write_bundle(corpus, str(work / "bundle"))
        bundle_s = time.perf_counter() - started
        child_s, child_kib, child_private_kib = child_memory(bundle)
        corpus_mib = corpus.total_chars / 2**20

        print(f"cat          {cat_s:7.3f} s  {megabytes / cat_s:8.0f} MB/s")
        ratio = load_s / cat_s
        print(
            f"load_corpus  {load_s:7.3f} s  {megabytes / load_s:8.0f} MB/s  {ratio:.2f}x the time of cat (target <= 2x)"
        )
        print(f"write_bundle {bundle_s:7.3f} s   child load_bundle {child_s:.3f} s")
        print(
            f"peak RSS: parent {parent_kib / 1024:,.0f} MiB (before loading {rss_before / 1024:,.0f}), "
            f"child {child_kib / 1024:,.0f} MiB; together {(parent_kib + child_kib) / 1024 / corpus_mib:.2f}x "
            f"the {corpus_mib:,.0f} MiB corpus (target ~3x)"
        )
        print(
            f"child private memory {child_private_kib / 1024:,.0f} MiB (the rest of its peak is the bundle's page "
            f"cache); parent peak + child private {(parent_kib + child_private_kib) / 1024 / corpus_mib:.2f}x"
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
