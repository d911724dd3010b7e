"""The model's own structured reading of a question: what to find, the exact condition, the answer's form.

One short sub-call asks for three labelled lines; the condition's comparisons are written as Python, so
checks compare them with the code the model runs. Nothing here interprets the question's English itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rlm_cli.engine.guide import Ask
from rlm_cli.guidance import nudges

_LINE = re.compile(r"^\W*(FIND|CONDITION|FORM)\W*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_COMPARISON = re.compile(r"(==|>=|<=|(?<![<>=!])[<>](?!=))\s*(\d+)\b")
_TOP = re.compile(r"\btop[\s_-]*(\d+)\b", re.IGNORECASE)
_NONE = {"none", "n/a", "no condition", "-", ""}


@dataclass(frozen=True)
class Reading:
    find: str
    condition: str
    form: str

    def text(self, sep: str = "\n") -> str:
        return sep.join(f"{label}: {value}" for label, value in self.fields() if value)

    def fields(self) -> list[tuple[str, str]]:
        return [("FIND", self.find), ("CONDITION", self.condition), ("FORM", self.form)]

    def untested(self, codes: list[str]) -> str | None:
        """A comparison of the condition (`count == 2`, `top 3`) that none of the code made, written as code."""
        code = "\n".join(codes)
        for op, number in _COMPARISON.findall(self.condition):
            if not re.search(rf"{re.escape(op)}\s*{number}\b|\b{number}\s*{re.escape(_MIRROR[op])}", code):
                return f"{op} {number}"
        for number in _TOP.findall(self.condition):
            if not re.search(rf"most_common\(\s*{number}\s*\)|\[\s*:\s*{number}\s*\]", code):
                return f"most_common({number})"
        return None


_MIRROR = {"==": "==", ">=": "<=", "<=": ">=", ">": "<", "<": ">"}


def read_question(question: str, ask: Ask) -> Reading | None:
    """Ask the sub-model for the reading; None when its reply lacks the three lines."""
    found = {
        label.upper(): value for label, value in _LINE.findall(ask(nudges.READ_QUESTION.format(question=question)))
    }
    if "FIND" not in found or "CONDITION" not in found:
        return None
    condition = "" if found["CONDITION"].strip(" .").lower() in _NONE else found["CONDITION"]
    return Reading(found["FIND"][:200], condition[:200], found.get("FORM", "")[:200])
