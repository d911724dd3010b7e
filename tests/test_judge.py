"""answer_group(): the helper model judges each group of a count as a candidate answer to the question."""

from __future__ import annotations

import math
import re

import pytest
from fakellm import Ranked
from test_classify import fence
from test_starter import JOURNAL

from rlm_cli.engine import events as ev
from rlm_cli.engine.loop import RLM, EngineConfig, Run, corpus_from_text
from rlm_cli.engine.model import ModelClient, ModelSpec, RetryPolicy
from rlm_cli.guidance import factory as guidance_factory
from rlm_cli.repl.judge import best_group, best_reading, bind, candidate, yes_share

COUNTS = {"cart": 2, "geo": 2, "mail": 1, "search": 4}
JUDGED = "the group that answers the question, as the helper model judges:"


def times(prompt: str) -> int:
    return int(re.search(r"occurs (\d+) times?", prompt)[1])


def test_each_group_is_one_candidate_with_its_count_and_whether_it_is_an_extreme():
    prompts: list[str] = []

    def choose(batch):
        prompts.extend(batch)
        return [("yes" if times(p) == 2 else "no", None) for p in batch]

    assert best_group(choose, "which services failed twice?", COUNTS) == ["cart", "geo"]
    assert [times(p) for p in prompts] == [4, 2, 1]  # largest first, as the block prints them
    most = "Candidate answer: search (it occurs 4 times in the records the question is about - the most of any)."
    assert most in prompts[0]
    assert "cart, geo (each occurs 2 times in the records the question is about)." in prompts[1]
    assert prompts[2].endswith("- the fewest of any).\nIs this the answer to the question? Reply yes or no.")
    assert all(p.startswith("Question: which services failed twice?\n") for p in prompts)


def test_many_groups_are_judged_from_both_ends_only():
    prompts: list[str] = []

    def choose(batch):
        prompts.extend(batch)
        return [("yes" if times(p) == 2 else "no", None) for p in batch]

    counts = {f"ip{n}": n for n in range(1, 31)}  # 30 groups of one item each
    assert best_group(choose, "which address failed twice?", counts) == ["ip2"]
    assert [times(p) for p in prompts] == [30, 29, 28, 27, 26, 25, 6, 5, 4, 3, 2, 1]


def test_token_probabilities_decide_where_every_reply_says_yes():
    """A small model may answer yes to every candidate; how sure it is tells them apart."""

    def choose(batch):
        return [("yes", [("yes", math.log(0.9 if times(p) == 1 else 0.6)), ("no", math.log(0.1))]) for p in batch]

    assert best_group(choose, "which failed once?", COUNTS) == ["mail"]


def test_one_group_needs_no_sub_call_and_unreadable_replies_decide_nothing():
    def never(batch):
        raise AssertionError("no sub-call for a single group")

    assert best_group(never, "q", {"a": 3, "b": 3}) == ["a", "b"]
    assert best_group(never, "q", {}) == []
    said = iter(["[llm_query error: timeout]", "no", "yes"])
    assert best_group(lambda batch: [(next(said), None) for _ in batch], "q", COUNTS) == ["mail"]
    said = iter(["[llm_query error: timeout]", "no", "no"])  # a failed call counts for nothing, not for half
    assert best_group(lambda batch: [(next(said), None) for _ in batch], "q", COUNTS) == ["cart", "geo"]
    for reply in ("[llm_query error: 401 unauthorized]", "no", "yes"):  # replies that tell no group apart
        assert best_group(lambda batch, reply=reply: [(reply, None)] * len(batch), "q", COUNTS) == []


@pytest.mark.parametrize("counts", [{"a": 2.5, "b": 1}, {"a": "2"}, {"a": True}])
def test_counts_must_be_whole_numbers(counts):
    with pytest.raises(TypeError, match="whole-number counts"):
        best_group(lambda batch: [], "q", counts)


def test_none_and_counts_below_one_are_no_items():
    assert best_group(lambda batch: [], "q", {None: 5, "a": 2, "b": 0, "c": -1}) == ["a"]


@pytest.mark.parametrize(
    ("reply", "alternatives", "share"),
    [
        ("yes", [("Yes", math.log(0.6)), ("No", math.log(0.2))], 0.75),
        ("no", [("The", math.log(0.9)), ("yes", math.log(0.05))], 0.0),  # too little yes/no mass: the text
        ("Yes, it is.", None, 1.0),
        ("I cannot tell", None, None),
    ],
)
def test_yes_share_reads_probabilities_then_text(reply, alternatives, share):
    assert yes_share(reply, alternatives) == (None if share is None else pytest.approx(share))


