"""A first block built from the question's words and the data: over records, which to keep and what to count them
by; over text, the lines holding the names it asks about, or reporting trouble, or a reading of the whole text.

A small model that starts from code over the real fields and values reads its output instead of guessing
names, and one that starts from a reading does not re-type the input as code. The question is read only for
which of its words the data holds: a field's name (services, host, IP), a field's value (ERROR, 503,
shipping), the fixed text of a message shape ("Failed password") or a token the input contains
(185.70.240.55). What only its English says (which side of a moment, which kind of line it counts) the block
has the helper model read. The model judges whether the block's condition is the one asked about, and adds
what it lacks (a threshold, a span's two ends)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rlm_cli.guidance import checks, nudges, questions
from rlm_cli.guidance.describe import SHAPE_SLOTS, Description, access, message_texts, named_values
from rlm_cli.guidance.scan import find_all
from rlm_cli.inputs import records
from rlm_cli.repl.helpers import line_span

# Canonical fields a question may group by although they are not categories in the profile (too many values).
_PER_RECORD = {"ip": "<ip>", "user": "<user>"}
# A token of the question that is a value of the data rather than a word: an address, an id, a version.
_TOKEN = re.compile(r"(?<![\w.-])(?=[\w.:/-]*\d)(?=[\w.:/-]*[.:/-])[\w.:/-]{5,}(?<![.:/-])")

OFFER = (
    "A first block built from the question's words and the data, run for you (its output is at the end of "
    "this message). Check that it keeps the records the question asks about: if it does, answer from its "
    "output; if not, change what does not fit (add any time or count condition) and run it:\n"
    "```repl\n{code}\n```"
)
OFFER_UNRUN = (
    "A first block built from the question's words and the data: check that it keeps the records the "
    "question asks about, change what does not fit (add any time or count condition), then run it:\n"
    "```repl\n{code}\n```"
)
TROUBLE = (
    "The question names nothing this text holds, and the text reports trouble: a first block that prints how "
    "the input starts, the lines reporting trouble and how the input ends, and has the helper model answer from "
    "those, run for you (its output is at the end of this message). Check its answer against the lines:\n"
    "```repl\n{code}\n```"
)
LOOKUP = (
    "The question names words that this text holds on a few lines only: a first block that prints those lines "
    "and has the helper model answer from them, run for you (its output is at the end of this message). Check "
    "its answer against the lines:\n"
    "```repl\n{code}\n```"
)
READ = (
    "The question names nothing this text holds, so read the text itself: the helper model reads it a chunk at "
    "a time and answers from what it read. Run this block as it is:\n```repl\n{code}\n```"
)
CLASSIFY = (
    "A first block that keeps the records the question names by their fields and has the helper model judge "
    "each one (classify(), one sub-call per record), run for you (its output is at the end of this message). "
    "Check that it keeps the records the question asks about; if it does, answer from its counts:\n"
    "```repl\n{code}\n```"
)
CLASSIFY_UNRUN = (
    "A first block that keeps the records the question names by their fields and has the helper model judge "
    "each one (classify(), one sub-call per record). Check that it keeps the records the question asks about, "
    "then run it:\n```repl\n{code}\n```"
)
# The largest input whose offered count runs before the first turn.
RUN_FIRST_CHARS = 20_000_000
# The most lines whose judging runs before the first turn: each is a sub-call, a second or so on a local model,
# spent before the model has looked (three words the data lacks may be a list of outcomes, not labels).
CLASSIFY_FIRST_LINES = 500
# A calendar date in a question: 2023-04-17, 2023/04/17.
_DATE = re.compile(r"\b(\d{4})[-/](\d{1,2})[-/](\d{1,2})\b")
_TIMED_LINE = re.compile(r"\d:\d\d")  # a line worth parsing for a time
_TROUBLE = re.compile(nudges.TROUBLE, re.IGNORECASE)
TROUBLE_WIDTH = max(len(word) for word in nudges.TROUBLE.split("|"))  # the widest match of _TROUBLE
# A word shaped as a name rather than a word of prose: `silent-pylon`, `max_retries`, `v2.3`, `sha256`. Only
# such a rare word makes a lookup block: a summary question's plain words ("failures", "summary") are rare in a
# test log too (its section headers), and their lines were answered as if they held the answer.
_NAME = re.compile(r"\w[-_.]\w|\d")
# The kinds of line judged when the question's words select none: the most common statuses and message shapes
# (each a sub-call before the first turn, a second or two on a local model).
KIND_STATUSES, KIND_SHAPES = 6, 12
# The lookup block: the question's rare words it looks for, and the lines it prints for each (key_terms() finds
# words on at most 5 lines).
LOOKUP_KEYS, LOOKUP_LINES = 2, 5
# The most characters of text the offered reading block hands one sub-call: the size chunks() cuts by default.
READ_CHUNK = 20_000
# The trouble block: the trouble lines it prints, those it hands the helper model (a grep line is at most
# 500 characters), and how much of the input's start it shows (its end: as much as the idle nudge's block).
TROUBLE_SHOWN, TROUBLE_READ, TROUBLE_START = 20, 40, 500
# How much of the model's own last outputs the rescue block hands the helper model, the most recent kept.
RESCUE_SEEN = 4_000


@dataclass(frozen=True)
class Offer:
    """A first block for the first message: its text there, its code, and whether the loop runs it first.

    A count over records is only code and is run before the first turn, so that a model that would not
    run it still reads what it keeps. A reading is not: its sub-calls cost what the input costs to read."""

    text: str
    code: str
    run: bool


def lookup_block(question: str, keys: Sequence[str]) -> Offer:
    """A block that prints the lines holding each of the question's rare words (each match in its context,
    however long its line): what a lookup asks about. The 1.5B model, left to start by itself on a one-line
    text, searched for a label it made up (`Access code: `) for six turns and never for the key it was given.

    The helper model then answers from those lines alone. Shown a one-line text's window around the key, which
    holds the neighbouring entries too, the 1.5B model answered with the whole window (its neighbour's value
    with it) or with the key; the helper model given the same window and the question named the value on 14 of
    14 of our own wordings."""
    lines = [
        f"question = {question!r}",
        "found = []",
        f"for key in {list(keys)!r}:",
        "    hits = grep(key)",
        f"    found += hits[:{LOOKUP_LINES}]",
        '    print(len(hits), "lines hold", repr(key) + ":")',
        f"    for line in hits[:{LOOKUP_LINES}]:",
        "        print(line)",
        'evidence = "\\n".join(found)',
        *helper_answer("the lines above, answer as briefly as possible", guard=' if found else ""'),
    ]
    code = "\n".join(lines)
    return Offer(LOOKUP.format(code=code), code, run=True)


def reading_block(question: str, chars: int) -> Offer:
    """A block that has the helper model read the whole input for the question: one sub-call when it fits in
    one, else one per chunk and a last one that joins their notes (the RLM method's map and reduce)."""
    lines = [f"question = {question!r}"]
    if chars <= READ_CHUNK:
        prompt = 'f"Using only this text, answer in one to three sentences: {question}\\n\\n{context}"'
        lines.append(f"answer = llm_query({prompt})")
    else:
        lines += [
            "parts = chunks()",
            'notes = llm_query_batched([f"Note what this part of a text says that bears on: {question}\\n\\n{p}" '
            "for p in parts])",
            'joined = "\\n---\\n".join(notes)',
            'answer = llm_query(f"Notes from the {len(parts)} parts of a text, in order:\\n{joined}\\n\\n'
            'Using only these notes, answer in one to three sentences: {question}")',
        ]
    lines.append("print(answer)")
    return Offer(READ.format(code="\n".join(lines)), "\n".join(lines), run=False)


def trouble_block(question: str) -> Offer:
    """A block that prints the start of the input (what it is), the lines reporting trouble and the end, where
    a run that went wrong says why, and has the helper model answer from them: one sub-call of a few thousand
    characters, where a reading of the whole input costs what the input costs to read (minutes on a local
    model, for a question such as "why is CI red?" that these lines answer)."""
    code = helper_block(question, f"context[:{TROUBLE_START}]", "the start of the input", show=True)
    return Offer(TROUBLE.format(code=code), code, run=True)


def rescue_block(question: str, outputs: Sequence[str]) -> str:
    """A block that has the helper model answer from what the model's code printed (its last outputs), the
    lines reporting trouble and the input's end: for a model that has stopped making progress, whose outputs
    often hold the answer it cannot state (it writes `FINAL(answer)` with no `answer`, turn after turn)."""
    seen = "\n".join(outputs)[-RESCUE_SEEN:]
    return helper_block(question, repr(seen), "what code run on the input printed", show=False)


def helper_block(question: str, first: str, label: str, show: bool) -> str:
    """The code of a block that binds `answer` to the helper model's answer from a first part (an expression,
    printed when `show`), the input's lines reporting trouble and its end; it prints those and the answer."""
    lines = [f"question = {question!r}", f"first = {first}"]
    if show:
        lines += [f'print("--- {label} ---")', "print(first)"]
    lines += [
        f'hits = grep(r"{nudges.TROUBLE}", limit=len(context))',
        # The first lines of trouble are often its cause, the last where the run stopped: both ends, shown and read.
        f"cut = len(hits) > {TROUBLE_SHOWN}",
        'print(len(hits), "lines report trouble" + (", the first 5 and the last 15:" if cut else ":"))',
        f"for line in hits[:5] + ['...'] + hits[-{TROUBLE_SHOWN - 5}:] if cut else hits:",
        "    print(line)",
        f"end = context[-{nudges.INPUT_END}:]",
        'print("--- the end of the input ---")',
        "print(end)",
        f"read = hits if len(hits) <= {TROUBLE_READ} else hits[:10] + ['...'] + hits[-{TROUBLE_READ - 10}:]",
        f'evidence = "--- {label} ---\\n" + first + "\\n--- lines reporting trouble ---\\n" + "\\n".join(read)',
        'evidence += "\\n--- the end of the input ---\\n" + end',
        *helper_answer("the parts of the input above, answer in one to three sentences"),
    ]
    return "\n".join(lines)


def helper_answer(ask: str, guard: str = "") -> list[str]:
    """Lines that bind `answer` to the helper model's answer to `question` from `evidence` (both variables of the
    block), `ask` saying what to use and how, and print it; `guard` ends the call's line (` if found else ""`).

    The question comes after the evidence, not before it: a small helper model follows the words it read last
    (it copied the first lines it read when the question came first)."""
    return [
        f'answer = llm_query(f"{{evidence}}\\n\\nUsing only {ask}: {{question}}"){guard}',
        'print("--- the helper model\'s answer, from these lines ---")',
        "print(answer)",
    ]


def _names(question: str) -> dict[str, int]:
    """The question's words in lower case, each also without a plural ending ("IPs" gives ips and ip), with
    where each first occurs."""
    names: dict[str, int] = {}
    for place, word in enumerate(re.findall(r"[A-Za-z]+", question.lower())):
        names.setdefault(word, place)
        names.setdefault(re.sub(r"(?<=[^s])s$|(?<=ss)es$", "", word), place)
    return names


def group_key(names: dict[str, int], values: dict[str, list[Any]], shapes: Sequence[str], used: set[str]) -> str:
    """The field the question names to count by ("services" -> service, "error type" -> error.type), or "".

    Of two it names ("which units ..., all hosts combined"), the one named first: what the question asks
    for comes before what it narrows or combines by."""
    candidates = list(values) + [key for key, mark in _PER_RECORD.items() if any(mark in s for s in shapes)]
    best, rank = "", (0, 0)
    for key in candidates:
        parts = key.split(".")
        named = all(part in names for part in parts) or (len(parts) == 2 and parts[0] in names and parts[1] == "name")
        if named and key not in used and (order := (len(parts), -names[parts[0]])) > rank:
            best, rank = key, order
    return best


@dataclass(frozen=True)
class Condition:
    """One test of the offered block's filter: as the block writes it, and as the parent applies it to records."""

    key: str  # a profile key ("level", "error.type"), or "message" / "raw" for a substring test
    value: Any
    exact: bool  # `==` the value; else the value is a substring of the field

    def code(self) -> str:
        if self.exact:
            return f"{access(self.key)} == {self.value!r}"
        return f'"{self.value}" in r["message"]' if self.key == "message" else f"{self.value!r} in {access(self.key)}"

    def keeps(self, record: dict[str, Any]) -> bool:
        found: Any = record
        for part in self.key.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        return found == self.value if self.exact else isinstance(found, str) and self.value in found


def records_holding(rx: re.Pattern[str], width: int, texts: Sequence[str], most: int) -> Iterator[dict[str, Any]]:
    """The records (parsed, with their `raw` line) of the first `most` lines where `rx` matches."""
    for match in itertools.islice(find_all(rx, texts, width, around=4096), most):
        start, end = line_span(match.string, match.start(), match.end())
        line = match.string[start:end]
        yield {**records.parse_unit(line), "raw": line}


def that_keep(conditions: list[Condition], texts: Sequence[str], most: int = 200) -> list[Condition]:
    """The conditions, less the fewest that make them keep no record at all: message texts first, then
    values the question names; a token of the input is never left out.

    A message text comes from a stem of a question word ("requests" finds "request handled in" on app
    lines, while the 503s are access lines), so it goes first. A value the question writes can be a field's
    value on other lines only: "systemd units" names the service `systemd`, which writes "Starting x.service"
    lines, while a unit's exit lines carry the unit's name. Every record all the conditions keep holds each
    one's text, so the lines holding one of them are enough to try.
    """
    found: list[dict[str, Any]] = []
    for condition in conditions:
        literal = str(condition.value)
        found += records_holding(re.compile(re.escape(literal)), len(literal), texts, most)
    droppable = [c for c in conditions if c.key == "message"] + [c for c in conditions if c.exact]
    for drop in range(len(droppable) + 1):
        for dropped in itertools.combinations(droppable, drop):
            kept = [c for c in conditions if c not in dropped]
            if kept and any(all(c.keeps(r) for c in kept) for r in found):
                return kept
    return conditions


def first_block(question: str, values: dict[str, list[Any]], shapes: Sequence[str], texts: Sequence[str]) -> str | None:
    """The code of the offered count, or None when the question names nothing the data holds."""
    stems = questions.stems(question)
    pairs = named_values(values, question)
    conditions = [Condition(key, value, True) for key, value in pairs[:2]]
    conditions += [Condition("message", text, False) for text in message_texts(shapes, stems, values, most=1)]
    when = questions.moment(question)
    if when is not None and not any(r.get("time") for r in records_holding(_TIMED_LINE, 4, texts, 5)):
        when = None  # lines without a time of their own: a time condition would keep none of them
    named = {str(value) for _, value in pairs}
    for token in dict.fromkeys(_TOKEN.findall(question)):
        if token not in named and token not in (when or "") and any(token in text for text in texts):
            conditions.append(Condition("raw", token, False))
    conditions = that_keep(conditions, texts) if conditions else []
    group = group_key(_names(question), values, shapes, {c.key for c in conditions if c.exact})
    worded = [str(c.value) for c in conditions if c.key == "message"]
    judged = group and "." not in group and len(worded) == len(conditions)  # a top-level field: see kind_lines
    kinds = line_kinds(values, shapes, worded) if judged else {}
    if len(kinds) >= 2:
        # Items counted by a field the question names, of lines no value or token of the question selects:
        # which kind of line it counts is in its meaning ("which services crashed twice?", "users who managed
        # to log in (failed attempts do not count)"), so the helper model judges the data's kinds of line, the
        # lines holding the message text its words found among them.
        lines = ["recs = records()", *kind_lines(kinds, group)]
    elif conditions:
        keep = " and ".join(c.code() for c in conditions)
        lines = ["recs = records()", f"hits = [r for r in recs if {keep}]"]
    elif when is not None:
        lines = ["recs = records()", "hits = list(recs)"]
    else:
        return None  # a field to count by alone ("the service's failure") selects nothing: no block to offer
    if when is not None:
        lines += time_side(when)
    # The count alone: a small model answered "6/432" to "how often" from "6 of 432 records kept".
    lines.append('print("records that match:", len(hits))')
    if group:
        # Values grouped by their count, largest first: "2 each: [...]" is read off directly, where a small
        # model picking the pairs with a given count out of most_common() often takes the wrong ones.
        lines += [
            f"counts = Counter({access(group)} for r in hits if {access(group)} != None)",
            'print(len(counts), "different values")',
            "for n in sorted(set(counts.values()), reverse=True):",
            '    print(n, "each:", sorted(str(k) for k, c in counts.items() if c == n))',
            # The group the helper model judges, one group at a time: a small model reading the groups itself
            # named the first one printed for "which failed twice?" (see repl/judge.py).
            'print("the group that answers the question, as the helper model judges:", answer_group(counts))',
        ]
    # A few kept lines are what a lookup asks about ("the value for key X"), and what a question about one event
    # asks about ("what brought the service down?"): a count of 1 alone was answered with the key itself, and a
    # group of one ("1 each: ['main']") with the name of the group. Many are a count's: no sample of them, since a
    # small model reads its answer off the first names it sees in them.
    lines += ["if len(hits) <= 3:", "    for r in hits:", '        print(r["raw"][:500])']
    return "\n".join(lines)


def line_kinds(values: dict[str, list[Any]], shapes: Sequence[str], worded: Sequence[str] = ()) -> dict[str, str]:
    """The kinds of line the data has, as readings for the helper model to judge, each with its test as code. A
    message shape is tested by its longest fixed text, and left out when it holds a worded text: its lines are
    among that text's ("Failed password for <user>" among those holding "Failed password")."""
    kinds = {f'the lines that contain "{text}"': f'"{text}" in r["message"]' for text in worded}
    for level in values.get("level", []):
        kinds[f"the lines of level {level}"] = f'r["level"] == {level!r}'
    statuses = [s for s in values.get("status", []) if isinstance(s, int)]
    for first in sorted({s // 100 for s in statuses}):
        kinds[f"the lines with a status from {first}00 to {first}99"] = f'{first}00 <= (r["status"] or 0) <= {first}99'
    for status in statuses[:KIND_STATUSES]:
        kinds[f"the lines with status {status}"] = f'r["status"] == {status}'
    tested: set[str] = set()
    for shape in shapes[:KIND_SHAPES]:
        text = max((piece.strip(" .,:;=/[](){}-") for piece in SHAPE_SLOTS.split(shape)), key=len)
        if len(text) >= 4 and text not in tested and '"' not in text and not any(w in shape for w in worded):
            tested.add(text)
            kinds[f'the lines that read "{shape}"'] = f'"{text}" in r["message"]'
    return kinds


def kind_lines(kinds: dict[str, str], group: str) -> list[str]:
    """Lines of the offered block that keep the kind of line the helper model judges the question to count, of
    the kinds whose lines have the field it counts by (an access line has no user to count)."""
    return [
        "kinds = {",
        *(f"    {reading!r}: lambda r: {test}," for reading, test in kinds.items()),
        "}",
        f"kinds = {{k: test for k, test in kinds.items() if any(test(r) and r.get({group!r}) != None for r in recs)}}",
        "kind = pick_kind(list(kinds)) if len(kinds) > 1 else next(iter(kinds), '')",
        'print("the lines the question counts, as the helper model reads it:", kind or "(not told apart: all)")',
        "hits = [r for r in recs if kinds[kind](r)] if kind else list(recs)",
    ]


def time_side(when: str) -> list[str]:
    """Lines that keep the hits on the side of the question's moment that the helper model reads it to ask
    about. Which side ("after", "since", "prior to", in any wording) is the question's English: a rule would
    match some phrasings only, so the block asks, and prints the reading for the model to check."""
    return [
        f"moment = when({when!r})",
        'readings = [f"the records at or after {moment}", f"the records before {moment}"]',
        "side = pick_reading(readings)",
        'print("the question asks about", side or "records of any time", "(as the helper model reads it)")',
        "if side:",
        '    hits = [r for r in hits if (r["time"] >= moment if side == readings[0] else r["time"] < moment)]',
    ]


def date_span(question: str) -> tuple[str, str] | None:
    """The first and last of exactly two calendar dates the question writes, as ISO dates, else None."""
    dates = sorted({f"{int(y):04d}-{int(m):02d}-{int(d):02d}" for y, m, d in _DATE.findall(question)})
    return (dates[0], dates[1]) if len(dates) == 2 else None


def written_values(question: str, texts: Sequence[str], most: int = 20) -> list[tuple[str, str]]:
    """(field, value) for each word of the question that is a whole field's value in a record holding it:
    "user 58350" where records have `user` 58350, although ids are too many to be listed as categories."""
    found: dict[str, tuple[str, str]] = {}
    for word in dict.fromkeys(re.findall(r"[\w.:@-]*\w", question)):
        if len(word) < 2:
            continue
        rx = re.compile(rf"(?<![\w.-]){re.escape(word)}(?![\w-])")
        for record in records_holding(rx, len(word), texts, most):
            if keys := [k for k in records.FIELDS if k != "message" and str(record.get(k)) == word]:
                found.setdefault(word, (keys[0], word))
                break
    return list(found.values())


def labels_block(question: str, description: Description, texts: Sequence[str]) -> str:
    """The code that keeps the records the question names by their fields (a value it writes, a span between
    two dates it writes) and judges each kept one with classify()."""
    pairs = dict.fromkeys([*named_values(description.values, question), *written_values(question, texts)])
    conditions = [Condition(key, value, True).code() for key, value in pairs]
    if description.records and (span := date_span(question)) is not None:
        conditions.append(f'{span[0]!r} <= str(r["time"])[:10] <= {span[1]!r}')
    names = description.labels
    judge = f'labels = classify([r["message"] for r in {{}}], {names!r})'
    # One "label: count" line each, most first, a label no record got included: a small model read the last
    # number of a printed list of pairs. The extremes are named outright, since it also misread which is first.
    show = [
        f"counts = {{name: labels.count(name) for name in {names!r}}}",
        "for name, n in sorted(counts.items(), key=lambda pair: -pair[1]):",
        '    print(f"{name}: {n}")',
        'print("most common:", ", ".join(k for k, n in counts.items() if n == max(counts.values())))',
        'print("least common:", ", ".join(k for k, n in counts.items() if n == min(counts.values())))',
    ]
    if not conditions:
        return "\n".join([judge.format("records()"), *show])
    # No count of the kept records: a question asking how many of one label was answered with it.
    keep = f"hits = [r for r in records() if {' and '.join(conditions)}]"
    return "\n".join([keep, judge.format("hits"), *show])


def offer(question: str, description: Description, texts: Sequence[str], chars: int) -> Offer | None:
    """The first block offered for this input and question, if any: for labels no record writes, the records
    judged one by one; over records, a count of those the question's words select; over text, a reading for a
    question that names nothing the text holds, and for one that names a name the text holds on a few lines
    only (a lookup: `the access code of silent-pylon`), those lines."""
    if description.labels:
        code = labels_block(question, description, texts)
        run = sum(text.count("\n") for text in texts) <= CLASSIFY_FIRST_LINES
        return Offer((CLASSIFY if run else CLASSIFY_UNRUN).format(code=code), code, run)
    if description.records:
        code = first_block(question, description.values, description.shapes, texts)
        if code is None:
            return None
        # records() parses a few MB a second: over a large input, running the block first would hold the
        # first turn for a minute or more, for a model that may only want a grep.
        run = chars <= RUN_FIRST_CHARS
        return Offer((OFFER if run else OFFER_UNRUN).format(code=code), code, run)
    keys = checks.key_terms(question, texts)
    if names := [key for key in keys if _NAME.search(key)]:
        return lookup_block(question, names[:LOOKUP_KEYS])
    if keys:
        return None
    if any(find_all(_TROUBLE, texts, TROUBLE_WIDTH)):
        return trouble_block(question)
    return reading_block(question, chars)
