"""Behaviour of corpus loading and of the bundle handed to the REPL child."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pypdf import PdfWriter

from rlm_cli.errors import InputError
from rlm_cli.inputs import bundle as bundle_module
from rlm_cli.inputs import corpus as corpus_module
from rlm_cli.inputs.bundle import load_bundle, release, write_bundle
from rlm_cli.inputs.corpus import Corpus, CorpusOptions, Document, load_corpus


def make_text_pdf(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF with one Helvetica text line per string (pypdf cannot lay out text itself)."""
    objects: list[bytes] = [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>", b""]
    kids = []
    for lines in pages:
        ops = ["BT /F1 11 Tf 14 TL 50 780 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("cp1252")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 1 0 R >> >> "
            b"/Contents %d 0 R >>" % (len(objects))
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, len(objects), xref)
    return bytes(out)


TWO_PAGES = [["First page: build started", "caf\xe9 (cached)"], ["Second page: 3 tests failed"]]


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def paths_of(corpus: Corpus) -> list[str]:
    return [doc.path for doc in corpus.documents]


def texts(corpus: Corpus) -> dict[str, str]:
    return {doc.path: doc.text for doc in corpus.documents}


def reasons(corpus: Corpus) -> dict[str, str]:
    return {skip.path: skip.reason for skip in corpus.skipped}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths read like a user's, and the PDF cache never touches the real one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RLM_CACHE_DIR", str(tmp_path / "cache"))


def load(*paths: str, **options: object) -> Corpus:
    return load_corpus(list(paths), CorpusOptions(**options))  # type: ignore[arg-type]


# --- what a directory yields -----------------------------------------------------------------------------


def test_mixed_directory_yields_exactly_the_readable_documents(tmp_path: Path) -> None:
    write(tmp_path / "logs/app/api.log", "2024-05-01 INFO started\n2024-05-01 ERROR boom\n")
    write(tmp_path / "logs/app/nested/deep/worker.log", "worker ok\n")
    write(tmp_path / "logs/.gitignore", "build/\n")
    write(tmp_path / "logs/build/output.log", "should never be read\n")
    write(tmp_path / "logs/.git/config", "[core]\n")
    write(tmp_path / "logs/tool.bin", b"\x7fELF\x02\x01\x01\x00" + bytes(200) + b"\x01\x02")
    write(tmp_path / "logs/legacy.txt", "caf\xe9 cr\xe8me\n".encode("latin-1"))
    write(tmp_path / "logs/report.pdf", make_text_pdf(TWO_PAGES))

    corpus = load("./logs/")

    assert paths_of(corpus) == [
        "logs/app/api.log",
        "logs/app/nested/deep/worker.log",
        "logs/legacy.txt",
        "logs/report.pdf",
    ]
    assert reasons(corpus)["logs/tool.bin"].startswith("binary (application/")
    docs = {doc.path: doc for doc in corpus.documents}
    assert docs["logs/legacy.txt"].text == "caf\xe9 cr\xe8me\n"
    assert docs["logs/legacy.txt"].encoding == "cp1252"
    pdf = docs["logs/report.pdf"]
    assert (pdf.type, pdf.pages) == ("pdf", 2)
    assert pdf.text.index("--- page 1 ---") < pdf.text.index("First page") < pdf.text.index("--- page 2 ---")
    assert "caf\xe9 (cached)" in pdf.text and "3 tests failed" in pdf.text
    assert not any("\0" in doc.text or "never be read" in doc.text for doc in corpus.documents)
    assert corpus.total_chars == sum(len(doc.text) for doc in corpus.documents)


def test_nested_gitignore_negations_override_parents(tmp_path: Path) -> None:
    write(tmp_path / "r/.gitignore", "*.log\n!keep.log\n")
    write(tmp_path / "r/a.log", "ignored\n")
    write(tmp_path / "r/keep.log", "kept by negation\n")
    write(tmp_path / "r/sub/.gitignore", "!*.log\n")
    write(tmp_path / "r/sub/b.log", "re-included below\n")
    write(tmp_path / "r/sub/deeper/.gitignore", "secret.txt\n")
    write(tmp_path / "r/sub/deeper/secret.txt", "ignored\n")
    write(tmp_path / "r/sub/deeper/ok.txt", "kept\n")
    write(tmp_path / "r/docs/.gitignore", "*\n!*/\n!*.md\n")
    write(tmp_path / "r/docs/guide/intro.md", "whitelisted\n")
    write(tmp_path / "r/docs/guide/draft.txt", "ignored\n")

    assert paths_of(load("r")) == [
        "r/docs/guide/intro.md",
        "r/keep.log",
        "r/sub/b.log",
        "r/sub/deeper/ok.txt",
    ]
    assert "r/a.log" in paths_of(load("r", gitignore=False))


def test_repository_exclude_file_and_parent_gitignore_apply(tmp_path: Path) -> None:
    write(tmp_path / "repo/.git/info/exclude", "local-notes.txt\n")
    write(tmp_path / "repo/.gitignore", "*.tmp\nbuild/\n")
    write(tmp_path / "repo/local-notes.txt", "excluded by info/exclude\n")
    write(tmp_path / "repo/sub/x.tmp", "ignored by the parent .gitignore\n")
    write(tmp_path / "repo/sub/y.txt", "kept\n")
    write(tmp_path / "repo/build/out.log", "kept when named explicitly\n")

    assert paths_of(load("repo")) == ["repo/sub/y.txt"]
    assert paths_of(load("repo/sub")) == ["repo/sub/y.txt"]
    assert paths_of(load("repo/build")) == ["repo/build/out.log"]


def test_include_and_exclude_globs_are_relative_to_the_root(tmp_path: Path) -> None:
    write(tmp_path / "ci/test.log", "t\n")
    write(tmp_path / "ci/build.txt", "b\n")
    write(tmp_path / "ci/nested/unit.log", "u\n")
    write(tmp_path / "ci/skip/other.log", "o\n")

    assert paths_of(load("ci", include=["*.log"])) == ["ci/nested/unit.log", "ci/skip/other.log", "ci/test.log"]
    assert paths_of(load("ci", include=["*.log"], exclude=["skip/"])) == ["ci/nested/unit.log", "ci/test.log"]
    assert paths_of(load("ci", exclude=["/test.log", "nested"])) == ["ci/build.txt", "ci/skip/other.log"]
    explicit = load("ci/build.txt", include=["*.log"])
    assert paths_of(explicit) == ["ci/build.txt"]


def test_hidden_files_and_junk_directories(tmp_path: Path) -> None:
    write(tmp_path / "p/app.log", "a\n")
    write(tmp_path / "p/.env", "SECRET=1\n")
    write(tmp_path / "p/.config/settings.ini", "[x]\n")
    write(tmp_path / "p/.git/HEAD", "ref: refs/heads/main\n")
    write(tmp_path / "p/node_modules/lib/index.js", "x\n")
    write(tmp_path / "p/__pycache__/m.txt", "x\n")
    write(tmp_path / "p/myenv/pyvenv.cfg", "home = /usr\n")
    write(tmp_path / "p/myenv/lib/site.txt", "x\n")
    write(tmp_path / "p/dist/report.txt", "kept: CI artifacts often live in dist/\n")

    assert paths_of(load("p")) == ["p/app.log", "p/dist/report.txt"]
    assert paths_of(load("p", hidden=True)) == ["p/.config/settings.ini", "p/.env", "p/app.log", "p/dist/report.txt"]
    assert load("p").ignored >= 5


def test_symlink_loop_terminates_and_no_file_is_read_twice(tmp_path: Path) -> None:
    write(tmp_path / "s/a.log", "only once\n")
    (tmp_path / "s/loop").symlink_to("..")
    (tmp_path / "s/self").symlink_to(".")
    (tmp_path / "s/z-link.log").symlink_to("a.log")
    (tmp_path / "s/broken.log").symlink_to("missing.log")

    corpus = load("s", "s/a.log")

    assert paths_of(corpus) == ["s/a.log"]
    skipped = reasons(corpus)
    assert skipped["s/z-link.log"] == "same file as s/a.log"
    assert skipped["s/broken.log"] == "broken symlink"
    assert skipped["s/self"] == "same directory as s"


def test_two_loads_are_identical(tmp_path: Path) -> None:
    for i in range(30):
        write(tmp_path / f"d/{i % 4}/f{i}.log", f"line {i}\n" * (i + 1))
    write(tmp_path / "d/bin.dat", bytes(range(256)) * 4)

    first, second = load("d"), load("d")

    assert dataclasses.asdict(first) == dataclasses.asdict(second)
    assert paths_of(first) == sorted(paths_of(first), key=lambda p: p.split("/"))


# --- encodings ----------------------------------------------------------------------------------------


def test_invalid_utf8_in_the_middle_keeps_the_rest_of_the_log(tmp_path: Path) -> None:
    good = "d\xe9marrage ok \u2713\n".encode() * 50
    body = good + b"\xff\xfe\xc3 corrupted\n" + "the rest survives \u2713\n".encode()
    write(tmp_path / "mixed.log", body)
    write(tmp_path / "ascii.log", b"start\n" + b"\x9d\xff garbage\n" + b"end of log\n")

    mixed, ascii_ = load("mixed.log").documents[0], load("ascii.log").documents[0]

    assert mixed.text.endswith("the rest survives \u2713\n") and "d\xe9marrage" in mixed.text
    assert "\ufffd" in mixed.text and mixed.encoding.startswith("utf-8")
    assert ascii_.text.startswith("start\n") and ascii_.text.endswith("end of log\n")


def test_utf16_and_utf8_byte_order_marks(tmp_path: Path) -> None:
    write(tmp_path / "wide.log", "h\xe9llo from Windows\r\n".encode("utf-16"))
    write(tmp_path / "bom.log", b"\xef\xbb\xbfno BOM in text\n")

    assert load("wide.log").documents[0].text == "h\xe9llo from Windows\r\n"
    bom = load("bom.log").documents[0]
    assert (bom.text, bom.encoding) == ("no BOM in text\n", "utf-8-sig")


def test_without_libmagic_types_come_from_nul_bytes_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(corpus_module, "_magic_detector", lambda: None)
    write(tmp_path / "m/a.txt", "caf\xe9\n".encode("latin-1"))
    write(tmp_path / "m/b.txt", "na\xefve\n".encode("latin-1"))
    write(tmp_path / "m/c.bin", b"\x00\x01\x02" * 10)

    corpus = load("m")

    assert texts(corpus) == {"m/a.txt": "caf\xe9\n", "m/b.txt": "na\xefve\n"}
    assert "m/c.bin" in reasons(corpus)
    assert len(corpus.warnings) == 1 and "libmagic" in corpus.warnings[0]


# --- PDFs -----------------------------------------------------------------------------------------------


def encrypted_pdf(user_password: str, algorithm: str = "RC4-128") -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(make_text_pdf(TWO_PAGES)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_encrypted_and_truncated_pdfs_are_skipped_with_reasons(tmp_path: Path) -> None:
    pdf = make_text_pdf(TWO_PAGES)
    write(tmp_path / "p/locked.pdf", encrypted_pdf("secret"))
    write(tmp_path / "p/open-with-empty-password.pdf", encrypted_pdf(""))
    write(tmp_path / "p/truncated.pdf", pdf[: len(pdf) // 2])

    corpus = load("p")

    assert paths_of(corpus) == ["p/open-with-empty-password.pdf"]
    assert "3 tests failed" in corpus.documents[0].text
    assert reasons(corpus)["p/locked.pdf"] == "encrypted PDF (needs a password)"
    assert reasons(corpus)["p/truncated.pdf"].startswith("unreadable PDF (")


def test_pdf_text_is_cached_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "a.pdf", make_text_pdf(TWO_PAGES))
    first = load("a.pdf").documents[0]
    assert len(list((tmp_path / "cache/pdf").glob("*.json"))) == 1

    def must_not_extract(_: object) -> list[str]:
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(corpus_module, "_extract_pdf_pages", must_not_extract)
    write(tmp_path / "copy-elsewhere.pdf", make_text_pdf(TWO_PAGES))
    assert load("a.pdf").documents[0].text == first.text
    assert load("copy-elsewhere.pdf").documents[0].text == first.text


def test_unwritable_pdf_cache_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "not-a-dir", "a file where the cache directory should be\n")
    monkeypatch.setenv("RLM_CACHE_DIR", str(tmp_path / "not-a-dir"))
    write(tmp_path / "a.pdf", make_text_pdf(TWO_PAGES))

    corpus = load("a.pdf")

    assert corpus.documents[0].pages == 2
    assert len(corpus.warnings) == 1 and "cache" in corpus.warnings[0]


# --- gzip, empty, unreadable, special files -----------------------------------------------------------------


def test_gzip_logs_are_decompressed_and_binary_or_corrupt_ones_skipped(tmp_path: Path) -> None:
    log = "".join(f"2024-05-01T00:00:{i % 60:02d} INFO request {i} done\n" for i in range(20_000))
    write(tmp_path / "z/app.log.gz", gzip.compress(log.encode()))
    write(tmp_path / "z/rotated.1", gzip.compress(b"no .gz suffix, found by magic\n"))
    write(tmp_path / "z/image.gz", gzip.compress(b"\x89PNG\r\n\x1a\n" + bytes(64)))
    write(tmp_path / "z/corrupt.gz", b"\x1f\x8b\x08\x00garbage that is not deflate")
    cut = gzip.compress(log.encode())
    write(tmp_path / "z/cut-short.gz", cut[: len(cut) // 2])

    corpus = load("z")
    docs = {doc.path: doc for doc in corpus.documents}

    assert docs["z/app.log.gz"].text == log and docs["z/app.log.gz"].type == "gzip"
    assert docs["z/rotated.1"].text == "no .gz suffix, found by magic\n"
    partial = docs["z/cut-short.gz"]
    assert partial.truncated and "part-way" in partial.truncated_reason and log.startswith(partial.text)
    assert reasons(corpus)["z/image.gz"] == "binary (application/octet-stream) inside gzip"
    assert reasons(corpus)["z/corrupt.gz"].startswith("corrupt gzip")


def test_empty_files_are_skipped_and_only_empty_input_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "e/empty.log", b"")
    write(tmp_path / "e/full.log", "x\n")

    assert reasons(load("e")) == {"e/empty.log": "empty"}
    with pytest.raises(InputError, match="no readable input: e/empty.log: empty$"):
        load("e/empty.log")


def test_unreadable_file_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "u/locked.log", "secret\n")
    write(tmp_path / "u/open.log", "fine\n")
    real_open = open

    def guarded_open(path: object, *args: object, **kwargs: object) -> object:
        if str(path).endswith("locked.log"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(corpus_module, "open", guarded_open, raising=False)

    corpus = load("u")
    assert paths_of(corpus) == ["u/open.log"]
    assert reasons(corpus) == {"u/locked.log": "unreadable (Permission denied)"}
    with pytest.raises(InputError, match="no readable input: u/locked.log"):
        load("u/locked.log")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_unreadable_file_by_permissions(tmp_path: Path) -> None:
    locked = write(tmp_path / "locked.log", "secret\n")
    locked.chmod(0)
    with pytest.raises(InputError, match="Permission denied"):
        load("locked.log")


def test_device_is_skipped_and_missing_path_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "ok.log", "x\n")

    assert reasons(load("ok.log", "/dev/null")) == {"/dev/null": "not a regular file (character device)"}
    with pytest.raises(InputError, match="no such file or directory: nope.log"):
        load("ok.log", "nope.log")


def test_fifo_argument_is_read_as_a_stream(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    writer = threading.Thread(target=lambda: (tmp_path / "pipe").write_text("streamed through a FIFO\n"))
    writer.start()
    corpus = load("pipe")
    writer.join(timeout=10)

    doc = corpus.documents[0]
    assert (doc.path, doc.type, doc.text, doc.size) == ("pipe", "text", "streamed through a FIFO\n", 24)


def test_fifo_inside_a_directory_is_not_opened(tmp_path: Path) -> None:
    write(tmp_path / "d/a.log", "x\n")
    os.mkfifo(tmp_path / "d/pipe")

    assert "named pipe" in reasons(load("d"))["d/pipe"]


def test_fifo_without_a_writer_gives_up_but_a_silent_writer_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(corpus_module, "FIFO_WAIT_S", 0.3)
    write(tmp_path / "ok.log", "x\n")
    os.mkfifo(tmp_path / "idle")
    assert reasons(load("idle", "ok.log")) == {"idle": "named pipe: nothing was written to it within 0.3 s"}

    def slow_writer() -> None:
        with open(tmp_path / "slow", "w") as pipe:
            time.sleep(1.0)  # connected but silent for longer than the wait
            pipe.write("late but complete\n")

    os.mkfifo(tmp_path / "slow")
    writer = threading.Thread(target=slow_writer)
    writer.start()
    corpus = load("slow")
    writer.join(timeout=10)
    assert texts(corpus) == {"slow": "late but complete\n"}


def test_explicit_broken_symlink_is_skipped(tmp_path: Path) -> None:
    write(tmp_path / "ok.log", "x\n")
    (tmp_path / "dangling.log").symlink_to(tmp_path / "gone.log")

    assert reasons(load("dangling.log", "ok.log")) == {"dangling.log": "broken symlink"}
    with pytest.raises(InputError, match="^no readable input: dangling.log: broken symlink$"):
        load("dangling.log")


# --- limits -------------------------------------------------------------------------------------------------


def test_sparse_2gb_file_is_binary_and_never_loaded(tmp_path: Path) -> None:
    with open(tmp_path / "huge.img", "wb") as f:
        f.truncate(2 << 30)
    with open(tmp_path / "padded.log", "wb") as f:
        f.write(b"a line, then NUL padding that libmagic still calls text/plain\n")
        f.truncate(2 << 30)
    write(tmp_path / "small.log", "x\n")

    corpus = load("huge.img", "padded.log", "small.log")

    assert reasons(corpus) == {
        "huge.img": "binary (application/octet-stream)",
        "padded.log": "binary (application/octet-stream)",
    }


def test_large_text_file_is_truncated_to_the_limit(tmp_path: Path) -> None:
    write(tmp_path / "big.log", "0123456789abcdef ERROR something\n" * 160_000)
    write(tmp_path / "wide.log", "\xe9\u4e2d" * 1_000_000)

    big = load("big.log", max_file_size=1_000_000).documents[0]
    wide = load("wide.log", max_file_size=1_000_000).documents[0]

    assert big.size > 5_000_000 and big.chars == len(big.text) == 1_000_000
    assert big.truncated and big.truncated_reason == "first 1,000,000 characters kept (--max-file-size)"
    assert wide.chars == 1_000_000 and wide.text.startswith("\xe9\u4e2d") and wide.truncated


def test_total_limit_truncates_then_skips(tmp_path: Path) -> None:
    for name in "abcd":
        write(tmp_path / f"t/{name}.log", name * 399 + "\n")

    corpus = load("t", max_total_size=1_000)

    assert [doc.chars for doc in corpus.documents] == [400, 400, 200]
    assert corpus.documents[2].truncated_reason == "total size limit reached (--max-total-size)"
    assert corpus.warnings == ["truncated t/c.log: total size limit reached (--max-total-size)"]
    assert reasons(corpus) == {"t/d.log": "total size limit reached"}
    assert corpus.summary()["truncated"] == [{"path": "t/c.log", "reason": corpus.documents[2].truncated_reason}]


# --- stdin ----------------------------------------------------------------------------------------------


def test_stdin_stream(tmp_path: Path) -> None:
    write(tmp_path / "after.log", "file\n")
    stdin = io.BytesIO(b"panic: runtime error\ngoroutine 1 [running]\n")

    corpus = load_corpus(["-", "after.log"], CorpusOptions(), stdin=stdin)

    doc = corpus.documents[0]
    assert (doc.path, doc.type, doc.size, doc.lines) == ("<stdin>", "stdin", 43, 2)
    assert paths_of(corpus) == ["<stdin>", "after.log"]


def test_long_stdin_stops_at_the_limit() -> None:
    stdin = io.BytesIO(b"0123456789\n" * 100_000)
    doc = load_corpus(["-"], CorpusOptions(max_file_size=50_000), stdin=stdin).documents[0]
    assert (doc.chars, doc.truncated) == (50_000, True)
    assert doc.size < 1_100_000 and "--max-file-size" in doc.truncated_reason


def test_pdf_on_stdin_and_pdf_without_text(tmp_path: Path) -> None:
    piped = load_corpus(["-"], CorpusOptions(), stdin=io.BytesIO(make_text_pdf(TWO_PAGES))).documents[0]
    assert (piped.path, piped.type, piped.pages) == ("<stdin>", "pdf", 2)
    write(tmp_path / "scan.pdf", make_text_pdf([[], []]))
    write(tmp_path / "x.log", "x\n")
    assert reasons(load("scan.pdf", "x.log")) == {"scan.pdf": "PDF has no extractable text (scanned images?)"}


def test_compressed_stdin_is_decompressed() -> None:
    stdin = io.BytesIO(gzip.compress(b"from a pipe\n" * 1000))
    doc = load_corpus(["-"], CorpusOptions(), stdin=stdin).documents[0]
    assert (doc.type, doc.text) == ("gzip", "from a pipe\n" * 1000)


@pytest.mark.parametrize(
    ("paths", "stdin", "message"),
    [
        (["-"], b"", "stdin is empty"),
        (["-", "-"], b"x", "only once"),
        ([], b"x", "no input"),
    ],
)
def test_bad_stdin_use_is_an_input_error(paths: list[str], stdin: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_corpus(paths, CorpusOptions(), stdin=io.BytesIO(stdin))


# --- documents, summary and the bundle ----------------------------------------------------------------------


def test_document_lines_are_counted_on_demand() -> None:
    assert Document("a", "one\ntwo", "text", 7, 7).lines == 2
    assert Document("a", "one\n", "text", 4, 4).lines == 1
    assert Document("a", "x", "text", 1, 1, lines=99).lines == 99


def test_summary_is_json_ready_and_capped(tmp_path: Path) -> None:
    for i in range(12):
        write(tmp_path / f"s/dir{i % 3}/f{i:02d}.log", "x\n" * i + "end\n")
    write(tmp_path / "s/blob.bin", bytes(100))

    summary = load("s").summary(max_paths=5)

    json.dumps(summary)
    assert summary["documents"] == 12
    assert summary["files"][-1] == "... and 7 more files" and len(summary["files"]) == 6
    assert summary["by_type"] == {"text": {"documents": 12, "chars": summary["total_chars"]}}
    assert summary["skipped"] == [{"path": "s/blob.bin", "reason": "binary (application/octet-stream)"}]
    assert [row["path"] for row in summary["directories"]] == ["s/dir0", "s/dir1", "s/dir2"]


def test_bundle_keeps_offsets_when_text_is_not_encodable(tmp_path: Path) -> None:
    odd = Document("odd.pdf", "lone \ud800 surrogate\n", "pdf", 10, 18, pages=1)
    after = Document("after.log", "still aligned\n", "text", 14, 14)

    _, documents = load_bundle(write_bundle(Corpus([odd, after]), str(tmp_path / "bundle")))

    assert [d.text for d in documents] == ["lone ? surrogate\n", "still aligned\n"]


def test_bundle_round_trip(tmp_path: Path) -> None:
    write(tmp_path / "b/a.log", "first\nno trailing newline")
    write(tmp_path / "b/\u00fcnicode dir/b.log", "second \u2713\n")
    write(tmp_path / "b/r.pdf", make_text_pdf(TWO_PAGES))
    corpus = load("b")

    context, documents = load_bundle(write_bundle(corpus, str(tmp_path / "bundle")))

    assert [(d.path, d.text, d.type, d.pages) for d in documents] == [
        (d.path, d.text, d.type, d.pages) for d in corpus.documents
    ]
    assert [d.lines for d in documents] == [d.lines for d in corpus.documents]
    assert re.findall(r"^=== FILE: (.*) ===$", context, re.MULTILINE) == paths_of(corpus)  # the header the prompt names
    assert context.startswith("=== FILE: b/a.log ===\nfirst\n")
    pdf = documents[1]
    assert repr(pdf) == f"<Document 'b/r.pdf' pdf, {pdf.chars} chars, {pdf.lines} lines, 2 pages>"


def test_released_documents_read_their_text_back_from_the_bundle(tmp_path: Path) -> None:
    write(tmp_path / "b/a.log", "first\nno trailing newline")
    write(tmp_path / "b/\u00fcnicode dir/b.log", "second \u2713 \U0001f600\n" * 3)
    write(tmp_path / "b/r.pdf", make_text_pdf(TWO_PAGES))
    corpus = load("b")
    odd = Document("odd.pdf", "lone \ud800 surrogate\n", "pdf", 10, 17, pages=1)
    corpus.documents.append(odd)
    before = [(d.path, d.text, d.lines) for d in corpus.documents]
    bundle = write_bundle(corpus, str(tmp_path / "bundle"))

    release(corpus, bundle)
    (tmp_path / "bundle" / "context.txt").unlink()  # the REPL's workdir is removed when the run ends

    assert not any(isinstance(d.__dict__["_text"], str) for d in corpus.documents)  # the parent holds no text
    after = [(d.path, d.text, d.lines) for d in corpus.documents]
    assert after[:-1] == before[:-1]
    assert after[-1] == ("odd.pdf", "lone ? surrogate\n", 1)  # what the child has: the lone surrogate was replaced
    assert "text" not in repr(odd) and odd.text is not odd.text  # read each time it is asked for, never kept


def test_release_leaves_a_corpus_the_bundle_was_not_written_from_alone(tmp_path: Path) -> None:
    bundle = write_bundle(Corpus([Document("a.log", "alpha\n", "text", 6, 6)]), str(tmp_path))
    other = Corpus([Document("b.log", "beta\n", "text", 5, 5)])
    release(other, bundle)
    assert other.documents[0].__dict__["_text"] == "beta\n"


def test_chunks_split_inside_a_character_decode_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_module, "CHUNK", 5)  # 5 bytes: most multi-byte characters straddle two chunks
    text = "ascii first, then \u00e9\u00e8 and \u2713\u2713 and \U0001f600\U0001f601 mixed\n" * 7
    corpus = Corpus([Document("a.log", text, "text", 0, len(text)), Document("b.log", "tail", "text", 4, 4)])

    context, documents = load_bundle(write_bundle(corpus, str(tmp_path)))
    release(corpus, str(tmp_path / "index.json"))

    assert [d.text for d in documents] == [text, "tail"] == [d.text for d in corpus.documents]
    assert context == f"=== FILE: a.log ===\n{text}=== FILE: b.log ===\ntail\n"


BIG_LINE = "2024-05-01T10:00:00Z INFO [api] request completed status=200\n"
BIG = 32 * 2**20


def peak_growth(setup: str, load: str, path: str) -> tuple[int, int]:
    """Characters loaded by `load` (an expression on `path`) in a fresh process, and how much its peak RSS grew."""
    code = (
        f"import resource, sys\n{setup}\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"text = {load}\n"
        "print(len(text), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, check=True)
    chars, grown = map(int, out.stdout.split())
    return chars, grown


def test_the_child_loads_a_bundle_without_a_second_copy_of_it(tmp_path: Path) -> None:
    """The REPL child holds `context` and, while it decodes, a chunk more: not the file's bytes as well."""
    text = BIG_LINE * (BIG // len(BIG_LINE))
    bundle = write_bundle(Corpus([Document("big.log", text, "text", len(text), len(text))]), str(tmp_path))
    del text
    setup = "from rlm_cli.inputs.bundle import load_bundle"
    chars, grown = peak_growth(setup, "load_bundle(sys.argv[1])[0]", bundle)
    assert chars > BIG * 0.99
    assert grown < 1.3 * chars  # bytes and string at once would be 2x


def test_a_large_file_loads_without_a_second_copy_of_it(tmp_path: Path) -> None:
    """A file's text grows as it is read: never the pieces and the whole at once."""
    write(tmp_path / "big.log", BIG_LINE * (BIG // len(BIG_LINE)))
    setup = "from rlm_cli.inputs.corpus import CorpusOptions, load_corpus"
    chars, grown = peak_growth(setup, "load_corpus([sys.argv[1]], CorpusOptions()).documents[0].text", str(tmp_path))
    assert chars > BIG * 0.99
    assert grown < 1.3 * chars  # the pieces and their join would be 2x


def test_documents_in_the_repl_behave_like_their_text(tmp_path):
    from rlm_cli.engine.loop import corpus_from_text
    from rlm_cli.inputs.bundle import load_bundle, write_bundle

    _, documents = load_bundle(write_bundle(corpus_from_text("alpha FATAL beta\n"), str(tmp_path)))
    assert "FATAL" in documents[0] and "OMEGA" not in documents[0]
    assert str(documents[0]) == "alpha FATAL beta\n"
    two = Corpus([Document("a.log", "alpha\n", "text", 6, 6), Document("b.log", "beta", "text", 4, 4)])
    _, (first, second) = load_bundle(write_bundle(two, str(tmp_path / "two")))
    assert "" in first and "alpha\n" in first and "beta" in second  # as in their text
    assert "beta" not in first and "alpha\n===" not in first and "beta\n" not in second  # nothing past their ends
    with pytest.raises(TypeError):
        assert 1 in first
