"""The words of a question worth looking for in the input: keywords only, never a reading of its phrasing.

Which words occur in the data, and where, is what the guidance acts on; what the question's English means is
left to the model.
"""

from __future__ import annotations

import re

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
