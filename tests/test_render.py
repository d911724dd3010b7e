"""The live view: plain output is CI-safe and complete, rich output is coloured, quiet is silent."""

from __future__ import annotations

import io
import re

import pytest

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
    event_from_dict,
)
from rlm_cli.render import PlainRenderer, Renderer, RichRenderer, make_renderer

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LONG_OUTPUT = "\n".join(f"row {i}" for i in range(40))
CODE = "chunks = [context[i:i + 1000] for i in range(0, len(context), 1000)]\nprint(len(chunks))"


def _usage(inp: int, out: int, subcalls: int = 0) -> dict:
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "cost_usd": None,
        "by_model": {
            "openai/root": {"input_tokens": inp - 300, "output_tokens": out - 60, "calls": 2, "cost_usd": None},
            "openai/sub": {"input_tokens": 300, "output_tokens": 60, "calls": 3, "cost_usd": 0.0012},
        },
        "subcalls": subcalls,
        "elapsed_s": 3.5,
    }


def run_events(output: str = LONG_OUTPUT) -> list[Event]:
    """A two-turn run: code with long output, a batch of three sub-calls (one fails), a nudge, the end."""
    cfg = {
        "model": "openai/root",
        "sub_model": "openai/sub",
        "max_iterations": 20,
        "max_tokens": 100_000,
        "max_cost": None,
        "timeout": 600,
        "max_subcalls": 50,
        "concurrency": None,
    }
    return [
        RunStarted(
            run_id="20261122-013012-ab12cd",
            question="How many chunks?",
            config=cfg,
            corpus={"files": 2, "chars": 123456},
            t=1000.0,
        ),
        TurnStarted(iteration=1, max_iterations=20, t=1000.1),
        ModelReply(
            iteration=1,
            model="openai/root",
            text=f"Let me split it.\n```repl\n{CODE}\n```",
            input_tokens=1234,
            output_tokens=87,
            latency_s=1.2,
            usage=_usage(1234, 87),
            t=1001.3,
        ),
        CodeStarted(iteration=1, index=1, code=CODE, t=1001.35),
        BatchStarted(batch_id=1, size=3, t=1001.4),
        SubcallFinished(
            batch_id=1,
            index=0,
            model="openai/sub",
            prompt="Count A",
            response="seven",
            input_tokens=100,
            output_tokens=20,
            latency_s=0.8,
            usage=_usage(1334, 107, 1),
        ),
        SubcallFinished(
            batch_id=1,
            index=2,
            model="openai/sub",
            prompt="Count C",
            response="",
            latency_s=1.0,
            error="timeout after 1.0s",
            usage=_usage(1334, 107, 2),
        ),
        SubcallFinished(
            batch_id=1,
            index=1,
            model="openai/sub",
            prompt="Count B",
            response="nine",
            input_tokens=100,
            output_tokens=20,
            latency_s=0.9,
            usage=_usage(1434, 127, 3),
        ),
        BatchFinished(batch_id=1, size=3, failed=1, elapsed_s=2.1),
        CodeExecuted(iteration=1, index=1, code=CODE, output=output, elapsed_s=2.2),
        Notice(kind="nudge", message="no FINAL yet; answer when ready"),
        TurnStarted(iteration=2, max_iterations=20, t=1004.0),
        ModelReply(
            iteration=2,
            model="openai/root",
            text="FINAL(124)",
            input_tokens=1500,
            output_tokens=10,
            latency_s=0.5,
            usage=_usage(2934, 137, 3),
            t=1004.5,
        ),
        RunFinished(
            run_id="20261122-013012-ab12cd",
            answer="124",
            final=True,
            iterations=2,
            subcalls=3,
            usage=_usage(2934, 137, 3),
            cost_usd=None,
            elapsed_s=4.5,
            warnings=["1 sub-call failed"],
        ),
    ]


def render(events: list[Event], **kwargs: object) -> str:
    stream = io.StringIO()
    renderer = make_renderer(stream, **kwargs)  # type: ignore[arg-type]
    for event in events:
        renderer(event)
    renderer.close()
    return stream.getvalue()


