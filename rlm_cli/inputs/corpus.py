"""Turn the user's files, directories and stdin into text documents, reporting everything left out."""

from __future__ import annotations

import codecs
import errno
import gzip
import hashlib
import io
import json
import logging
import mimetypes
import os
import stat
import time
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import platformdirs
from pathspec import GitIgnoreSpec, PathSpec

from rlm_cli.errors import InputError
from rlm_cli.inputs.bundle import PAGE_MARKER_TEMPLATE

# pypdf logs every oddity of a malformed PDF; failures reach the user as skip reasons instead.
logging.getLogger("pypdf").addHandler(logging.NullHandler())

_HEAD_BYTES = 8192
STDIN_PATH = "<stdin>"
TOTAL_LIMIT_REASON = "total size limit reached"

_CHUNK = 1 << 20  # past the first read; small, so that a large file's text grows in place (see _read_text)
_FIRST_READ = 1 << 20
# A named pipe nobody writes to would block forever; this long is left for a writer to connect.
FIFO_WAIT_S = 10.0
_FIFO_POLL_S = 0.05
_PDF_CACHE_VERSION = 1
# Version control, dependency and tool caches: never what a user means by "this directory".
_SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".bzr", ".jj", "_darcs",
        "node_modules", "bower_components", "__pycache__", ".mypy_cache", ".pytest_cache",
        ".ruff_cache", ".tox", ".nox", ".eggs", ".idea", ".vscode", ".gradle", ".terraform",
    }
)  # fmt: skip
_TEXT_APPLICATION_TYPES = frozenset(
    {
        "application/json", "application/x-ndjson", "application/xml", "application/javascript",
        "application/x-javascript", "application/ecmascript", "application/x-sh", "application/x-shellscript",
        "application/x-csh", "application/x-perl", "application/x-python", "application/x-ruby",
        "application/x-php", "application/x-awk", "application/sql", "application/toml", "application/yaml",
        "application/x-yaml", "application/csv", "application/x-subrip", "application/postscript",
        "application/x-wine-extension-ini", "application/x-tex", "application/mbox",
    }
)  # fmt: skip
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_NO_MAGIC_WARNING = "libmagic is not available; file types were guessed from NUL bytes and file extensions"
OUTSIDE_REASON = "symlink to outside the given paths (--follow-symlinks loads it)"
# .gitignore files are untrusted input: re2 matches in linear time whatever the pattern (Python's re can
# take minutes on `*a*a*b`), a line longer than any path is no pattern, and only this much is read.
_PATTERN_BACKEND = "re2"
_MAX_PATTERN_CHARS = 4096
_MAX_IGNORE_BYTES = 1 << 20
_READ_ERRORS = (OSError, EOFError, zlib.error)


@dataclass
class CorpusOptions:
    """Which files to take and how much text; the size limits count characters of extracted text."""

    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    hidden: bool = False
    gitignore: bool = True
    max_file_size: int = 50_000_000
    max_total_size: int = 1_000_000_000
    follow_symlinks: bool = False


class _LineCount:
    """Counting newlines costs about a second per GB, so a document counts them only when first asked."""

    def __get__(self, doc: Document | None, owner: type | None = None) -> int:
        if doc is None:
            return -1
        if doc._lines < 0:
            newlines, last = 0, ""
            for piece in doc.pieces():  # a released document's text is read back a chunk at a time
                newlines += piece.count("\n")
                last = piece[-1:] or last
            doc._lines = newlines + (1 if last and last != "\n" else 0)
        return doc._lines

    def __set__(self, doc: Document, value: int) -> None:
        doc._lines = value


class Stored(Protocol):
    """Where a released document's text is kept (inputs/bundle.StoredText): read back whole, or in pieces."""

    def read(self) -> str: ...

    def pieces(self) -> Iterable[str]: ...


class _Text:
    """A document's text: a string it holds until `Document.release`, then read back each time it is asked for."""

    def __get__(self, doc: Document | None, owner: type | None = None) -> Any:
        if doc is None:
            return self
        held = doc._text
        return held if isinstance(held, str) else held.read()

    def __set__(self, doc: Document, value: str) -> None:
        doc._text = value


