"""Reading the root model's reply: which code to run, and whether it gave a final answer."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

# ```repl and ```python (and unlabeled fences) are code; ```bash, ```text etc. are not.
_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE)
_OPEN_FENCE = re.compile(r"^[ \t]*```[ \t]*(repl|python|py|python3)?[ \t]*\n(.*)\Z", re.DOTALL | re.MULTILINE)
CODE_LANGUAGES = {"", "repl", "python", "py", "python3"}
# Case-insensitive: `Final(answer)` is the same intent as FINAL(answer).
_FINAL_LINE = re.compile(r"^[ \t]*(?:\*\*)?(FINAL_VAR|FINAL)\((.*)", re.MULTILINE | re.IGNORECASE)


@dataclass
class Reply:
    code_blocks: list[str]
    final_kind: str | None  # "FINAL" | "FINAL_VAR" | None
    final_value: str | None
    final_after_code: bool  # the text answer came after a code block in the same reply
    final_after_output: bool  # ... or after an unlabeled fence of text: an output the model wrote itself
    prose: str  # the reply without its code blocks (a fence of text stays: `the answer is:` and a fenced list)
    history: str  # what the conversation keeps: the reply cut after its last code block


_FINAL_VAR_LINE = re.compile(r"^[ \t]*FINAL_VAR\([^)\n]*\)[ \t]*$", re.MULTILINE)


_FENCE_LINE = re.compile(r"^[ \t]*```", re.MULTILINE)
_BARE_OPENER = re.compile(r"^[ \t]*(repl|python)(?:[ \t]+(?:block|code))?:?[ \t]*$", re.MULTILINE | re.IGNORECASE)
_CLOSING = re.compile(r"[ \t]*```[ \t]*$", re.MULTILINE)
_BARE_END = re.compile(r"^[ \t]*(?:text|output|FINAL(?:_VAR)?\(.*)$", re.MULTILINE)


def fix_bare_fence(text: str) -> str:
    """`repl` lines without their backticks, as small models write them, made fences again when code follows.

    The code runs to the next fence (its closing ```), or else to a `text`/`output` line or a FINAL line.
    Lines inside fences, a `repl` word before prose, and fences that would not pair up are left alone.
    The last one is fixed first, so that each sees the fences of those after it.
    """
    for match in reversed(list(_BARE_OPENER.finditer(text))):
        text = _open_bare(text, match)
    return text


def _open_bare(text: str, match: re.Match[str]) -> str:
    if len(_FENCE_LINE.findall(text, 0, match.start())) % 2:
        return text  # inside a fence: a word of the code or of an output
    fence = _FENCE_LINE.search(text, match.end())
    end = _BARE_END.search(text, match.end())
    stop = min([m.start() for m in (fence, end) if m is not None] + [len(text)])
    body = text[match.end() : stop]
    later = len(_FENCE_LINE.findall(text, match.end()))
    closing = fence is not None and stop == fence.start() and bool(_CLOSING.match(text, stop))
    if not _is_code(body) or later % 2 != closing:
        return text  # prose, or fences that would not pair up once this one opens
    if closing:
        return f"{text[: match.start()]}```repl{text[match.end() :]}"
    return f"{text[: match.start()]}```repl{body.rstrip()}\n```\n{text[stop:]}"


def parse_reply(text: str) -> Reply:
    text = fence_bare_code(fix_bare_fence(text))
    blocks: list[str] = []
    spans: list[tuple[int, int]] = []
    code_spans: list[tuple[int, int]] = []
    code_end = 0
    written: list[int] = []  # where unlabeled fences of text start
    for match in _FENCE.finditer(text):
        spans.append(match.span())
        language, body = match.group(1).lower(), match.group(2)
        if language in CODE_LANGUAGES and body.strip() and (language or _is_code(body)):
            blocks.append(body)
            code_spans.append(match.span())
            code_end = match.end()
        elif not language and body.strip():
            written.append(match.start())
    tail_start = spans[-1][1] if spans else 0
    unclosed = _OPEN_FENCE.search(text, tail_start)
    if unclosed and unclosed.group(2).strip():
        # A stop sequence or a token limit cut the closing fence; the code is still code.
        spans.append(unclosed.span())
        code_spans.append(unclosed.span())
        blocks.append(unclosed.group(2))
        code_end = len(text)
    prose = _remove_spans(text, code_spans)
    kind, value, position = _find_final(text, spans)
    after_code = bool(blocks) and position is not None and position > spans[0][0]
    for i, block in enumerate(blocks):
        blocks[i], bare = _bare_final(block)
        if bare is not None and kind is None:
            kind, value, after_code = "FINAL", _unquote(bare), True  # an answer written before its code ran
    after_output = bool(written) and position is not None and position > written[0]
    return Reply(blocks, kind, value, after_code, after_output, prose.strip(), _history(text, code_end))


_CODE_FINAL = re.compile(r"^[ \t]*FINAL\((.*)\)[ \t]*$")


def _bare_final(body: str) -> tuple[str, str | None]:
    """A block that fails to parse only for a `FINAL(crimson-willow is set to Nadia)` line of bare text: the
    block without that line, and the text. Small models write the answer they expect into the code."""
    try:
        ast.parse(body)
        return body, None
    except SyntaxError as exc:
        lineno = exc.lineno or 0
    lines = body.split("\n")
    match = _CODE_FINAL.match(lines[lineno - 1]) if 0 < lineno <= len(lines) else None
    if match is None:
        return body, None
    rest = "\n".join(lines[: lineno - 1] + lines[lineno:])
    try:
        ast.parse(rest)
    except SyntaxError:
        return body, None
    return rest, match[1].strip()


def fence_bare_code(text: str) -> str:
    """A reply that is nothing but code, with no fence (`grep("crash")`), is code to run: fenced here.

    Only a reply that parses whole as Python with a call in it, and holds no fence or FINAL line; prose
    almost never parses, and a lone name or literal is an answer, not code.
    """
    stripped = text.strip()
    if stripped.endswith("```") and stripped.count("```") == 1:
        stripped = stripped[:-3].strip()  # a closing fence with no opening one: the code before it is still code
    if not stripped or "```" in stripped or _FINAL_LINE.search(stripped):
        return text
    try:
        tree = ast.parse(stripped)
    except SyntaxError:
        return text
    if not any(isinstance(node, ast.Call) for node in ast.walk(tree)):
        return text
    return f"```repl\n{stripped}\n```"


# What a model writes when it means "the answer goes here": never an answer itself.
PLACEHOLDERS = {"answer", "result", "final_answer", "your_answer", "the_answer", "answer_here", "output", "value"}


def is_placeholder(value: str) -> bool:
    return value.strip().strip("'\"`<>[]{}").lower().replace(" ", "_") in PLACEHOLDERS


_ACTIVE = (ast.Call, ast.Attribute, ast.Subscript, ast.comprehension, ast.Compare)


def _is_code(body: str) -> bool:
    """Whether an unlabeled fence holds code, not an answer or an output (`auth-api, cart`, `{'a', 'b'}`).

    Such text often parses as Python; a block of bare expressions that call and look up nothing, other
    than one variable name shown notebook-style, is text.
    """
    try:
        tree = ast.parse(body)
    except SyntaxError:
        return False
    if not all(isinstance(node, ast.Expr) for node in tree.body):
        return True
    nodes = list(ast.walk(tree))
    if any(isinstance(node, _ACTIVE) for node in nodes):
        return True
    return len(tree.body) == 1 and isinstance(tree.body[0].value, ast.Name)


def _history(text: str, code_end: int) -> str:
    """Drop what follows the last code block: a small model fills it with invented output and guesses.

    A FINAL_VAR line there is kept, since it names a value the code computes.
    """
    if not code_end:
        return text
    tail = _FINAL_VAR_LINE.search(text, code_end)
    return text[:code_end] + (f"\n{tail.group(0).strip()}" if tail else "")


def _remove_spans(text: str, spans: list[tuple[int, int]]) -> str:
    pieces, last = [], 0
    for start, end in sorted(spans):
        pieces.append(text[last:start])
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _find_final(text: str, spans: list[tuple[int, int]]) -> tuple[str | None, str | None, int | None]:
    """A FINAL(...) or FINAL_VAR(...) that starts a line outside every code fence."""
    for match in _FINAL_LINE.finditer(text):
        if any(start <= match.start() < end for start, end in spans):
            continue
        # The answer runs to the last ')' before the next fence (answers may span lines).
        next_fence = min((s for s, _ in spans if s > match.start()), default=len(text))
        rest = text[match.start(2) : next_fence]
        first_line = rest.split("\n", 1)[0].rstrip()
        if first_line.endswith(")"):
            rest = first_line  # a one-line answer; what follows it is commentary
        close = rest.rfind(")")
        if close < 0:
            continue
        value = _unquote(rest[:close].strip())
        said = first_line[first_line.find(")") + 1 :].strip(" \t:=-")
        if is_placeholder(value) and said:
            value = said  # `FINAL(answer) is the disk: "No space left"`: the words after stand for the answer
        return match.group(1).upper(), value, match.start()
    return None, None, None


def _unquote(value: str) -> str:
    """FINAL("42") means 42: drop one level of Python string quoting when it parses as a literal."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        try:
            literal = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value[1:-1]
        if isinstance(literal, str):
            return literal
    return value


_PLAN = re.compile(
    r"^\s*(?:(?:i will|i'll|i am going to|i'm going to|let me|let's|to answer|to find|we need to|we will|"
    r"we'll|i need to|i should|step 1|the next step|now i|i can now)\b|first,|next,)",
    re.IGNORECASE,
)


def looks_like_plan(answer: str) -> bool:
    """True for text that announces work instead of giving a result (the paper's FINAL brittleness)."""
    stripped = answer.strip()
    return not stripped or bool(_PLAN.match(stripped)) or stripped.endswith(":")