def test_plain_shows_the_whole_run_without_escape_codes() -> None:
    out = render(run_events())
    assert "\x1b[" not in out
    assert "[turn 1/20] model=openai/root in=1234 out=87 1.2s" in out
    assert "[turn 2/20]" in out
    assert "tokens 1.3k/100k" in out and "time 3.5s/10m00s" in out
    assert "Let me split it." in out and "```" not in out
    # The code shows when it starts, so the sub-calls it makes appear under it, and its output after them.
    order = [
        "  code #1, 2 lines:",
        "    chunks = [context[i:i + 1000]",
        '  - 1/3 prompts[0] openai/sub in=100 out=20 0.8s -> "seven"',
        "  - 2/3 prompts[2] openai/sub FAILED after 1.0s: timeout after 1.0s",
        "  batch 1: 3/3 done, 1 failed, 2.1s",
        "  code #1 ran 2.2s, output:",
        "  | row 0",
        "nudge: no FINAL yet",
    ]
    positions = [out.index(text) for text in order]
    assert positions == sorted(positions)
    assert out.count("print(len(chunks))") == 1


def test_plain_summary_has_tokens_by_model_and_unknown_cost() -> None:
    summary = render(run_events()).split("run ok:")[1]
    assert "2 iterations, 3 sub-calls, 4.5s" in summary
    assert "tokens in=2,934 out=137" in summary
    assert "openai/root: in=2,634 out=77, 2 calls, cost unknown" in summary
    assert "openai/sub: in=300 out=60, 3 calls, cost $0.0012" in summary
    assert "cost unknown" in summary.split("openai/sub")[1]
    assert "warning: 1 sub-call failed" in summary


def test_errors_and_partial_answers_are_in_the_summary() -> None:
    events = run_events()[:-1] + [
        RunFinished(
            status="error",
            answer="maybe 120",
            final=False,
            iterations=2,
            error={"type": "model", "message": "rate limited"},
        )
    ]
    out = render(events)
    assert "run error:" in out
    assert "best effort" in out
    # Live, the runner prints the answer on stdout and the error as `rlm: error:`; a replay shows both.
    assert "rate limited" not in out and "maybe 120" not in out
    replayed = render(events, replay=True)
    assert "error (model): rate limited" in replayed
    assert replayed.rstrip().endswith("answer (best effort):\n  maybe 120")


def test_replay_ends_with_the_answer() -> None:
    assert render(run_events(), replay=True).endswith("answer:\n  124\n")


def test_code_shows_when_it_starts_and_old_traces_still_show_it() -> None:
    reply = "Two steps.\n```repl\nx = 1\n```\n```text\nnot code\n```\n```python\ny = llm_query('q')\n```"
    second = "y = llm_query('q')\n"
    events = [
        ModelReply(iteration=1, model="m", text=reply),
        CodeStarted(iteration=1, index=1, code="x = 1\n"),
        CodeExecuted(iteration=1, index=1, code="x = 1\n", output=""),
        CodeStarted(iteration=1, index=2, code=second),
        BatchStarted(batch_id=1, size=1),
        SubcallFinished(batch_id=1, model="m", response="a"),
        BatchFinished(batch_id=1, size=1),
        CodeExecuted(iteration=1, index=2, code=second, output="Traceback: boom\n"),
    ]
    order = ["code #1, 1 line:", "code #1 ran 0.0s, no output", "code #2, 1 line:", "- sub-call m", "code #2 ran"]
    # A trace written before code_started existed shows each block just before its output.
    old = [e for e in events if not isinstance(e, CodeStarted)]
    old_order = ["code #1, 1 line:", "code #1 ran", "- sub-call m", "code #2, 1 line:", "code #2 ran"]
    for stream, expected in ((events, order), (old, old_order)):
        out = render(stream)
        assert "[text block]" in out and "not code" not in out
        positions = [out.index(text) for text in expected]
        assert positions == sorted(positions)
        assert out.count("y = llm_query") == 1


