"""The `semantic` bench family: records whose class is not written in them, gold counted by construction."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import semantic  # noqa: E402
from bench.tasks import generate  # noqa: E402
from rlm_cli.inputs.records import parse_line  # noqa: E402

LINE = re.compile(r"^Date: (\d{4}-\d\d-\d\d) \|\| User: (\d{5}) \|\| Instance: (.+)$")


def class_of() -> dict[str, str]:
    """Question text -> its class, from the bank; no text may belong to two classes."""
    owner: dict[str, str] = {}
    for label in semantic.LABELS:
        for text in semantic.questions(label):
            assert owner.setdefault(text, label) == label, text
    return owner


def recount(task) -> object:
    """The gold answer recomputed from the rendered records and the question's parameters alone."""
    owner = class_of()
    (text,) = task.files.values()
    rows = []
    for line in text.splitlines():
        date, user, question = LINE.match(line).groups()
        rows.append((date, user, owner[question]))
    counts = Counter(label for _, _, label in rows)
    assert {label: counts[label] for label in semantic.LABELS} == task.meta["counts"]
    kind, params = task.meta["question_type"], task.meta["params"]
    if kind == "count":
        return counts[params["label"]]
    if kind == "most":
        return max(semantic.LABELS, key=lambda label: counts[label])
    if kind == "least":
        return min(semantic.LABELS, key=lambda label: counts[label])
    if kind == "compare":
        a, b = params["labels"]
        return a if counts[a] > counts[b] else b
    if kind == "user_count":
        return sum(1 for _, user, label in rows if user == params["user"] and label == params["label"])
    return sum(1 for date, _, label in rows if params["from"] <= date <= params["to"] and label == params["label"])


@pytest.mark.parametrize("size", ["2k", "6k"])
@pytest.mark.parametrize("index", range(6))
def test_gold_matches_a_recount_of_the_records(size, index):
    task = generate("semantic", size, 1000, index)
    assert task.meta["question_type"] == semantic.QUESTION_KINDS[(1000 + index) % 6]
    assert recount(task) == task.gold
    assert 95 <= task.meta["records"] <= 300


def test_most_and_least_common_classes_are_unambiguous():
    for index in (1, 2, 7, 8):
        counts = sorted(generate("semantic", "2k", 0, index).meta["counts"].values())
        assert counts[-1] > counts[-2] and counts[0] < counts[1]


def test_each_class_has_hundreds_of_distinct_questions_none_naming_a_class():
    for label in semantic.LABELS:
        pool = semantic.questions(label)
        assert len(pool) >= 90
        for other in semantic.LABELS:
            assert not [q for q in pool if re.search(rf"\b{other}", q, re.IGNORECASE)], (label, other)


def test_records_carry_no_class_that_a_parser_could_read():
    task = generate("semantic", "2k", 0, 0)
    (text,) = task.files.values()
    for line in text.splitlines():
        record = parse_line(line)
        assert not record["label"] and not record["tag"]
        assert LINE.match(line)
    assert all(label in task.question for label in semantic.LABELS)  # the question names the label set


def test_scores_follow_oolong_counts_decay_and_labels_are_exact():
    count = next(t for t in (generate("semantic", "2k", 0, i) for i in range(6)) if t.kind == "count")
    gold = int(count.gold)
    assert semantic.points(count, f"There are {gold} of them.") == 1.0
    assert semantic.points(count, f"{gold + 2}") == pytest.approx(0.75**2)
    assert semantic.points(count, "none found") == 0.0
    most = generate("semantic", "2k", 0, 1)
    assert semantic.points(most, str(most.gold).upper()) == 1.0
    other = next(label for label in semantic.LABELS if label != most.gold)
    assert semantic.points(most, other) == 0.0