@dataclass
class Document:
    """One input's text; `size` is bytes on disk (bytes read, for a stream) and `lines` is counted lazily.

    Once the bundle for the REPL child is written, the engine releases the text (inputs/bundle.release): `text` then
    reads it back from that bundle, so the parent does not hold the corpus a second time beside the child.
    """

    path: str
    text: str = field(repr=False)
    type: str
    size: int
    chars: int
    lines: int = _LineCount()  # type: ignore[assignment]
    pages: int | None = None
    encoding: str = "utf-8"
    truncated: bool = False
    truncated_reason: str = ""

    def release(self, stored: Stored) -> None:
        """Stop holding the text: from now on `text` is `stored.read()`, called each time it is asked for and not
        kept, and `pieces()` is `stored.pieces()`."""
        self._text = stored

    def pieces(self) -> Iterable[str]:
        """The text in order, in pieces: the string while it is held; once released, read back a chunk at a time,
        so that whoever reads it piece by piece never holds a copy of the whole (the guidance checks)."""
        held = self._text
        return (held,) if isinstance(held, str) else held.pieces()


# Installed after @dataclass, which would take a descriptor in the class body for the field's default; __init__
# and the generated methods go through it all the same, and `text` stays out of repr().
Document.text = _Text()  # type: ignore[assignment]


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class Corpus:
    """The loaded documents plus everything the user should hear about; `ignored` counts rule-filtered entries."""

    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ignored: int = 0

    @property
    def total_chars(self) -> int:
        return sum(doc.chars for doc in self.documents)

    @property
    def estimated_tokens(self) -> int:
        return self.total_chars // 4

    def summary(self, max_paths: int = 50) -> dict[str, Any]:
        """A JSON-ready overview for the root prompt, --dry-run and the trace; long lists end in "... and N more"."""
        by_type: dict[str, dict[str, int]] = {}
        by_dir: dict[str, dict[str, int]] = {}
        for doc in self.documents:
            for key, table in ((doc.type, by_type), (os.path.dirname(doc.path) or ".", by_dir)):
                row = table.setdefault(key, {"documents": 0, "chars": 0})
                row["documents"] += 1
                row["chars"] += doc.chars
        largest = sorted(self.documents, key=lambda doc: doc.chars, reverse=True)[:5]
        directories = [{"path": path, **row} for path, row in sorted(by_dir.items())]
        return {
            "documents": len(self.documents),
            "total_chars": self.total_chars,
            "estimated_tokens": self.estimated_tokens,
            "total_bytes": sum(doc.size for doc in self.documents),
            "by_type": by_type,
            "files": _capped([_describe(doc) for doc in self.documents], max_paths, "files"),
            "directories": _capped(directories, max_paths, "directories"),
            "largest": [_describe(doc) for doc in largest],
            "truncated": [{"path": d.path, "reason": d.truncated_reason} for d in self.documents if d.truncated],
            "skipped": _capped([{"path": s.path, "reason": s.reason} for s in self.skipped], max_paths, "skipped"),
            "ignored": self.ignored,
            "warnings": list(self.warnings),
        }


def _describe(doc: Document) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": doc.path, "type": doc.type, "chars": doc.chars, "lines": doc.lines}
    if doc.pages is not None:
        entry["pages"] = doc.pages
    if doc.truncated:
        entry["truncated"] = True
    return entry


def _capped(items: list[Any], limit: int, noun: str) -> list[Any]:
    if len(items) <= limit:
        return items
    return [*items[:limit], f"... and {len(items) - limit} more {noun}"]


def load_corpus(paths: list[str], options: CorpusOptions, stdin: BinaryIO | None = None) -> Corpus:
    """Load every input in a deterministic order; raises InputError when nothing usable remains."""
    if not paths:
        raise InputError("no input: give files, directories, or '-' for stdin")
    planner = _Planner(options)
    entries = planner.plan(paths, stdin)
    loader = _Loader(options)
    corpus = Corpus(ignored=planner.ignored)
    for entry in entries:
        if isinstance(entry, Skipped):
            corpus.skipped.append(entry)
        elif loader.remaining <= 0:
            corpus.skipped.append(Skipped(entry.display, TOTAL_LIMIT_REASON))
        else:
            result = loader.load(entry)
            (corpus.skipped if isinstance(result, Skipped) else corpus.documents).append(result)
    corpus.warnings = planner.warnings + loader.warnings
    if not corpus.documents:
        raise InputError(_nothing_usable(paths, corpus))
    return corpus


