"""Helpers placed in the REPL next to `context`: small models use them well; strong models may ignore them.

Standard library (and dateutil, through records) only, since the sandboxed child imports this module.
"""

from __future__ import annotations

import ast
import builtins
import collections
import io
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from rlm_cli.inputs import records as recordlib
from rlm_cli.repl import classify as classifylib
from rlm_cli.repl import judge

REPR_LIMIT = 2_000
# Characters shown on each side of a match in a long line: a window stays under 500 characters, the length past
# which an output line reads as a dump of data rather than a result (guidance/small.py: EVIDENCE_LINE).
GREP_AROUND = 200


def to_text(value: Any) -> str:
    """How a final answer or variable reads as text: strings verbatim, the rest by repr."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return repr(value)


def short_repr(value: Any, limit: int = REPR_LIMIT) -> str:
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters; total len {len(text)}]"


def describe_vars(namespace: dict[str, Any], hidden: set[str]) -> str:
    rows = []
    for name, value in namespace.items():
        if name.startswith("_") or name in hidden or callable(value) or type(value).__name__ == "module":
            continue
        size = f", len {len(value)}" if hasattr(value, "__len__") else ""
        rows.append(f"{name}: {type(value).__name__}{size}")
    return "\n".join(rows) if rows else "(no variables yet)"


_COLLECTIONS = (set, frozenset, list, tuple, dict, collections.Counter, collections.defaultdict)
_SCALARS = (str, int, float, type(None), type(recordlib.ABSENT))


def none_notes(namespace: dict[str, Any], before: dict[str, int]) -> list[dict[str, Any]]:
    """Collections a cell just made that hold None: the mark of a filter that kept lines without the field.

    `{r["user"] for r in recs if ...}` counts one user too many, or only None, and the printed len() hides it.
    `before` maps names to the ids of their values before the cell ran. Each note is data (engine/guide.Note's
    fields), so the parent reads it without parsing text.
    """
    notes = []
    for name, value in namespace.items():
        if name.startswith("_") or before.get(name) == id(value) or type(value) not in _COLLECTIONS or not value:
            continue
        items = list(value.keys() if isinstance(value, dict) else value)
        missing = sum(item is None or item is recordlib.ABSENT for item in items)
        if not missing or not all(type(item) in _SCALARS for item in items[:1_000]):
            continue
        kind = "only_none" if missing == len(items) else "has_none"
        notes.append({"kind": kind, "name": name, "kept": len(items) - missing, "total": len(items)})
    return notes


class ReadOnlyError(Exception):
    """A cell that would replace the input with text of its own in a way that cannot be skipped: it does not run."""


def _pasted(value: ast.expr) -> bool:
    """A value made of literals only: text the model typed, never something computed from the data."""
    return not any(isinstance(part, ast.Name | ast.Call | ast.Attribute) for part in ast.walk(value))


class _SkipPasted(ast.NodeTransformer):
    """Drops `context = \"\"\"...\"\"\"` (the model re-typing the preview it was shown), keeping the rest of the cell.

    The input is already loaded, so such a line can only replace it with a truncated copy; without it the
    cell computes on the real input, which is what its author meant. An unpacking that mixes the input with
    other names has no safe part to drop, so it stops the cell instead.
    """

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.skipped: list[str] = []

    def _inputs(self, target: ast.expr) -> list[str]:
        return [n.id for n in ast.walk(target) if isinstance(n, ast.Name) and n.id in self.names]

    def _keep(self, targets: list[ast.expr]) -> list[ast.expr]:
        kept = []
        for target in targets:
            hit = self._inputs(target)
            if not hit:
                kept.append(target)
            elif isinstance(target, ast.Name):
                self.skipped.append(target.id)
            else:
                raise ReadOnlyError(
                    f"`{hit[0]}` is the input and cannot be replaced by text you write, so this block did not "
                    "run. It is already loaded: use it as it is, and store your own values under other names."
                )
        return kept

    def visit_Assign(self, node: ast.Assign) -> ast.stmt:
        if not _pasted(node.value):
            return node
        node.targets = self._keep(node.targets)
        return node if node.targets else ast.copy_location(ast.Pass(), node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.stmt:
        if node.value is None or not _pasted(node.value) or self._keep([node.target]):
            return node
        return ast.copy_location(ast.Pass(), node)


def skip_pasted_bindings(tree: ast.Module, names: set[str]) -> tuple[ast.Module, list[str]]:
    """The cell without its assignments of literals-only values (pasted text) to `names`, and the names skipped.

    A value computed from the data (`documents = context.split("\n")`) runs: the cell works on what it
    derived, and the REPL puts the input back after the cell.
    """
    skipper = _SkipPasted(names)
    tree = ast.fix_missing_locations(skipper.visit(tree))
    return tree, skipper.skipped


def line_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The bounds of the line(s) holding text[start:end], without the newline."""
    stop = text.find("\n", end)
    return text.rfind("\n", 0, start) + 1, len(text) if stop < 0 else stop


def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    flags = re.IGNORECASE if ignore_case else 0
    try:
        return re.compile(pattern, flags)
    except re.error:
        return re.compile(re.escape(pattern), flags)


def preloaded() -> dict[str, Any]:
    """Modules models use without importing them first (small models often forget `import re`)."""
    import json
    import math

    return {
        "re": re,
        "json": json,
        "math": math,
        "collections": collections,
        "Counter": collections.Counter,
        "defaultdict": collections.defaultdict,
    }


