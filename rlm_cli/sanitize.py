"""Text from untrusted sources (model replies, REPL output, answers, server errors) made safe to print.

A terminal obeys escape sequences: ESC and the C1 controls can move the cursor, rewrite the title
or hide lines, and bidi overrides make text read differently from what it is. Everything shown on
a terminal passes `for_terminal`; `--json` and piped stdout keep the exact text (`encodable`).
"""

from __future__ import annotations

import re

# C0 controls but \t and \n, DEL, C1 controls, and the bidi embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Lone surrogates (from a "\\ud800" JSON escape) cannot be encoded as UTF-8 and would crash a write.
_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """The text with lone surrogates replaced by U+FFFD, so any UTF-8 stream can take it."""
    return _SURROGATE.sub("\ufffd", text)


def for_terminal(text: str) -> str:
    """The text with controls and bidi overrides shown as "?" (CRLF becomes a plain line break)."""
    return _UNSAFE.sub("?", encodable(text.replace("\r\n", "\n")))