def _nothing_usable(paths: list[str], corpus: Corpus) -> str:
    if not corpus.skipped:
        return (
            f"no readable input: no files found in {', '.join(paths)} "
            f"({corpus.ignored} entries left out by .gitignore, hidden-file or include/exclude rules)"
        )
    reasons = [f"{s.path}: {s.reason}" for s in corpus.skipped[:5]]
    more = len(corpus.skipped) - len(reasons)
    return "no readable input: " + "; ".join(reasons) + (f"; and {more} more" if more else "")


@dataclass
class _Candidate:
    """A file to read: a path on disk, or `stream` for stdin; `pipe` marks a FIFO read as a stream."""

    display: str
    path: str = ""
    stream: BinaryIO | None = None
    pipe: bool = False


@dataclass
class _IgnoreFile:
    """One .gitignore (or info/exclude) whose patterns apply below `base`, a repository-relative dir ending in "/"."""

    base: str
    files: GitIgnoreSpec
    # Directories use plain last-match-wins, which gets `!dir/` re-inclusions right where GitIgnoreSpec does not.
    dirs: PathSpec

    @classmethod
    def read(cls, path: str, base: str, notes: list[str]) -> _IgnoreFile | None:
        """Compile one ignore file; lines that are no valid or sane pattern are skipped, each with a note."""
        # Non-blocking: a .gitignore that is a named pipe must not hang the walk.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            data = f.read(_MAX_IGNORE_BYTES + 1)
        if len(data) > _MAX_IGNORE_BYTES:
            notes.append(f"{path}: only its first {_MAX_IGNORE_BYTES:,} bytes were applied")
        files = compile_patterns(data[:_MAX_IGNORE_BYTES].decode("utf-8", "replace").splitlines(), path, notes)
        return cls(base, files, PathSpec(files.patterns, backend=_PATTERN_BACKEND)) if files.patterns else None

    def verdict(self, rel: str, is_dir: bool) -> bool | None:
        sub = rel[len(self.base) :]
        return (self.dirs.check_file(sub + "/") if is_dir else self.files.check_file(sub)).include


def compile_patterns(lines: list[str], source: str, notes: list[str]) -> GitIgnoreSpec:
    """gitignore-style patterns, compiled once for linear-time matching; a bad line is noted and skipped."""
    kept: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        if len(line) > _MAX_PATTERN_CHARS:
            notes.append(f"{source}:{number}: pattern skipped (longer than {_MAX_PATTERN_CHARS} characters)")
        else:
            kept.append((number, line))
    try:
        return _compile([line for _, line in kept])
    except Exception:  # pathspec and re2 raise several types for a pattern they refuse: find which, line by line
        good = []
        for number, line in kept:
            try:
                _compile([line])
            except Exception as e:
                notes.append(f"{source}:{number}: pattern skipped ({_printable(str(e))[:100]})")
            else:
                good.append(line)
        return _compile(good)


def _compile(lines: list[str]) -> GitIgnoreSpec:
    with warnings.catch_warnings():  # Python's re warns about odd sets on stderr; such a line still compiles
        warnings.simplefilter("ignore")
        return GitIgnoreSpec.from_lines(lines, backend=_PATTERN_BACKEND)


def _ignored(stack: tuple[_IgnoreFile, ...], rel: str, is_dir: bool) -> bool:
    """Deeper ignore files override shallower ones, as in git."""
    for ignore in reversed(stack):
        verdict = ignore.verdict(rel, is_dir)
        if verdict is not None:
            return verdict
    return False


