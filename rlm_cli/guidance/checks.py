"""Checks on a block and on an answer for the mistakes small models make that no error shows: a filter on
words the data never says, a count of a set, a number counted by eye. Each returns what the nudge names.
"""

from __future__ import annotations

import ast
import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rlm_cli.engine import prompts
from rlm_cli.guidance import questions
from rlm_cli.inputs import records


@functools.lru_cache(maxsize=8)
def _tree(code: str) -> ast.AST | None:
    """The block's syntax tree, parsed once for all the checks on it; None when it does not parse."""
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


@dataclass
class Flaw:
    """A mistake in a block that no output shows: told after the block, and its answer questioned once."""

    nudge: str
    notice: str


def misses_count_test(question: str, code: str) -> str | None:
    """A nudge when the question asks for exactly N or at least N but the code that answered never tested it.

    Small models print most_common(N) for "exactly N", and count every user for "users with 3 or more".
    """
    n = questions.exact_count(question)
    if n is not None:
        return None if re.search(rf"==\s*{n}\b|\b{n}\s*==", code) else prompts.NUDGE_EXACT_COUNT.format(n=n)
    if (n := questions.at_least(question)) is not None:
        tested = rf">=\s*{n}\b|>\s*{n - 1}\b|\b{n}\s*<=|\b{n - 1}\s*<(?!=)"
        return None if re.search(tested, code) else prompts.NUDGE_AT_LEAST.format(n=n)
    return None


_SEARCH_METHODS = {"count", "startswith", "endswith", "find", "index", "rfind"}
_DATE_LIKE = re.compile(r"\d{1,4}[-/:.]\d")
_KNOWN_WORDS = {w.lower() for w in records.LEVELS} | {k for keys in records.ALIASES.values() for k in keys}


def searched_strings(code: str, substrings: bool = False) -> list[str]:
    """The strings the code looks for in data: operands of `in` / `==` tests and of `.count("...")`-like calls.

    Field names, level names and dates are left out: records() normalises those, so the raw text may differ.
    With `substrings`, only strings a test keeps lines by (`in`, `.count()`): not whole values (`==`), nor
    strings a `not in` leaves out.
    """
    tests = (ast.In,) if substrings else (ast.In, ast.NotIn, ast.Eq, ast.NotEq)
    tree = _tree(code)
    if tree is None:
        return []
    if any(isinstance(n, ast.Name) and n.id in ("llm_query", "llm_query_batched") for n in ast.walk(tree)):
        return []  # tests on a helper model's replies ("YES", "NO") are not tests on the data
    found: list[str] = []

    def take(node: ast.AST) -> None:
        items = node.elts if isinstance(node, (ast.List, ast.Tuple, ast.Set)) else [node]
        for item in items:
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

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and all(isinstance(op, tests) for op in node.ops):
            for operand in [node.left, *node.comparators]:
                take(operand)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _SEARCH_METHODS:
            for arg in node.args[:1]:
                take(arg)
    return found


def absent_literals(code: str, texts: Sequence[str], limit: int = 8) -> list[str]:
    """Strings the code tests for that occur nowhere in the input, in any case: those tests can never match.

    The 1.5B model counted `message.count("exactly twice") == 2`, words of the question and not of the data,
    and looked for "Failed password" in logs that never say it.
    """
    absent = []
    for text in searched_strings(code)[:limit]:
        rx = re.compile(re.escape(text), re.IGNORECASE)
        if not any(rx.search(doc) for doc in texts):
            absent.append(text)
    return absent


def present_part(text: str, texts: Sequence[str]) -> str | None:
    """The longest run of an absent string's words that the input does contain: "logged in" of "logged in
    successfully", which the 1.5B model tested for in logs that say "user ann logged in from 10.0.0.7"."""
    words = text.split()
    for n in range(len(words) - 1, 0, -1):
        for i in range(len(words) - n + 1):
            part = " ".join(words[i : i + n])
            rx = re.compile(rf"(?<!\w){re.escape(part)}(?!\w)", re.IGNORECASE)
            if len(part) >= 3 and re.search("[A-Za-z]", part) and any(rx.search(doc) for doc in texts):
                return part
    return None


