"""What the input holds, described from the data itself for the first message: real lines with the
question's words, the fields records() finds and where each comes from, the values of category fields and
the shapes of messages. Models filter on what they see here instead of on words they guess.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rlm_cli.guidance import questions
from rlm_cli.inputs import records
from rlm_cli.repl.helpers import line_span


def sample_lines(docs_text: Sequence[tuple[str, str]], question: str, limit: int = 6, per_term: int = 30) -> list[str]:
    """Real lines containing the question's words: they show the data's format better than a prefix. Lines with
    the question's rarest words come first, so a key named in the question ("crimson-pylon") beats the many lines
    sharing only its common words ("magic number")."""
    lines: dict[tuple[int, int], tuple[str, str, set[str]]] = {}
    shapes: dict[str, tuple[int, int]] = {}  # lines of one shape are shown once, so more kinds of line fit
    blocks = [records.is_blocks(text) for _, text in docs_text]
    for term in questions.question_terms(question):
        rx = re.compile(re.escape(term), re.IGNORECASE)
        matches = ((i, path, text, m) for i, (path, text) in enumerate(docs_text) for m in rx.finditer(text))
        for doc_index, path, text, match in itertools.islice(matches, per_term):
            span = _block_span if blocks[doc_index] else line_span
            start, end = span(text, match.start(), match.end())
            line = text[start:end].strip()
            record = records.parse_unit(line)
            key = shapes.setdefault(records.shape(record["message"], record["user"]), (doc_index, start))
            lines.setdefault(key, (path, line, set()))[2].add(term)
    frequency = Counter(term for _, _, found in lines.values() for term in found)
    ranked = sorted(lines.items(), key=lambda item: -sum(1 / frequency[t] for t in item[1][2]))
    return [
        f"{path}:\n{line[:400]}\n" if "\n" in line else f"{path}: {line[:200]}" for _, (path, line, _) in ranked[:limit]
    ]


def _block_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The bounds of the blank-line-separated block holding text[start:end]: a record of an export."""
    stop = text.find("\n\n", end)
    before = text.rfind("\n\n", 0, start)
    return 0 if before < 0 else before + 2, len(text) if stop < 0 else stop


def record_fields(docs_text: Sequence[tuple[str, str]], max_docs: int = 200) -> list[str]:
    """What records() gives for these documents, grouped by field set, each with one real record (it shows the
    values' types: `'status': 503`, not "5XX"); empty when they are not line records."""
    groups: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for path, text in docs_text[:max_docs]:
        fields = records.common_fields(text)
        if len(fields) >= 2:
            groups.setdefault(fields, []).append((path, text))
    out = []
    for fields, docs in sorted(groups.items(), key=lambda item: -len(item[1]))[:6]:
        path, text = docs[0]
        first = records.units(text[:4000], records.is_blocks(text))[:1]
        example = records.Record(records.parse_unit(first[0][1]), doc=path, raw=first[0][1]) if first else None
        shown = f"\n  e.g. {str(example)[:300]}" if example else ""
        out.append(f"{', '.join(fields)}, message: {len(docs)} document(s){shown}")
    return out


def question_profile(docs_text: Sequence[tuple[str, str]], question: str) -> records.Profile:
    """The records' values and message shapes, from a sample plus every line that holds the question's words."""
    return records.profile(docs_text, lambda: _lines_with(docs_text, questions.stems(question)))


