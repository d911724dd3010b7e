"""classify() in the REPL: labels from the sub-model one item per call (off calibrated token probabilities, or
the reply's text) or in batches, read leniently, re-asked when missing, voted, budgeted."""

from __future__ import annotations

import re

import pytest
from fakellm import FakeLLM, Ranked

from rlm_cli.engine import events as ev
from rlm_cli.engine.budget import Limits
from rlm_cli.engine.loop import RLM, EngineConfig, Outcome, Run, corpus_from_text
from rlm_cli.engine.model import ModelClient, ModelSpec, RetryPolicy
from rlm_cli.repl.child import _alternatives
from rlm_cli.repl.classify import UNKNOWN, LabelSet, item_text, label_odds, parse_reply

ISSUES = [
    "App crashes when I press save",
    "Please add a dark mode",
    "Login page throws a 500 error",
    "Support exporting to CSV",
    "Crash on startup after the update",
    "Would love keyboard shortcuts",
    "Images fail to load on Safari",
    "Add a setting for the default language",
]
GOLD = ["bug", "feature", "bug", "feature", "bug", "feature", "bug", "feature"]
QUESTION = "Label each issue bug (something broken) or feature (a request for something new). How many are bugs?"
BUG_WORDS = re.compile(r"crash|error|fail", re.IGNORECASE)


def fence(code: str) -> str:
    return f"```repl\n{code.strip()}\n```"


def items_of(prompt: str) -> list[tuple[int, str]]:
    """The numbered items of a classify() batch prompt."""
    body = prompt.split("Items:\n", 1)[1].split("\n\n", 1)[0]
    return [(int(n), text) for n, text in re.findall(r"^(\d+)\. (.*)$", body, re.MULTILINE)]


def item_of(prompt: str) -> str:
    """The one item of a classify() prompt sent one item at a time."""
    return prompt.split("\nItem: ", 1)[1].split("\n\n", 1)[0]


def label_of(text: str) -> str:
    return "bug" if BUG_WORDS.search(text) else "feature"


def well_formed(prompt: str) -> str:
    return "\n".join(f"{n}. {label_of(text)}" for n, text in items_of(prompt))


def solve(fake: FakeLLM, code: str, limits: Limits | None = None, events: list | None = None) -> Outcome:
    """One in-process run whose root model runs `code` in a real REPL child over the issues, then answers."""
    fake.script("root", fence(code))
    spec = {"api_base": fake.url, "api_key": "sk-test"}
    config = EngineConfig(
        root=ModelSpec("openai/root", **spec), sub=ModelSpec("openai/sub", **spec), limits=limits or Limits()
    )
    run = Run(config, ModelClient(RetryPolicy(retries=0)), (events if events is not None else []).append)
    return RLM(run).solve(QUESTION, corpus_from_text("\n".join(ISSUES) + "\n", "issues.txt"))


CLASSIFY_ALL = """
labels = classify([r["message"] for r in records()], ["bug", "feature"], batch={batch}{extra})
FINAL(json.dumps(labels))
"""


def answer_labels(outcome: Outcome) -> list[str]:
    assert outcome.status == "ok", outcome.error
    return re.findall(r'"(\w+)"', outcome.answer or "")


def test_well_formed_replies_give_one_label_per_item_in_batches(fake_llm):
    fake_llm.rule("sub", "Items:", well_formed)
    outcome = solve(fake_llm, CLASSIFY_ALL.format(batch=3, extra=""))
    assert answer_labels(outcome) == GOLD
    subs = fake_llm.requests_for("sub")
    assert sorted(len(items_of(r.last_user)) for r in subs) == [2, 3, 3]
    # The helper model gets the meanings the question gives the labels, not the question: its other
    # words would sway the labels.
    assert all("- bug: something broken\n- feature: a request for something new" in r.last_user for r in subs)
    assert not any("How many are bugs" in r.last_user for r in subs)


def test_malformed_and_missing_lines_are_asked_again_and_the_rest_kept(fake_llm):
    asked: list[list[str]] = []

    def sloppy(prompt: str) -> str:
        items = items_of(prompt)
        asked.append([text for _, text in items])
        if len(asked) > 1:
            return well_formed(prompt)
        # Case and extra words are read; "maybe" is not a label, and item 4 has no line at all.
        first = {1: "1. BUG", 2: "2) Feature request", 3: "3. maybe", 5: "5 - bug", 6: "6. **feature**"}
        return "\n".join(first.get(n, f"{n}. {label_of(t)}") for n, t in items if n != 4)

    fake_llm.rule("sub", "Items:", sloppy)
    outcome = solve(fake_llm, CLASSIFY_ALL.format(batch=8, extra=""))
    assert answer_labels(outcome) == GOLD
    assert asked[1] == [ISSUES[2], ISSUES[3]]  # only the unreadable and the missing items, renumbered
    assert len(asked) == 2


