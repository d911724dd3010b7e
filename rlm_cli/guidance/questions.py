"""What a question asks for, read from its wording: the words to grep, the counts and rankings it names,
the outcome it is about. Small models misread these ("exactly twice" as a top 2), so the engine spells them out.
"""

from __future__ import annotations

import re

from rlm_cli.inputs import records

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{3,}|\b\d{3,}\b")
_STOPWORDS = {
    "which",
    "what",
    "when",
    "where",
    "that",
    "this",
    "there",
    "their",
    "with",
    "from",
    "have",
    "does",
    "many",
    "much",
    "were",
    "times",
    "than",
    "more",
    "most",
    "least",
    "after",
    "before",
    "into",
    "each",
    "every",
    "about",
    "exactly",
    "name",
    "list",
    "give",
    "tell",
    "show",
    "count",
    "number",
    "how",
    "they",
    "them",
    "those",
    "these",
    "some",
    "only",
    "other",
    "will",
    "would",
    "could",
    "should",
}


def question_terms(question: str) -> list[str]:
    """Words of the question worth grepping for in the input."""
    seen: list[str] = []
    for word in _WORD.findall(question):
        lower = word.lower().strip(".-")
        if lower not in _STOPWORDS and lower not in seen:
            seen.append(lower)
    return seen[:8]


def stems(question: str) -> list[str]:
    """The question's words cut to a stem ("logged" -> "log", "services" -> "service"), to find them in messages."""
    out = []
    for term in question_terms(question):
        stem = term
        if re.search(r"(?:ss|sh|ch|x)es$", term):
            stem = term[:-2]
        elif re.search(r"[^s]s$", term):
            stem = term[:-1]
        elif match := re.search(r"(?:ing|ed)$", term):
            stem = term[: match.start()]
            stem = stem[:-1] if re.search(r"([b-df-hj-np-tv-z])\1$", stem) else stem  # logg(ed) -> log
        stem = stem if len(stem) >= 3 else term
        if stem not in out:
            out.append(stem)
    return out


_TIMES = {"once": 1, "twice": 2, "thrice": 3}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
_EXACTLY = re.compile(
    r"\bexactly\s+(once|twice|thrice|(\d+|one|two|three|four|five|six|seven|eight|nine)\s+times)\b", re.I
)
_DISTINCT = re.compile(r"\b(distinct|unique|different)\b|\beach \w+ once\b", re.I)
_TOP = re.compile(
    r"\btop[- ]?(\d+)\b|\b(\d+)\s+[\w-]+(?:\s+\([^)]*\))?\s+(?:had|got|with|that had)\s+the\s+most\b", re.I
)
_STATUS_CLASS = re.compile(r"\b([1-5])xx\b|\b([1-5])00\s*(?:-|to|–)\s*\1?\d99\b", re.I)
_AT_LEAST = re.compile(r"\bat least (\d+)\b|\b(\d+) or more\b", re.I)
_AFTER = re.compile(r"\b(after|before|later than|earlier than|since|until)\b", re.I)


def exact_count(question: str) -> int | None:
    """N when the question asks for what happened exactly N times ("exactly twice" -> 2)."""
    match = _EXACTLY.search(question)
    if match is None:
        return None
    return _TIMES.get(match[1].lower()) or _NUMBER_WORDS.get(match[2].lower()) or int(match[2])


def at_least(question: str) -> int | None:
    """N when the question asks for what happened at least N times ("3 or more" -> 3)."""
    match = _AT_LEAST.search(question)
    return int(match[1] or match[2]) if match else None


def drop_at_least(question: str) -> str:
    """The question without its "at least N": that "least" compares nothing."""
    return _AT_LEAST.sub("", question)


_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DAY = rf"(?:\d{{1,2}}\s+{_MONTH},?\s+\d{{4}}|{_MONTH}\s+\d{{1,2}},?\s+\d{{4}}|\d{{4}}-\d\d-\d\d)"
_ZONE = r"(?:\s*(?:UTC|GMT|Z|[+-]\d\d:?\d\d))?"
_MOMENT = re.compile(
    rf"\d{{4}}-\d\d-\d\d[T ]\d{{1,2}}:\d\d(?::\d\d)?(?:\.\d+)?{_ZONE}"
    rf"|\d{{1,2}}:\d\d(?::\d\d)?{_ZONE}(?:,?\s+on\s+{_DAY})?"
    rf"|{_DAY}(?:,?\s+(?:at\s+)?\d{{1,2}}:\d\d(?::\d\d)?{_ZONE})?",
    re.I,
)


