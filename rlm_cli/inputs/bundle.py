"""The hand-off of a corpus to the REPL child: one UTF-8 context file plus a small JSON index.

The child reads the file back as `context`; the parent, once the child has its copy, lets its documents read
their text back from the same file instead of holding the corpus a second time (`release`).
The sandboxed child imports this module, so it must use the standard library only.
"""

from __future__ import annotations

import codecs
import json
import os
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlm_cli.inputs.corpus import Corpus

SEPARATOR_TEMPLATE = "=== FILE: {path} ===\n"
PAGE_MARKER_TEMPLATE = "--- page {page} ---"

CONTEXT_FILE = "context.txt"
INDEX_FILE = "index.json"
_FORMAT_VERSION = 2  # 2: each document's place in the file in bytes too, where the parent reads it back
# Text is encoded, read and decoded this much at a time, so no copy of a whole large document is made on the way.
CHUNK = 1024 * 1024


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
        """`"FATAL" in doc` searches the text, as models expect: in `context` itself, making no copy of the text."""
        if isinstance(item, str):
            return self._context.find(item, self.start, self.start + self.chars) >= 0
        return item in self.text  # raises what `in` on a string raises

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        extra = f", {self.pages} pages" if self.pages is not None else ""
        extra += ", truncated" if self.truncated else ""
        return f"<Document {self.path!r} {self.type}, {self.chars:,} chars, {self.lines:,} lines{extra}>"


def write_bundle(corpus: Corpus, directory: str) -> str:
    """Stream every document to one context file so the parent never builds the giant string; returns the index path.

    Each entry gives the document's place in `context` in characters (`start`, `chars`), which the child uses, and
    in the file in bytes (`offset`, `bytes`), where `release` has the parent read it back.
    """
    os.makedirs(directory, exist_ok=True)
    entries = []
    chars = position = 0
    with open(os.path.join(directory, CONTEXT_FILE), "wb") as out:
        for doc in corpus.documents:
            text = doc.text
            header = SEPARATOR_TEMPLATE.format(path=doc.path)
            position += out.write(_encode(header))
            start, offset = chars + len(header), position
            position += sum(out.write(_encode(text[i : i + CHUNK])) for i in range(0, len(text), CHUNK))
            entries.append(
                {
                    "path": doc.path,
                    "type": doc.type,
                    "size": doc.size,
                    "chars": len(text),
                    "pages": doc.pages,
                    "truncated": doc.truncated,
                    "start": start,
                    "offset": offset,
                    "bytes": position - offset,
                }
            )
            chars = start + len(text)
            if not text.endswith("\n"):
                position += out.write(b"\n")
                chars += 1
    index_path = os.path.join(directory, INDEX_FILE)
    index = {"version": _FORMAT_VERSION, "context": CONTEXT_FILE, "chars": chars, "documents": entries}
    with open(index_path, "w", encoding="utf-8") as out:
        out.write(json.dumps(index))  # one call to the C encoder; json.dump streams through the Python one
    return index_path


def _encode(text: str) -> bytes:
    # "replace" turns a lone surrogate (possible in PDF text) into one "?", keeping character offsets exact.
    return text.encode("utf-8", "replace")