def counted_sets(code: str) -> list[tuple[str, str]]:
    """`Counter(s)` where s is a set: every item counts once. Pairs of the call and the count it meant.

    The 1.5B model built `{r["service"] for r in recs if ...}` and then kept the items counted exactly once.
    """
    tree = _tree(code)
    if tree is None:
        return []
    sets: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        one_name = isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        if one_name and (isinstance(node.value, ast.SetComp) or _calls(node.value, "set")):
            sets[node.targets[0].id] = node.value
    pairs = []
    for node in ast.walk(tree):
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


def _calls(node: ast.AST | None, name: str) -> bool:
    func = node.func if isinstance(node, ast.Call) else None
    return (isinstance(func, ast.Name) and func.id == name) or (isinstance(func, ast.Attribute) and func.attr == name)


def kept_shapes(code: str, shapes: Sequence[str], most: int = 3) -> list[tuple[str, list[str]]]:
    """For each string the code looks for inside messages, the few message shapes it occurs in."""
    kept = []
    for text in searched_strings(code, substrings=True)[:4]:
        hits = [s for s in shapes if text.lower() in s.lower()]
        if 0 < len(hits) <= most < len(shapes):
            kept.append((text, hits))
    return kept


def shape_notes(code: str, shapes: Sequence[str], question: str) -> tuple[list[str], list[Flaw]]:
    """Notes on the message shapes a block's substring tests keep, and flaws where they keep the opposite outcome.

    The 1.5B model counted successful logins with `"login" in r["message"]`, which only the failed ones say
    ("login failed for user <user>"); the shapes show what a filter really keeps.
    """
    notes, flaws = [], []
    outcome = questions.wanted_outcome(question)
    for text, hits in kept_shapes(code, shapes):
        listed = "; ".join(f'"{h}"' for h in hits)
        if outcome and all(questions.says_failure(h) == (outcome == "successful") for h in hits):
            nudge = prompts.NUDGE_OPPOSITE_SHAPES.format(text=text, listed=listed, outcome=outcome)
            flaws.append(Flaw(nudge, f"{text!r} keeps only lines of the opposite outcome: {hits[0]!r}"))
        else:
            notes.append(
                f"[note: of the {len(shapes)} message shapes, {text!r} is in {len(hits)} only: {listed}. "
                "Check that these are the lines the question asks about.]"
            )
    for text in levels_in_messages(code, shapes):
        nudge = prompts.NUDGE_LEVEL_IN_MESSAGE.format(text=text, level=records.LEVELS[text.upper()])
        flaws.append(Flaw(nudge, f"{text!r} is looked for in messages, which never hold it: it is r['level']"))
    return notes, flaws


def levels_in_messages(code: str, shapes: Sequence[str]) -> list[str]:
    """Level names the code looks for inside messages (`"ERROR" in r["message"]`) that no message shape holds:
    records() moves a line's level to r["level"], so the 1.5B model's test matched nothing."""
    tree = _tree(code)
    if tree is None or not shapes:
        return []
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In)):
            continue
        left, right = node.left, node.comparators[0]
        text = left.value if isinstance(left, ast.Constant) and isinstance(left.value, str) else ""
        if (
            text.upper() in records.LEVELS
            and "message" in ast.unparse(right)
            and not any(text in shape for shape in shapes)
            and text not in found
        ):
            found.append(text)
    return found


def wrong_moment(code: str, question: str) -> tuple[str, str] | None:
    """A `when("...")` of the code that is not the moment the question gives, and the question's words for it:
    the 1.5B model wrote `when("2026-09-12T03:37:43+00:00")`, a sample record's time, for "after 09:37:43 UTC
    on 12 Sep 2026"."""
    phrase = questions.moment(question)
    tree = _tree(code)
    if phrase is None or tree is None:
        return None
    try:
        asked = records.when(phrase)
    except ValueError:
        return None
    for node in ast.walk(tree):
        if not (_calls(node, "when") and node.args):
            continue
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            try:
                written = records.when(arg.value)
            except ValueError:
                continue
            if written != asked:
                return arg.value, phrase
    return None


_INPUT_NAMES = ("context", "documents")


