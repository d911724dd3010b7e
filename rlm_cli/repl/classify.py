"""`classify()` in the REPL: one label per item, decided by the sub-model.

Counting records by meaning ("how many questions ask for a place?", "which log lines are auth failures?")
needs a judgement per item, and a count is only as good as every one of them. Two ways:

- One item per sub-call (the default). The labels come first, so every prompt shares a prefix a server can
  cache, and the item last. The label is read off the probabilities of the reply's first token when the
  server gives them, calibrated by the same prompt with no item in it: a small model favours some labels
  whatever the item ("contextual calibration", Zhao et al. 2021). Otherwise the reply's text is read.
- Numbered batches (`batch=20`): fewer calls; the reply must give one `number. label` line per item, and only
  the items whose line was missing or unreadable are asked again.

The standard library and records.py only: the sandboxed REPL child imports this module.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rlm_cli.inputs import records

UNKNOWN = "unknown"
ITEM_CHARS = 600  # an item longer than this is cut: the label rarely depends on its tail, the prompt size does
DEFAULT_BATCH = 1
MAX_BATCH = 100
MAX_VOTES = 5
DISCOVER_SAMPLE = 30
MAX_LABELS = 8

Ask = Callable[[list[str]], list[str]]
# Each prompt's reply, with its first token's alternatives (token, log-probability) when the server gives them.
Choose = Callable[[list[str]], list[tuple[str, list[tuple[str, float]] | None]]]
# Items that stand for "no item", whose label probabilities are the model's bias alone.
CONTENT_FREE = ("N/A", "")
# Below this share of the first token's probability on label tokens, the reply starts some other way ("The",
# "**"), and its text is read instead.
MIN_LABEL_MASS = 0.3

_NUMBERED = re.compile(r"^\W*?(\d{1,4})\s*[.):\]=-]*\s*(.*)$")
_NOISE = re.compile(r"[*`\"'\[\]{}<>]")
_LEADING_WORD = re.compile(r"^(?:label|class|category|answer)\s*[:=-]\s*", re.IGNORECASE)


@dataclass
class LabelSet:
    """The labels as the caller wrote them, with optional one-line meanings shown to the sub-model."""

    names: list[str]
    meanings: dict[str, str]

    @classmethod
    def of(cls, labels: Sequence[str] | Mapping[str, str]) -> LabelSet:
        if isinstance(labels, str):
            labels = [part for part in re.split(r"\s*[,;|/]\s*|\s+or\s+", labels) if part]
        names = [str(name).strip() for name in labels if str(name).strip()]
        names = list(dict.fromkeys(names))
        if len(names) < 2:
            raise ValueError("classify needs at least two labels, e.g. classify(items, ['bug', 'feature'])")
        meanings = {}
        if isinstance(labels, Mapping):
            meanings = {str(k).strip(): str(v).strip() for k, v in labels.items() if v}
        return cls(names, meanings)

    def match(self, text: str) -> str | None:
        """The label a reply line means: exact, then one starting the other ("numeric value", "num"), then a word."""
        said = _key(_LEADING_WORD.sub("", _NOISE.sub("", text)))
        if not said:
            return None
        keys = {_key(name): name for name in self.names}
        if said in keys:
            return keys[said]
        longer = [k for k in keys if said.startswith(k) and not said[len(k) : len(k) + 1].isalnum()]
        if longer:
            return keys[max(longer, key=len)]
        shorter = [k for k in keys if len(said) >= 3 and k.startswith(said)]
        if len(shorter) == 1:
            return keys[shorter[0]]
        named = [k for k in keys if re.search(rf"(?<![a-z0-9]){re.escape(k)}(?![a-z0-9])", said)]
        return keys[named[0]] if len(named) == 1 else None

    def owner(self, said: str) -> str | None:
        """The one label a word or word-start names: the label it begins, else the label whose meaning holds it."""
        said = _key(said)
        if not said:
            return None
        keys = {_key(name): name for name in self.names}
        begun = [name for k, name in keys.items() if k.startswith(said) and (len(said) >= 2 or said == k)]
        if begun:
            return begun[0] if len(begun) == 1 else None
        if len(said) < 4:  # "the", "a", "or" are words of meanings that name nothing
            return None
        meant = [n for n, m in self.meanings.items() if re.search(rf"(?<![a-z]){re.escape(said)}(?![a-z])", m.lower())]
        return meant[0] if len(meant) == 1 else None

    def explained_by(self, text: str) -> LabelSet:
        """The labels with the meanings a text gives them as "label (meaning)", as questions often define them."""
        found = {}
        for name in self.names:
            match = re.search(rf"(?<![\w-]){re.escape(name)}\s*\(([^()]{{3,200}})\)", text, re.IGNORECASE)
            if match and name not in self.meanings:
                found[name] = match[1].strip()
        return LabelSet(self.names, {**found, **self.meanings})

    def listing(self) -> str:
        return "\n".join(f"- {n}: {self.meanings[n]}" if n in self.meanings else f"- {n}" for n in self.names)


def _key(text: str) -> str:
    return " ".join(re.sub(r"[\s_-]+", " ", text.lower()).strip(" .,;:!?()").split())


def item_text(item: Any) -> str:
    """What the sub-model reads for one item: a string as is, a record by its message, on one short line;
    of a line of `Key: value` fields, the longest value."""
    if isinstance(item, Mapping):
        message = item.get("message")
        item = message if isinstance(message, str) and message else item.get("raw", item)
    text = " ".join(str(item).split())
    if fields := records.fields_line(text):
        # "Date: ... || User: ... || Text: ...": the free text is the longest value; the dates and ids
        # around it only distract the judge (small models copy them into their answer lines).
        text = max((value for _, value in fields), key=len)
    return text if len(text) <= ITEM_CHARS else text[:ITEM_CHARS] + " ..."


def batch_prompt(texts: Sequence[str], labels: LabelSet, instruction: str) -> str:
    """The request for one batch; the instructions come first so every batch shares the same prefix."""
    head = f"{instruction.strip()}\n\n" if instruction.strip() else ""
    items = "\n".join(f"{i}. {text}" for i, text in enumerate(texts, start=1))
    return (
        f"{head}Give each numbered item below exactly one of these labels:\n{labels.listing()}\n\n"
        f"Items:\n{items}\n\n"
        f'Reply with {len(texts)} lines, one per item in the same order, each written as "number. label", '
        "using only the labels listed above. Judge each item on its own: do not answer it, and do not go "
        "through the labels in turn. Write nothing else."
    )


def item_prompt(text: str, labels: LabelSet, instruction: str, strict: bool = False) -> str:
    """The request for one item: everything before the item is the same for every item, so servers cache it."""
    head = f"{instruction.strip()}\n\n" if instruction.strip() else ""
    only = f" It must be one of: {', '.join(labels.names)}." if strict else ""
    return (
        f"{head}Labels:\n{labels.listing()}\n\nItem: {text}\n\n"
        f"Which one label above fits this item best? Reply with the label only.{only}"
    )


def label_odds(alternatives: list[tuple[str, float]] | None, labels: LabelSet) -> dict[str, float] | None:
    """The probability of each label, from the reply's first-token alternatives; None when they say too little.

    A token counts for the one label it begins ("ent" for "entity"), or else for the one label whose meaning
    holds it as a word (a small model often answers "date" where the meaning of `numeric` says "a number or a
    date"). A token that begins two labels ("bug" for "bug fix" and "bug report") counts for neither.
    """
    if not alternatives:
        return None
    odds = dict.fromkeys(labels.names, 0.0)
    for token, logprob in alternatives:
        if (owner := labels.owner(_NOISE.sub("", token))) is not None:
            odds[owner] += math.exp(logprob)
    return odds if sum(odds.values()) >= MIN_LABEL_MASS else None


def _read_one(reply: str, labels: LabelSet) -> str | None:
    """The label a one-item reply's first line names, as a label or a word of one label's meaning."""
    first = reply.strip().splitlines()[0] if reply.strip() else ""
    return labels.match(first) or labels.owner(_LEADING_WORD.sub("", _NOISE.sub("", first)))


def calibrated(odds: dict[str, float], bias: dict[str, float] | None) -> str:
    """The label whose probability most exceeds what the model gives it for no item at all."""
    if bias is None:
        return max(odds, key=lambda n: odds[n])
    return max(odds, key=lambda n: odds[n] / bias[n])


def bias_of(samples: list[dict[str, float] | None], labels: LabelSet) -> dict[str, float] | None:
    """The mean label distribution over the content-free prompts; a floor keeps a label the model never starts
    with from winning on noise."""
    found = [s for s in samples if s is not None]
    if not found:
        return None
    mean = {n: sum(s[n] / sum(s.values()) for s in found) / len(found) for n in labels.names}
    return {n: max(p, 1e-3) for n, p in mean.items()}


def parse_reply(reply: str, size: int, labels: LabelSet) -> dict[int, str]:
    """Item number (from 1) -> label for the lines of a reply that name one; unreadable lines are left out.

    A reply with exactly one unnumbered line per item is read in order.
    """
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    found: dict[int, str] = {}
    numbered = [m for line in lines if (m := _NUMBERED.match(line))]
    if numbered:
        for m in numbered:
            number, label = int(m[1]), labels.match(m[2])
            if 1 <= number <= size and label is not None:
                found.setdefault(number, label)
        return found
    if len(lines) == size:
        for number, line in enumerate(lines, start=1):
            if (label := labels.match(line)) is not None:
                found[number] = label
    return found


@dataclass
class Tally:
    """What one classify() call did, printed for the model and kept for tests."""

    items: int = 0
    calls: int = 0
    asked_again: int = 0
    unknown: int = 0
    one_by_one: bool = False
    by_odds: int = 0  # items whose label was read off first-token probabilities

    def line(self) -> str:
        how = ", one item per sub-call" if self.one_by_one else ""
        odds = f", {self.by_odds} read from token probabilities" if self.by_odds else ""
        again = f", {self.asked_again} asked again" if self.asked_again else ""
        unknown = f", {self.unknown} left '{UNKNOWN}'" if self.unknown else ""
        return f"[classify: {self.items} items in {self.calls} sub-calls{how}{odds}{again}{unknown}]"


def run(
    ask: Ask,
    items: Sequence[Any],
    labels: Sequence[str] | Mapping[str, str] | None,
    instruction: str = "",
    batch: int = DEFAULT_BATCH,
    votes: int = 1,
    retries: int = 2,
    question: str = "",
    choose: Choose | None = None,
) -> tuple[list[str], Tally]:
    """The labels for items, and what it cost; see classify() for the arguments.

    Label meanings are read from the instruction and the run's question. One item at a time needs `choose`;
    without it, items go in numbered batches.
    """
    if isinstance(items, str | bytes | Mapping):
        raise TypeError("classify expects a list of items (strings or records), not one string")
    texts = [item_text(item) for item in items]
    tally = Tally(items=len(texts))
    if not texts:
        return [], tally
    label_set = LabelSet.of(labels) if labels else discover(ask, texts, instruction, tally)
    label_set = label_set.explained_by(f"{instruction}\n{question}")
    batch = min(max(int(batch), 1), MAX_BATCH)
    if batch == 1 and choose is not None:
        return one_by_one(choose, texts, label_set, instruction, retries, tally), tally
    votes = min(max(int(votes), 1), MAX_VOTES)
    ballots: list[list[str | None]] = [[None] * len(texts) for _ in range(votes)]
    # Each vote sees the items in another order and company, so its errors are not the first vote's again.
    pending = [(v, i) for v in range(votes) for i in _order(len(texts), v)]
    for attempt in range(max(int(retries), 0) + 1):
        if not pending:
            break
        if attempt:
            tally.asked_again += len(pending)
        groups = [pending[start : start + batch] for start in range(0, len(pending), batch)]
        replies = ask([batch_prompt([texts[i] for _, i in g], label_set, instruction) for g in groups])
        tally.calls += len(groups)
        pending = []
        for group, reply in zip(groups, replies, strict=True):
            got = parse_reply(reply, len(group), label_set)
            for number, (v, i) in enumerate(group, start=1):
                if number in got:
                    ballots[v][i] = got[number]
                else:
                    pending.append((v, i))
    result = [_majority([ballot[i] for ballot in ballots]) for i in range(len(texts))]
    tally.unknown = result.count(UNKNOWN)
    return result, tally


def one_by_one(
    choose: Choose, texts: list[str], labels: LabelSet, instruction: str, retries: int, tally: Tally
) -> list[str]:
    """One sub-call per item, plus one per content-free item to measure the model's bias among the labels."""
    free = [item_prompt(text, labels, instruction) for text in CONTENT_FREE]
    replies = choose(free + [item_prompt(text, labels, instruction) for text in texts])
    tally.calls += len(replies)
    bias = bias_of([label_odds(top, labels) for _, top in replies[: len(free)]], labels)
    result: list[str | None] = [None] * len(texts)
    pending = list(range(len(texts)))
    for attempt in range(max(int(retries), 0) + 1):
        if attempt:
            # The same prompt at temperature 0 gets the same reply: the retry names the only replies allowed.
            tally.asked_again += len(pending)
            replies = choose([item_prompt(texts[i], labels, instruction, strict=True) for i in pending])
            tally.calls += len(replies)
        else:
            replies = replies[len(free) :]
        unread = []
        for i, (text, top) in zip(pending, replies, strict=True):
            odds = label_odds(top, labels)
            if odds is not None:
                result[i] = calibrated(odds, bias)
                tally.by_odds += 1
            elif (label := _read_one(text, labels)) is not None:
                result[i] = label
            else:
                unread.append(i)
        pending = unread
        if not pending:
            break
    tally.unknown = len(pending)
    tally.one_by_one = True
    return [UNKNOWN if label is None else label for label in result]


def _order(n: int, vote: int) -> list[int]:
    order = list(range(n))
    if vote:
        random.Random(vote).shuffle(order)
    return order


def _majority(votes: list[str | None]) -> str:
    """The most common label; a tie goes to the label the earliest vote gave."""
    cast = [v for v in votes if v is not None]
    if not cast:
        return UNKNOWN
    counts = Counter(cast)
    top = max(counts.values())
    return next(v for v in cast if counts[v] == top)


def discover(ask: Ask, texts: Sequence[str], instruction: str, tally: Tally) -> LabelSet:
    """A label set proposed by the sub-model from an even sample of the items, for questions that name none."""
    step = max(1, len(texts) // DISCOVER_SAMPLE)
    sample = "\n".join(f"- {t}" for t in texts[::step][:DISCOVER_SAMPLE])
    head = f"{instruction.strip()}\n\n" if instruction.strip() else ""
    prompt = (
        f"{head}Here are sample items:\n{sample}\n\n"
        f"Propose 2 to {MAX_LABELS} short category names (one or two words each) that together cover all such "
        "items. Reply with one name per line and nothing else."
    )
    (reply,) = ask([prompt])
    tally.calls += 1
    names = [re.sub(r"^\W*(?:\d+\s*[.)]\s*)?", "", line).strip(" .:*`\"'").lower() for line in reply.splitlines()]
    names = [n for n in dict.fromkeys(names) if n and len(n) <= 40][:MAX_LABELS]
    if len(names) < 2:
        raise ValueError("classify could not find a label set in a sample; pass labels=[...]")
    print(f"[classify: labels found in a sample: {names}]")
    return LabelSet.of(names)


def bind(ask: Ask, question: str = "", choose: Choose | None = None) -> Callable[..., list[str]]:
    """classify() for one REPL, sending its calls through that REPL's llm_query_batched, or `choose`.

    The run's question often defines its labels ("bug (something broken)"): those meanings go to the helper
    model with the labels. The question itself does not: its other words (the label it asks a count of)
    pull a small model's labels towards them.
    """

    def classify(
        items: Sequence[Any],
        labels: Sequence[str] | Mapping[str, str] | None = None,
        instruction: str = "",
        batch: int = DEFAULT_BATCH,
        votes: int = 1,
        retries: int = 2,
    ) -> list[str]:
        """One label per item (strings or records), in order, judged by the helper model.

        labels: the label names, or {label: meaning}; None finds a few from a sample of the items.
        instruction: what the labels are about ("by the kind of answer each question asks for").
        batch: items per sub-call; 1 (the default) reads each label off the reply's token probabilities,
        corrected for the model's bias, when the server gives them. Larger batches make fewer calls.
        votes: with batch > 1, how many times each item is judged (in other batches); the majority wins.
        Items whose reply is missing or not a label are asked again up to `retries` times, then get
        "unknown". Every call counts against the run's budgets.
        """
        result, tally = run(ask, items, labels, instruction, batch, votes, retries, question, choose)
        print(tally.line())
        return result

    return classify
