"""The one interface between the loop and a guidance layer, and the records that cross it.

The loop runs the plain RLM method by itself: system prompt, REPL, sub-calls, FINAL handling, budgets.
A guide may only add to it (and read an answer a reply states without FINAL), at the points the loop calls:
- `system()` and `opening()`: text added to the system prompt and to the first message;
- `first_code()`: a block the loop runs before the first turn, its output shown with the first message;
- `after_block()`: advice after a block's output (the model reads it with the output);
- `doubt()`: a reason to question a final answer; the loop then refuses that answer once;
- `idle()`: advice after a reply with neither code nor an answer (given the reply's prose);
- `stuck()`: advice when the model has stopped making progress (a placeholder FINAL such as `FINAL(answer)`
  with no such variable, or the same reply again with no code).
A guide keeps its own state (what it has shown, what it has questioned) and may not change anything else.
`Plain` adds nothing: it is `--guidance off`. The engine never imports rlm_cli.guidance; the runner picks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Note:
    """A fact the REPL child reports about a collection a cell just made, as data (see repl/helpers.none_notes)."""

    kind: str  # "has_none": some items are None; "only_none": every item is; "pasted": see PLAIN_NOTES
    name: str
    kept: int  # items that are not None
    total: int  # for "pasted", the size of the input the name holds

    def text(self) -> str:
        if self.kind == "pasted":
            unit = "characters" if self.name == "context" else "documents"
            return (
                f"[note: the line assigning your own text to `{self.name}` was skipped: `{self.name}` already holds "
                f"the whole input ({self.total:,} {unit}). The rest of the block ran on it.]"
            )
        if self.kind == "only_none":
            return (
                f"[note: `{self.name}` holds only None: the lines your filter kept do not have that field. Filter "
                "on the values the data really has.]"
            )
        return (
            f"[note: `{self.name}` contains None, from lines without that field: without None it has {self.kept} "
            f"value{'s' if self.kept != 1 else ''}, not {self.total}. Leave None out when you count or list values.]"
        )


# Notes that are part of the plain method, shown by the loop whatever the guide: a pasted copy of the input
# that the REPL left out. The others are facts a guide may act on.
PLAIN_NOTES = {"pasted"}


@dataclass(frozen=True)
class Block:
    """One code block of a reply, after it ran."""

    index: int
    code: str
    output: str  # as the model reads it, notes excluded
    ok: bool  # ran to the end without an error or a timeout
    notes: tuple[Note, ...] = ()
    final: str | None = None  # what FINAL() in the code answered, if it was called


@dataclass(frozen=True)
class Advice:
    """Feedback from a guide: `text` is what the model reads, `notice` one line for the live view and trace."""

    text: str
    notice: str
    resample: bool = False  # the model repeats itself: its next reply is sampled hotter
    drop_reply: bool = False  # the reply is not kept in the conversation; this text joins the output before it
    final: str | None = None  # idle(), after_block(): the model's answer, as if sent with FINAL (doubts still apply)
    code: str | None = None  # stuck() only: a block the loop runs now, its output shown after this text


class Guide(Protocol):
    """What a guide answers at each point the loop calls it; the bodies here add nothing, as `Plain` does."""

    def system(self) -> str:
        return ""

    def opening(self, question: str, documents: Sequence[Any]) -> list[str]:
        return []

    def first_code(self) -> str | None:
        return None

    def after_block(self, question: str, block: Block) -> list[Advice]:
        return []

    def doubt(self, question: str, answer: str) -> Advice | None:
        return None

    def idle(self, question: str, prose: str) -> Advice | None:
        return None

    def stuck(self, question: str) -> Advice | None:
        return None


class Plain(Guide):
    """No guidance: the plain method."""


GuideFactory = Callable[[], Guide]