def rebound_input(code: str) -> list[str]:
    """`context` or `documents` assigned by the code: the 1.5B model pasted the prefix it was shown as
    `context = \"\"\"...\"\"\"` and counted on that. The REPL restores them after the block, too late for it."""
    tree = _tree(code)
    if tree is None:
        return []
    names = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    return [name for name in _INPUT_NAMES if name in names]


def code_flaws(code: str, texts: Sequence[str], question: str) -> list[Flaw]:
    """Mistakes small models make that leave code running fine and its output wrong."""
    flaws: list[Flaw] = []
    for name in rebound_input(code)[:1]:
        flaws.append(Flaw(prompts.NUDGE_REBOUND_INPUT.format(name=name), f"the code assigned `{name}` itself"))
    if moment := wrong_moment(code, question):
        written, phrase = moment
        nudge = prompts.NUDGE_WRONG_MOMENT.format(written=written, phrase=phrase)
        flaws.append(Flaw(nudge, f"when({written!r}) is not the question's moment"))
    absent = absent_literals(code, texts)
    if absent:
        words = ", ".join(map(repr, absent[:5]))
        nudge = prompts.NUDGE_ABSENT_WORDS.format(words=words)
        parts = [(text, part) for text in absent[:5] if (part := present_part(text, texts))]
        if parts:
            nudge += " The data does contain " + ", ".join(f"{part!r} (of {text!r})" for text, part in parts) + "."
        flaws.append(Flaw(nudge, f"the code tests for strings the input never contains: {absent[:3]}"))
    for call, meant in counted_sets(code)[:2]:
        nudge = prompts.NUDGE_COUNTED_SET.format(call=call, meant=meant)
        flaws.append(Flaw(nudge, f"{call} counts a set: told to count {meant}"))
    return flaws


_HOW_MANY = re.compile(r"\b(how many|count|number of)\b", re.I)


def counted_by_eye(question: str, answer: str, outputs: Sequence[str]) -> bool:
    """A number answering "how many" that no output printed: the model counted a printed list itself.

    Small models miscount lists of ten or more items; a count must come from len() or sum() in code.
    """
    number = answer.strip().rstrip(".")
    if not number.isdigit() or not _HOW_MANY.search(question):
        return False
    rx = re.compile(rf"(?<![\w.-]){number}(?![\w-]|\.\d)")
    return not any(rx.search(output) for output in outputs)


def key_terms(question: str, texts: Sequence[str], rare: int = 5) -> list[str]:
    """The question's words that the input holds on a few lines only (`velvet-lantern`), rarest first: the keys
    it looks up."""
    keys = []
    for term in questions.question_terms(question):
        rx = re.compile(re.escape(term), re.IGNORECASE)
        hits = sum(1 for doc in texts for _ in itertools.islice(rx.finditer(doc), rare + 1))
        if 0 < hits <= rare:
            keys.append((hits, term))
    return [term for _, term in sorted(keys, key=lambda pair: pair[0])]


def off_key(question: str, answer: str, texts: Sequence[str], reach: int = 300) -> str | None:
    """The key a lookup question names when the answer is a value of the input found nowhere near it: read off
    a neighbour's line.

    The 1.5B model answered with the first line of grep("config"), a distractor's, not velvet-lantern's.
    """
    value = answer.strip().strip(".'\"`")
    if len(value) < 3 or "\n" in value or (value.isdigit() and len(value) < 5) or _HOW_MANY.search(question):
        return None
    spots = [(doc, m.start()) for doc in texts for m in re.finditer(re.escape(value), doc)]
    if not 0 < len(spots) <= 20:
        return None
    for term in key_terms(question, texts):
        rx = re.compile(re.escape(term), re.IGNORECASE)
        if not any(rx.search(doc, max(0, i - reach), i + len(value) + reach) for doc, i in spots):
            return term
    return None


_MORE = re.compile(r"\b(more|most|larger|largest|higher|highest|greater|fewer|fewest|less|least)\b", re.I)
_FEWER = {"fewer", "fewest", "less", "least"}
_ALTERNATIVES = re.compile(r"([\w-]+),?\s+or\s+(?:(?:labelled|labeled|the|a|an)\s+)?([\w-]+)")
_RECORD_REPR = re.compile(r"\{'[^']+': .*'doc': '")