def data_profile(found: records.Profile, question: str, max_values: int = 15, max_shapes: int = 10) -> list[str]:
    """The values of the records' category fields and the shapes of their messages, the question's words first."""
    words = questions.stems(question)
    if not found.lines:
        return []
    out = [f"Values of the category fields (from {found.lines:,} records):"]
    for key, values in found.values.items():
        if key not in records.FIELDS and not any(w in f"{key} {values}".lower() for w in words):
            continue  # a key of the data's own (`hit=true`) draws filters to it unless the question is about it
        shown = sorted(values, key=str) if all(isinstance(v, int) for v in values) else values
        more = f", ... ({len(values)} in all)" if len(shown) > max_values else ""
        note = LABEL_NOTE if key == "label" else ""
        name = f"{key} ({access(key)})" if "." in key else key
        out.append(f"- {name}: {', '.join(repr(v) for v in shown[:max_values])}{more}{note}")
    if named := named_values(found.values, question):
        said = [f"{str(value)!r} is {access(key)} == {value!r}" for key, value in named]
        out.append("The question's words among these values: " + "; ".join(said) + ".")
    if shapes := message_shapes(found):
        ranked = sorted(shapes, key=lambda text: -sum(w in text.lower() for w in words))
        out += [
            "",
            'Shapes of the messages (r["message"]; <n> is a number, <ip> an address, <user> a user), '
            "those with the question's words first:",
            *(f"- {text}" for text in ranked[:max_shapes]),
        ]
        if len(shapes) > max_shapes:
            out.append(f"- ... and {len(shapes) - max_shapes} more shapes")
        if tests := [f'"{text}" in r["message"]' for text in message_texts(ranked, words, found.values)]:
            out.append("Tests for the question's words in messages, as the data writes them: " + "; ".join(tests) + ".")
    return out


# The variable parts of a shape, and quoted values: what stays is the text a log statement always writes.
SHAPE_SLOTS = re.compile(r"<\w+>|'[^']*'|\"[^\"]*\"")


def message_texts(
    shapes: Sequence[str], words: Sequence[str], values: dict[str, list[Any]], most: int = 3
) -> list[str]:
    """The fixed text around a word of the question in message shapes that hold one ("Failed with result"), in
    the data's own case. Words naming a field (service, host...) group records rather than select them, and
    words that are a field's value (ERROR) are tested on that field, so both are left out."""
    known = {str(v).lower() for options in values.values() for v in options}
    wanted = [w for w in words if not any(w in f or f in w for f in records.FIELDS) and w not in known]
    texts: list[str] = []
    for shape in shapes:
        for piece in SHAPE_SLOTS.split(shape):
            parts = piece.strip(" .,:;=/[](){}-").split()
            hits = [i for i, part in enumerate(parts) if any(w in part.lower() for w in wanted)]
            if not hits or len(" ".join(parts)) < 3:
                continue
            end = hits[-1] + 1 if hits[-1] >= 1 else min(3, len(parts))  # the words up to the last one asked about
            text = " ".join(parts[:end][:5])
            if text not in texts:
                texts.append(text)
            break
        if len(texts) >= most:
            break
    return texts


def access(key: str) -> str:
    """How code reads a profile key: r["level"], or r["error"]["type"] for a nested "error.type"."""
    return "r" + "".join(f'["{part}"]' for part in key.split("."))


def message_shapes(found: records.Profile) -> list[str]:
    """The message shapes, most common first; none for labelled records, which are counted by label, not text."""
    return [] if "label" in found.values else [text for text, _ in found.shapes]


def named_values(values: dict[str, list[Any]], question: str) -> list[tuple[str, Any]]:
    """(field, value) for each value the question writes as the data does: 'personal' is r["account"], not a
    label. Only exact matches (case included), so "errors" is not taken for the level ERROR."""
    words = {w.strip(".,;:?!'\"()") for w in question.split()}
    return [
        (key, value)
        for key, options in values.items()
        for value in options
        if str(value) in words and not (isinstance(value, str) and len(value) < 2)
    ]


def _lines_with(docs_text: Sequence[tuple[str, str]], words: Sequence[str], limit: int = 300) -> list[str]:
    """Up to `limit` lines holding any of the words: rare lines that a sample of a large input would miss."""
    if not words:
        return []
    rx = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    spans = ((text, line_span(text, m.start(), m.end())) for _, text in docs_text for m in rx.finditer(text))
    return [text[start:end] for text, (start, end) in itertools.islice(spans, limit)]


