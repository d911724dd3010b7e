"""Checks on a block and on an answer for mistakes that no error shows: a filter on words the data never says,
a count of a set, a value cut short. Each looks only at the code, the outputs and the data, never at how the
question is worded; each returns what its nudge names.
"""

from __future__ import annotations

import ast
import functools
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rlm_cli.guidance import nudges, questions
from rlm_cli.guidance.scan import WINDOW, find_all
from rlm_cli.inputs import records


@functools.lru_cache(maxsize=8)
def syntax_tree(code: str) -> ast.AST | None:
    """The block's syntax tree, parsed once for all the checks on it (they only read it); None if it does not parse."""
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _nodes(code: str) -> Iterator[ast.AST]:
    """Every node of the block's syntax tree; none when it does not parse."""
    tree = syntax_tree(code)
    return iter(()) if tree is None else ast.walk(tree)


@dataclass
class Flaw:
    """A mistake in a block that no output shows: told after the block, and its answer questioned once."""

    nudge: str
    notice: str


_SEARCH_METHODS = {"count", "startswith", "endswith", "find", "index", "rfind"}
_FOLDS = {"lower", "upper", "casefold"}
_RANKING = ("sorted", "most_common")  # the calls that order items
_DATE_LIKE = re.compile(r"\d{1,4}[-/:.]\d")
_KNOWN_WORDS = {w.lower() for w in records.LEVELS} | {k for keys in records.ALIASES.values() for k in keys}
_REGEX = re.compile(r"[.^$*+?{}\[\]\\|()]")


def searched_strings(code: str, substrings: bool = False) -> list[str]:
    """The strings the code looks for in data: operands of `in` / `==` tests, of `.count("...")`-like calls,
    and plain-text patterns of grep().

    Field names, level names and dates are left out: records() normalises those, so the raw text may differ.
    With `substrings`, only strings a test keeps lines by (`in`, `.count()`): not whole values (`==`), nor
    strings a `not in` leaves out.
    """
    tests = (ast.In,) if substrings else (ast.In, ast.NotIn, ast.Eq, ast.NotEq)
    if any(isinstance(n, ast.Name) and n.id in ("llm_query", "llm_query_batched") for n in _nodes(code)):
        return []  # tests on a helper model's replies ("YES", "NO") are not tests on the data
    operands: list[ast.expr] = []
    for node in _nodes(code):
        if isinstance(node, ast.Compare) and all(isinstance(op, tests) for op in node.ops):
            operands += [node.left, *node.comparators]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _SEARCH_METHODS:
            operands += node.args[:1]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "grep" and node.args:
            pattern = node.args[0]  # plain text only: a regex (`error|fail`) is not one string to look for
            if isinstance(pattern, ast.Constant) and not _REGEX.search(str(pattern.value)):
                operands.append(pattern)
    found: list[str] = []
    for operand in operands:
        for item in operand.elts if isinstance(operand, (ast.List, ast.Tuple, ast.Set)) else [operand]:
            if isinstance(item, ast.Constant) and isinstance(item.value, str):
                text = item.value.strip()
                if (
                    len(text) >= 3
                    and re.search("[A-Za-z]", text)
                    and not _DATE_LIKE.search(text)
                    and text.lower() not in _KNOWN_WORDS
                    and not text.startswith("__")
                    and text not in found
                ):
                    found.append(text)
    return found


def absent_literals(code: str, texts: Sequence[str], limit: int = 8, window: int = WINDOW) -> list[str]:
    """Strings the code tests for that occur nowhere in the input, in any case: those tests can never match.

    A test for words of the question rather than of the data (`"Failed password"` in logs that say "invalid
    password") matches nothing, and the block prints an empty result that looks like an answer.
    The checks on the input read it `window` characters at a time (guidance/scan.py).
    """
    return [
        text
        for text in searched_strings(code)[:limit]
        if next(find_all(re.compile(re.escape(text), re.IGNORECASE), texts, len(text), window=window), None) is None
    ]