def test_items_never_answered_are_unknown_after_bounded_retries(fake_llm):
    fake_llm.rule("sub", "Items:", lambda prompt: "1. bug")
    outcome = solve(fake_llm, CLASSIFY_ALL.format(batch=8, extra=", retries=2"))
    # Each ask labels only the first item it sends: three asks (the first and two retries), then "unknown".
    assert answer_labels(outcome) == ["bug"] * 3 + [UNKNOWN] * 5
    assert len(fake_llm.requests_for("sub")) == 3


def test_votes_take_the_majority_across_batches_in_other_orders(fake_llm):
    seen = {"calls": 0}

    def first_position_wrong(prompt: str) -> str:
        # Every batch mislabels its first item: a vote in another order outvotes that slip.
        seen["calls"] += 1
        lines = []
        for n, text in items_of(prompt):
            label = label_of(text)
            lines.append(f"{n}. {('feature' if label == 'bug' else 'bug') if n == 1 else label}")
        return "\n".join(lines)

    fake_llm.rule("sub", "Items:", first_position_wrong)
    outcome = solve(fake_llm, CLASSIFY_ALL.format(batch=4, extra=", votes=3"))
    assert answer_labels(outcome) == GOLD
    assert seen["calls"] == 6  # 8 items x 3 votes in batches of 4


def test_classify_stays_within_the_sub_call_budget(fake_llm):
    fake_llm.rule("sub", "Items:", well_formed)
    outcome = solve(fake_llm, CLASSIFY_ALL.format(batch=2, extra=""), Limits(max_subcalls=2))
    assert outcome.status == "budget_exhausted"
    assert len(fake_llm.requests_for("sub")) <= 2


def biased(prompt: str) -> Ranked:
    """A helper model that leans to "bug": its text always says bug, and its first-token probabilities lean
    that way for every item, but less for bug reports than for no item at all."""
    item = item_of(prompt)
    bug = 0.8 if item in ("", "N/A") else 0.9 if label_of(item) == "bug" else 0.6
    return Ranked("bug", [("bug", bug * 0.9), ("feature", (1 - bug) * 0.9), ("The", 0.1)])


def test_one_item_per_call_reads_the_label_off_token_probabilities_corrected_for_bias(fake_llm):
    fake_llm.rule("sub", "\nItem: ", biased)
    events: list = []
    code = 'print(len(classify([r["message"] for r in records()], ["bug", "feature"])))\nFINAL("done")'
    solve(fake_llm, code, events=events)
    subs = fake_llm.requests_for("sub")
    # Raw, every item would be "bug"; against the model's lean on no item at all, the feature requests stand out.
    assert [biased(r.last_user).text for r in subs] == ["bug"] * 10
    assert sorted(item_of(r.last_user) for r in subs) == sorted(["", "N/A", *ISSUES])
    assert all(r.params["logprobs"] is True and r.params["top_logprobs"] == 20 for r in subs)
    assert all(r.params["max_tokens"] == 8 for r in subs)
    # Everything before the item is the same in every prompt, so a server's prompt cache serves it.
    assert len({r.last_user.split("\nItem: ")[0] for r in subs}) == 1
    output = next(e.output for e in events if isinstance(e, ev.CodeExecuted))
    assert "[classify: 8 items in 10 sub-calls, one item per sub-call, 8 read from token probabilities]" in output


def test_one_item_per_call_gives_the_right_labels(fake_llm):
    fake_llm.rule("sub", "\nItem: ", biased)
    outcome = solve(fake_llm, CLASSIFY_ALL.format(batch=1, extra=""))
    assert answer_labels(outcome) == GOLD


