"""The small-model guide (engine/guide.py says when the loop calls it): the data described up front, checks on
each block, and doubts about answers."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

from rlm_cli.engine.guide import PLAIN_NOTES, Advice, Block
from rlm_cli.engine.parsing import looks_like_plan
from rlm_cli.guidance import checks, nudges, starter
from rlm_cli.guidance.describe import access, describe
from rlm_cli.inputs.bundle import SEPARATOR_TEMPLATE

# Longer output lines are data dumps, not evidence for an answer (grep shows at most this much of a line).
EVIDENCE_LINE = 500
LONG_ANSWER = 5_000
_EMPTY = r"(\[\]|\{\}|set\(\)|\(\)|0|None|''|\"\"|Counter\(\))"
_NOTHING_FOUND = re.compile(rf"\A\s*({_EMPTY}|)\s*\Z")
_LABELLED_EMPTY = re.compile(rf"\A[^\n]{{0,80}}[:=]\s*{_EMPTY}\s*\Z")  # "records kept: 0", "counts = []"
_NONE_COUNTED = re.compile(r"\A0 (?:of [\d,]+ )?[A-Za-z][A-Za-z ,:]{0,60}\Z")  # "0 of 397 records kept", "0 matches"
_ENDING_LIST = re.compile(r"(\[[^\[\]]*\])[\s.]*\Z")  # a reply ending with a printed list: "...: ['a', 'b']"
# A reply ending with a fence of text ("Therefore, the answer is:\n```\na, b\n```"): the fence is what it states.
_ENDING_FENCE = re.compile(r"^[ \t]*```[^\n`]*\n([^`]*?)\n[ \t]*```\s*\Z", re.MULTILINE)
_NUMBER = re.compile(r"(?<![\w.:-])\d[\d,.]*(?<![,.])(?![\w:-]|\.\d)")  # 7, 1,234, 0.5; not web-2 or 10:20
_UNDEFINED = re.compile(r"^NameError: name '(\w+)' is not defined", re.MULTILINE)


def found_nothing(output: str) -> bool:
    """An output that is only empty results: `[]`, `0`, `set()`, `None`..., bare or each after a label, or
    counts of none (`0 of 397 records kept`)."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    if len(lines) == 1 and _NOTHING_FOUND.match(lines[0]):
        return True
    return bool(lines) and all(_LABELLED_EMPTY.match(line) or _NONE_COUNTED.match(line) for line in lines)


class InputTexts(Sequence[str]):
    """The input as `context` holds it, for the checks: each file's separator line, then each document's text.

    A document's text is not kept here but taken from the document when a check reaches it: the parent holds no
    second copy of the corpus. Once released, it is read back from the bundle through `pieces`, a chunk at a
    time, and searched in windows (guidance/scan.py), never whole.
    """

    def __init__(self, documents: Sequence[Any]) -> None:
        # Each part: a document, and whether it stands for the document's text (or else its separator line).
        self.parts = [(doc, False) for doc in documents] + [(doc, True) for doc in documents]

    def __len__(self) -> int:
        return len(self.parts)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        doc, text = self.parts[index]
        return doc.text if text else SEPARATOR_TEMPLATE.format(path=doc.path)

    def pieces(self, index: int) -> Iterable[str]:
        """The text at `index`, in order, in pieces: a released document's a chunk at a time."""
        doc, text = self.parts[index]
        return doc.pieces() if text else (SEPARATOR_TEMPLATE.format(path=doc.path),)