class RecordList(list):  # type: ignore[type-arg]
    """What records() returns: a list that, called, gives the records again.

    Code often names its list after the function (`records = records()`) and calls `records()` again further
    down the same cell; that keeps working, and the REPL puts the function back after the cell.
    """

    def __init__(self, again: Callable[..., Any]) -> None:
        super().__init__()
        self._again = again

    def __call__(self, doc: Any = None) -> RecordList:
        return self._again(doc)


def helpers(
    context: str,
    documents: Sequence[Any],
    ask: classifylib.Ask | None = None,
    question: str = "",
    choose: classifylib.Choose | None = None,
) -> dict[str, Callable[..., Any]]:
    """The helper functions bound to this REPL's input; `ask` (llm_query_batched) adds classify(),
    which gives the helper model the meanings the run's question gives its labels, and reads its choices
    through `choose` when given; `choose` also adds answer_group(), pick_reading() and pick_kind().
    """

    def grep(pattern: str, ignore_case: bool = True, limit: int = 200, around: int = GREP_AROUND) -> list[str]:
        """Matches of a regex (or plain text) as 'path:line: text' across all documents.

        A line of up to 2 * `around` characters is shown whole, once; in a longer line (minified JSON, a PDF's
        text) each match is shown with `around` characters on each side, so no match is hidden by a cut.
        """
        rx = _compile(pattern, ignore_case)
        found: list[str] = []
        for doc in documents:
            text = doc.text
            line_no, pos, last_line, shown_to = 1, 0, -1, -1
            for match in rx.finditer(text):
                start, end = line_span(text, match.start(), match.end())
                if start != last_line:
                    line_no += text.count("\n", pos, start)
                    pos, last_line = start, start
                elif end - start <= 2 * around or match.start() < shown_to:
                    continue  # a short line is already shown whole, or this match is inside the last window
                if end - start <= 2 * around:
                    found.append(f"{doc.path}:{line_no}: {text[start:end]}")
                else:
                    left, right = max(start, match.start() - around), min(end, match.end() + around)
                    shown_to = right
                    head = "..." if left > start else ""
                    tail = "..." if right < end else ""
                    found.append(f"{doc.path}:{line_no}: {head}{text[left:right]}{tail}")
                if len(found) >= limit:
                    return found
        return found

    def chunks(text: str | None = None, size: int = 20_000) -> list[str]:
        """Split text (default: context) into pieces of about `size` characters, on line boundaries."""
        source = context if text is None else text
        pieces: list[str] = []
        start = 0
        while start < len(source):
            end = min(start + size, len(source))
            if end < len(source):
                newline = source.rfind("\n", start, end)
                if newline > start:
                    end = newline + 1
            pieces.append(source[start:end])
            start = end
        return pieces

    parsed: dict[int, list[recordlib.Record]] = {}
    years: list[int | None] = []

    def logs_year() -> int | None:
        """The year for dates written without one (syslog, "14 Feb 10:00"): the one the documents use most."""
        if not years:
            years.append(recordlib.guess_year(d.text for d in documents))
        return years[0]

    def named(doc: Any) -> list[int]:
        """The documents `doc` names: a document itself, its path, or the end of its path."""
        return [
            i
            for i, d in enumerate(documents)
            if d is doc or d.path == doc or (isinstance(doc, str) and d.path.endswith(doc))
        ]

    def records(doc: Any = None) -> RecordList:
        """One dict per non-blank line of every document (or of `doc`, a document or its path)."""
        wanted = list(range(len(documents))) if doc is None else named(doc)
        if doc is not None and not wanted:
            raise ValueError(f"no document {doc!r}; see [d.path for d in documents]")
        out = RecordList(records)
        for i in wanted:
            if i not in parsed:
                parsed[i] = recordlib.parse_lines(documents[i].path, documents[i].text, logs_year())
            out.extend(parsed[i])
        return out

    def when(text: Any, year: int | None = None) -> Any:
        """A date or time written any common way, as a UTC time to compare with r["time"]."""
        return recordlib.when(text, year or logs_year())

    def open_input(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        """open(), except that reading an input document by its path gives its text. The input is in `context`,
        not on disk: a model that opens a file it was told of otherwise gets FileNotFoundError, turn after turn.
        A file the code wrote itself, under that name, is still the one read."""
        wanted = named(file) if isinstance(file, str) and file and mode in ("r", "rt", "rb") else []
        if len(wanted) == 1 and not os.path.exists(file):
            text = documents[wanted[0]].text
            return io.BytesIO(text.encode()) if "b" in mode else io.StringIO(text)
        return builtins.open(file, mode, *args, **kwargs)

    bound = {"grep": grep, "chunks": chunks, "records": records, "when": when, "open": open_input}
    if ask is not None:
        bound["classify"] = classifylib.bind(ask, question, choose)
    if choose is not None:
        bound.update(judge.bind(question, choose))
    return bound


WORD_HELPER = "_rlm_word"


def word_or_value(name: str, get: Callable[[], Any]) -> Any:
    """The variable's value, or its name as a string when there is no such variable."""
    try:
        return get()
    except NameError:
        return name


class _QuoteBareFinal(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "FINAL" and len(node.args) == 1:
            arg = node.args[0]
            if isinstance(arg, ast.Name):
                no_args = ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])
                getter = ast.Lambda(args=no_args, body=ast.Name(arg.id, ast.Load()))
                node.args[0] = ast.Call(ast.Name(WORD_HELPER, ast.Load()), [ast.Constant(arg.id), getter], [])
        return node


def quote_bare_final(tree: ast.Module) -> ast.Module:
    """`FINAL(billing)` with no variable `billing` answers "billing": small models write the word unquoted.

    A name that is a variable when the call runs still gives its value.
    """
    return ast.fix_missing_locations(_QuoteBareFinal().visit(tree))
