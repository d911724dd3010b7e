"""Benchmark: `rlm ask` against a direct long-context baseline on generated tasks with exact gold answers.

Usage: python bench/harness.py --model openai/MODEL --api-base URL [--families needle,logs,oolong]
           [--sizes 8k,32k,128k,1m] [--n 3] [--seed 0] [--wordings all|tune|heldout] [--window 32768]
           [--no-baseline | --baseline-tasks K] [--timeout-per-task 900] [--out results.json]
           [--rlm-arg=--max-iterations=12 ...]
       python bench/harness.py --list --families needle,logs,oolong --sizes 8k --n 2
Each task runs through the real CLI in a subprocess (a stdin task gets its one file on `rlm ask -`); the
baseline sends the whole input in one prompt, cut in the middle to fit --window tokens (chars/4).
Accuracy and the mean score (partial credit: OOLONG's 0.75 ** |error| on semantic counts, else 1 or 0) are
reported by family and size, by wording group (tune, heldout) and by question type.
See docs/benchmarks.md for running it, docs/bench-tasks.md for the tasks, wordings and scoring.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from bench.tasks import (  # noqa: E402
    CHARS_PER_TOKEN,
    DEFAULT_FAMILIES,
    FAMILIES,
    Task,
    facts_found,
    generate_all,
    parse_size,
    points,
    score,
)
from bench.wordings import SELECTIONS  # noqa: E402
from rlm_cli.engine.model import ModelClient, ModelSpec, RetryPolicy  # noqa: E402
from rlm_cli.errors import ModelError  # noqa: E402
from rlm_cli.inputs.bundle import SEPARATOR_TEMPLATE  # noqa: E402

SCHEMA = "rlm.bench/1"
ANSWER_TOKENS = 200
# Room for the instructions and headers around the input, on top of the question and the answer.
PROMPT_OVERHEAD_TOKENS = 64
# What servers say when a prompt does not fit: litellm, OpenAI and vLLM ("maximum context length"), llama.cpp.
OVERFLOW = re.compile(r"prompt too long|context (?:length|size|window)|too many tokens", re.IGNORECASE)
SHRINK_TRIES = 3
GRACE_S = 15.0


@dataclass
class RlmRun:
    """One `rlm ask --json` run as the benchmark saw it; status "timeout" means the harness stopped it.

    facts is the fraction of an open question's facts the answer carries (None for other questions).
    score is the credit in [0, 1] (tasks.points): OOLONG's 0.75 ** |error| for a graded count (the semantic
    family), else 1.0 when correct; 0.0 for a run with no answer or one the harness stopped.
    """

    answer: str | None
    correct: bool
    wall_s: float
    iterations: int | None
    subcalls: int | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    status: str
    exit_code: int | None
    trace: str | None
    error: str | None
    facts: float | None = None
    score: float = 0.0


@dataclass
class BaselineRun:
    """One direct call with the (middle-truncated) input in the prompt; facts and score as for RlmRun."""

    answer: str | None
    correct: bool
    wall_s: float
    input_tokens: int | None
    output_tokens: int | None
    prompt_chars: int
    omitted_chars: int
    status: str
    error: str | None
    facts: float | None = None
    score: float = 0.0


@dataclass
class TaskResult:
    task: dict[str, Any]
    rlm: RlmRun | None
    baseline: BaselineRun | None


def rlm_command(task: Task, args: argparse.Namespace) -> list[str]:
    """The CLI call for one task; run it with the task's directory as the working directory.

    A stdin task reads its one file as `-`, the way `cat service.log | rlm ask - "why did it crash?"` does.
    """
    command = [sys.executable, "-m", "rlm_cli", "ask", "--json", "-q", "--model", args.model]
    if args.sub_model:
        command += ["--sub-model", args.sub_model]
    if args.api_base:
        command += ["--api-base", args.api_base]
    return [*command, *args.rlm_arg, "--", "-" if task.stdin else ".", task.question]


def run_rlm(task: Task, workdir: Path, args: argparse.Namespace) -> RlmRun:
    """Runs the real CLI on the task's files; past the timeout it is sent SIGTERM, so its trace is kept."""
    env = dict(os.environ)
    # The checkout's rlm_cli, even where another version is installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if args.api_key:
        env["RLM_API_KEY"] = args.api_key  # through the environment, so it never shows in `ps`
    started = time.monotonic()
    source = workdir / next(iter(task.files)) if task.stdin else Path(os.devnull)
    with source.open("rb") as stdin:
        proc = subprocess.Popen(
            rlm_command(task, args),
            cwd=workdir,
            env=env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=args.timeout_per_task)
    except subprocess.TimeoutExpired:
        timed_out = True
        stdout, stderr = _stop(proc)
    except KeyboardInterrupt:
        _stop(proc)
        raise
    wall = time.monotonic() - started
    result = _last_json(stdout)
    if result is None:
        error = stderr.strip().splitlines()[-1] if stderr.strip() else f"no JSON on stdout (exit {proc.returncode})"
        status = "timeout" if timed_out else "error"
        return RlmRun(None, False, wall, None, None, None, None, None, status, proc.returncode, None, error)
    usage = result.get("usage") or {}
    error_info = result.get("error") or {}
    status = "timeout" if timed_out else str(result.get("status"))
    answer = result.get("answer")
    return RlmRun(
        answer=answer,
        # A run the harness had to stop gets no credit for its partial answer.
        correct=not timed_out and score(task, answer),
        wall_s=wall,
        iterations=result.get("iterations"),
        subcalls=result.get("subcalls"),
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        cost_usd=result.get("cost_usd"),
        status=status,
        exit_code=proc.returncode,
        trace=result.get("trace"),
        error=error_info.get("message"),
        facts=None if timed_out else facts_found(task, answer),
        score=0.0 if timed_out else points(task, answer),
    )


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM to the run's process group (rlm then prints its partial JSON), SIGKILL if it lingers."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.communicate(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()


