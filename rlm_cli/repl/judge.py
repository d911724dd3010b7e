"""`answer_group()`, `pick_reading()` and `pick_kind()` in the REPL: the helper model judges candidates against
the question, one yes-or-no sub-call each.

Items counted and grouped by their count ("4 each: [...]", "2 each: [...]") answer questions of many kinds:
the items seen a given number of times, the most or the least common. A small model reading the groups often
names the first one printed, whatever the question asks. Put to it one group at a time, as a candidate answer
with how often its items occur and whether that is the most or the fewest, it tells them apart better: the
group whose reply starts with "yes" with the highest probability wins. A server without token probabilities
gives the reply's text instead (yes, no, or neither).

A question's condition is judged the same way: which of a few readings ("the records at or after 10:00", "the
records before 10:00") it asks about. Which way a time points is in the question's words, in any language
and phrasing; the helper model reads them, where a rule would match one wording. So is which kind of line
("the lines of level ERROR", "the lines that read ...") a question counts.

The standard library and classify.py only: the sandboxed REPL child imports this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from rlm_cli.repl.classify import MIN_LABEL_MASS, Choose

# The most groups put to the helper model, half from each end (the largest counts and the smallest): the most
# and the fewest are the ends, and a count a question names is usually small; a long middle would cost a
# sub-call each, before the first turn when the guide's first block runs it.
MAX_GROUPS = 12


def groups(counts: Mapping[Any, int]) -> list[tuple[int, list[str]]]:
    """(count, sorted names) per distinct count, largest first: the groups the offered block prints. None, as
    the block leaves it out, and counts below one (a Counter after subtract()) are no items."""
    by_count: dict[int, list[str]] = {}
    for name, n in counts.items():
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"answer_group() expects whole-number counts, not {type(n).__name__} ({name!r}: {n!r})")
        if name is not None and n > 0:
            by_count.setdefault(n, []).append(str(name))
    return [(n, sorted(by_count[n])) for n in sorted(by_count, reverse=True)]


def candidate(names: list[str], n: int, least: int, most: int) -> str:
    """One group as a candidate answer: its items, how often each occurs, and whether that is an extreme."""
    rank = " - the most of any" if n == most else (" - the fewest of any" if n == least else "")
    who = "it occurs" if len(names) == 1 else "each occurs"
    return f"{', '.join(names)} ({who} {n} time{'s' if n != 1 else ''} in the records the question is about{rank})"


def judge_prompt(question: str, answer: str) -> str:
    return f"Question: {question}\n\nCandidate answer: {answer}.\nIs this the answer to the question? Reply yes or no."


def yes_share(reply: str, alternatives: list[tuple[str, float]] | None) -> float | None:
    """How strongly a reply says yes, in [0, 1]: from the first token's probabilities when they say enough,
    else from its first word; None when it says neither yes nor no (a failed sub-call, a refusal)."""
    yes = no = 0.0
    for token, logprob in alternatives or ():
        word = token.strip().strip(".,!*`'\"").lower()
        if word == "yes":
            yes += math.exp(logprob)
        elif word == "no":
            no += math.exp(logprob)
    if yes + no >= MIN_LABEL_MASS:  # "yes" and "no" are the labels; below it the reply starts some other way
        return yes / (yes + no)
    first = reply.strip().split(maxsplit=1)[0].strip(".,!*`'\"").lower() if reply.strip() else ""
    return {"yes": 1.0, "no": 0.0}.get(first)


def best_group(choose: Choose, question: str, counts: Mapping[Any, int]) -> list[str]:
    """The names of the group the helper model judges most likely to answer `question` (ties: the larger count);
    none when the replies do not tell the groups apart (all the same, or none saying yes or no), since a group
    picked then would be nobody's judgement. A reply that says neither counts for nothing."""
    found = groups(counts)
    if len(found) > MAX_GROUPS:
        found = found[: MAX_GROUPS // 2] + found[-MAX_GROUPS // 2 :]
    if len(found) <= 1:
        return found[0][1] if found else []
    least, most = found[-1][0], found[0][0]
    best = likeliest(shares(choose, [judge_prompt(question, candidate(names, n, least, most)) for n, names in found]))
    return [] if best is None else found[best][1]


def reading_prompt(question: str, reading: str) -> str:
    return (
        f"Question: {question}\n\nCandidate reading: the question asks about {reading}.\n"
        "Is this reading right? Reply yes or no."
    )


def kind_prompt(question: str, kind: str, kinds: list[str]) -> str:
    """One kind of line put to the helper model after the list of them all. Asked about each kind alone, a
    1.5B helper gave every kind of journal line a failure question might count a yes-share between 0.34 and
    0.62; shown the others, it told a unit's failure lines from a level or a status. The list comes first, so
    a server's prompt cache reuses it across the calls."""
    listed = "\n".join(f"- {k}" for k in kinds)
    return (
        f"The input has these kinds of line:\n{listed}\n\nQuestion: {question}\n\n"
        f"Does the question count {kind}? Reply yes or no."
    )


def best_reading(choose: Choose, question: str, readings: list[str], kinds: bool = False) -> str:
    """Of a few readings of the question's condition, the one the helper model judges right; "" when the
    replies do not tell them apart. `kinds`: the readings are the kinds of line the input has, each asked
    about with the list of them all. Two readings of a moment's side are each other's opposite, and listed
    they were judged worse (8 of 10 of our wordings, against 10 of 10 alone)."""
    prompts = [kind_prompt(question, r, readings) if kinds else reading_prompt(question, r) for r in readings]
    best = likeliest(shares(choose, prompts))
    return "" if best is None else readings[best]


def shares(choose: Choose, prompts: list[str]) -> list[float]:
    """How strongly each prompt's reply says yes; -1 for a reply that says neither yes nor no."""
    return [-1.0 if share is None else share for share in (yes_share(t, a) for t, a in choose(prompts))]


def likeliest(said: list[float]) -> int | None:
    """The index of the strongest yes (ties: the first), or None when every reply says the same."""
    if len(set(said)) <= 1:
        return None
    return max(range(len(said)), key=lambda i: (said[i], -i))


def bind(question: str, choose: Choose) -> dict[str, Callable[..., Any]]:
    """answer_group(), pick_reading() and pick_kind() for one REPL, asking through that REPL's `choose`."""

    def answer_group(counts: Mapping[Any, int], question: str = question) -> list[str]:
        """Of the items of `counts` (a Counter or dict of item -> count) grouped by their count, the group the
        helper model judges to answer `question` (default: the run's question), one sub-call per group."""
        if not isinstance(counts, Mapping):
            raise TypeError("answer_group() expects a Counter or a dict of item -> count")
        if not question:
            raise ValueError("answer_group() needs the question: answer_group(counts, question='...')")
        return best_group(choose, question, counts)

    def pick(name: str, readings: list[str], question: str, kinds: bool) -> str:
        readings = [] if isinstance(readings, str) else list(readings)
        if len(readings) < 2 or not all(isinstance(r, str) for r in readings):
            raise TypeError(f"{name}() expects a list of two or more readings, as strings")
        if not question:
            raise ValueError(f"{name}() needs the question: {name}(readings, question='...')")
        return best_reading(choose, question, readings, kinds)

    def pick_reading(readings: list[str], question: str = question) -> str:
        """Of a few readings of the question's condition ("the records before 10:00 UTC on 2 May", ...), the one
        the helper model judges right, one sub-call each; "" when it cannot tell them apart."""
        return pick("pick_reading", readings, question, kinds=False)

    def pick_kind(kinds: list[str], question: str = question) -> str:
        """Of the kinds of line the input has ("the lines of level ERROR", ...), the one the helper model judges
        the question to count, one sub-call each with the list of them all; "" when it cannot tell them apart."""
        return pick("pick_kind", kinds, question, kinds=True)

    return {"answer_group": answer_group, "pick_reading": pick_reading, "pick_kind": pick_kind}