class SmallModelGuide:
    """One per RLM: it remembers what the model was shown and which doubts it has already raised."""

    def __init__(self) -> None:
        self.texts: Sequence[str] = []  # the input as `context` holds it, to check strings and answers against
        self.shapes: list[str] = []  # the input's message shapes
        self.values: dict[str, list[Any]] = {}  # the values of its category fields
        self.first: str = ""  # the first message's sections
        self.outputs: list[str] = []  # every block output the model was shown
        self.ran: set[str] = set()  # code already run
        self.last: Block | None = None  # the block an answer comes from
        self.flaws: list[checks.Flaw] = []  # its mistakes that its output does not show
        self.raised: set[str] = set()  # doubts raised once already
        self.offered: starter.Offer | None = None  # the first block offered in the first message
        self.proposed: str | None = None  # the answer whose FINAL line a reply without FINAL was shown
        self.rescued = False  # the block for a model that stopped making progress has run

    def system(self) -> str:
        return nudges.EXAMPLES

    def opening(self, question: str, documents: Sequence[Any]) -> list[str]:
        self.texts = InputTexts(documents)
        description = describe(question, documents)
        self.shapes = description.shapes
        self.values = description.values
        sections = description.sections
        if offered := starter.offer(question, description, self.texts, sum(d.chars for d in documents)):
            self.offered = offered
            sections = [*sections, offered.text]
        self.first = "\n".join(sections)
        return sections

    def first_code(self) -> str | None:
        return self.offered.code if self.offered and self.offered.run else None

    def after_block(self, question: str, block: Block) -> list[Advice]:
        self.outputs.append(block.output)
        self.last = block
        advice = [
            Advice(note.text(), f"note on `{note.name}`: it holds None")
            for note in block.notes
            if note.kind not in PLAIN_NOTES
        ]
        if block.ok and found_nothing(block.output):
            advice.append(Advice(nudges.NOTHING_FOUND, "the block found nothing: told to check its filter"))
        if undefined := _UNDEFINED.search(block.output):
            advice.append(Advice(nudges.UNDEFINED.format(name=undefined[1]), f"`{undefined[1]}` is not defined"))
        if not block.ok and checks.pasted_input(block.code, self.texts):
            # The copy is dropped from the conversation: the model would otherwise re-read, and re-type, it.
            text = nudges.PASTED.format(offer=self.offered.text if self.offered else self.idle(question).text)
            advice.append(Advice(text, "the block is the input's own text, not code", drop_reply=True))
        # A block the guide wrote (index 0: run before the first turn, or for a stuck model) is not checked: the
        # readings it judges test kinds of line it does not keep, and a flaw found there would doubt the answer.
        if block.ok and block.index:
            advice += [
                Advice(note, "a filter keeps few message shapes")
                for note in checks.shape_notes(block.code, self.shapes)
            ]
        self.flaws = checks.code_flaws(block.code, self.texts, self.shapes) if block.index else []
        advice += [Advice(flaw.nudge, flaw.notice) for flaw in self.flaws]
        key = _code_key(block.code)
        if block.ok and not block.output.strip() and (bound := checks.bound_text(block.code)):
            # A small model states its answer as code: `answer = "The service ran out of ..."`, then the same
            # block again. Told only that it repeats itself, it went looking elsewhere and lost the answer;
            # shown its FINAL_VAR line, it bound the same text again, to the iteration limit.
            name, text = bound
            if text == self.proposed:
                advice.append(
                    Advice("", f"`{name}` bound to the same text again, after its FINAL_VAR line: taken", final=text)
                )
            else:
                self.proposed = text
                advice.append(Advice(nudges.BOUND_TEXT.format(name=name), f"the block only set `{name}` to text"))
        elif key in self.ran and block.final is None:
            result = block.output.strip()
            useful = block.ok and result and len(result) <= 300 and not found_nothing(result)
            text = nudges.REPEATED_RESULT.format(result=result) if useful else nudges.REPEATED_CODE
            advice.append(Advice(text, "the same code ran again: nudged the model", resample=True, drop_reply=True))
        self.ran.add(key)
        return advice

    def doubt(self, question: str, answer: str) -> Advice | None:
        """Question an answer once per kind of doubt: the model may know better, and then says so again."""
        for kind, advice in self._doubts(question, answer):
            if kind not in self.raised:
                self.raised.add(kind)
                return advice
        return None

    def _doubts(self, question: str, answer: str) -> Iterator[tuple[str, Advice]]:
        if len(answer) > LONG_ANSWER:
            return  # a long answer is a report, not a value: nothing below applies, and scanning it is slow
        if self.flaws:
            yield "flaw", Advice(nudges.FLAWED_ANSWER, f"final answer from flawed code ({self.flaws[0].notice})")
        last = self.last.output if self.last else ""
        nothing = self.last is not None and self.last.ok and found_nothing(last)
        # The size of a collection of only None (`len({None})` is 1) counts nothing; a Counter({None: 17})
        # printed beside it may still hold the answer.
        notes = self.last.notes if self.last else ()
        empty = bool(_NOTHING_FOUND.match(answer)) and answer.strip() != "0"  # FINAL(None), FINAL([])
        if nothing or empty or any(n.kind == "only_none" and answer.strip() == str(n.total) for n in notes):
            yield "empty", Advice(nudges.EMPTY_ANSWER, "final answer right after code that found nothing")
        chosen = self.last is not None and checks.cuts_a_ranking(self.last.code)
        if not chosen and (counts := checks.all_counted(answer, last)):
            shown = ", ".join(f"{name}: {n}" for name, n in counts.items())
            yield "all_counted", Advice(nudges.ALL_COUNTED.format(counts=shown), "answer names every counted item")
        elif not chosen and (mixed := checks.mixed_counts(answer, last)):
            shown = ", ".join(f"{name}: {n}" for name, n in mixed.items())
            text = nudges.MIXED_COUNTS.format(counts=shown)
            yield "mixed_counts", Advice(text, "answer mixes items of different counts")
        elif every := checks.every_value(answer, self.values):
            key, named, total = every
            text = nudges.EVERY_VALUE.format(field=access(key), named=named, total=total)
            yield "every_value", Advice(text, f"answer names {named} of the {total} values of {key}")
        if repeated := checks.repeated_items(answer):
            values = ", ".join(repeated[:3])
            yield "repeated", Advice(nudges.REPEATED_ITEMS.format(values=values), f"answer repeats {repeated[:3]}")
        shown = [self.first, *self.outputs]
        results = "\n".join(line for text in shown for line in text.splitlines() if len(line) <= EVIDENCE_LINE)
        if unsupported := checks.unsupported_values(answer, results):
            values = ", ".join(unsupported[:5])
            yield "unsupported", Advice(nudges.UNSUPPORTED.format(values=values), f"values never shown: {values}")
        if term := checks.off_key(question, answer, self.texts):
            text = nudges.OFF_KEY.format(answer=answer.strip(), term=term)
            yield "off_key", Advice(text, f"final answer is nowhere near {term!r} in the input")
        seen = "\n".join(shown)
        if longer := checks.truncated_values(answer, seen):
            values = ", ".join(longer[:3])
            yield "truncated", Advice(nudges.TRUNCATED.format(values=values), f"answer may cut {values} short")
        if paths := checks.path_tails(answer, last) or checks.path_tails(answer, seen):
            values = ", ".join(paths)
            yield "paths", Advice(nudges.PATH_TAILS.format(values=values), f"answer shortens paths: {paths[:3]}")
        for note in notes:
            if note.kind == "has_none" and answer.strip() == str(note.total):
                text = nudges.NONE_COUNTED.format(kept=note.kept, total=note.total)
                yield "none", Advice(text, f"final answer {note.total} counts None as a value")
        # Only a first answer: one given after a doubt may rightly leave the outputs behind.
        first_answer = not self.raised and self.last is not None and self.last.ok and not nothing
        if first_answer and checks.unrelated_answer(question, answer, last, self.outputs):
            said = {"answer": answer.strip(), "output": " ".join(last.split())[:200]}
            # One number in the output is the value it reports (`records that match: 7`): given the line to
            # reply with, a small model that kept its unrelated answer after the general doubt takes it.
            values = set(_NUMBER.findall(last))
            if len(values) == 1:
                text = nudges.UNRELATED_VALUE.format(value=values.pop(), **said)
            else:
                text = nudges.UNRELATED.format(**said)
            yield "unrelated", Advice(text, "final answer shares nothing with the output it follows")

    def idle(self, question: str, prose: str = "") -> Advice:
        fenced = _ENDING_FENCE.search(prose)
        lines = fenced[1].splitlines() if fenced else [prose]  # a fence's lines are its items: one answer line
        said = ", ".join(" ".join(line.split()) for line in lines if line.strip())
        if self.last is not None and said and len(said) <= 300 and not looks_like_plan(" ".join(prose.split())):
            # A small model that read its answer off an output often states it without FINAL, turn after turn.
            # Shown the FINAL line once, the same answer again is its answer: more turns only repeat it.
            answer = stated(said)
            text = nudges.PROSE_ANSWER.format(answer=answer)
            if answer == self.proposed:
                return Advice(text, "the same answer again, after its FINAL line was shown: taken", final=answer)
            self.proposed = answer
            return Advice(text, "a reply that reads as an answer: shown FINAL")
        if keys := checks.key_terms(question, self.texts):
            return Advice(nudges.NO_CODE_KEY.format(key=keys[0]), f"offered a grep of {keys[0]!r}")
        # No word of the question is in the data ("why did the service terminate?"): the lines that report
        # trouble, and the end of the input where a run that stopped says why, are where to start.
        return Advice(nudges.NO_CODE_LOOK, "offered the error-like lines and the end of the input")

    def stuck(self, question: str) -> Advice | None:
        # Once: a model that stays stuck after the helper model's answer is shown it has the answer in its REPL.
        if self.rescued:
            return None
        self.rescued = True
        code = starter.rescue_block(question, self.outputs[-3:])
        notice = "the model is stuck: ran a block that has the helper model answer from its outputs"
        return Advice(nudges.STUCK.format(code=code), notice, code=code)


def stated(prose: str) -> str:
    """The answer a reply states without FINAL: the items of a list it ends with, as an output printed them
    ("...as the helper model judges: ['a', 'b']" gives "a, b"), else the reply itself."""
    if listed := _ENDING_LIST.search(prose):
        try:
            items = ast.literal_eval(listed[1])
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):  # "[{{}}]" is an unhashable set
            return prose
        if isinstance(items, list) and items and all(isinstance(i, str | int | float) for i in items):
            return ", ".join(str(i) for i in items)
    return prose


def _code_key(code: str) -> str:
    """The same code however it is spaced or commented."""
    tree = checks.syntax_tree(code)
    return " ".join(code.split()) if tree is None else ast.dump(tree)
