"""Searching the input for the guidance checks a window at a time, so a large document is never read back whole.

Once the parent has released the input (inputs/bundle.release), a document's text is read back from the bundle
each time a check asks for it. Read whole, one 150 MB document would sit in the parent beside the REPL child's
copy while a check runs; read in windows of a few MiB, the parent holds one window at a time.

Windows overlap by as much as a match can span, so a match across a window's edge is still found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

WINDOW = 4 * 2**20  # characters of a text searched at a time


def find_all(
    rx: re.Pattern[str], texts: Sequence[str], width: int, around: int = 0, window: int = WINDOW
) -> Iterator[re.Match[str]]:
    """`rx.finditer(text)` for each text in `texts`, in order, each searched in windows of about `window` characters.

    Texts with a `pieces(index)` method (the guide's InputTexts) give each text in pieces, in order.
    `width` is the most characters a match of `rx` spans, and `around` the most it looks at on either side (1 for
    `(?<!\\w)` or `(?!\\w)`): a literal pattern spans its length. Anchors (`^`, `$`, `\\A`, `\\Z`) are not for
    these patterns: a window's edge is not its text's. A match's `string` is the window it was found in,
    with at least `around` characters of the text on each side of the match, or the text's edge; `start()` and
    `end()` are places in that window.
    """
    if width < 1:
        raise ValueError("find_all needs patterns whose matches are at least one character long")
    # A match that starts before a window's `limit` ends, lookarounds included, inside that window, so the window
    # finds it as the whole text would; later starts wait for the next window, which begins `around` characters
    # before where this one's search stopped, for a lookbehind (and the caller) to see.
    tail = width + around
    every = (texts.pieces(i) for i in range(len(texts))) if hasattr(texts, "pieces") else ((t,) for t in texts)
    for pieces in every:
        # Each piece cut to windows: a text held whole is searched a window at a time too.
        parts = (piece[i : i + window] for piece in pieces for i in range(0, len(piece), window))
        text, start, pos = "", 0, 0  # the window, where it begins in the whole text, where the search goes on there
        more = True
        while more:
            while more and len(text) - (pos - start) < window + tail:
                part = next(parts, None)
                more = part is not None
                text += part or ""
            limit = len(text) - tail if more else len(text)
            for match in rx.finditer(text, pos - start):
                if match.start() >= limit:
                    break
                yield match
                pos = start + match.end()
            pos = max(pos, start + limit)
            cut = max(0, pos - start - around)
            text, start = text[cut:], start + cut