def _last_json(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def truncate_middle(text: str, max_chars: int) -> tuple[str, int]:
    """Keeps the beginning and the end, cutting the middle at line breaks; returns the text and chars cut."""
    if len(text) <= max_chars:
        return text, 0
    half = max(0, max_chars - 80) // 2
    head_end = text.rfind("\n", 0, half) + 1 or half
    tail_start = text.find("\n", len(text) - half)
    tail_start = len(text) - half if tail_start < 0 else tail_start + 1
    omitted = tail_start - head_end
    return f"{text[:head_end]}[... {omitted:,} characters omitted ...]\n{text[tail_start:]}", omitted


def baseline_prompt(task: Task, window: int, scale: float = 1.0) -> tuple[str, int]:
    """The whole input and the question in one prompt, at most window - answer tokens at chars/4."""
    documents = "".join(SEPARATOR_TEMPLATE.format(path=path) + text for path, text in sorted(task.files.items()))
    question_tokens = math.ceil(len(task.question) / CHARS_PER_TOKEN)
    budget_tokens = window - ANSWER_TOKENS - question_tokens - PROMPT_OVERHEAD_TOKENS
    body, omitted = truncate_middle(documents, max(0, int(budget_tokens * CHARS_PER_TOKEN * scale)))
    prompt = (
        f"Below are the contents of {_files(task)}.\n\n{body}\n"
        "Answer the question using only the text above. Reply with the answer only, as briefly as possible.\n"
        f"Question: {task.question}"
    )
    return prompt, omitted


def _files(task: Task) -> str:
    return f"{len(task.files)} file{'s' if len(task.files) > 1 else ''}"


def run_baseline(task: Task, args: argparse.Namespace, client: ModelClient) -> BaselineRun:
    """One call; if the server still finds the prompt too long (chars/4 underestimated), cut a quarter more."""
    spec = ModelSpec(args.model, args.api_base, args.api_key, temperature=0.0, max_output_tokens=ANSWER_TOKENS)
    started = time.monotonic()
    scale = 1.0
    for _ in range(SHRINK_TRIES + 1):
        prompt, omitted = baseline_prompt(task, args.window, scale)
        try:
            reply = client.complete(spec, [{"role": "user", "content": prompt}])
        except ModelError as exc:
            if OVERFLOW.search(exc.message) and omitted < sum(len(t) for t in task.files.values()):
                scale *= 0.75
                continue
            wall = time.monotonic() - started
            return BaselineRun(None, False, wall, None, None, len(prompt), omitted, "error", exc.message)
        wall = time.monotonic() - started
        answer = reply.text.strip()
        correct = score(task, answer)
        tokens = (reply.input_tokens, reply.output_tokens)
        credit = facts_found(task, answer), points(task, answer)
        return BaselineRun(answer, correct, wall, *tokens, len(prompt), omitted, "ok", None, *credit)
    wall = time.monotonic() - started
    return BaselineRun(None, False, wall, None, None, len(prompt), omitted, "error", "prompt too long after cutting")


def summarize(results: Sequence[TaskResult]) -> list[dict[str, Any]]:
    """One row per family x size, in run order, then "all"; means skip runs that reported no figure."""
    groups: dict[tuple[str, str], list[TaskResult]] = {}
    for r in results:
        groups.setdefault((r.task["family"], r.task["size"]), []).append(r)
    if len(groups) > 1:
        groups[("all", "")] = list(results)
    return [
        {
            "family": family,
            "size": size,
            "n": len(rows),
            "rlm": _side([r.rlm for r in rows if r.rlm is not None]),
            "baseline": _side([r.baseline for r in rows if r.baseline is not None]),
        }
        for (family, size), rows in groups.items()
    ]


def summarize_by(results: Sequence[TaskResult], key: str) -> list[dict[str, Any]]:
    """One row per value of a task field ("wording_group", "question_type"), in first-seen order."""
    groups: dict[str, list[TaskResult]] = {}
    for r in results:
        groups.setdefault(str(r.task.get(key, "")), []).append(r)
    return [
        {
            key: value,
            "n": len(rows),
            "rlm": _side([r.rlm for r in rows if r.rlm is not None]),
            "baseline": _side([r.baseline for r in rows if r.baseline is not None]),
        }
        for value, rows in groups.items()
    ]


def _side(runs: Sequence[RlmRun | BaselineRun]) -> dict[str, Any] | None:
    if not runs:
        return None

    def mean(name: str) -> float | None:
        values = [getattr(run, name) for run in runs if getattr(run, name, None) is not None]
        return sum(values) / len(values) if values else None

    return {
        "correct": sum(run.correct for run in runs),
        "n": len(runs),
        "accuracy": sum(run.correct for run in runs) / len(runs),
        "score": sum(run.score for run in runs) / len(runs),
        "wall_s": mean("wall_s"),
        "iterations": mean("iterations"),
        "subcalls": mean("subcalls"),
        "input_tokens": mean("input_tokens"),
        "output_tokens": mean("output_tokens"),
        "facts": mean("facts"),
        "failed": sum(run.status not in ("ok", "budget_exhausted") for run in runs),
    }


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Accuracy, mean score, wall time, root and sub calls, and tokens, for rlm and the baseline side by side."""
    head = (
        f"{'family':<8} {'size':<6} {'n':>3} | {'rlm acc':>11} {'score':>5} {'wall s':>7} {'root':>5} {'sub':>6} "
        f"{'tok in':>9} {'tok out':>8} {'fail':>4} | {'base acc':>11} {'score':>5} {'wall s':>7} {'tok in':>9} "
        f"{'tok out':>8}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        rlm, base = row["rlm"], row["baseline"]
        left = (
            f"{_acc(rlm):>11} {_num(rlm, 'score', 2):>5} {_num(rlm, 'wall_s', 1):>7} {_num(rlm, 'iterations', 1):>5} "
            f"{_num(rlm, 'subcalls', 1):>6} {_num(rlm, 'input_tokens'):>9} {_num(rlm, 'output_tokens'):>8} "
            f"{(rlm or {}).get('failed', '-'):>4}"
        )
        right = (
            f"{_acc(base):>11} {_num(base, 'score', 2):>5} {_num(base, 'wall_s', 1):>7} "
            f"{_num(base, 'input_tokens'):>9} {_num(base, 'output_tokens'):>8}"
        )
        lines.append(f"{row['family']:<8} {row['size']:<6} {row['n']:>3} | {left} | {right}")
    return "\n".join(lines)


def format_breakdown(rows: Sequence[dict[str, Any]], key: str, title: str) -> str:
    """Accuracy, mean score and the mean fraction of facts found, rlm and baseline, per value of one task field."""
    width = max([len(title), *(len(row[key]) for row in rows)])
    head = (
        f"{title:<{width}} {'n':>3} | {'rlm acc':>11} {'score':>5} {'facts':>5} | "
        f"{'base acc':>11} {'score':>5} {'facts':>5}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        rlm, base = row["rlm"], row["baseline"]
        lines.append(
            f"{row[key]:<{width}} {row['n']:>3} | {_acc(rlm):>11} {_num(rlm, 'score', 2):>5} "
            f"{_num(rlm, 'facts', 2):>5} | {_acc(base):>11} {_num(base, 'score', 2):>5} {_num(base, 'facts', 2):>5}"
        )
    return "\n".join(lines)


def report_tables(results: Sequence[TaskResult]) -> str:
    """The final report: by family and size, then by wording group, then by question type."""
    return "\n\n".join(
        [
            format_table(summarize(results)),
            format_breakdown(summarize_by(results, "wording_group"), "wording_group", "wordings"),
            format_breakdown(summarize_by(results, "question_type"), "question_type", "question type"),
        ]
    )


def _acc(side: dict[str, Any] | None) -> str:
    return "-" if side is None else f"{side['correct']}/{side['n']} {side['accuracy']:.0%}"


def _num(side: dict[str, Any] | None, key: str, digits: int = 0) -> str:
    value = None if side is None else side[key]
    return "-" if value is None else f"{value:,.{digits}f}"


def write_results(path: Path, config: dict[str, Any], results: Sequence[TaskResult]) -> None:
    """Rewritten after every task (atomically), so a long run that dies keeps what it measured."""
    payload = {
        "schema": SCHEMA,
        "config": config,
        "summary": summarize(results),
        "by_wording_group": summarize_by(results, "wording_group"),
        "by_question_type": summarize_by(results, "question_type"),
        "results": [asdict(r) for r in results],
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def _progress(i: int, total: int, task: Task, result: TaskResult) -> str:
    parts = [f"[{i}/{total}] {task.family} {task.size} #{task.index} ({task.wording_id}, {task.wording_group})"]
    if result.rlm is not None:
        r = result.rlm
        verdict = "correct" if r.correct else "WRONG"
        calls = f"(root {r.iterations}, sub {r.subcalls})"
        parts.append(f"rlm: {verdict} score {r.score:.2f} {r.wall_s:.1f}s {r.status} {calls}")
    if result.baseline is not None:
        b = result.baseline
        parts.append(f"baseline: {'correct' if b.correct else 'WRONG'} score {b.score:.2f} {b.wall_s:.1f}s {b.status}")
    return "  ".join(parts)


def list_tasks(tasks: Sequence[Task]) -> str:
    """The questions, wordings and gold answers, with input sizes, for checking generators without a model."""
    out = []
    for task in tasks:
        via = ", on stdin" if task.stdin else ""
        out += [
            f"{task.id}  ({task.chars:,} chars, {_files(task)}{via})",
            f"  Q: {task.question}",
            f"  wording: {task.wording_id} ({task.wording_group})",
            f"  gold: {_gold_text(task)}",
        ]
    return "\n".join(out)


def _gold_text(task: Task) -> str:
    """A list as "a, b"; facts as "a|A; b" (one fact's spellings joined by |, facts by ;)."""
    if task.kind == "facts":
        return "; ".join("|".join(fact) for fact in task.gold)  # type: ignore[union-attr]
    return ", ".join(task.gold) if isinstance(task.gold, list) else str(task.gold)  # type: ignore[arg-type]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/harness.py", description="Run rlm and a direct baseline on generated long-context tasks."
    )
    parser.add_argument("--model", help="root model, e.g. openai/qwen2.5-coder-1.5b (also the baseline's model)")
    parser.add_argument("--sub-model", help="model for rlm's sub-calls [default: the model]")
    parser.add_argument("--api-base", help="OpenAI-compatible base URL for both")
    parser.add_argument("--api-key", help="API key [default: the provider's usual variable]")
    parser.add_argument(
        "--families",
        default=",".join(DEFAULT_FAMILIES),
        help=f"comma-separated, from {','.join(FAMILIES)} [{','.join(DEFAULT_FAMILIES)}]",
    )
    parser.add_argument("--sizes", default="8k,32k", help="input sizes in tokens, comma-separated: 8k,32k,128k,1m")
    parser.add_argument("--n", type=int, default=3, help="tasks per family and size [3]")
    parser.add_argument("--seed", type=int, default=0, help="generator seed [0]")
    parser.add_argument(
        "--wordings",
        choices=SELECTIONS,
        default="all",
        help="which wordings to ask: tune, heldout (only to report, never while tuning) or all [all]",
    )
    parser.add_argument("--window", type=int, default=32768, help="baseline context window in tokens [32768]")
    parser.add_argument("--no-baseline", action="store_true", help="run rlm only")
    parser.add_argument(
        "--baseline-tasks",
        type=int,
        metavar="K",
        help="run the baseline on the first K tasks of each family and size only [all]",
    )
    parser.add_argument("--timeout-per-task", type=float, default=900.0, help="seconds per rlm run [900]")
    parser.add_argument("--out", type=Path, help="results JSON [bench-results-DATE.json]")
    parser.add_argument(
        "--rlm-arg", action="append", default=[], metavar="ARG", help="extra rlm ask flag, e.g. --rlm-arg=--timeout=600"
    )
    parser.add_argument("--list", action="store_true", help="print the tasks' questions and gold answers, run nothing")
    args = parser.parse_args(argv)
    args.families = [f.strip() for f in args.families.split(",") if f.strip()]
    args.sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [f for f in args.families if f not in FAMILIES]
    if unknown:
        parser.error(f"unknown families {', '.join(unknown)}; choose from {', '.join(FAMILIES)}")
    for size in args.sizes:
        try:
            parse_size(size)
        except ValueError as exc:
            parser.error(str(exc))
    if args.n < 1:
        parser.error("--n must be at least 1")
    if args.baseline_tasks is not None and args.baseline_tasks < 0:
        parser.error("--baseline-tasks must be 0 or more")
    if not args.list and not args.model:
        parser.error("--model is required (unless --list)")
    if args.window <= ANSWER_TOKENS + PROMPT_OVERHEAD_TOKENS + 256:
        parser.error("--window is too small to hold any input")
    return args


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tasks = generate_all(args.families, args.sizes, args.n, args.seed, args.wordings)
    if args.list:
        print(list_tasks(tasks))
        return 0
    # `kill` of the harness stops the rlm run it is waiting for, as Ctrl-C does, instead of orphaning it.
    signal.signal(signal.SIGTERM, _interrupted)
    out = args.out or Path(f"bench-results-{time.strftime('%Y%m%d-%H%M%S')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "model": args.model,
        "sub_model": args.sub_model or args.model,
        "api_base": args.api_base,
        "families": args.families,
        "sizes": args.sizes,
        "n": args.n,
        "seed": args.seed,
        "wordings": args.wordings,
        "window": args.window,
        "baseline": not args.no_baseline,
        "baseline_tasks": args.baseline_tasks,
        "timeout_per_task": args.timeout_per_task,
        "rlm_args": args.rlm_arg,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    client = ModelClient(RetryPolicy(retries=2, request_timeout=args.timeout_per_task))
    results: list[TaskResult] = []
    code = 0
    try:
        for i, task in enumerate(tasks, start=1):
            with tempfile.TemporaryDirectory(prefix="rlm-bench-") as tmp:
                task.write(Path(tmp))
                rlm = run_rlm(task, Path(tmp), args)
            skip = args.no_baseline or (args.baseline_tasks is not None and task.index >= args.baseline_tasks)
            baseline = None if skip else run_baseline(task, args, client)
            results.append(TaskResult(task.describe(), rlm, baseline))
            print(_progress(i, len(tasks), task, results[-1]), file=sys.stderr, flush=True)
            write_results(out, config, results)
    except KeyboardInterrupt:
        print(f"interrupted after {len(results)} of {len(tasks)} tasks", file=sys.stderr)
        code = 130
    write_results(out, config, results)
    print(report_tables(results))
    print(f"results: {out}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