@dataclass
class Description:
    """What the first message says about the data, and the message shapes later checks compare code with."""

    sections: list[str]
    shapes: list[str]
    values: dict[str, list[Any]] = field(default_factory=dict)  # category field -> its values in the sample
    records: bool = False  # records() parses the input into fields
    labels: list[str] = field(default_factory=list)  # labels the question lists that no record writes


LABEL_NOTE = ' (r["label"], in lower case, however a record writes it: [label: x], Category: X, type=x, (x))'
REPEATS = (
    'Some lines say "message repeated <n> times: [ <message> ]": records() gives <n> records for such a line, '
    "so counts over records() include every repeat; grep() and the raw lines show it once."
)
PROSE = (
    "These documents are text, not log records: records() would only cut them into lines. Use grep() to find "
    "the passages that matter, and llm_query() on them (or on chunks()) to read what they say."
)
# A list of three or more short names in the question: "bug, feature or question", "a; b; c; d".
_LIST_SPLIT = re.compile(r"\s*[,;]\s*(?:(?:or|and)\s+)?|\s+(?:or|and)\s+")
_NAME_LIST = re.compile(rf"[A-Za-z][\w-]*(?:(?:{_LIST_SPLIT.pattern})[A-Za-z][\w-]*)+")

CLASSIFY = (
    "The question names labels that no line of the input contains ({names}): the records do not say which "
    "applies, so each must be judged by its meaning, not by its words: classify() asks the helper model."
)


def unwritten_labels(docs_text: Sequence[tuple[str, str]], question: str) -> list[str]:
    """The longest list of three or more names in the question (explanations in brackets aside) that no
    document holds: labels the records leave unwritten, to be judged item by item."""
    plain = re.sub(r"\([^()]*\)", " ", question)
    lists = [_LIST_SPLIT.split(m.group(0).strip()) for m in _NAME_LIST.finditer(plain)]
    names = [n for n in max(lists, key=len, default=[]) if n]
    if len(names) < 3 or any(re.search(rf"\b{re.escape(n)}\b", t, re.IGNORECASE) for n in names for _, t in docs_text):
        return []
    return names


def describe(question: str, docs: Sequence[Any]) -> Description:
    """The data described from a sample of it, plus every line that holds the question's words."""
    docs_text = [(d.path, d.text) for d in docs]
    labels = unwritten_labels(docs_text, question)
    sections = [CLASSIFY.format(names=", ".join(labels))] if labels else []
    # With labels no line writes, the question's other words are the labels' meanings ("a place"): lines and
    # message shapes holding them are no evidence, and a small model answered from them instead of the counts.
    if not labels and (samples := sample_lines(docs_text, question)):
        sections.append(
            "\n".join(["Lines that contain words of the question, best matches first:", "```text", *samples, "```"])
        )
    fields = record_fields(docs_text)
    if not fields:
        return Description(sections if labels else [*sections, PROSE], [], labels=labels)
    found = question_profile(docs_text, question)
    heading = "records() parses these documents' records (lines, or blocks) into dicts with these fields:"
    sections.append("\n".join([heading, *(f"- {f}" for f in fields)]))
    if not labels and (profile := data_profile(found, question)):
        sections.append("\n".join(profile))
    if found.repeats:
        sections.append(REPEATS)
    if same := constant_fields(found):
        said = ", ".join(f"{access(key)} == {value!r}" for key, value in same)
        sections.append(f"One value only, wherever these fields occur, so they do not tell records apart: {said}.")
    if not labels:
        sections.append("To find one fact, grep for it; to count or compare records, start with `recs = records()`.")
    return Description(sections, message_shapes(found), found.values, records=True, labels=labels)


def constant_fields(found: records.Profile) -> list[tuple[str, Any]]:
    """Canonical fields with one value over every sampled record (`service` = `systemd`): they name the writer
    of the lines, not what each line is about."""
    return [
        (key, values[0])
        for key, values in found.values.items()
        if key in records.FIELDS and key not in ("level", "label") and len(values) == 1 and found.lines > 1
    ]