class _Planner:
    """Turns the user's paths into an ordered list of files to read and of entries skipped while walking."""

    def __init__(self, options: CorpusOptions) -> None:
        self.options = options
        self.warnings: list[str] = []
        self.include = compile_patterns(options.include, "--include", self.warnings) if options.include else None
        self.exclude = compile_patterns(options.exclude, "--exclude", self.warnings) if options.exclude else None
        self.exclude_dirs = PathSpec(self.exclude.patterns, backend=_PATTERN_BACKEND) if self.exclude else None
        self.entries: list[_Candidate | Skipped] = []
        self.seen_files: dict[tuple[int, int], str] = {}
        self.seen_dirs: dict[tuple[int, int], str] = {}
        self.ignored = 0
        self.roots: list[str] = []  # the given paths, resolved: symlinks may not lead out of them

    def plan(self, paths: list[str], stdin: BinaryIO | None) -> list[_Candidate | Skipped]:
        if paths.count("-") > 1:
            raise InputError("'-' (stdin) can be given only once")
        if "-" in paths and stdin is None:
            raise InputError("'-' means stdin, but there is no stdin to read")
        self.roots = [os.path.realpath(path) for path in paths if path != "-"]
        stats: list[os.stat_result | OSError | None] = []
        for path in paths:
            if path == "-":
                stats.append(None)
                continue
            try:
                stats.append(os.stat(path))
            except (FileNotFoundError, NotADirectoryError) as e:
                if not os.path.islink(path):
                    raise InputError(f"no such file or directory: {path}") from None
                stats.append(e)
            except OSError as e:
                stats.append(e)
        for path, st in zip(paths, stats, strict=True):
            display = _printable(os.path.normpath(path))
            if st is None:
                self.entries.append(_Candidate(STDIN_PATH, stream=stdin))
            elif isinstance(st, (FileNotFoundError, NotADirectoryError)):
                self.entries.append(Skipped(display, "broken symlink"))
            elif isinstance(st, OSError):
                self.entries.append(Skipped(display, f"unreadable ({st.strerror or st})"))
            elif stat.S_ISDIR(st.st_mode):
                self._walk(path, display, st)
            else:
                self._add_file(display, path, st, explicit=True)
        return self.entries

    def _add_file(self, display: str, path: str, st: os.stat_result, explicit: bool) -> None:
        mode = st.st_mode
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if key in self.seen_files:
                self.entries.append(Skipped(display, f"same file as {self.seen_files[key]}"))
            else:
                self.seen_files[key] = display
                self.entries.append(_Candidate(display, path))
        elif stat.S_ISFIFO(mode) and explicit:
            self.entries.append(_Candidate(display, path, pipe=True))
        elif stat.S_ISFIFO(mode):
            self.entries.append(Skipped(display, "named pipe (name it as an argument to read it)"))
        else:
            self.entries.append(Skipped(display, f"not a regular file ({_file_kind(mode)})"))

    def _walk(self, top: str, display: str, st: os.stat_result) -> None:
        """Depth-first in name order, with an explicit stack so deep trees cannot hit the recursion limit."""
        key = (st.st_dev, st.st_ino)
        if key in self.seen_dirs:
            self.entries.append(Skipped(display, f"same directory as {self.seen_dirs[key]}"))
            return
        self.seen_dirs[key] = display
        prefix, inherited = self._inherited_ignores(top) if self.options.gitignore else ("", ())
        frames = [self._scan(top, display, "", prefix, inherited)]
        while frames:
            subdir = next(frames[-1], None)
            if subdir is None:
                frames.pop()
            else:
                frames.append(self._scan(*subdir))

    def _inherited_ignores(self, top: str) -> tuple[str, tuple[_IgnoreFile, ...]]:
        """The enclosing repository's info/exclude and the .gitignore files above `top`, and top's repo-relative path.

        An explicitly named directory is read even when those rules ignore it; then only its own .gitignore files apply.
        """
        real = os.path.realpath(top)
        repo = real
        while not os.path.exists(os.path.join(repo, ".git")):
            parent = os.path.dirname(repo)
            if parent == repo:
                return "", ()
            repo = parent
        rel = Path(os.path.relpath(real, repo)).as_posix()
        prefix = "" if rel == "." else rel + "/"
        sources = [(os.path.join(repo, ".git", "info", "exclude"), "")]
        parts = prefix.split("/")[:-1]
        sources += [
            (os.path.join(repo, *parts[:depth], ".gitignore"), "".join(p + "/" for p in parts[:depth]))
            for depth in range(len(parts))
        ]
        stack = tuple(ignore for path, base in sources if (ignore := self._read_ignore(path, base)))
        if prefix and _ignored(stack, prefix[:-1], is_dir=True):
            return prefix, ()
        return prefix, stack

    def _read_ignore(self, path: str, base: str) -> _IgnoreFile | None:
        try:
            return _IgnoreFile.read(path, base, self.warnings)
        except FileNotFoundError:
            return None
        except OSError as e:
            self.warnings.append(f"{path}: not applied ({e.strerror or e})")
            return None

    def _scan(
        self, directory: str, display: str, inner: str, prefix: str, ignores: tuple[_IgnoreFile, ...]
    ) -> Iterator[tuple[str, str, str, str, tuple[_IgnoreFile, ...]]]:
        """Queue one directory's files; yield the subdirectories to descend into, in name order."""
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda entry: entry.name)
        except OSError as e:
            self.entries.append(Skipped(display, f"unreadable directory ({e.strerror or e})"))
            return
        if self.options.gitignore and any(entry.name == ".gitignore" for entry in entries):
            found = self._read_ignore(os.path.join(directory, ".gitignore"), prefix + inner)
            ignores = (*ignores, found) if found else ignores
        for entry in entries:
            if entry.name.startswith(".") and not self.options.hidden:
                self.ignored += 1
                continue
            rel = inner + entry.name
            shown = _join_display(display, entry.name)
            if entry.is_symlink() and not self.options.follow_symlinks and not self._inside(entry.path):
                self.entries.append(Skipped(shown, OUTSIDE_REASON))
                continue
            try:
                st = entry.stat()
            except OSError as e:
                broken = e.errno == errno.ENOENT and entry.is_symlink()
                self.entries.append(Skipped(shown, "broken symlink" if broken else f"unreadable ({e.strerror or e})"))
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if self._left_out(entry, rel, prefix + rel, ignores, is_dir):
                self.ignored += 1
            elif not is_dir:
                self._add_file(shown, entry.path, st, explicit=False)
            elif (st.st_dev, st.st_ino) in self.seen_dirs:
                self.entries.append(Skipped(shown, f"same directory as {self.seen_dirs[st.st_dev, st.st_ino]}"))
            else:
                self.seen_dirs[st.st_dev, st.st_ino] = shown
                yield entry.path, shown, rel + "/", prefix, ignores

    def _inside(self, path: str) -> bool:
        """Whether `path`, every symlink resolved, is one of the given paths or lies below one."""
        real = os.path.realpath(path)
        return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in self.roots)

    def _left_out(
        self, entry: os.DirEntry[str], rel: str, repo_rel: str, ignores: tuple[_IgnoreFile, ...], is_dir: bool
    ) -> bool:
        if is_dir:
            return (
                entry.name in _SKIP_DIRS
                or os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))
                or _ignored(ignores, repo_rel, is_dir=True)
                or bool(self.exclude_dirs and self.exclude_dirs.match_file(rel + "/"))
            )
        return (
            _ignored(ignores, repo_rel, is_dir=False)
            or bool(self.exclude and self.exclude.match_file(rel))
            or bool(self.include and not self.include.match_file(rel))
        )