def test_verbose_shows_everything_and_default_truncates() -> None:
    short, full = render(run_events()), render(run_events(), verbose=True)
    assert "row 39" in short and "row 20" not in short and "more lines" in short
    assert all(f"| row {i}\n" in full for i in range(40))
    assert "prompt | Count B" in full and "reply  | nine" in full
    assert full.count("print(len(chunks))") == 1  # code is shown once, not again inside the reply


def test_big_batches_list_a_few_calls_and_every_failure_up_to_a_cap() -> None:
    calls = [
        SubcallFinished(batch_id=7, index=i, model="m", response="ok", error="boom" if i % 10 == 0 else None)
        for i in range(40)
    ]
    events = [BatchStarted(batch_id=7, size=40), *calls, BatchFinished(batch_id=7, size=40, failed=4)]
    out = render(events)
    assert out.count(" m in=") == 4  # the first five calls, one of them failed
    assert out.count("FAILED") == 4
    assert "batch 7: 40/40 done, 4 failed" in out and "(32 more calls not listed" in out
    assert render(events, verbose=True).count(" m in=") == 36


def test_a_lone_llm_query_is_one_line() -> None:
    out = render(
        [
            BatchStarted(batch_id=4, size=1),
            SubcallFinished(batch_id=4, model="m", response="fine"),
            BatchFinished(batch_id=4, size=1),
        ]
    )
    assert out == '  - sub-call m in=0 out=0 0.0s -> "fine"\n'


def test_child_events_are_indented() -> None:
    out = render(
        [RunStarted(depth=1, question="sub question"), ModelReply(depth=1, iteration=1, model="m", text="thinking")]
    )
    assert "\n  child rlm started: sub question" in "\n" + out
    assert "\n  [turn 1/?] model=m" in out


def test_quiet_prints_nothing() -> None:
    assert render(run_events(), quiet=True) == ""
    assert type(make_renderer(io.StringIO(), quiet=True)) is Renderer


def test_replay_of_rebuilt_events_matches_live() -> None:
    rebuilt = [event_from_dict(e.to_dict()) for e in run_events()]
    assert render([e for e in rebuilt if e]) == render(run_events())


def test_incomplete_run_says_so() -> None:
    out = render(run_events()[:6])
    assert "run incomplete" in out and "tokens in=1,334" in out


def test_control_characters_never_reach_plain_output() -> None:
    out = render(run_events(output="\x1b[31mred\x1b[0m text"))
    assert "\x1b" not in out and "?[31mred" in out


def test_rich_mode_colours_and_highlights_code() -> None:
    out = render(run_events(), force_plain=False)
    assert "\x1b[" in out
    assert "\x1b[" in out.split("code #1")[1].split("row 0")[0]  # the code itself is coloured
    plain = ANSI.sub("", out)
    assert "chunks = [context[i:i + 1000]" in plain
    assert "batch 1: 3/3 done, 1 failed" in plain
    assert "openai/sub: in=300 out=60" in plain


def test_rich_progress_restarts_across_batches() -> None:
    events = [TurnStarted(iteration=1, max_iterations=3)]
    for b in (1, 2):
        events += [
            BatchStarted(batch_id=b, size=1),
            SubcallFinished(batch_id=b, model="m"),
            BatchFinished(batch_id=b, size=1),
        ]
    out = ANSI.sub("", render(events, force_plain=False))
    assert "batch 1: 1/1 done" in out and "batch 2: 1/1 done" in out


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("name", "value", "plain"), [("NO_COLOR", "1", True), ("TERM", "dumb", True), ("TERM", "xterm-256color", False)]
)
def test_environment_picks_the_mode_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, plain: bool
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv(name, value)
    renderer = make_renderer(_Tty())
    assert type(renderer) is (PlainRenderer if plain else RichRenderer)


def test_a_pipe_gets_plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert type(make_renderer(io.StringIO())) is PlainRenderer
    assert type(make_renderer(_Tty(), force_plain=True)) is PlainRenderer