def test_candidate_names_one_item_as_it_and_several_as_each():
    assert candidate(["a"], 1, 1, 3) == "a (it occurs 1 time in the records the question is about - the fewest of any)"
    assert candidate(["a", "b"], 2, 1, 3) == "a, b (each occurs 2 times in the records the question is about)"


def test_the_offered_block_prints_the_judged_group_from_sub_calls_with_token_probabilities(fake_llm):
    """The guide's first block asks the helper model about each group, through the real REPL child and the
    HTTP transport, and its judgement (not the first group printed) is the block's last line."""

    def judge(prompt: str) -> Ranked:
        yes = 0.9 if times(prompt) == 1 else 0.2
        return Ranked("yes", [("yes", yes * 0.9), ("no", (1 - yes) * 0.9)])

    fake_llm.rule("sub", "Candidate answer:", judge)
    # The kind of line its words found ("Failed with result") is the one said yes to; each kind is asked about.
    fake_llm.rule(
        "sub", 'count the lines that contain "Failed with result"', Ranked("yes", [("yes", 0.8), ("no", 0.1)])
    )
    fake_llm.rule("sub", "Does the question count", Ranked("no", [("yes", 0.1), ("no", 0.8)]))
    fake_llm.rule("root", JUDGED, "FINAL(mail)")
    fake_llm.rule("root", ".", fence("print('no block')"))
    spec = {"api_base": fake_llm.url, "api_key": "sk-test"}
    config = EngineConfig(
        root=ModelSpec("openai/root", **spec),
        sub=ModelSpec("openai/sub", **spec),
        guide=guidance_factory("small"),
        guidance="small",
    )
    events: list = []
    outcome = RLM(Run(config, ModelClient(RetryPolicy(retries=0)), events.append)).solve(
        "which services failed once?", corpus_from_text(JOURNAL, "journal.log")
    )
    output = next(e.output for e in events if isinstance(e, ev.CodeExecuted))
    assert f"2 each: ['cart', 'geo']\n1 each: ['mail']\n{JUDGED} ['mail']" in output
    subs = fake_llm.requests_for("sub")
    assert sum("Candidate answer:" in str(r.messages) for r in subs) == 2  # one sub-call per group
    assert all(r.params["logprobs"] is True for r in subs)
    assert outcome.answer == "mail"


@pytest.mark.parametrize(
    ("replies", "picked"),
    [
        ([("yes", [("yes", -0.2), ("no", -1.8)]), ("yes", [("yes", -0.6), ("no", -0.8)])], "after"),
        ([("no", None), ("yes", None)], "before"),
        ([("yes", None), ("yes", None)], ""),  # the same reply to each reading tells them apart by nothing
        ([("", None), ("", None)], ""),  # failed sub-calls decide nothing
    ],
)
def test_the_reading_whose_reply_says_yes_most_strongly_is_picked(replies, picked):
    prompts: list[str] = []

    def choose(batch):
        prompts.extend(batch)
        return replies

    assert best_reading(choose, "errors since 10:00 on 2 May?", ["after", "before"]) == picked
    assert prompts[1] == (
        "Question: errors since 10:00 on 2 May?\n\nCandidate reading: the question asks about before.\n"
        "Is this reading right? Reply yes or no."
    )


def test_each_kind_of_line_is_asked_about_after_the_list_of_them_all():
    """Asked about each kind alone, a small helper model says a half-hearted yes to every kind a failure
    question might count; shown them all, it tells them apart. The list comes first: the calls share it."""
    prompts: list[str] = []

    def choose(batch):
        prompts.extend(batch)
        return [
            ("yes" if prompt.endswith("count the lines of level FATAL? Reply yes or no.") else "no", None)
            for prompt in batch
        ]

    kinds = ["the lines of level ERROR", "the lines of level FATAL", 'the lines that read "exited"']
    assert best_reading(choose, "which services crashed twice?", kinds, kinds=True) == kinds[1]
    listed = "The input has these kinds of line:\n- the lines of level ERROR\n- the lines of level FATAL\n"
    assert len(prompts) == 3 and all(prompt.startswith(listed) for prompt in prompts)
    assert prompts[2].endswith(
        '\n\nQuestion: which services crashed twice?\n\nDoes the question count the lines that read "exited"? '
        "Reply yes or no."
    )


@pytest.mark.parametrize("name", ["pick_reading", "pick_kind"])
@pytest.mark.parametrize("readings", ["after or before", ["only one"], ["a", 2]])
def test_pick_reading_and_pick_kind_want_two_or_more_readings_as_strings(name, readings):
    pick = bind("q?", lambda batch: [("yes", None)] * len(batch))[name]
    with pytest.raises(TypeError, match=f"{name}\\(\\) expects a list of two or more readings"):
        pick(readings)