def _join_display(directory: str, name: str) -> str:
    name = _printable(name)
    if directory == ".":
        return name
    return directory + name if directory.endswith("/") else f"{directory}/{name}"


def _file_kind(mode: int) -> str:
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "special file"


def _printable(name: str) -> str:
    """Undecodable bytes and control characters in file names would corrupt headers, JSON and terminals."""
    name = name.encode("utf-8", "backslashreplace").decode("utf-8")
    if name.isprintable():
        return name
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


class _Unusable(Exception):
    """Raised while reading one input; its message becomes the skip reason."""


class _Stream:
    """stdin or a FIFO: counts the bytes read (its `size`) and lets the sniffed head be read again."""

    def __init__(self, raw: BinaryIO, already_read: bytes = b"") -> None:
        self.raw = raw
        self.pushed_back = already_read
        self.consumed = len(already_read)

    def read(self, n: int = -1) -> bytes:
        if self.pushed_back and n >= 0:
            data, self.pushed_back = self.pushed_back[:n], self.pushed_back[n:]
            return data
        data = self.raw.read(n)
        self.consumed += len(data)
        if self.pushed_back:
            data, self.pushed_back = self.pushed_back + data, b""
        return data


@contextmanager
def _open_fifo(path: str) -> Iterator[_Stream]:
    """Open a named pipe without hanging when no writer comes: a writer gets FIFO_WAIT_S to connect or write.

    Non-blocking, reading an empty pipe gives b"" (end of file) while no writer has it open and None once one has.
    """
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb", buffering=0) as raw:
        deadline = time.monotonic() + FIFO_WAIT_S
        first = raw.read(_HEAD_BYTES)
        while first == b"" and time.monotonic() < deadline:
            time.sleep(_FIFO_POLL_S)
            first = raw.read(_HEAD_BYTES)
        if first == b"":
            raise _Unusable(f"named pipe: nothing was written to it within {FIFO_WAIT_S:g} s")
        os.set_blocking(raw.fileno(), True)
        yield _Stream(raw, first or b"")


