"""The run's view on stderr, live or replayed from a trace: rich on a terminal, plain lines for logs."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from rlm_cli.engine.events import (
    BatchFinished,
    BatchStarted,
    CodeExecuted,
    CodeStarted,
    Event,
    ModelReply,
    Notice,
    RunFinished,
    RunStarted,
    SubcallFinished,
    TurnStarted,
)
from rlm_cli.engine.parsing import CODE_LANGUAGES
from rlm_cli.redaction import redact_text
from rlm_cli.sanitize import for_terminal

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console
    from rich.progress import Progress, TaskID

# How much a non-verbose view shows; --verbose shows everything.
_TEXT_LINES = 4
_CODE_LINES = 40
_OUTPUT_HEAD = 10
_OUTPUT_TAIL = 5  # tracebacks end at the bottom, so the tail of the output is kept too
_CALLS_LISTED = 5
_LINE_CHARS = 200
_PREVIEW_CHARS = 60
# Without a terminal (CI logs) a long model call looks like a hang: the plain view says it is still waiting
# when it has printed nothing for this long; the rich view shows a live timer instead.
WAITING_INTERVAL_S = 10.0

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n.*?(?:```|\Z)", re.S)
_STYLES = {"header": "bold cyan", "dim": "dim", "ok": "green", "warn": "yellow", "error": "bold red", "strong": "bold"}


class Renderer:
    """Consumes events from any thread; this base shows nothing, which is exactly what --quiet wants."""

    def __call__(self, event: Event) -> None:
        """Show one event (nothing, here)."""

    def close(self) -> None:
        """Print the end-of-run summary (nothing, here)."""


def make_renderer(
    stream: TextIO,
    *,
    quiet: bool = False,
    verbose: bool = False,
    force_plain: bool | None = None,
    replay: bool = False,
) -> Renderer:
    """Pick the view: force_plain decides when given, otherwise the stream and NO_COLOR/TERM do.

    A replay (`rlm trace show`) also prints the answer and the error, which a live run leaves to the runner.
    """
    if quiet:
        return Renderer()
    plain = _wants_plain(stream) if force_plain is None else force_plain
    view = PlainRenderer if plain else RichRenderer
    return view(stream, verbose=verbose, replay=replay)


def _wants_plain(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return True
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):
        return True


def _count(n: float | None) -> str:
    n = int(n or 0)
    for size, unit in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}" if value < 100 else f"{value:.0f}{unit}"
    return str(n)


def _secs(s: float | None) -> str:
    s = float(s or 0.0)
    if s < 60:
        return f"{s:.1f}s"
    minutes, seconds = divmod(int(s), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _cost(c: float | None) -> str:
    if c is None:
        return "unknown"
    return f"${c:.4f}" if 0 < c < 0.01 else f"${c:.2f}"


def _one_line(text: str | None, limit: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def plural(n: int, noun: str) -> str:
    """'1 line', '2 lines': counts read as English in every view."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _clip(lines: list[str], head: int, tail: int = 0) -> list[str]:
    """Keep the first `head` and last `tail` lines, with a marker saying how many were left out."""
    if len(lines) <= head + tail + 1:
        return lines
    hidden = len(lines) - head - tail
    return lines[:head] + [f"... {hidden} more lines ..."] + (lines[-tail:] if tail else [])


def _clean(text: str) -> str:
    """Replies, outputs and errors are untrusted: no escapes reach the terminal, and no key reaches the log."""
    return for_terminal(redact_text(text))


@dataclass
class _Batch:
    size: int
    done: int = 0
    failed: int = 0
    listed: int = 0
    failed_listed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    slowest_s: float = 0.0


