"""The words of a question worth looking for in the input: keywords only; what it means is left to the model."""

from __future__ import annotations

import re

from rlm_cli.inputs import records

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{3,}|\b\d{3,}\b")
# Words of any question rather than of its data, by kind.
_ASKING = {"which", "what", "when", "where", "how", "name", "list", "give", "tell", "show", "count", "number"}
_AMOUNTS = {"exactly", "many", "much", "times", "more", "most", "least", "each", "every", "some", "only"}
_VERBS = {"does", "have", "were", "will", "would", "could", "should"}
_POINTERS = {"that", "this", "there", "their", "they", "them", "those", "these", "other"}
_LINKS = {"with", "from", "into", "about", "after", "before", "than"}
_STOPWORDS = _ASKING | _AMOUNTS | _VERBS | _POINTERS | _LINKS


def question_terms(question: str) -> list[str]:
    """Words of the question worth grepping for in the input."""
    words = (word.lower().strip(".-") for word in _WORD.findall(question))
    return list(dict.fromkeys(word for word in words if word not in _STOPWORDS))[:8]


def stems(question: str) -> list[str]:
    """The question's words cut to a stem ("logged" -> "log", "services" -> "service"), to find them in messages."""
    return list(dict.fromkeys(_stem(term) for term in question_terms(question)))


def _stem(term: str) -> str:
    stem = term
    if re.search(r"(?:ss|sh|ch|x)es$", term):
        stem = term[:-2]
    elif re.search(r"[^s]s$", term):
        stem = term[:-1]
    elif match := re.search(r"(?:ing|ed)$", term):
        stem = term[: match.start()]
        stem = stem[:-1] if re.search(r"([b-df-hj-np-tv-z])\1$", stem) else stem  # logg(ed) -> log
    return stem if len(stem) >= 3 else term


_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?"
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_DAY = r"\d{1,4}(?:st|nd|rd|th)?"
_DATE_TOKEN = rf"(?:{_ISO_DATE}(?:T{_CLOCK})?Z?|{_CLOCK}(?:\s*[ap]m)?|{_DAY}|{_MONTH}|utc|gmt|on|at|of)"
# A run of date-like tokens; it is a moment when it holds a clock time or an ISO date.
_DATE_RUN = re.compile(rf"(?<![\w:.-]){_DATE_TOKEN}(?:[\s,]+{_DATE_TOKEN})*(?![\w:-])", re.IGNORECASE)
_MOMENT_MARK = re.compile(rf"{_CLOCK}|{_ISO_DATE}")
_CONNECTOR = re.compile(r"^(?:(?:on|at|of)\b[\s,]*)+|(?:[\s,]+(?:on|at|of))+$|[\s,]+$", re.IGNORECASE)


def moment(question: str) -> str | None:
    """The one point in time the question writes, as it writes it ("11:27:45 UTC on 20 Oct 2026",
    "2026-10-20 08:30"), when it holds a full date; else None (no time, a clock time without a day, or two
    moments such as a span's ends). Which side of it the question asks about is left to its words."""
    found = [m[0] for m in _DATE_RUN.finditer(question) if _MOMENT_MARK.search(m[0])]
    if len(found) != 1:
        return None
    text = _CONNECTOR.sub("", found[0])
    try:
        records.when(text)
    except ValueError:
        return None
    return text