def _read_exact(stream: BinaryIO | _Stream | gzip.GzipFile, n: int) -> bytes:
    """Read n bytes unless the data ends: pipes and raw files may return less per call."""
    data = stream.read(n)
    if len(data) >= n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n and (data := stream.read(n - got)):
        parts.append(data)
        got += len(data)
    return b"".join(parts)


class _Loader:
    """Reads candidates one by one, in input order, against the total budget.

    A thread pool measured slower than this loop (decoding holds the GIL), so reading is sequential.
    """

    def __init__(self, options: CorpusOptions) -> None:
        self.options = options
        self.remaining = options.max_total_size
        self.warnings: list[str] = []

    def load(self, candidate: _Candidate) -> Document | Skipped:
        limit = min(self.options.max_file_size, self.remaining)
        try:
            if candidate.stream is not None:
                doc = self._load_stream(candidate, _Stream(candidate.stream), limit)
            elif candidate.pipe:
                with _open_fifo(candidate.path) as stream:
                    doc = self._load_stream(candidate, stream, limit)
            else:
                with open(candidate.path, "rb", buffering=0) as f:
                    doc = self._load_file(candidate, f, limit)
        except _Unusable as e:
            return Skipped(candidate.display, str(e))
        except OSError as e:
            return Skipped(candidate.display, f"unreadable ({e.strerror or e})")
        if doc.truncated:
            if not doc.truncated_reason:
                doc.truncated_reason = (
                    f"first {limit:,} characters kept (--max-file-size)"
                    if limit == self.options.max_file_size
                    else f"{TOTAL_LIMIT_REASON} (--max-total-size)"
                )
            self.warnings.append(f"truncated {doc.path}: {doc.truncated_reason}")
        self.remaining -= doc.chars
        return doc

    def _load_file(self, candidate: _Candidate, f: BinaryIO, limit: int) -> Document:
        size = os.fstat(f.fileno()).st_size
        # One read covers a typical log file; past _FIRST_READ the type is known before reading on.
        wanted = min(size, _FIRST_READ) + 1
        first = _read_exact(f, wanted)
        kind, mime = self._sniff(first[:_HEAD_BYTES], candidate.path)
        if kind == "text":
            return _text_document(candidate.display, "text", first, len(first) < wanted, f, size, limit)
        f.seek(0)
        if kind == "gzip":
            return self._gzip_document(candidate, f, size, limit)
        if kind == "pdf":
            return self._pdf_document(candidate.display, f, size, limit)
        raise _Unusable(_unusable_kind(kind, mime))

    def _load_stream(self, candidate: _Candidate, stream: _Stream, limit: int) -> Document:
        head = _read_exact(stream, _HEAD_BYTES)
        if not head and candidate.stream is not None:
            raise InputError("no readable input: stdin is empty")
        kind, mime = self._sniff(head, candidate.path)
        if kind == "text":
            type_ = "stdin" if candidate.stream is not None else "text"
            doc = _text_document(candidate.display, type_, head, len(head) < _HEAD_BYTES, stream, 0, limit)
        elif kind == "gzip":
            stream.pushed_back = head
            doc = self._gzip_document(candidate, stream, 0, limit)
        elif kind == "pdf":
            doc = self._pdf_document(candidate.display, io.BytesIO(head + stream.read()), 0, limit)
        else:
            raise _Unusable(_unusable_kind(kind, mime))
        doc.size = stream.consumed
        return doc

    def _gzip_document(self, candidate: _Candidate, raw: BinaryIO | _Stream, size: int, limit: int) -> Document:
        unpacked = gzip.GzipFile(fileobj=raw, mode="rb")
        try:
            head = _read_exact(unpacked, _HEAD_BYTES)
        except _READ_ERRORS as e:
            raise _Unusable(f"corrupt gzip ({e})") from None
        kind, mime = self._sniff(head, candidate.path.removesuffix(".gz"))
        if kind != "text":
            raise _Unusable(_unusable_kind(kind, mime) + (" inside gzip" if kind != "empty" else ""))
        return _text_document(candidate.display, "gzip", head, len(head) < _HEAD_BYTES, unpacked, size, limit)

    def _pdf_document(self, display: str, f: BinaryIO, size: int, limit: int) -> Document:
        pages = self._pdf_pages(f)
        if not any(page.strip() for page in pages):
            raise _Unusable("PDF has no extractable text (scanned images?)")
        text = "".join(
            PAGE_MARKER_TEMPLATE.format(page=number) + "\n" + page + ("\n" if page and page[-1] != "\n" else "")
            for number, page in enumerate(pages, 1)
        )
        truncated = len(text) > limit
        text = text[:limit] if truncated else text
        return Document(display, text, "pdf", size, len(text), pages=len(pages), truncated=truncated)

    def _pdf_pages(self, f: BinaryIO) -> list[str]:
        """Extracting a PDF takes seconds, so page texts are cached under the hash of the file's bytes."""
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        f.seek(0)
        cache_file = _pdf_cache_dir() / f"{digest}.v{_PDF_CACHE_VERSION}.json"
        try:
            pages = json.loads(cache_file.read_text("utf-8"))["pages"]
            if isinstance(pages, list) and all(isinstance(page, str) for page in pages):
                return pages
        except (OSError, ValueError, KeyError, TypeError):
            pass
        pages = _extract_pdf_pages(f)
        temporary = cache_file.with_name(f"{cache_file.name}.{os.getpid()}.tmp")
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps({"pages": pages}), "utf-8")
            os.replace(temporary, cache_file)
        except OSError as e:
            self._warn(f"PDF text cache not written to {cache_file.parent} ({e.strerror or e})")
        return pages

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def _sniff(self, head: bytes, name: str) -> tuple[str, str]:
        """Classify by the first bytes: libmagic costs ~6 ms on text, so plainly valid UTF-8 skips it."""
        if not head:
            return "empty", ""
        if head.startswith(b"%PDF-"):
            return "pdf", "application/pdf"
        if head.startswith(b"\x1f\x8b"):
            return "gzip", "application/gzip"
        if _bom_encoding(head) or (b"\0" not in head and _utf8_prefix(head)):
            return "text", "text/plain"
        detect = _magic_detector()
        if detect is None:
            self._warn(_NO_MAGIC_WARNING)
            guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if b"\0" in head or guessed.partition("/")[0] in ("image", "audio", "video", "font"):
                return "binary", guessed
            return "text", "text/plain"
        mime = detect(head)
        if mime == "application/pdf":
            return "pdf", mime
        if b"\0" in head:
            # libmagic calls a line of text followed by NUL padding (a sparse or preallocated file) text/plain.
            return "binary", "application/octet-stream" if _is_text_mime(mime) else mime
        if _is_text_mime(mime) or mime == "application/octet-stream":
            return "text", mime
        return "binary", mime