class PlainRenderer(Renderer):
    """Line-oriented view without escape codes, for logs; it also keeps the bookkeeping shared with rich."""

    def __init__(self, stream: TextIO, *, verbose: bool = False, replay: bool = False) -> None:
        self._stream = stream
        self._verbose = verbose
        self._replay = replay
        self._code_shown: dict[int, int] = {}  # depth -> index of the code block on screen
        self._lock = threading.RLock()
        self._closed = False
        self._config: dict[str, Any] = {}
        self._start_t: float | None = None
        self._usage: dict[str, Any] = {}
        self._max_iterations: dict[int, int] = {}
        self._batches: dict[tuple[int, int], _Batch] = {}
        self._finished: RunFinished | None = None
        self._status: tuple[str, float] | None = None  # what the run waits for, and since when
        self._last_write = time.monotonic()
        self._stopped = threading.Event()
        self._ticker: threading.Thread | None = None

    # --- output primitives; the rich view overrides these ---

    def _line(self, depth: int, text: str, style: str = "") -> None:
        self._stream.write("  " * depth + _clean(text) + "\n")
        self._last_write = time.monotonic()

    def _block(self, depth: int, lines: list[str], prefix: str, style: str = "") -> None:
        pad = "  " * depth + prefix
        self._stream.writelines(pad + _clean(line) + "\n" for line in lines)
        self._last_write = time.monotonic()

    def _code(self, depth: int, code: str) -> None:
        self._block(depth + 1, code.splitlines(), "")

    def _progress_start(self, key: tuple[Any, ...], description: str, total: int | None) -> None:
        """Plain logs have no live parts (the rich view shows a spinner or bar here), only a waiting line."""
        if key == ("status",) and not self._replay:
            self._status = (description, time.monotonic())
            if self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, name="rlm-waiting", daemon=True)
                self._ticker.start()

    def _progress_update(self, key: tuple[Any, ...], description: str, completed: int) -> None:
        """Plain logs have no live parts; the rich view advances its bar here."""

    def _progress_end(self, key: tuple[Any, ...]) -> None:
        """Plain logs have no live parts; the rich view removes its bar here."""
        if key == ("status",):
            self._status = None

    def _tick(self) -> None:
        """`rlm: waiting for MODEL... 20 s` whenever the run waits and nothing was printed for a while."""
        wait = WAITING_INTERVAL_S
        while not self._stopped.wait(wait):
            with self._lock:
                if self._closed:
                    return
                now = time.monotonic()
                wait = WAITING_INTERVAL_S
                if self._status is None:
                    continue
                text, since = self._status
                quiet = now - max(self._last_write, since)
                if quiet < WAITING_INTERVAL_S:
                    wait = WAITING_INTERVAL_S - quiet
                    continue
                self._line(0, f"rlm: {text}... {now - since:.0f} s")
                self._flush()

    def _flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    # --- events ---

    def __call__(self, event: Event) -> None:
        handler = getattr(self, "_on_" + event.type, None)
        with self._lock:
            if self._closed or handler is None:
                return
            usage = getattr(event, "usage", None)
            if usage:
                self._usage = usage
            handler(event)
            self._flush()

    def _on_run_started(self, e: RunStarted) -> None:
        if e.depth > 0:
            self._line(e.depth, f"child rlm started: {self._short(e.question, _PREVIEW_CHARS)}", "dim")
            return
        self._config = dict(e.config)
        self._start_t = e.t
        model, sub_model = self._config.get("model"), self._config.get("sub_model")
        head = f"run {e.run_id}: model={model}"
        if sub_model and sub_model != model:
            head += f" sub_model={sub_model}"
        self._line(0, head, "strong")
        self._line(1, f"question: {self._short(e.question, _LINE_CHARS)}")
        facts = [
            f"{k}={v}" for k, v in e.corpus.items() if isinstance(v, int | float | str) and len(str(v)) < _PREVIEW_CHARS
        ]
        if facts:
            self._line(1, "context: " + " ".join(facts))
        self._progress_start(("status",), "starting the REPL", None)

    def _on_turn_started(self, e: TurnStarted) -> None:
        self._max_iterations[e.depth] = e.max_iterations
        self._code_shown.pop(e.depth, None)
        if e.depth == 0:
            what = self._config.get("model") or "the model"
            self._progress_start(("status",), f"waiting for {what} (turn {e.iteration}/{e.max_iterations})", None)

    def _on_model_reply(self, e: ModelReply) -> None:
        if e.depth == 0:
            self._progress_end(("status",))
        limit = self._max_iterations.get(e.depth) or "?"
        head = (
            f"[turn {e.iteration}/{limit}] model={e.model} in={e.input_tokens} out={e.output_tokens} "
            f"{_secs(e.latency_s)}"
        )
        if e.depth == 0:
            head += " | " + self._meters(e.t)
        self._line(e.depth, head, "header")
        self._block(e.depth + 1, self._model_text(e.text), "> ", "dim")

    def _on_code_started(self, e: CodeStarted) -> None:
        self._show_code(e.depth, e.index, e.code)

    def _show_code(self, depth: int, index: int, code: str) -> None:
        """A code block as it starts, so the sub-calls it makes appear under it and its output after them."""
        self._code_shown[depth] = index
        code_lines = code.rstrip().splitlines()
        self._line(depth + 1, f"code #{index}, {plural(len(code_lines), 'line')}:", "strong")
        shown = code_lines if self._verbose else code_lines[:_CODE_LINES]
        self._code(depth + 1, "\n".join(shown))
        if len(shown) < len(code_lines):
            self._line(depth + 2, f"... {plural(len(code_lines) - len(shown), 'more code line')}", "dim")
        if depth == 0:
            self._progress_start(("status",), f"running code #{index}", None)

    def _on_code_executed(self, e: CodeExecuted) -> None:
        if self._code_shown.get(e.depth) != e.index:  # a trace from before code_started events
            self._show_code(e.depth, e.index, e.code)
        if e.depth == 0:
            self._progress_end(("status",))
        if e.state_lost:
            self._line(e.depth + 1, "the REPL restarted: variables from earlier turns are gone", "warn")
        output = e.output.rstrip("\n").splitlines()
        head = f"code #{e.index} ran {_secs(e.elapsed_s)}"
        self._line(e.depth + 1, head + (", output:" if output else ", no output"), "strong")
        if self._verbose:
            self._block(e.depth + 1, output, "| ", "dim")
        elif output:
            clipped = _clip(output, _OUTPUT_HEAD, _OUTPUT_TAIL)
            self._block(e.depth + 1, [self._short_line(line) for line in clipped], "| ", "dim")
        if e.cut_chars:
            self._line(e.depth + 1, f"(the model saw this output cut by {e.cut_chars} chars)", "dim")

    def _on_batch_started(self, e: BatchStarted) -> None:
        self._batches[(e.depth, e.batch_id)] = _Batch(size=e.size)
        self._progress_start(("batch", e.depth, e.batch_id), self._batch_label(e.depth, e.batch_id), e.size)

    def _on_subcall_finished(self, e: SubcallFinished) -> None:
        batch = self._batches.get((e.depth, e.batch_id))
        listed = self._verbose or batch is None
        if batch is not None:
            batch.done += 1
            batch.failed += e.error is not None
            batch.input_tokens += e.input_tokens
            batch.output_tokens += e.output_tokens
            batch.slowest_s = max(batch.slowest_s, e.latency_s)
            listed = (
                listed or batch.listed < _CALLS_LISTED or (e.error is not None and batch.failed_listed < _CALLS_LISTED)
            )
            batch.listed += listed
            batch.failed_listed += listed and e.error is not None
            self._progress_update(("batch", e.depth, e.batch_id), self._batch_label(e.depth, e.batch_id), batch.done)
        if not listed:
            return
        # "- " sets sub-calls apart from the code above them, which is indented as deep.
        where = f"- {batch.done}/{batch.size} prompts[{e.index}]" if batch and batch.size > 1 else "- sub-call"
        model = e.model + (" (recursive rlm)" if e.recursive else "")
        if e.error is not None:
            self._line(
                e.depth + 1,
                f"{where} {model} FAILED after {_secs(e.latency_s)}: {self._short(e.error, _LINE_CHARS)}",
                "error",
            )
        else:
            text = f"{where} {model} in={e.input_tokens} out={e.output_tokens} {_secs(e.latency_s)}"
            if not self._verbose:
                text += f' -> "{_one_line(e.response, _PREVIEW_CHARS)}"'
            self._line(e.depth + 1, text)
        if self._verbose:
            self._block(e.depth + 2, e.prompt.splitlines(), "prompt | ", "dim")
            self._block(e.depth + 2, e.response.splitlines(), "reply  | ", "dim")

    def _on_batch_finished(self, e: BatchFinished) -> None:
        batch = self._batches.pop((e.depth, e.batch_id), None)
        self._progress_end(("batch", e.depth, e.batch_id))
        if batch and batch.size == 1 and batch.listed:
            return  # a lone llm_query: its sub-call line said it all
        done = batch.done if batch else e.size
        text = f"batch {e.batch_id}: {done}/{e.size} done, {e.failed} failed, {_secs(e.elapsed_s)}"
        if batch:
            text += (
                f", in={_count(batch.input_tokens)} out={_count(batch.output_tokens)}, slowest {_secs(batch.slowest_s)}"
            )
        self._line(e.depth + 1, text, "warn" if e.failed else "ok")
        if batch and batch.done > batch.listed:
            more = plural(batch.done - batch.listed, "more call")
            self._line(e.depth + 1, f"- ({more} not listed; verbose lists all)", "dim")

    def _on_notice(self, e: Notice) -> None:
        style = "warn" if e.kind in ("warning", "error") else "dim"
        self._line(e.depth + 1, f"{e.kind}: {self._short(e.message, _LINE_CHARS)}", style)

    def _on_run_finished(self, e: RunFinished) -> None:
        if e.depth > 0:
            self._line(
                e.depth,
                f"child rlm finished: {e.status}, {e.iterations} turns, "
                f'answer: "{_one_line(e.answer, _PREVIEW_CHARS)}"',
                "dim",
            )
        else:
            self._progress_end(("status",))
            self._finished = e

    # --- helpers ---

    def _short(self, text: str | None, limit: int) -> str:
        return (text or "") if self._verbose else _one_line(text, limit)

    def _short_line(self, line: str) -> str:
        return line if len(line) <= _LINE_CHARS else line[: _LINE_CHARS - 3] + "..."

    def _model_text(self, text: str) -> list[str]:
        """The model's prose: code is shown on its own as it runs, other fences shrink unless verbose."""

        def fence(match: re.Match[str]) -> str:
            language = match.group(1).lower()
            if language in CODE_LANGUAGES:
                return ""
            return match.group(0) if self._verbose else f"[{language} block]"

        prose = _FENCE.sub(fence, text)
        if self._verbose:
            return prose.strip("\n").splitlines()
        lines = [ln for ln in prose.splitlines() if ln.strip()]
        return [self._short_line(ln) for ln in _clip(lines, _TEXT_LINES)]

    def _batch_label(self, depth: int, batch_id: int) -> str:
        batch = self._batches[(depth, batch_id)]
        failed = f", {batch.failed} failed" if batch.failed else ""
        return f"{'  ' * (depth + 1)}batch {batch_id}: {batch.done}/{batch.size} done{failed}"

    def _meters(self, t: float) -> str:
        """Budget use so far against each limit (no limit: just the use)."""
        cfg, usage = self._config, self._usage

        def meter(name: str, used: str, limit: Any, fmt: Callable[[Any], str]) -> str:
            return f"{name} {used}/{fmt(limit)}" if limit else f"{name} {used}"

        tokens = (usage.get("input_tokens") or 0) + (usage.get("output_tokens") or 0)
        elapsed = usage.get("elapsed_s")
        if elapsed is None:
            elapsed = t - self._start_t if self._start_t is not None else 0.0
        parts = [
            meter("tokens", _count(tokens), cfg.get("max_tokens"), _count),
            meter("cost", _cost(usage.get("cost_usd")), cfg.get("max_cost"), _cost),
            meter("time", _secs(elapsed), cfg.get("timeout"), _secs),
        ]
        if usage.get("subcalls"):
            parts.append(meter("sub-calls", str(usage["subcalls"]), cfg.get("max_subcalls"), str))
        return ", ".join(parts)

    # --- the end ---

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stopped.set()
            self._summary()
            self._flush()

    def _summary(self) -> None:
        f = self._finished
        if f is None and self._start_t is None:
            return
        usage = f.usage if f and f.usage else self._usage
        if f is None:
            self._line(0, "run incomplete: no run_finished event (killed, or still going)", "warn")
        else:
            style = {"ok": "ok", "error": "error"}.get(f.status, "warn")
            counts = f"{plural(f.iterations, 'iteration')}, {plural(f.subcalls, 'sub-call')}"
            self._line(0, f"run {f.status.replace('_', ' ')}: {counts}, {_secs(f.elapsed_s)}", style)
            if f.answer and not f.final:
                self._line(1, "the answer is a best effort: the model never called FINAL", "warn")
            elif not f.answer:
                self._line(1, "no answer", "warn")
        self._line(1, f"tokens in={usage.get('input_tokens') or 0:,} out={usage.get('output_tokens') or 0:,}")
        for model, m in (usage.get("by_model") or {}).items():
            self._line(
                2,
                f"{model}: in={m.get('input_tokens') or 0:,} out={m.get('output_tokens') or 0:,}, "
                f"{m.get('calls') or 0} calls, cost {_cost(m.get('cost_usd'))}",
            )
        cost = f.cost_usd if f and f.cost_usd is not None else usage.get("cost_usd")
        self._line(1, f"cost {_cost(cost)}")
        for warning in f.warnings if f else []:
            self._line(1, f"warning: {warning}", "warn")
        if self._replay and f is not None:  # live, the runner prints these on stdout and as `rlm: error:`
            if f.error:
                kind = f.error.get("type")
                self._line(1, f"error{f' ({kind})' if kind else ''}: {f.error.get('message', '')}", "error")
            if f.answer is not None:
                self._line(0, "answer:" if f.final else "answer (best effort):", "strong")
                self._block(1, f.answer.splitlines() or [""], "")