def _read_index(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    if index.get("version") != _FORMAT_VERSION:
        raise ValueError(f"unsupported bundle version {index.get('version')!r} in {path}")
    return index


def load_bundle(path: str) -> tuple[str, list[DocumentView]]:
    """Rebuild `context` and its documents in the child; documents share the one string."""
    index = _read_index(path)
    with open(os.path.join(os.path.dirname(path), index["context"]), "rb", buffering=0) as f:
        context = decode(_read_chunks(f))
    if len(context) != index["chars"]:
        raise ValueError(f"bundle context has {len(context):,} characters, its index says {index['chars']:,}")
    views = ("path", "type", "size", "chars", "pages", "truncated", "start")
    return context, [DocumentView(_context=context, **{k: entry[k] for k in views}) for entry in index["documents"]]


def decode(chunks: Iterable[bytes | memoryview], errors: str = "strict") -> str:
    """UTF-8 chunks as one string, without ever holding all the bytes and the string at once.

    `text += piece` on a local string that nothing else references grows it in place: CPython's specialized
    in-place add resizes it, and the allocator moves a large block by remapping its pages, not by copying them. So
    the peak is the string plus a chunk or two, where `bytes.decode` on the whole file peaks at both. The first few
    appends, before the interpreter specializes the loop, do copy: small chunks keep that to a few MiB. A piece
    wider than the text so far (the first non-ASCII character, say) makes one copy at the wider width, as decoding
    the whole at once also does. An interpreter without the in-place add gets the same string, copied more.
    (A `for` loop: CPython 3.11 specializes only a loop that jumps back unconditionally.)
    """
    text = ""
    for piece in decoded(chunks, errors):
        text += piece
    return text


def decoded(chunks: Iterable[bytes | memoryview], errors: str = "strict") -> Iterator[str]:
    """UTF-8 chunks decoded one at a time: a character split between two chunks comes whole with the second."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors)
    for chunk in chunks:
        yield decoder.decode(chunk)
    yield decoder.decode(b"", True)


def _read_chunks(f: IO[bytes]) -> Iterator[memoryview]:
    """A file's bytes, one chunk at a time, through one reused buffer."""
    buffer = memoryview(bytearray(CHUNK))
    while True:
        size = f.readinto(buffer)
        if not size:
            return
        yield buffer[:size]


class ContextFile:
    """A bundle's context file, held open by the parent, which reads released documents back from it.

    The open descriptor keeps the text readable after the REPL's workdir is removed at the end of the run.
    """

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self.fd)

    def read(self, offset: int, size: int) -> str:
        # "replace": only a file changed since it was written could hold invalid UTF-8, and a guidance check must
        # not crash the run over it.
        return decode(self._chunks(offset, size), "replace")

    def pieces(self, offset: int, size: int) -> Iterator[str]:
        """What `read` returns, in pieces of about CHUNK bytes each."""
        return decoded(self._chunks(offset, size), "replace")

    def _chunks(self, offset: int, size: int) -> Iterator[bytes]:
        end = offset + size
        while offset < end:
            chunk = os.pread(self.fd, min(CHUNK, end - offset), offset)
            if not chunk:
                return
            offset += len(chunk)
            yield chunk


@dataclass(frozen=True)
class StoredText:
    """Where a released document's text is in the bundle's context file (inputs/corpus.Stored)."""

    source: ContextFile
    offset: int
    size: int

    def read(self) -> str:
        return self.source.read(self.offset, self.size)

    def pieces(self) -> Iterator[str]:
        return self.source.pieces(self.offset, self.size)


def release(corpus: Corpus, index_path: str) -> None:
    """Let each document of `corpus` read its text back from the bundle at `index_path`, and stop holding it.

    The engine calls it once the bundle is written and its first message built, before the child loads the bundle
    (engine/loop.py): the parent then holds no second copy of the corpus, and whatever still reads a document's text
    (the guidance checks) gets the text the child has, from the file, one document at a time. A corpus that does
    not match the index (none should) keeps its text.
    """
    index = _read_index(index_path)
    if [entry["path"] for entry in index["documents"]] != [doc.path for doc in corpus.documents]:
        return
    source = ContextFile(os.path.join(os.path.dirname(index_path), index["context"]))
    for doc, entry in zip(corpus.documents, index["documents"], strict=True):
        doc.release(StoredText(source, entry["offset"], entry["bytes"]))
    _trim_heap()


def _trim_heap() -> None:
    """Give the memory of the released text back to the system.

    glibc keeps freed blocks below its mmap threshold (a document under 128 KiB or so) in the process's heap, where
    they still count in its RSS: without this, a corpus of many small files would stay resident after its release.
    """
    import ctypes  # the parent's only: the sandbox module has loaded it already

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc: its allocator returns memory its own way
        return
    trim(0)