def _unusable_kind(kind: str, mime: str) -> str:
    return "empty" if kind == "empty" else f"binary ({mime})"


def _is_text_mime(mime: str) -> bool:
    return mime.startswith(("text/", "message/")) or mime.endswith(("+xml", "+json")) or mime in _TEXT_APPLICATION_TYPES


@cache
def _magic_detector() -> Callable[[bytes], str] | None:
    """python-magic raises ImportError without libmagic, other errors if its database is broken."""
    try:
        import magic

        magic.from_buffer(b"probe", mime=True)
    except Exception:
        return None
    return lambda head: magic.from_buffer(head, mime=True)


def _bom_encoding(data: bytes) -> str | None:
    return next((name for bom, name in _BOMS if data.startswith(bom)), None)


def _utf8_prefix(head: bytes) -> bool:
    try:
        codecs.utf_8_decode(head, "strict", False)
    except UnicodeDecodeError:
        return False
    return True


def _text_document(
    display: str, type_: str, first: bytes, eof: bool, rest: BinaryIO | _Stream | gzip.GzipFile, size: int, limit: int
) -> Document:
    text, encoding, more, problem = _read_text(first, eof, rest, limit)
    if not text:
        raise _Unusable("empty")
    truncated = more or bool(problem)
    return Document(
        display, text, type_, size, len(text), encoding=encoding, truncated=truncated, truncated_reason=problem
    )