def test_without_token_probabilities_the_reply_text_is_read_and_asked_again(fake_llm):
    asked: list[str] = []

    def text_only(prompt: str) -> str:
        item = item_of(prompt)
        asked.append(item)
        if item == ISSUES[1] and asked.count(item) == 1:
            return "I think this one is a request."  # no label: asked again
        return "**Feature**" if label_of(item) == "feature" else "bug"

    fake_llm.rule("sub", "\nItem: ", text_only)
    outcome = solve(fake_llm, CLASSIFY_ALL.format(batch=1, extra=""))
    assert answer_labels(outcome) == GOLD
    assert asked.count(ISSUES[1]) == 2 and asked.count(ISSUES[0]) == 1
    # The same prompt would get the same reply: the second asking names the only replies allowed.
    again = [r.last_user for r in fake_llm.requests_for("sub") if item_of(r.last_user) == ISSUES[1]]
    assert "It must be one of: bug, feature." not in again[0] and "It must be one of: bug, feature." in again[1]


def test_first_token_alternatives_map_onto_the_labels_they_begin():
    labels = LabelSet.of(["bug fix", "bug report", "feature", "a"])
    odds = label_odds([("**", -0.1), (" Feat", -0.5), ("bug", -1.0), ("A", -2.0), ("f", -3.0)], labels)
    # "bug" begins two labels and tells them apart no better than text; "f" is too short to say which.
    assert odds is not None
    assert odds["feature"] == pytest.approx(0.6065, abs=1e-3) and odds["a"] == pytest.approx(0.1353, abs=1e-3)
    assert odds["bug fix"] == odds["bug report"] == 0.0
    # Too little of the probability on label tokens: the reply starts some other way, and its text is read.
    assert label_odds([("The", -0.05), ("feature", -3.0)], labels) is None
    assert label_odds(None, labels) is None
    # A word of exactly one label's meaning stands for that label; short words and shared ones do not.
    kinds = LabelSet.of({"entity": "a thing such as a sport", "numeric": "a number or a date", "human": "a person"})
    dated = label_odds([("date", -0.2), ("The", -2.0), ("Sport", -2.5)], kinds)
    assert dated is not None and dated["numeric"] == pytest.approx(0.8187, abs=1e-3) and dated["human"] == 0.0
    assert kinds.owner("the") is None and kinds.owner("a") is None and kinds.owner("currency") is None


def test_forged_alternatives_from_the_parent_are_dropped():
    assert _alternatives([["bug", -0.1], ["x", float("nan")], ["y", 3.0], ["z", True], "w", ["v"]]) == [("bug", -0.1)]
    assert _alternatives("not a list") is None


def test_labels_are_discovered_from_a_sample_when_none_are_given(fake_llm):
    fake_llm.rule("sub", "Propose 2 to", "1. Bug\n2. Feature")
    fake_llm.rule("sub", "\nItem: ", lambda prompt: label_of(item_of(prompt)))
    outcome = solve(fake_llm, 'labels = classify([r["message"] for r in records()])\nFINAL(json.dumps(labels))')
    assert answer_labels(outcome) == GOLD


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("1. numeric value\n2) HUMAN being\n3 - loc\n4. banana", {1: "numeric", 2: "human", 3: "location"}),
        ("1. Label: entity\n2. `description`\n9. human", {1: "entity", 2: "description"}),
        ("entity\nhuman\nnumeric\nlocation", {1: "entity", 2: "human", 3: "numeric", 4: "location"}),
        ("Here you go:\nentity, human", {}),
    ],
)
def test_reply_lines_map_onto_the_label_set(reply, expected):
    labels = LabelSet.of(["abbreviation", "entity", "description", "human", "location", "numeric"])
    assert parse_reply(reply, 4, labels) == expected


def test_labels_can_be_written_as_a_phrase_or_with_meanings():
    assert LabelSet.of("bug or feature").names == ["bug", "feature"]
    with_meanings = LabelSet.of({"auth failure": "a failed login or token check", "other": ""})
    assert with_meanings.listing() == "- auth failure: a failed login or token check\n- other"
    assert with_meanings.match("Auth-Failure") == "auth failure"
    assert with_meanings.match("**auth_failure**") == "auth failure"
    # Meanings a question gives as "label (meaning)" are shown to the helper model with the labels.
    explained = LabelSet.of(["bug", "feature"]).explained_by("Label each issue bug (something broken) or feature.")
    assert explained.listing() == "- bug: something broken\n- feature"
    with pytest.raises(ValueError, match="at least two labels"):
        LabelSet.of(["only"])


def test_items_are_read_by_their_text_not_their_dates_and_ids():
    line = "Date: 2024-01-02 || User: 48213 || Instance: What does NASA stand for?"
    assert item_text(line) == "What does NASA stand for?"
    assert item_text({"message": line, "user": "48213"}) == "What does NASA stand for?"
    assert item_text("a || b: not fields") == "a || b: not fields"