def read_off_records(question: str, answer: str, outputs: Sequence[str]) -> list[str]:
    """Items of the answer that outputs show only inside printed records: read off a dump, not computed.

    The 1.5B model printed the matching records and answered with the label of the first one. Only for
    questions that aggregate (most, more, how many): a lookup is rightly read off the record it found.
    """
    if not (_MORE.search(questions.drop_at_least(question)) or _HOW_MANY.search(question)):
        return []
    lines = [line for output in outputs for line in output.splitlines()]
    dumps = [line for line in lines if _RECORD_REPR.search(line)]
    if not dumps:
        return []
    rest = "\n".join(line for line in lines if not _RECORD_REPR.search(line))
    found = []
    for item in (i.strip().strip("'\"`") for i in answer.split(",")):
        if item and item.lower() not in question.lower() and item not in rest and any(item in d for d in dumps):
            found.append(item)
    return found


_COUNTED_PAIR = re.compile(r"\(\s*['\"]([^'\"]+)['\"],\s*(\d+)\)")


def misread_counts(question: str, answer: str, output: str) -> str | None:
    """A nudge when the answer names the item with fewer (or more) printed counts than the question asks for.

    Small models print "Rent: 53, Dining: 87" and answer rent to "are there more rent or dining?". Only the
    alternatives the question names ("X or Y") are compared, so a count of something else never counts, or
    for "the most frequent <field>" the items of a printed most_common() list.
    """
    text = questions.drop_at_least(question).lower()
    match = _MORE.search(text)
    word = answer.strip().strip(".'\"`").lower()
    if match is None or not re.fullmatch(r"[\w-]+", word):
        return None
    counts = {}
    for item in {w for pair in _ALTERNATIVES.findall(text) for w in pair}:
        found = re.search(rf"(?<![\w-]){re.escape(item)}['\"]?\s*[:,=]\s*(\d+)\b", output, re.I)
        if found and not item.isdigit():
            counts[item] = int(found[1])
    if len(counts) < 2 and questions.most_common_field(question):
        # No alternatives named: a "most frequent <field>" question is read off a printed most_common() list.
        counts = {item.lower(): int(n) for item, n in _COUNTED_PAIR.findall(output)}
    if word not in counts or len(counts) < 2:
        return None
    want = min if match[1].lower() in _FEWER else max
    if counts[word] == want(counts.values()):
        return None
    shown = ", ".join(f"{item}: {n}" for item, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    which = "smallest" if want is min else "largest"
    return prompts.NUDGE_MISREAD_COUNTS.format(shown=shown, answer=word, which=which)


_KEY_VALUE = re.compile(r"[A-Za-z0-9_.:/@-]*\d[A-Za-z0-9_.:/@-]*")


def unsupported_values(answer: str, seen: str) -> list[str]:
    """Values in an answer (tokens with digits) that never appeared in anything the model was shown."""
    values = {v.strip(".,:;/-") for v in _KEY_VALUE.findall(answer)}
    return sorted(v for v in values if v and v not in seen)


_CODE_LIKE = re.compile(r"(?=[A-Za-z0-9_-]*[A-Za-z])(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{3,}")


_FILE_NAME = re.compile(r"[\w.-]+\.[A-Za-z]{1,5}")  # app-02.log: a host in a file's name


def truncated_values(answer: str, data: str) -> list[str]:
    """Longer codes in the data that extend a code of the answer (7XQ-4471-ZP for 7XQ): a sign of a cut value.

    The model's own prints may show the cut value alone, so only the longer form is looked for.
    """
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


def repeated_items(answer: str) -> list[str]:
    """Names a list answer gives more than once: a top 3 of `sorted(paths)[:3]` instead of counted paths."""
    seen: set[str] = set()
    repeated: list[str] = []
    for item in _items(answer):
        if not re.fullmatch(r"[\w./:@-]+", item) or not re.search("[A-Za-z]", item):
            continue
        if item in seen and item not in repeated:
            repeated.append(item)
        seen.add(item)
    return repeated


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
