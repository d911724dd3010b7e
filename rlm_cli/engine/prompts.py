"""The texts of the plain RLM method: the system prompt, the first message, outputs, and the loop's refusals.

What a guide adds (data descriptions, nudges, more examples) lives in rlm_cli/guidance, not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rlm_cli.engine.guide import Guide

SYSTEM_PROMPT = """\
You answer a question about an input too large to read at once. The input is loaded in a Python \
REPL as the variable `context` (one str). You explore it by writing Python in a ```repl block, and \
you then see what the code prints (long output is cut: print counts, samples and short results).

In the REPL:
- `context`: the whole input. Each document in it starts with a line "{separator}".
- `documents`: one per document, with .path, .text and .lines.
- `grep(pattern)`: every match of a regex (case-insensitive) as "path:line: text", with the text \
around the match when the line is long.
- `records()`: log lines, JSON lines and exports of "Key: value" blocks as dicts with the fields \
time, level, host, service, message, status, method, path, query, ip, user, label (None when a \
record lacks one), plus the record's own keys. `when(text)`: a date or time, to compare with r["time"].
- `chunks(size=20000)`: `context` cut on line boundaries into pieces of about `size` characters.
- `llm_query(prompt)`: a helper model answers a prompt you build (it can read about {sub_chars} \
characters, and sees nothing else). `llm_query_batched(prompts)`: many prompts in parallel, answers \
in order. Use them to read, classify or summarize text; use code to count and compare.
- `classify(items, labels)`: sorts items by meaning (never write keyword rules for that): one label \
per item from the helper model, e.g. `Counter(classify([r["message"] for r in records()], ["bug", "feature"]))`.
- `FINAL(answer)` ends the run with the answer; `FINAL_VAR(name)` with the value of a variable. \
`SHOW_VARS()` lists your variables. Variables persist between blocks; `context` is read-only.

How to work:
1. Look at the real data before relying on it: print a few lines or grep a word of the question.
2. Write one ```repl block per reply, then stop and wait for its output.
3. Compute the answer in code and print it. Copy values exactly as printed; never guess or invent them.
4. When an output shows the answer, reply with FINAL(the answer itself) on its own line.

Example:
Question: Which hosts logged more than 3 errors?
```repl
for line in grep("error")[:5]:
    print(line)
```
(output: "app.log:12: 2024-05-02T10:00:01Z web-2 ERROR upstream timeout" and 4 more like it)
```repl
counts = Counter(r["host"] for r in records() if r["level"] == "ERROR")
print(counts.most_common())
print(sorted(h for h, n in counts.items() if n > 3))
```
(output: [('web-2', 7), ('db-1', 4), ('web-1', 1)] then ['db-1', 'web-2'])
FINAL(db-1, web-2)
"""

SUB_SYSTEM_PROMPT = (
    "You read the text you are given and do exactly what is asked, using only that text. "
    "Reply with the answer itself, as briefly as possible: no preamble, no explanation."
)

CHILD_QUESTION = (
    "Do what this request asks, using the text that comes with it (the whole request and its text are "
    "in `context`):\n{head}"
)

# The example marks outputs "(output: ...)"; a model that starts writing one is inventing it.
STOP_SEQUENCES = ["REPL output", "```output", "(output"]
PREFIX_CHARS = 600


def system_prompt(separator_template: str, sub_chars: int, extra: str = "") -> str:
    separator = separator_template.format(path="<path>").strip()
    text = SYSTEM_PROMPT.format(separator=separator, sub_chars=f"{sub_chars:,}")
    return f"{text}\n{extra}" if extra else text


def metadata(question: str, docs: Sequence[Any], extra: Sequence[str] = (), max_listed: int = 20) -> str:
    """The first user message: the question and the input's size and shape, never the input itself."""
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
    if docs:
        prefix = docs[0].text[:PREFIX_CHARS].rstrip()
        lines += ["", f"The first {len(prefix):,} characters of the first document:", "```text", prefix, "```"]
    for section in extra:
        lines += ["", section]
    # Not "Write a ```repl block": ending on the fence's own word, a small model replied `repl` and a closing fence.
    lines += ["", "`context` is already loaded. Start with a code block in a ```repl fence."]
    return "\n".join(lines)