def moment(question: str) -> str | None:
    """The date and time the question compares with, as it writes them ("09:37:43 UTC on 12 Sep 2026")."""
    match = _MOMENT.search(question)
    return match[0] if match else None


_SUCCESS = re.compile(r"\bsucce\w*|\bmanaged to\b|\bable to\b|\bok\b|\bcompleted?\b|\baccepted\b", re.I)
_FAILURE = re.compile(r"\bfail\w*|\berror\w*|\binvalid\b|\bdenied\b|\brejected\b|\bunauthori[sz]ed\b", re.I)
_FAILURES_LEFT_OUT = re.compile(
    r"\b(?:fail\w*|errors?)\b[^.?!]*?\b(?:do not|don't|does not|doesn't|not) count\w*"
    r"|\b(?:excluding|except|not counting|ignoring|without|not) (?:the |any )?(?:fail\w*|errors?)\b",
    re.I,
)


def wanted_outcome(question: str) -> str | None:
    """ "successful" or "failed" when the question is about one outcome only ("failed attempts do not count" is
    about successful ones); None when it names both or neither."""
    success = _SUCCESS.search(question)
    failure = _FAILURE.search(_FAILURES_LEFT_OUT.sub("", question))
    if (_FAILURES_LEFT_OUT.search(question) or success) and not failure:
        return "successful"
    return "failed" if failure and not success else None


def says_failure(text: str) -> bool:
    """Whether a message shape tells of a failure ("login failed for user <user>")."""
    return bool(_FAILURE.search(text))


_MOST_COMMON = re.compile(
    r"\bmost (?:frequent|common|often (?:used|seen)|popular)\s+((?:[\w-]+\s+)?[\w-]+)"
    r"|\bwhich (?:\d+ )?([\w-]+)\b.*\b(?:the most|most (?:common|frequent|often|popular))\b"
    r"|\b(?:rank|top[- ]?\d+|the \d+)\s+(?:the\s+)?((?:[\w-]+\s+)?[\w-]+)",
    re.I,
)
_FIELD_OF = {alias: field for field, aliases in records.ALIASES.items() for alias in aliases}


def most_common_field(question: str) -> tuple[str, str] | None:
    """The word for what a "most frequent <word>" question counts, and the records' field that holds it.

    The 1.5B model asked for the most frequent category among US reviewers counted r["region"].
    """
    match = _MOST_COMMON.search(question)
    if not match:
        return None
    for word in reversed((match[1] or match[2] or match[3]).lower().split()):
        field = _FIELD_OF.get(word) or _FIELD_OF.get(word.rstrip("s"))
        if field and field not in ("time", "message"):
            return word, field
    return None


def question_hints(question: str) -> list[str]:
    """What common phrasings of a log question mean in code: small models read "exactly twice" as top 2.

    Only wordings with one reading in any question on records ("exactly N times", "at least N", "distinct",
    "top N", "most frequent <field>", "5xx", "after <time>"); each hint states the meaning, not the answer.
    """
    hints = []
    if n := exact_count(question):
        hints.append(
            f'"{_EXACTLY.search(question)[0]}" means a count equal to {n}: count per item with Counter, then keep '
            f"the items whose count == {n} (not the top {n})."
        )
    if _DISTINCT.search(question):
        hints.append(
            "For a number of distinct values, build a set of the value over the matching lines only, leave out "
            "None, and print len() of it."
        )
    if match := _AT_LEAST.search(question):
        n = match[1] or match[2]
        hints.append(f'"{match[0]}" means a count >= {n}: count per item with Counter, then keep the counts >= {n}.')
    if top := _TOP.search(question):
        n = top[1] or top[2]
        hints.append(f"For the top {n}, print Counter(...).most_common({n}).")
    if field := most_common_field(question):
        k = (top[1] or top[2]) if top else 3
        hints.append(
            f'For the most common {field[0]}, count r["{field[1]}"] over the matching records only: '
            f'print(Counter(r["{field[1]}"] for r in recs if ...).most_common({k})).'
        )
    if match := _STATUS_CLASS.search(question):
        digit = match[1] or match[2]
        hints.append(f'"{match[0]}" means {digit}00 <= r["status"] <= {digit}99.')
    if _AFTER.search(question) and re.search(r"\d\d:\d\d|\d{4}-\d\d-\d\d", question):
        hints.append('Compare r["time"] with when("...") of the whole date and time the question gives, date included.')
    return hints
