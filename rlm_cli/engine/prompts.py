"""Every text the models read: the system prompt, the input's metadata, feedback and nudges (the hints on
a question's wording come from questions.py, the checks that choose a nudge from checks.py).

Kept short and concrete, with worked examples, because small models follow examples, not rules.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rlm_cli.guidance import questions
from rlm_cli.inputs import records
from rlm_cli.repl.helpers import line_span

SYSTEM_PROMPT = """\
You answer a question about a large input that you cannot read directly. The input is \
loaded in a Python REPL as the variable `context` (one str). You explore it by writing \
Python in a ```repl block; you then see what the code prints (long output is cut, so \
print counts, samples and short results, never the whole input).

In the REPL:
- `context`: the whole input as one string. Each document in it starts with a line \
"{separator}".
- `documents`: list of the documents; each has .path, .text, .lines.
- `grep(pattern)`: the lines matching a regex (case-insensitive), as "path:line: text" strings.
- `records()`: every record (a log line, a JSON line, or a block of "Key: value" lines) as a dict \
with the fields time, level, host, service, message, status, method, path, ip, user, label (when the \
record has them), whatever the format, plus the record's own keys. Missing fields are None and \
compare False. `when(text)`: a date or time in any format, to compare with r["time"].
- `chunks(size=20000)`: `context` split into pieces of about `size` characters.
- `llm_query(prompt)`: ask a helper model about a text you build (up to about \
{sub_chars} characters); it sees only that prompt. Returns a str.
- `llm_query_batched(prompts)`: many prompts answered in parallel; a list of str, in order. \
Use it instead of calling llm_query in a loop.
- `classify(items, labels)`: one label per item, judged by the helper model many items per \
call, e.g. `Counter(classify([r["message"] for r in records()], ["bug", "feature"]))`.
- `FINAL(answer)`: give your final answer. `FINAL_VAR(name)`: answer with a variable's value.
- `SHOW_VARS()`: list your variables. Variables persist between blocks.

Rules:
1. Base your code on the real data: the lines and records shown with the question, or lines you \
print or grep. Never guess the format of the data, never invent values.
2. Write one ```repl block, then stop and wait for its output.
3. If the output is empty or an error, fix the code and try again.
4. Answer only with what the output showed: call FINAL(answer) in code, or write \
FINAL(answer) on its own line. A plan is not an answer.
5. To find one fact, print the whole matching lines with grep and copy the value exactly as \
printed (all of it: codes may contain -, . or spaces).
6. To count or compare log lines or records, use records() and its fields rather than a regex over \
`context`. For "how many times", "exactly N" or "top N", count with Counter and print the counts.

Example 1 (find one fact):
Question: What is the backup server's address?
```repl
for line in grep("backup server"):
    print(line)
```
(output: "notes.txt:88: the backup server address is 10.2.7.19:8443")
FINAL(10.2.7.19:8443)