@dataclass
class Opening:
    """The root model's first two messages."""

    messages: list[dict[str, str]]


def opening(question: str, docs: Sequence[Any], separator_template: str, sub_chars: int, guide: Guide) -> Opening:
    """What the root model first sees; `--dry-run --verbose` prints these same messages."""
    system = system_prompt(separator_template, sub_chars, guide.system())
    intro = metadata(question, docs, guide.opening(question, docs))
    return Opening([{"role": "system", "content": system}, {"role": "user", "content": intro}])


NO_OUTPUT = "no output: the code printed nothing. Use print() to see values."
ECHOED_NOTE = (
    "FINAL({answer}): that is the REPL's note that your code printed nothing, not an answer. Print the values "
    "your code computes in a ```repl block and answer from them."
)
# What llm_query returns for a sub-call that failed, so that a batch survives one failure (engine/loop.py).
SUBCALL_ERROR = "[llm_query error: {message}]"
ERROR_ANSWER = (
    "That answer is the error a sub-call returned, not an answer. Answer from what the outputs show, or run the "
    "sub-call again in a ```repl block."
)


def cell_feedback(index: int, output: str, cut: int) -> str:
    """One block's output as the model sees it."""
    note = f" ({cut:,} characters were cut from the middle; print less)" if cut else ""
    body = output.rstrip() if output.strip() else f"({NO_OUTPUT})"
    return f"REPL output of block {index}{note}:\n```text\n{body}\n```"


FIRST_BLOCK_DRY = "(A run runs the first block offered above before the first turn, and adds its output here.)"
# The question comes before the first block's output, not after it: after a long question (labels with their
# meanings), a small model answered from the question's words rather than from the output above them.
QUESTION = "The question: {question}"
ANSWER_OR_NEXT = (
    "If the output above answers exactly this question, reply FINAL(answer) with the answer itself. Otherwise "
    "write the next ```repl block."
)
FIRST_BLOCK_RAN = "The first block offered above was run for you before your first reply.\n" + QUESTION
CONTINUE = QUESTION + "\n" + ANSWER_OR_NEXT
CONTINUE_FAILED = "The question: {question}\nYour code stopped with an error (see above). Fix it and run it again."
NO_CODE = (
    "Your reply had no ```repl code block and no FINAL(...). Write a ```repl block that looks at `context`, "
    "or, if a REPL output already showed the answer, reply FINAL(answer)."
)
NO_DATA_YET = "You have not looked at the data yet, so that answer was not accepted. Run code on `context` first."
PLAN = "That is a plan, not an answer, so it was not accepted. Write the ```repl code now; answer only with the result."
FINAL_BEFORE_OUTPUT = (
    "You wrote FINAL(...) in the same reply as code, before seeing the code's output, so it was not "
    "accepted. Check the output above; if it confirms your answer, reply with FINAL(answer) alone."
)
WROTE_OUTPUT = (
    "Your reply shows an output that you wrote yourself; only the REPL writes outputs, so that answer was not "
    "accepted. Run code in a ```repl block and answer from its real output."
)
PLACEHOLDER = (
    "FINAL({name}): there is no variable named {name!r}, so that is not an answer. Reply FINAL(the answer "
    "itself), or FINAL_VAR(variable) after computing it in a ```repl block."
)
MISSING_VAR = (
    "FINAL_VAR({name}): the REPL has no variable named {name!r}, so nothing was returned. Assign it in a "
    "```repl block first, or reply FINAL(answer)."
)
LAST_CALL = (
    "You have no iterations left. Reply now with FINAL(answer): your best answer from what the REPL has "
    "shown so far. No code."
)
