"""The loop and the guidance layer, in process: a scripted model client, and the REPL a real child process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from rlm_cli import guidance
from rlm_cli.engine import events as ev
from rlm_cli.engine.budget import Limits
from rlm_cli.engine.loop import RLM, EngineConfig, Outcome, Run, corpus_from_text
from rlm_cli.engine.model import Completion, ModelSpec

Reply = str | Callable[[list[dict[str, str]]], str]


@dataclass
class ScriptedClient:
    """Answers each root call with the next scripted reply, and each sub-call with `sub`; records every call."""

    replies: list[Reply]
    sub: Callable[[str], str] = lambda prompt: "sub-answer"
    calls: list[tuple[ModelSpec, list[dict[str, str]]]] = field(default_factory=list)

    def complete(self, spec: ModelSpec, messages: list[dict[str, str]], **_: object) -> Completion:
        self.calls.append((spec, [dict(m) for m in messages]))
        if spec.model == "sub":
            text = self.sub(messages[-1]["content"])
        else:
            reply = self.replies.pop(0) if self.replies else "FINAL(out of script)"
            text = reply(messages) if callable(reply) else reply
        return Completion(text, spec.model, 10, 5, None, 0.0)

    @property
    def root_calls(self) -> list[list[dict[str, str]]]:
        return [messages for spec, messages in self.calls if spec.model == "root"]


def solve(
    text: str, question: str, replies: list[Reply], level: str = "off", iterations: int = 6, **config: object
) -> tuple[Outcome, ScriptedClient, list[ev.Event]]:
    client = ScriptedClient(list(replies))
    events: list[ev.Event] = []
    engine = EngineConfig(
        root=ModelSpec("root"),
        sub=ModelSpec("sub"),
        limits=Limits(max_iterations=iterations),
        guide=guidance.factory(level),
        guidance=level,
        **config,
    )
    outcome = RLM(Run(engine, client, events.append)).solve(question, corpus_from_text(text, "app.log"))
    return outcome, client, events


def fence(code: str) -> str:
    return f"```repl\n{code.strip()}\n```"


LOG = "".join(
    f"2026-03-03T10:00:{i:02d}Z web-{i % 3} {'ERROR' if i % 4 == 0 else 'INFO'} request {i}\n" for i in range(40)
)
STRONG = [fence('print(sum(1 for r in records() if r["level"] == "ERROR"))'), "FINAL(10)"]


@pytest.mark.parametrize("level", ["off", "small"])
def test_a_strong_model_trajectory_gets_no_extra_turns_at_any_guidance_level(level):
    outcome, client, events = solve(LOG, "How many ERROR lines are there?", STRONG, level)
    assert (outcome.answer, outcome.final, outcome.iterations) == ("10", True, 2)
    assert len(client.root_calls) == 2
    assert not [e for e in events if isinstance(e, ev.Notice) and e.kind == "nudge"]


def test_guidance_off_sends_the_plain_method_and_no_advice():
    replies = [fence("print([])"), "FINAL(none)"]
    outcome, client, _ = solve(LOG, "Which hosts crashed?", replies, "off")
    assert outcome.answer == "none"  # the plain method takes the answer; only a guide doubts it
    first, second = client.root_calls
    assert "More examples" not in first[0]["content"] and "records() parses" not in first[1]["content"]
    assert "found nothing" not in second[-1]["content"]


def test_small_guidance_questions_an_answer_after_a_block_that_found_nothing_once():
    replies = [fence("print([])"), "FINAL(none)", "FINAL(none)"]
    outcome, client, _ = solve(LOG, "Which hosts crashed?", replies, "small")
    assert (outcome.answer, outcome.iterations) == ("none", 3)
    assert "Your code found nothing" in client.root_calls[1][-1]["content"]
    assert "rests on code that found nothing" in client.root_calls[2][-1]["content"]


def test_a_placeholder_is_never_an_answer_even_right_after_a_printed_result():
    replies = [fence("print(41)"), "FINAL(answer)", "Final(answer)", "FINAL(result)"]
    outcome, client, _ = solve(LOG, "How many lines?", replies, "off", iterations=3)
    assert outcome.final is False and outcome.status == "budget_exhausted"
    assert "there is no variable named 'answer'" in client.root_calls[2][-1]["content"]
    assert outcome.answer == "41"  # the best partial answer: the last output, marked not final


def test_a_variable_named_like_a_placeholder_is_its_value():
    outcome, _, _ = solve(
        LOG, "How many lines?", [fence("answer = len(context.splitlines())\nprint(answer)"), "FINAL(answer)"]
    )
    assert outcome.answer == "41" and outcome.final


def test_a_reply_that_is_only_a_bare_call_runs_as_code():
    replies = ['grep("request 7")', "FINAL(web-1)"]
    outcome, client, events = solve(LOG, "Which host served request 7?", replies, "off")
    assert outcome.answer == "web-1"
    assert any(isinstance(e, ev.CodeExecuted) and "request 7" in e.output for e in events)
    assert "app.log:" in client.root_calls[1][-1]["content"]


def test_pasting_the_input_as_context_is_refused_and_the_input_stays():
    replies = [
        fence('context = """INFO a"""\nprint(context.count("ERROR"))'),
        fence('print(context.count("ERROR"))'),
        "FINAL(10)",
    ]
    outcome, client, _ = solve(LOG, "How many ERROR lines?", replies, "off")
    assert outcome.answer == "10"
    assert "cannot be reassigned" in client.root_calls[1][-1]["content"]


def test_a_stopped_run_answers_with_the_end_of_the_last_output_never_with_code():
    replies = [fence("print('start')"), fence("print('counting')\nprint('web-0: 4')"), fence("print(1)")]
    outcome, _, _ = solve(LOG, "Which host?", replies, "off", iterations=2)
    assert outcome.status == "budget_exhausted" and outcome.final is False
    assert outcome.answer == "counting\nweb-0: 4"


def test_small_guidance_drops_a_rerun_reply_and_samples_the_next_one_hotter():
    code = fence("print(Counter(r['host'] for r in records()).most_common(1))")
    outcome, client, _ = solve(LOG, "Busiest host?", [code, code, "FINAL(web-0)"], "small")
    assert outcome.answer == "web-0"
    spec, last = client.calls[-1]
    assert spec.temperature == 0.7
    assert [m["role"] for m in last[2:]] == ["assistant", "user"]  # the rerun reply is not kept
    assert "You already ran exactly this code" in last[-1]["content"]


def test_small_guidance_describes_a_constant_field_and_the_unit_of_journal_lines():
    journal = "".join(
        f"Mar 03 10:00:{i:02d} node-{i % 2} systemd[1]: {svc}.service: Failed with result 'exit-code'.\n"
        for i, svc in enumerate(["auth-api", "billing", "auth-api", "cache", "billing"])
    )
    _, client, _ = solve(journal, "which services failed twice?", ["FINAL(x)", fence("print(1)"), "FINAL(x)"], "small")
    intro = client.root_calls[0][1]["content"]
    assert "- service: 'auth-api', 'billing', 'cache'" in intro


def test_notes_from_the_child_reach_the_model_only_with_guidance():
    code = fence("users = {r['user'] for r in records()}\nprint(len(users))")
    for level, expected in (("off", False), ("small", True)):
        _, client, _ = solve(LOG, "How many users?", [code, "FINAL(1)", "FINAL(1)"], level)
        assert ("holds only None" in client.root_calls[1][-1]["content"]) is expected