def present_part(text: str, texts: Sequence[str], window: int = WINDOW) -> str | None:
    """The longest run of an absent string's words that the input does contain: "logged in" of "logged in
    successfully" in logs that say "user ann logged in from 10.0.0.7": what the nudge points the model to."""
    words = text.split()
    for n in range(len(words) - 1, 0, -1):
        for i in range(len(words) - n + 1):
            part = " ".join(words[i : i + n])
            if len(part) < 3 or not re.search("[A-Za-z]", part):
                continue
            rx = re.compile(rf"(?<!\w){re.escape(part)}(?!\w)", re.IGNORECASE)
            if next(find_all(rx, texts, len(part), around=1, window=window), None) is not None:
                return part
    return None


def bound_text(code: str) -> tuple[str, str] | None:
    """The name and text a block binds when all it does is assign written text to that one name
    (`answer = "..."`): the text last assigned."""
    tree = syntax_tree(code)
    body = tree.body if isinstance(tree, ast.Module) else []
    bound = [
        (statement.targets[0].id, statement.value.value)
        for statement in body
        if isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    ]
    return bound[-1] if len(bound) == len(body) and len({name for name, _ in bound}) == 1 else None


def blind_queries(code: str) -> list[str]:
    """Sub-calls whose prompt names no variable: `llm_query("What is X set to?")` sends the helper model only
    the words written there, none of the input, so what it replies is a guess."""
    return [
        ast.unparse(node)[:120]
        for node in _nodes(code)
        if _calls(node, "llm_query", "llm_query_batched")
        and node.args
        and not any(isinstance(part, ast.Name) for part in ast.walk(node.args[0]))
    ]


def counted_sets(code: str) -> list[tuple[str, str]]:
    """`Counter(s)` where s is a set (`s = {r["service"] for r in recs if ...}`): every item counts once, whatever
    the data. Pairs of the call and the count it meant."""
    sets: dict[str, ast.AST] = {}
    for node in _nodes(code):
        one_name = isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        if one_name and (isinstance(node.value, ast.SetComp) or _calls(node.value, "set")):
            sets[node.targets[0].id] = node.value
    pairs = []
    for node in _nodes(code):
        if not (_calls(node, "Counter") and node.args):
            continue
        arg = node.args[0]
        source = sets.get(arg.id) if isinstance(arg, ast.Name) else arg
        if isinstance(source, ast.SetComp):
            counted: ast.AST = ast.GeneratorExp(elt=source.elt, generators=source.generators)
        elif _calls(source, "set") and source.args:
            counted = source.args[0]
        else:
            continue
        inner = ast.unparse(counted)
        pairs.append(
            (ast.unparse(node), f"Counter{inner}" if isinstance(counted, ast.GeneratorExp) else f"Counter({inner})")
        )
    return pairs


def _calls(node: ast.AST | None, *names: str) -> bool:
    func = node.func if isinstance(node, ast.Call) else None
    return (isinstance(func, ast.Name) and func.id in names) or (isinstance(func, ast.Attribute) and func.attr in names)


def _folded(node: ast.AST) -> bool:
    """An expression that changes case (`r["message"].lower()`), so a substring test on it ignores case."""
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _FOLDS for n in ast.walk(node)
    )


def _substring_tests(code: str) -> list[tuple[str, ast.expr]]:
    """Each `"text" in <expr>` test of the code: its text, unstripped, and the expression it searches."""
    return [
        (node.left.value, node.comparators[0])
        for node in _nodes(code)
        if isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.In)
        and isinstance(node.left, ast.Constant)
        and isinstance(node.left.value, str)
    ]


def case_sensitive_tests(code: str) -> list[str]:
    """Strings of `"text" in <expr>` tests whose <expr> keeps its case: they match only that exact spelling."""
    return [text.strip() for text, searched in _substring_tests(code) if not _folded(searched)]


def shape_notes(code: str, shapes: Sequence[str], most: int = 3) -> list[str]:
    """Notes on the few (at most `most`) message shapes each string a block looks for in messages occurs in, so
    the model sees what its filter matches."""
    exact = set(case_sensitive_tests(code))
    notes = []
    for text in searched_strings(code, substrings=True)[:4]:
        hits = [s for s in shapes if (text in s if text in exact else text.lower() in s.lower())]
        if 0 < len(hits) <= most < len(shapes):
            shown = "; ".join(f'"{h}"' for h in hits)
            notes.append(
                f"[note: of the {len(shapes)} message shapes, {text!r} is in {len(hits)} only: {shown}. "
                "Check that these are the lines the question asks about.]"
            )
    return notes