class RichRenderer(PlainRenderer):
    """The plain view plus colour, highlighted code and live progress, for a person at a terminal."""

    def __init__(self, stream: TextIO, *, verbose: bool = False, replay: bool = False) -> None:
        super().__init__(stream, verbose=verbose, replay=replay)
        from rich.console import Console

        self._console: Console = Console(file=stream, force_terminal=True, highlight=False, emoji=False)
        self._progress: Progress | None = None
        self._tasks: dict[tuple[Any, ...], TaskID] = {}

    def _line(self, depth: int, text: str, style: str = "") -> None:
        from rich.text import Text

        self._console.print(Text("  " * depth + _clean(text), style=_STYLES.get(style, "")))

    def _block(self, depth: int, lines: list[str], prefix: str, style: str = "") -> None:
        from rich.text import Text

        pad = "  " * depth + prefix
        text = "\n".join(pad + _clean(line) for line in lines)
        self._console.print(Text(text, style=_STYLES.get(style, "")))

    def _code(self, depth: int, code: str) -> None:
        from rich.padding import Padding
        from rich.syntax import Syntax

        # highlight() gives styled text without Syntax's padding of every line to the terminal's width.
        text = Syntax(_clean(code), "python", theme="ansi_dark").highlight(_clean(code))
        text.rstrip()
        self._console.print(Padding(text, (0, 0, 0, 2 * (depth + 1))))

    def _progress_start(self, key: tuple[Any, ...], description: str, total: int | None) -> None:
        if self._progress is None:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24), TimeElapsedColumn())
            self._progress = Progress(*columns, console=self._console, transient=True)
        if key in self._tasks:
            self._progress.reset(self._tasks[key], description=description, total=total)
            return
        if not self._tasks:
            self._progress.start()
        self._tasks[key] = self._progress.add_task(description, total=total)

    def _progress_update(self, key: tuple[Any, ...], description: str, completed: int) -> None:
        task = self._tasks.get(key)
        if self._progress is not None and task is not None:
            self._progress.update(task, description=description, completed=completed)
            self._progress.refresh()  # lines printed next carry the live area; keep it current

    def _progress_end(self, key: tuple[Any, ...]) -> None:
        task = self._tasks.pop(key, None)
        if self._progress is None or task is None:
            return
        self._progress.remove_task(task)
        if not self._tasks:
            self._progress.stop()

    def close(self) -> None:
        with self._lock:
            for key in list(self._tasks):
                self._progress_end(key)
            super().close()
