"""The hand-off of a corpus to the REPL child: one UTF-8 context file plus a small JSON index.

The sandboxed child imports this module, so it must use the standard library only.
"""

from __future__ import annotations

import json
import mmap
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rlm_cli.inputs.corpus import Corpus

SEPARATOR_TEMPLATE = "=== FILE: {path} ===\n"
PAGE_MARKER_TEMPLATE = "--- page {page} ---"

CONTEXT_FILE = "context.txt"
INDEX_FILE = "index.json"
_FORMAT_VERSION = 1


@dataclass(eq=False, repr=False)
class DocumentView:
    """One document of the child's `context`; `text` slices the shared string on demand, so it costs no memory."""

    path: str
    type: str
    size: int
    chars: int
    pages: int | None
    truncated: bool
    start: int
    _context: str
    _lines: int | None = field(default=None)

    @property
    def text(self) -> str:
        return self._context[self.start : self.start + self.chars]

    @property
    def lines(self) -> int:
        if self._lines is None:
            end = self.start + self.chars
            newlines = self._context.count("\n", self.start, end)
            unterminated = self.chars > 0 and self._context[end - 1] != "\n"
            self._lines = newlines + unterminated
        return self._lines

    def __contains__(self, item: str) -> bool:
        """`"FATAL" in doc` searches the text, as models expect."""
        return item in self.text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        extra = f", {self.pages} pages" if self.pages is not None else ""
        extra += ", truncated" if self.truncated else ""
        return f"<Document {self.path!r} {self.type}, {self.chars:,} chars, {self.lines:,} lines{extra}>"


def write_bundle(corpus: Corpus, directory: str) -> str:
    """Stream every document to one context file so the parent never builds the giant string; returns the index path."""
    os.makedirs(directory, exist_ok=True)
    entries = []
    offset = 0
    # errors="replace" turns a lone surrogate (possible in PDF text) into one "?", keeping offsets exact.
    with open(os.path.join(directory, CONTEXT_FILE), "w", encoding="utf-8", errors="replace", newline="") as out:
        for doc in corpus.documents:
            header = SEPARATOR_TEMPLATE.format(path=doc.path)
            out.write(header)
            out.write(doc.text)
            start = offset + len(header)
            offset = start + len(doc.text)
            if not doc.text.endswith("\n"):
                out.write("\n")
                offset += 1
            entries.append(
                {
                    "path": doc.path,
                    "type": doc.type,
                    "size": doc.size,
                    "chars": len(doc.text),
                    "pages": doc.pages,
                    "truncated": doc.truncated,
                    "start": start,
                }
            )
    index_path = os.path.join(directory, INDEX_FILE)
    index = {"version": _FORMAT_VERSION, "context": CONTEXT_FILE, "chars": offset, "documents": entries}
    with open(index_path, "w", encoding="utf-8") as out:
        out.write(json.dumps(index))  # one call to the C encoder; json.dump streams through the Python one
    return index_path


def load_bundle(path: str) -> tuple[str, list[DocumentView]]:
    """Rebuild `context` and its documents in the child; documents share the one string."""
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    if index.get("version") != _FORMAT_VERSION:
        raise ValueError(f"unsupported bundle version {index.get('version')!r} in {path}")
    with open(os.path.join(os.path.dirname(path), index["context"]), "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            context = ""
        else:
            # Decoding straight from the page cache halves the time and keeps the raw bytes out of private memory.
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                context = str(mapped, "utf-8")
    if len(context) != index["chars"]:
        raise ValueError(f"bundle context has {len(context):,} characters, its index says {index['chars']:,}")
    return context, [DocumentView(_context=context, **entry) for entry in index["documents"]]