def case_misses(code: str, shapes: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Case-sensitive substring tests, with the message shapes that hold their text in another case only
    (`"failed" in m` and "Failed with result 'exit-code'."): lines the test silently drops."""
    wanted = set(searched_strings(code, substrings=True))
    misses = []
    for text in dict.fromkeys(case_sensitive_tests(code)):
        other = [s for s in shapes if text not in s and text.lower() in s.lower()]
        if text in wanted and other:
            misses.append((text, other))
    return misses


def levels_in_messages(code: str, shapes: Sequence[str]) -> list[str]:
    """Level names the code looks for inside messages (`"ERROR" in r["message"]`) that no message shape holds:
    records() moves a line's level to r["level"], so such a test matches nothing."""
    if not shapes:
        return []
    found = (
        text
        for text, searched in _substring_tests(code)
        if text.upper() in records.LEVELS
        and "message" in ast.unparse(searched)
        and not any(text in shape for shape in shapes)
    )
    return list(dict.fromkeys(found))


def code_flaws(code: str, texts: Sequence[str], shapes: Sequence[str], window: int = WINDOW) -> list[Flaw]:
    """Mistakes that leave code running fine and its output wrong, found from the code and the data alone."""
    flaws: list[Flaw] = []
    if absent := absent_literals(code, texts, window=window):
        nudge = nudges.ABSENT_WORDS.format(words=", ".join(map(repr, absent[:5])))
        if parts := [(text, part) for text in absent[:5] if (part := present_part(text, texts, window))]:
            nudge += " The data does contain " + ", ".join(f"{part!r} (of {text!r})" for text, part in parts) + "."
        flaws.append(Flaw(nudge, f"the code tests for strings the input never contains: {absent[:3]}"))
    for call, meant in counted_sets(code)[:2]:
        flaws.append(
            Flaw(nudges.COUNTED_SET.format(call=call, meant=meant), f"{call} counts a set: told to count {meant}")
        )
    for text, other in case_misses(code, shapes)[:2]:
        examples = "; ".join(f'"{shape}"' for shape in other[:3])
        nudge = nudges.CASE_MISS.format(text=text, n=len(other), examples=examples, lower=text.lower())
        flaws.append(Flaw(nudge, f"{text!r} is tested case-sensitively: {len(other)} message shapes differ in case"))
    for call in blind_queries(code)[:1]:
        flaws.append(Flaw(nudges.BLIND_QUERY.format(call=call), f"{call} sends the helper model none of the input"))
    for text in levels_in_messages(code, shapes):
        nudge = nudges.LEVEL_IN_MESSAGE.format(text=text, level=records.LEVELS[text.upper()])
        flaws.append(Flaw(nudge, f"{text!r} is looked for in messages, which never hold it: it is r['level']"))
    return flaws


def pasted_input(code: str, texts: Sequence[str], least: int = 2, most: int = 6, window: int = WINDOW) -> bool:
    """Code that is not Python and whose lines are the input's own lines: the model re-typed the text it was
    shown (the first message's prefix) instead of working on `context`."""
    if syntax_tree(code) is not None:
        return False
    lines = [line.strip() for line in code.splitlines() if len(line.strip()) >= 12][:most]
    if len(lines) < least:
        return False
    found = sum(
        next(find_all(re.compile(re.escape(line)), texts, len(line), window=window), None) is not None for line in lines
    )
    return found >= max(least, 0.8 * len(lines))


def key_terms(question: str, texts: Sequence[str], rare: int = 5, window: int = WINDOW) -> list[str]:
    """The question's words that the input holds on a few lines only (`velvet-lantern`), rarest first: the keys
    it looks up."""
    keys = []
    for term in questions.question_terms(question):
        rx = re.compile(re.escape(term), re.IGNORECASE)
        hits = sum(1 for _ in itertools.islice(find_all(rx, texts, len(term), window=window), rare + 1))
        if 0 < hits <= rare:
            keys.append((hits, term))
    return [term for _, term in sorted(keys, key=lambda pair: pair[0])]


def off_key(question: str, answer: str, texts: Sequence[str], reach: int = 300, window: int = WINDOW) -> str | None:
    """The key a lookup question names when the answer is a value of the input found nowhere near it: an answer
    taken from the first line of a broad grep is often a neighbouring item's value."""
    value = answer.strip().strip(".'\"`")
    if len(value) < 3 or "\n" in value or (value.isdigit() and len(value) < 5):
        return None
    # Each spot is the value with `reach` characters of its text on either side; past 20 of them, no check.
    found = find_all(re.compile(re.escape(value)), texts, len(value), around=reach, window=window)
    spots = [m.string[max(0, m.start() - reach) : m.end() + reach] for m in itertools.islice(found, 21)]
    if not 0 < len(spots) <= 20:
        return None
    for term in key_terms(question, texts, window=window):
        rx = re.compile(re.escape(term), re.IGNORECASE)
        if not any(rx.search(spot) for spot in spots):
            return term
    return None


_TOKEN = re.compile(r"[\w.:@/-]*\w")
# Words that any two sentences share: an answer and an output sharing only these share nothing.
_FUNCTION_WORDS = {"the", "a", "an", "is", "are", "was", "were", "of", "in", "on", "to", "and", "or", "for", "it", "by"}


def _tokens(text: str) -> set[str]:
    return {t.lower() for t in _TOKEN.findall(text)} - _FUNCTION_WORDS


def unrelated_answer(question: str, answer: str, last: str, outputs: Sequence[str], most: int = 2_000) -> bool:
    """An answer with no value of its own that takes nothing from any output, once the question's own words are
    set aside: "none found" after `records that match: 54`, or the question's words given back (`on-call for
    mossy-otter`, `quiet-meadow got issued`).

    An answer with a number of its own is checked by `unsupported_values`. A single word of the question may be
    its answer (the one of two it names); after an output without a number (`True`), "yes" may be its reading.
    Only a short last output is a reading the answer must draw on.
    """
    words = _tokens(answer)
    own = words - _tokens(question)
    if len(answer) > 300 or len(last) > most or any(c.isdigit() for t in own for c in t):
        return False
    if not own:
        return len(words) > 1
    return any(c.isdigit() for c in last) and not any(own & _tokens(output) for output in outputs)


_KEY_VALUE = re.compile(r"[A-Za-z0-9_.:/@-]*\d[A-Za-z0-9_.:/@-]*")
_GREP_LINE_NUMBER = re.compile(r"^(\S+?):\d+: ", re.MULTILINE)


def unsupported_values(answer: str, seen: str) -> list[str]:
    """Values in an answer (tokens with digits) that never appeared, as a whole token, in anything the model was
    shown. The line numbers grep() prints are not values: "3" read off `auth.log:3:` is not a count."""
    seen = _GREP_LINE_NUMBER.sub(r"\1: ", seen)
    values = {v.strip(".,:;/-") for v in _KEY_VALUE.findall(answer)} - {"0"}  # none found: nothing to show
    return sorted(v for v in values if v and not re.search(rf"(?<![\w.]){re.escape(v)}(?!\w|\.\d)", seen))


_CODE_LIKE = re.compile(r"(?=[A-Za-z0-9_-]*[A-Za-z])(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{3,}")
_FILE_NAME = re.compile(r"[\w.-]+\.[A-Za-z]{1,5}")  # app-02.log: a host in a file's name


def truncated_values(answer: str, data: str) -> list[str]:
    """Longer codes in the data that extend a code of the answer (7XQ-4471-ZP for 7XQ): a sign of a cut value.
    The model's own prints may show the cut value alone, so only the longer form is looked for."""
    found = set()
    for value in set(_CODE_LIKE.findall(answer)):
        # Not across "/" or ":": app-08 in app-08/cart.log or a grep's "app.log:12:" is a name, not a cut code.
        longer = re.search(rf"(?<![A-Za-z0-9]){re.escape(value)}[-_.][A-Za-z0-9][A-Za-z0-9_.-]*", data)
        whole = longer.group(0).rstrip(".:/-") if longer else ""
        if whole and whole not in answer and not _FILE_NAME.fullmatch(whole):
            found.add(whole)
    return sorted(found)


def _items(answer: str) -> list[str]:
    """The items of a list answer, however it is written: `a, b`, `['a', 'b']` or one per line."""
    return [item.strip().strip("'\"()[]` .") for item in re.split(r"[,;\n]+", answer)]


def cuts_a_ranking(code: str) -> bool:
    """Code that prints the first k of a ranking (`most_common(3)`, `sorted(...)[:3]`, `ranked[:3]` of a
    `ranked = sorted(...)`): its items were chosen. A sample of records (`hits[:3]`) is no ranking."""
    ranked = {
        target.id
        for node in _nodes(code)
        if isinstance(node, ast.Assign) and _calls(node.value, *_RANKING)
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    def cut(node: ast.AST) -> bool:
        if not (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and node.slice.upper):
            return False
        return _calls(node.value, *_RANKING) or (isinstance(node.value, ast.Name) and node.value.id in ranked)

    return any((_calls(node, "most_common") and bool(node.args)) or cut(node) for node in _nodes(code))


_COUNTED = re.compile(r"""['"]?([\w./:@-]+)['"]?\s*(?:,|:|=)\s*(\d+)\b""")
_GROUPED = re.compile(r"^(\d+) each: \[(.*)\]$", re.MULTILINE)  # the offered block's "2 each: ['a', 'b']"


def printed_counts(output: str) -> dict[str, int]:
    """The count an output printed for each item: `('a', 3)`, `a: 3`, `{'a': 3}`, or `3 each: ['a', 'b']`."""
    counts = {name: int(n) for name, n in _COUNTED.findall(output) if not name.isdigit()}
    for n, names in _GROUPED.findall(output):
        counts.update((name, int(n)) for name in _items(names) if name)
    return counts


def all_counted(answer: str, output: str, least: int = 3) -> dict[str, int]:
    """The counts an output printed per item, when the answer names every one of at least `least` items
    although their counts differ: a list answer that applied no condition to them."""
    counts = printed_counts(output)
    items = {item for item in _items(answer) if item}
    return counts if len(counts) >= least and len(set(counts.values())) >= 2 and items == set(counts) else {}


def mixed_counts(answer: str, output: str) -> dict[str, int]:
    """The items of a list answer with the counts the output printed for them, when those differ and the answer
    leaves other counted items out: it kept some items by a count, but not by one count."""
    counts = printed_counts(output)
    named = {item: counts[item] for item in _items(answer) if item in counts}
    return named if len(named) >= 2 and len(set(named.values())) >= 2 and len(named) != len(counts) else {}


def every_value(answer: str, values: dict[str, list[Any]], least: int = 4) -> tuple[str, int, int] | None:
    """(field, named, total) when a list answer names nearly every value (4 in 5) a category field has in the data
    (at least `least` of them): the 14 services of a log for "which failed twice", a list with no condition applied."""
    items = {item for item in _items(answer) if item}
    for key, options in values.items():
        names = {str(v) for v in options}
        named = len(items & names)
        if len(names) >= least and named >= max(least, 0.8 * len(names)):
            return key, named, len(names)
    return None


def repeated_items(answer: str) -> list[str]:
    """Names a list answer gives more than once: a top 3 of `sorted(paths)[:3]` instead of counted paths."""
    items = [item for item in _items(answer) if re.fullmatch(r"[\w./:@-]+", item) and re.search("[A-Za-z]", item)]
    seen: set[str] = set()
    repeated: dict[str, None] = {}  # in the order of each name's second mention
    for item in items:
        if item in seen:
            repeated[item] = None
        seen.add(item)
    return list(repeated)


def path_tails(answer: str, data: str) -> list[str]:
    """Paths in the data that items of the answer are only the end of ("search" for /api/v1/search), in order."""
    found: list[str] = []
    for item in _items(answer):
        if not re.fullmatch(r"[\w.-]+(?:/[\w.-]+)*", item) or item.isdigit():
            continue
        alone = re.search(rf"(?<![\w/.-]){re.escape(item)}(?![\w/-])", data)
        longer = re.search(rf"(?<![\w/.-])/(?:[\w.-]+/)*{re.escape(item)}(?![\w/-])", data)
        if longer and not alone and longer.group(0) not in answer and longer.group(0) not in found:
            found.append(longer.group(0))
    return found