Example 2 (count in logs, whose records the input's description shows):
Question: Which services logged an ERROR line exactly twice?
```repl
recs = records()
errors = Counter(r["service"] for r in recs if r["level"] == "ERROR")
print(errors.most_common())
print([s for s, n in errors.items() if n == 2])
```
(output: [('cart-api', 9), ('mailer', 2), ('search', 2)] then ['mailer', 'search'])
FINAL(mailer, search)

Example 3 (filter by time, with the full date and time the question gives):
Question: How many requests got status 404 after 10:00 UTC on 2 May 2024?
```repl
recs = records()
after = when("10:00 UTC on 2 May 2024")
print(sum(1 for r in recs if r["status"] == 404 and r["time"] > after))
```
(output: 31)
FINAL(31)

Example 4 (count distinct values, matching the message shape that means the event asked about):
Question: How many different users exported a report?
```repl
recs = records()
users = {{r["user"] for r in recs if "report exported by user" in r["message"]}}
print(len(users))
```
(output: 12)
FINAL(12)

Example 5 (top N over a range of values):
Question: Which 2 client IPs got the most 4xx responses?
```repl
recs = records()
counts = Counter(r["ip"] for r in recs if 400 <= r["status"] <= 499)
print(counts.most_common(2))
```
(output: [('10.0.0.5', 41), ('10.0.0.9', 17)])
FINAL(10.0.0.5, 10.0.0.9)

Example 6 (reading with a helper model):
Question: Which document describes a security incident?
```repl
answers = llm_query_batched(
    [f"Does this text describe a security incident? Reply NO, or one line naming it.\\n\\n{{d.text[:{sub_limit}]}}"
     for d in documents])
for d, a in zip(documents, answers):
    if not a.strip().upper().startswith("NO"):
        print(d.path, "->", a)
```
"""

SUB_SYSTEM_PROMPT = (
    "You read the text you are given and do exactly what is asked, using only that text. "
    "Reply with the answer itself, as briefly as possible: no preamble, no explanation."
)

CHILD_QUESTION = (
    "Do what this request asks, using the text that comes with it (the whole request and its text are "
    "in `context`):\n{head}"
)

# The model imitating our feedback is the sign that it is inventing REPL output.
# The examples above mark outputs "(output: ...)"; a model that starts writing one is inventing it.
STOP_SEQUENCES = ["REPL output", "```output", "(output"]


def sample_lines(docs_text: Sequence[tuple[str, str]], question: str, limit: int = 6, per_term: int = 30) -> list[str]:
    """Real lines containing the question's words: they show the data's format better than a prefix.

    Lines with the question's rarest words come first, so a key named in the question ("crimson-pylon")
    beats the many lines sharing only its common words ("magic number").
    """
    terms = questions.question_terms(question)
    lines: dict[tuple[int, int], tuple[str, str, set[str]]] = {}
    shapes: dict[str, tuple[int, int]] = {}  # lines of one shape are shown once, so more kinds of line fit
    blocks = [records.is_blocks(text) for _, text in docs_text]
    for term in terms:
        rx = re.compile(re.escape(term), re.IGNORECASE)
        hits = 0
        for doc_index, (path, text) in enumerate(docs_text):
            span = _block_span if blocks[doc_index] else line_span
            for match in rx.finditer(text):
                start, end = span(text, match.start(), match.end())
                line = text[start:end].strip()
                record = records.parse_unit(line)
                key = shapes.setdefault(records.shape(record["message"], record["user"]), (doc_index, start))
                lines.setdefault(key, (path, line, set()))[2].add(term)
                hits += 1
                if hits >= per_term:
                    break
            if hits >= per_term:
                break
    frequency = Counter(term for _, _, found in lines.values() for term in found)
    ranked = sorted(lines.items(), key=lambda item: -sum(1 / frequency[t] for t in item[1][2]))
    return [
        f"{path}:\n{line[:400]}\n" if "\n" in line else f"{path}: {line[:200]}"
        for _, (path, line, _) in ranked[:limit]
        if line
    ]


def _block_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The bounds of the blank-line-separated block holding text[start:end]: a record of an export."""
    stop = text.find("\n\n", end)
    before = text.rfind("\n\n", 0, start)
    return 0 if before < 0 else before + 2, len(text) if stop < 0 else stop


def record_fields(docs_text: Sequence[tuple[str, str]], max_docs: int = 200) -> list[str]:
    """What records() gives for these documents, grouped by field set, each with one real record.

    Empty when they are not line records. The record shows the values' types (`'status': 503`, not "5XX").
    """
    groups: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for path, text in docs_text[:max_docs]:
        fields = records.common_fields(text)
        if len(fields) >= 2:
            groups.setdefault(fields, []).append((path, text))
    ranked = sorted(groups.items(), key=lambda item: -len(item[1]))
    out = []
    for fields, docs in ranked[:6]:
        path, text = docs[0]
        first = records.units(text[:4000], records.is_blocks(text))[:1]
        example = records.Record(records.parse_unit(first[0][1]), doc=path, raw=first[0][1]) if first else None
        shown = f"\n  e.g. {str(example)[:300]}" if example else ""
        out.append(f"{', '.join(fields)}, message: {len(docs)} document(s){shown}")
    return out


LABEL_NOTE = ' (r["label"], in lower case, however a record writes it: [label: x], Category: X, type=x, (x))'


def question_profile(docs_text: Sequence[tuple[str, str]], question: str) -> records.Profile:
    """The records' values and message shapes, from a sample plus every line that holds the question's words."""
    words = questions.stems(question)
    return records.profile(docs_text, lambda: _lines_with(docs_text, words))


def data_profile(found: records.Profile, question: str, max_values: int = 15, max_shapes: int = 10) -> list[str]:
    """The values of the records' category fields and the shapes of their messages, the question's words first.

    Small models filter on what they see here ("event": "login_failed", status 503) instead of guessing.
    """
    words = questions.stems(question)
    if not found.lines:
        return []
    out = [f"Values of the category fields (from {found.lines:,} records):"]
    for key, values in found.values.items():
        if key not in records.FIELDS and not any(w in f"{key} {values}".lower() for w in words):
            continue  # a key of the data's own (`hit=true`) lures small models unless the question is about it
        shown = sorted(values, key=str) if all(isinstance(v, int) for v in values) else values
        more = f", ... ({len(values)} in all)" if len(shown) > max_values else ""
        note = LABEL_NOTE if key == "label" else ""
        out.append(f"- {key}: {', '.join(repr(v) for v in shown[:max_values])}{more}{note}")
    if named := _named_values(found.values, question):
        out.append("The question's words among these values: " + "; ".join(named) + ".")
    if shapes := message_shapes(found):
        ranked = sorted(shapes, key=lambda text: -sum(w in text.lower() for w in words))
        out += [
            "",
            'Shapes of the messages (r["message"]; <n> is a number, <ip> an address, <user> a user), '
            "those with the question's words first:",
        ]
        out += [f"- {text}" for text in ranked[:max_shapes]]
        if len(shapes) > max_shapes:
            out.append(f"- ... and {len(shapes) - max_shapes} more shapes")
    return out


def message_shapes(found: records.Profile) -> list[str]:
    """The message shapes, most common first; none for labelled records, which are counted by label, not text."""
    return [] if "label" in found.values else [text for text, _ in found.shapes]


def _named_values(values: dict[str, list[Any]], question: str) -> list[str]:
    """Which field holds each value the question writes as the data does: 'personal' is r["account"], not a label.

    Only exact matches (case included), so "errors" is not taken for the level ERROR.
    """
    words = {w.strip(".,;:?!'\"()") for w in question.split()}
    named = []
    for key, options in values.items():
        for value in options:
            if (str(value) in words) and not (isinstance(value, str) and len(value) < 2):
                named.append(f'{str(value)!r} is r["{key}"] == {value!r}')
    return named


def _lines_with(docs_text: Sequence[tuple[str, str]], words: Sequence[str], limit: int = 300) -> list[str]:
    """Up to `limit` lines holding any of the words: rare lines that a sample of a large input would miss."""
    if not words:
        return []
    rx = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    found: list[str] = []
    for _, text in docs_text:
        for match in rx.finditer(text):
            start, end = line_span(text, match.start(), match.end())
            found.append(text[start:end])
            if len(found) >= limit:
                return found
    return found


def metadata(
    question: str,
    docs: Sequence[Any],
    prefix: str,
    samples: Sequence[str],
    fields: Sequence[str] = (),
    profile: Sequence[str] = (),
    max_listed: int = 20,
) -> str:
    """The first user message: the question and what the input looks like, never the input itself.

    `docs` are corpus documents; only the listed ones have their lines counted (a pass over their text).
    `profile` are data_profile()'s lines, for log inputs.
    """
    total = sum(d.chars for d in docs)
    lines = [
        f"Question: {question}",
        "",
        f"The input in `context`: {len(docs)} document(s), {total:,} characters (about {total // 4:,} tokens).",
    ]
    if len(docs) > 1:
        lines.append("Documents (path: characters, lines):")
        lines += [f"- {d.path}: {d.chars:,} chars, {d.lines:,} lines" for d in docs[:max_listed]]
        if len(docs) > max_listed:
            lines.append(f"- ... and {len(docs) - max_listed} more (see `documents`)")
    elif docs:
        lines.append(f"One document: {docs[0].path}, {docs[0].lines:,} lines.")
    if not fields:
        # Log lines are shown by the samples and the fields; a raw prefix invites `context = """...`.
        lines += ["", "The first characters of `context`:", "```text", prefix.rstrip(), "```"]
    if samples:
        lines += ["", "Lines that contain words of the question, best matches first:", "```text", *samples, "```"]
    if fields:
        lines += [
            "",
            "records() parses these documents' records (lines, or blocks) into dicts with these fields:",
            *(f"- {f}" for f in fields),
        ]
        if profile:
            lines += ["", *profile]
        if hints := questions.question_hints(question):
            lines += ["", "What the question's words mean in code:", *(f"- {h}" for h in hints)]
        lines += [
            "",
            "`context` is already loaded. Write a ```repl block. To find one fact, grep for it; to count or "
            "compare records, start with `recs = records()` and compute the answer.",
        ]
    else:
        lines += ["", "`context` is already loaded. Write a ```repl block to start exploring the data."]
    return "\n".join(lines)


def system_prompt(separator_template: str, sub_chars: int) -> str:
    separator = separator_template.format(path="<path>").strip()
    return SYSTEM_PROMPT.format(separator=separator, sub_chars=f"{sub_chars:,}", sub_limit=sub_chars)


PREFIX_CHARS = 600


@dataclass
class Opening:
    """The root model's first two messages, whether the input parsed as records (log feedback then applies),
    and the shapes of their messages (to show what a block's filter keeps)."""

    messages: list[dict[str, str]]
    records: bool
    shapes: list[str]


def opening(question: str, docs: Sequence[Any], separator_template: str, sub_chars: int) -> Opening:
    """What the root model first sees; `--dry-run --verbose` prints the same messages the engine sends."""
    docs_text = [(d.path, d.text) for d in docs]
    first_text = docs[0].text if docs else ""
    fields = record_fields(docs_text)
    found = question_profile(docs_text, question) if fields else records.Profile(0, {}, [])
    intro = metadata(
        question,
        docs,
        first_text[:PREFIX_CHARS],
        sample_lines(docs_text, question),
        fields,
        data_profile(found, question),
    )
    system = {"role": "system", "content": system_prompt(separator_template, sub_chars)}
    return Opening([system, {"role": "user", "content": intro}], bool(fields), message_shapes(found))


_NOTHING_FOUND = re.compile(r"\A\s*(\[\]|\{\}|set\(\)|\(\)|0|None|''|\"\"|Counter\(\)|)\s*\Z")


def found_nothing(output: str) -> bool:
    """An output that is only an empty result: `[]`, `0`, `set()`, `None`..."""
    return bool(output.strip()) and bool(_NOTHING_FOUND.match(output))


def cell_feedback(index: int, output: str, cut: int) -> str:
    """One block's output as the model sees it; an empty result also says what to do about it."""
    note = f" ({cut:,} characters were cut from the middle; print less)" if cut else ""
    if not output.strip():
        body = "(no output: the code printed nothing. Use print() to see values.)"
    else:
        body = output.rstrip()
    text = f"REPL output of block {index}{note}:\n```text\n{body}\n```"
    if found_nothing(output):
        text += f"\n{NUDGE_NOTHING_FOUND}"
    if undefined := _UNDEFINED.search(output):
        text += f"\n{NUDGE_UNDEFINED.format(name=undefined[1])}"
    return text


_UNDEFINED = re.compile(r"^NameError: name '(\w+)' is not defined", re.MULTILINE)
NUDGE_UNDEFINED = (
    "`{name}` does not exist: a variable exists only once a block that assigns it has run without error. "
    "Assign it in your next block (e.g. `recs = records()`) before using it."
)
NUDGE_EXACT_COUNT = (
    "The question asks for exactly {n}, but your code never kept the items whose count == {n}, so its output "
    "is not the answer. Count per item with Counter, then print [k for k, c in counts.items() if c == {n}]."
)
NUDGE_AT_LEAST = (
    "The question asks for at least {n}, but your code never kept the counts >= {n}, so its output is not the "
    "answer. Count per item with Counter, then keep the items whose count >= {n}: print them, or print "
    "sum(1 for c in counts.values() if c >= {n}) for how many there are."
)
NUDGE_ABSENT_WORDS = (
    "Your code tests for {words}, which the input never contains (in any case): those tests never match. "
    "If you meant to find something, use the words and values the data itself uses (the message shapes and "
    "field values in the first message, or lines you print with grep)."
)
NUDGE_COUNTED_SET = (
    "`{call}` counts a set, so every item in it counts once and no count is right. Count the records "
    "themselves: `{meant}`."
)
NUDGE_OPPOSITE_SHAPES = (
    "Your test for {text!r} keeps only lines like {listed}, but the question asks about {outcome} ones. Find "
    "the message shape that means {outcome} among those in the first message, and test for its own words."
)
NUDGE_WRONG_MOMENT = (
    "Your code compares with when({written!r}), which is not the moment the question gives ({phrase}). Use "
    "the question's own words: when({phrase!r})."
)
NUDGE_LEVEL_IN_MESSAGE = (
    'Your code looks for {text!r} inside r["message"], but records() keeps a line\'s level in r["level"] and '
    'no message holds {text!r}, so that test never matches. Test the level instead: r["level"] == {level!r}.'
)
NUDGE_REBOUND_INPUT = (
    "Your code assigned `{name}` itself, so it computed on text you wrote, not on the input (which is back in "
    "`{name}` now). Run it again without assigning `{name}`: it is already loaded."
)
NUDGE_FLAWED_ANSWER = (
    "That answer comes from code with the mistake named above, so it is not accepted yet. Fix the code and run "
    "it again; if the code is right as it is, reply FINAL(answer) again."
)
NUDGE_EMPTY_ANSWER = (
    "That answer rests on code that found nothing, which usually means the filter does not match how the data "
    "is written. Check your filter against the field values and message shapes shown in the first message (use "
    "their exact words), and run it again. If you are sure the answer is none, reply FINAL(answer) again."
)
NUDGE_NOTHING_FOUND = (
    "Your code found nothing. That usually means the data is written differently from what you assumed, "
    "not that the answer is none. Print a few real lines (grep a word of the question) and match what you see."
)
# Small models lose the question after a first look at the data, and answer with whatever it printed.
REMINDER_FAILED = (
    "The question: {question}\n{hints}Your code stopped with an error (see above), so there is no answer yet. "
    "Fix the code and run it again."
)
REMINDER = (
    "The question: {question}\n{hints}If the output above is the computed answer to exactly this question, reply "
    "FINAL(answer). If it is not (it only shows some of the data, or answers something else), write new code "
    "that computes it."
)


def reminder(question: str, logs: bool, failed: bool = False) -> str:
    """The question again after each output, with what its words mean in code for log inputs.

    After a block that failed it asks for a fix: the 1.5B model answered "the output above is the computed
    answer" to a NameError, echoing the usual wording.
    """
    hints = "".join(f"({h})\n" for h in (questions.question_hints(question) if logs else []))
    return (REMINDER_FAILED if failed else REMINDER).format(question=question, hints=hints)


def repeated_code(output: str, ok: bool) -> str:
    """A block run twice: small models rerun a block that already printed the answer, or one that failed."""
    result = output.strip()
    if ok and result and len(result) <= 300 and not _NOTHING_FOUND.match(result):
        return (
            f"You already ran exactly this code, and it printed the same: {result}\nIf that answers the question, "
            "reply FINAL(answer) now, with no code. If not, change the code."
        )
    return (
        "You already ran exactly this code, so its output cannot change. Do something different: print a few "
        "real records or lines and check the values you filter on."
    )


NUDGE_NO_CODE = (
    "Your reply had no ```repl code block and no FINAL(...). Write a ```repl block that looks at "
    "`context`, or, if the REPL output already showed the answer, reply FINAL(answer)."
)
NUDGE_NO_CODE_KEY = (
    " For example, to see the lines that mention {key!r}, reply with only this block:\n```repl\n"
    "for line in grep({key!r})[:10]:\n    print(line)\n```"
)


def no_code(keys: Sequence[str]) -> str:
    """The nudge after a reply with no code; with a block to copy, since the 1.5B model echoed its prompt."""
    return NUDGE_NO_CODE + (NUDGE_NO_CODE_KEY.format(key=keys[0]) if keys else "")


NUDGE_NO_DATA_YET = (
    "You have not looked at the data yet, so that answer was not accepted. Run code on `context` first; do not guess."
)
NUDGE_PLAN = (
    "That is a plan, not an answer, so it was not accepted. Write the ```repl code now; give FINAL(answer) "
    "only with the result."
)
NUDGE_FINAL_BEFORE_OUTPUT = (
    "You wrote FINAL(...) in the same reply as code, before seeing the code's output, so it was not "
    "accepted. Check the output above; if it confirms your answer, reply with FINAL(answer) alone."
)
NUDGE_WROTE_OUTPUT = (
    "Your reply shows an output that you wrote yourself; only the REPL writes outputs, so that answer was not "
    "accepted. Run code in a ```repl block and answer from its real output."
)
NUDGE_PLACEHOLDER = (
    "FINAL({name}): there is no variable named {name!r}, so that is not an "
    "answer. Reply FINAL(the answer itself), or FINAL_VAR(variable) after computing it in a ```repl block."
)
NUDGE_MISSING_VAR = (
    "FINAL_VAR({name}): the REPL has no variable named {name!r}, so nothing was returned. Assign it in a "
    "```repl block first, or reply FINAL(answer)."
)
NUDGE_UNSUPPORTED = (
    "Your answer contains {values}, which no REPL output showed as a result. Do not guess: compute it "
    "from `context` in a ```repl block and print it first. If you are sure, reply FINAL(answer) again."
)
NUDGE_REPEATED = (
    "Your answer names {values} more than once, so it is not a list of different items. For a ranking, count "
    "each item with Counter(...) and print .most_common(k); for a list, print sorted(set(...))."
)
NUDGE_TRUNCATED = (
    "The data shows {values}, which is longer than the value in your answer. Did you cut it short? Print "
    "the whole line with grep and answer with the complete value."
)
NUDGE_PATH_TAILS = (
    "Your answer shortens values that the output shows in full: {values}. Answer with each value exactly as "
    "printed, in the same order: FINAL({values})"
)
NUDGE_NONE_COUNTED = (
    "Your answer {total} counts None as one of the values (see the note under the output); without None the "
    "count is {kept}. Reply FINAL({kept}) unless None is really one of the things the question counts."
)
NUDGE_COUNTED_BY_EYE = (
    "No output printed {answer}: did you count printed items yourself? That is easy to get wrong. Compute the "
    "count in code and print it, e.g. print(len(items)) or print(sum(1 for x in items if ...)), then answer."
)
NUDGE_MISREAD_COUNTS = (
    "The output shows {shown}: {answer} does not have the {which} count, so that answer was not accepted. "
    "Compare the counts again and reply FINAL(answer)."
)
NUDGE_OFF_KEY = (
    "Your answer {answer} is in the input only on lines that do not mention {term!r}, so it is likely another "
    "item's value. Print the lines of grep({term!r}) and answer with the value on them."
)
NUDGE_READ_OFF_RECORDS = (
    "Your answer {values} was read off a printout of records, not computed, so it was not accepted. Compute it "
    "in code (count with Counter over the records that match, or filter and take len()) and print only the "
    "result."
)
NUDGE_LAST_CALL = (
    "You have no iterations left. Reply now with FINAL(answer): your best answer from what the REPL has "
    "shown so far. No code."
)