def _read_text(
    first: bytes, eof: bool, rest: BinaryIO | _Stream | gzip.GzipFile, limit: int
) -> tuple[str, str, bool, str]:
    """Decode `first` and then `rest` up to `limit` characters, reading no more than that needs.

    Returns the text, the encoding used, whether input was left unread, and what stopped reading early.
    """
    text, decoder, encoding = _first_decode(first, eof)
    problem = ""
    try:
        # `text += more` grows the string in place, so a large file is not held twice (see inputs/bundle.decode).
        # `while True`: CPython 3.11 specializes a loop for that only when it jumps back unconditionally.
        while True:
            if eof or len(text) >= limit:
                break
            want = min(limit - len(text), _CHUNK)
            data = _read_exact(rest, want)
            eof = len(data) < want
            more, encoding = _decode_more(decoder, data, eof, encoding)
            text += more
        eof = eof or not rest.read(1)
    except _READ_ERRORS as e:
        problem = f"reading stopped part-way ({e})"
    if len(text) > limit:
        text = text[:limit]
        eof = False
    return text, encoding, not eof, problem


def _first_decode(data: bytes, eof: bool) -> tuple[str, codecs.IncrementalDecoder, str]:
    """Pick the encoding from the first chunk: a BOM, else strict UTF-8 (to notice bad bytes), else cp1252."""
    bom = _bom_encoding(data)
    if bom:
        decoder = codecs.getincrementaldecoder(bom)("replace")
        return decoder.decode(data, eof), decoder, bom
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        text = decoder.decode(data, eof)
        label = "utf-8"
    except UnicodeDecodeError:
        encoding, label = _fallback_encoding(data)
        decoder = codecs.getincrementaldecoder(encoding)("replace")
        text = decoder.decode(data, eof)
    return text, decoder, label


def _decode_more(decoder: codecs.IncrementalDecoder, data: bytes, eof: bool, label: str) -> tuple[str, str]:
    """UTF-8 that turns invalid after the first chunk keeps its encoding, with the bad bytes replaced."""
    try:
        return decoder.decode(data, eof), label
    except UnicodeDecodeError:
        decoder.errors = "replace"
        return decoder.decode(data, eof), "utf-8 (invalid bytes replaced)"


def _fallback_encoding(data: bytes) -> tuple[str, str]:
    """Mostly-valid UTF-8 (a few corrupt bytes in a log) keeps UTF-8; no valid multibyte text at all means cp1252."""
    replaced = data.decode("utf-8", "replace")
    invalid = replaced.count("\ufffd")
    multibyte = len(replaced) - len(replaced.encode("ascii", "ignore")) - invalid
    if multibyte >= invalid:
        return "utf-8", "utf-8 (invalid bytes replaced)"
    return "cp1252", "cp1252"


def _pdf_cache_dir() -> Path:
    return Path(os.environ.get("RLM_CACHE_DIR") or platformdirs.user_cache_dir("rlm")) / "pdf"


def _extract_pdf_pages(f: BinaryIO) -> list[str]:
    """pypdf raises many kinds of exception on malformed files; each becomes a skip reason, one bad page a note."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(f)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError:
                raise _Unusable("encrypted PDF (AES; needs the 'cryptography' package)") from None
            if not opened:
                raise _Unusable("encrypted PDF (needs a password)")
        pages = list(reader.pages)
    except _Unusable:
        raise
    except Exception as e:
        raise _Unusable(f"unreadable PDF ({type(e).__name__}: {e})") from None
    texts = []
    for page in pages:
        try:
            texts.append(page.extract_text() or "")
        except Exception as e:
            texts.append(f"[text extraction failed: {type(e).__name__}: {e}]\n")
    return texts
