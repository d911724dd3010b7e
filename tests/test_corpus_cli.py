"""Corpus loading through the installed `rlm` command: what the REPL gets, what the user is told, and bad input."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest
from conftest import fence
from fakellm import FakeLLM
from test_corpus import encrypted_pdf, make_text_pdf, write

from rlm_cli.errors import EXIT_INPUT, EXIT_OK
from rlm_cli.inputs import corpus

PROC_MEM = "/proc/self/mem"  # exists and opens, but reading offset 0 fails with EIO, even for root
needs_proc_mem = pytest.mark.skipif(not os.path.exists(PROC_MEM), reason="needs Linux /proc")

# The scripted root model's code prints one JSON line starting with this marker; the test reads it back.
MARKER = "REPORT="
BINARY = b"\x7fELF\x02\x01\x01\x00" + bytes(200) + b"BINARY-PAYLOAD"


def root_args(fake: FakeLLM) -> list[str]:
    return ["--model", "openai/root", "--api-base", fake.url]


# For tests of what reaches the REPL: the plain method, since a guide's first block would spend scripted replies
# on its sub-calls (the sub-model is the root model here).
PLAIN = ("--guidance", "off")


def repl_report(fake: FakeLLM) -> dict[str, object]:
    """The JSON the first code block printed, as the engine showed it to the root model on its second turn."""
    shown = fake.requests_for("root")[1].last_user
    match = re.search(re.escape(MARKER) + r"(.*)", shown)
    assert match, shown
    return json.loads(match.group(1))


def report_code(fields: str) -> str:
    return fence(f"import json\nprint({MARKER!r} + json.dumps({{{fields}}}))")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The issue's mixed directory: nested text, an ignored build folder, .git, a binary, Latin-1, a 2-page PDF."""
    root = tmp_path / "project"
    write(root / "src/app.log", "INFO start\nERROR boom\n")
    write(root / "src/nested/deep/worker.log", "worker ok\n")
    write(root / ".gitignore", "build/\n")
    write(root / "build/out.log", "IGNORED-BUILD-OUTPUT\n")
    write(root / ".git/config", "[core] IGNORED-GIT-CONFIG\n")
    write(root / "tool.bin", BINARY)
    write(root / "legacy.txt", "caf\xe9 cr\xe8me\n".encode("latin-1"))
    write(root / "report.pdf", make_text_pdf([["PAGE-ONE-MARKER build started"], ["PAGE-TWO-MARKER 3 failed"]]))
    corrupt_line = b"\xff\xfe\xc3 corrupted\n"
    write(root / "mixed.log", "d\xe9marrage ok \u2713\n".encode() * 50 + corrupt_line + "END \u2713\n".encode())
    return root


PROJECT_DOCUMENTS = [
    "project/legacy.txt",
    "project/mixed.log",
    "project/report.pdf",
    "project/src/app.log",
    "project/src/nested/deep/worker.log",
]


# --- what reaches the REPL ------------------------------------------------------------------------------------


def test_stdin_and_a_directory_give_the_repl_exactly_the_readable_documents(fake_llm, rlm_main, project):
    fake_llm.script(
        "root",
        report_code(
            r"""
"paths": [d.path for d in documents],
"stdin": [documents[0].type, documents[0].text],
"pages": [m in context for m in ("--- page 1 ---", "PAGE-ONE-MARKER", "--- page 2 ---", "PAGE-TWO-MARKER")],
"pdf": [(d.type, d.pages) for d in documents if d.path.endswith(".pdf")],
"latin1": documents[1].text,
"mixed": [documents[2].text.endswith("END \u2713\n"), "\ufffd" in documents[2].text],
"leaked": [s for s in ("IGNORED-BUILD", "IGNORED-GIT", "BINARY-PAYLOAD", "ELF", "\x00") if s in context],
"""
        ),
        "FINAL(report)",
    )

    result = rlm_main("ask", "-", "project", "what is in here?", *root_args(fake_llm), *PLAIN, input="panic: boom\n")

    assert result.code == EXIT_OK, result.stderr
    assert result.stdout == "report\n"
    assert repl_report(fake_llm) == {
        "paths": ["<stdin>", *PROJECT_DOCUMENTS],
        "stdin": ["stdin", "panic: boom\n"],
        "pages": [True, True, True, True],
        "pdf": [["pdf", 2]],
        "latin1": "caf\xe9 cr\xe8me\n",
        "mixed": [True, True],
        "leaked": [],
    }
    assert "skipped project/tool.bin: binary (application/octet-stream)" in result.stderr


# --- every skipped or truncated file is reported -----------------------------------------------------------


@needs_proc_mem
def test_skipped_and_truncated_files_reach_stderr_json_and_trace(fake_llm, rlm_main, tmp_path):
    write(tmp_path / "in/app.log", "INFO fine\n")
    write(tmp_path / "in/big.log", "0123456789 ERROR something\n" * 2_000)
    write(tmp_path / "in/blob.bin", BINARY)
    write(tmp_path / "in/locked.pdf", encrypted_pdf("secret", algorithm="AES-256"))
    pdf = make_text_pdf([["a page"]])
    write(tmp_path / "in/cut.pdf", pdf[: len(pdf) // 2])
    report = report_code('"chars": [(d.path, d.chars, d.truncated) for d in documents]')
    fake_llm.script("root", report, "FINAL(report)")

    result = rlm_main("ask", "in", PROC_MEM, "q?", "--json", "--max-file-size", "10000", *root_args(fake_llm), *PLAIN)

    assert result.code == EXIT_OK, result.stderr
    assert repl_report(fake_llm) == {"chars": [["in/app.log", 10, False], ["in/big.log", 10_000, True]]}
    expected = {
        "skipped in/blob.bin: binary (application/octet-stream)",
        "skipped in/locked.pdf: encrypted PDF (needs a password)",
        f"skipped {PROC_MEM}: unreadable (Input/output error)",
        "truncated in/big.log: first 10,000 characters kept (--max-file-size)",
    }
    cut_pdf = "skipped in/cut.pdf: unreadable PDF ("
    stderr_lines = result.stderr.splitlines()
    for message in [*expected, cut_pdf]:
        assert any(f"warning: {message}" in line for line in stderr_lines), (message, result.stderr)

    data = json.loads(result.stdout)
    corpus_warnings = {w for w in data["warnings"] if w.startswith(("skipped ", "truncated "))}
    assert [w.startswith(cut_pdf) for w in corpus_warnings - expected] == [True]

    events = [json.loads(line) for line in Path(data["trace"]).read_text().splitlines()]
    notices = {e["message"] for e in events if e["type"] == "notice" and e["kind"] == "warning"}
    assert expected < notices
    summary = next(e for e in events if e["type"] == "run_started")["corpus"]
    assert {s["path"] for s in summary["skipped"]} == {"in/blob.bin", "in/locked.pdf", "in/cut.pdf", PROC_MEM}
    assert summary["truncated"] == [{"path": "in/big.log", "reason": "first 10,000 characters kept (--max-file-size)"}]


# --- --dry-run --------------------------------------------------------------------------------------------------


def test_dry_run_lists_what_would_load_without_a_model(fake_llm, run_rlm, project):
    unconfigured = run_rlm("ask", "--dry-run", "project", "q?")
    configured = run_rlm("ask", "--dry-run", "project", "q?", *root_args(fake_llm))

    assert unconfigured.returncode == configured.returncode == EXIT_OK, unconfigured.stderr
    assert unconfigured.stdout == configured.stdout
    assert fake_llm.requests == []
    lines = unconfigured.stdout.splitlines()
    assert [line.split()[0] for line in lines[:5]] == PROJECT_DOCUMENTS
    assert lines[2] == "  project/report.pdf  [pdf, 85 chars, 4 lines, 2 pages]"
    assert lines[5] == "  skipped project/tool.bin: binary (application/octet-stream)"
    total = re.fullmatch(
        r"5 documents, ([\d,]+) characters \(~([\d,]+) tokens\); root prompt ([\d,]+) characters.*", lines[6]
    )
    assert total, lines[6]
    chars, tokens, prompt = (int(group.replace(",", "")) for group in total.groups())
    assert chars > 800 and tokens == chars // 4 and prompt > 1000
    assert len(lines) == 7


def test_dry_run_json_is_one_object(run_rlm, project):
    result = run_rlm("ask", "--dry-run", "--json", "project", "q?")

    assert result.returncode == EXIT_OK and result.stderr == ""
    report = json.loads(result.stdout)
    assert [d["path"] for d in report["documents"]] == PROJECT_DOCUMENTS
    assert report["skipped"] == [{"path": "project/tool.bin", "reason": "binary (application/octet-stream)"}]
    assert report["total_chars"] == sum(d["chars"] for d in report["documents"])
    assert report["estimated_tokens"] == report["total_chars"] // 4
    assert report["root_prompt_chars"] > 1000


def test_dry_run_verbose_shows_the_messages_the_model_would_get(fake_llm, rlm_main, tmp_path):
    line = '2024-05-02T10:{:02d}:00Z level=error svc=cart-api msg="payment declined for order {}"'
    lines = [line.format(i, i) for i in range(40)]
    write(tmp_path / "logs/app.log", "\n".join(lines) + "\n")
    question = "How many payment errors did cart-api log?"

    shown = rlm_main("ask", "--dry-run", "-v", "logs", question)
    report = json.loads(rlm_main("ask", "--dry-run", "--json", "-v", "logs", question).stdout)
    fake_llm.script("root", fence("print(len(records()))"), "FINAL(40)")
    asked = rlm_main("ask", "logs", question, *root_args(fake_llm))

    assert shown.code == asked.code == EXIT_OK, asked.stderr
    sent = fake_llm.requests_for("root")[0].messages[:2]
    dry = report["messages"]
    assert dry[0] == sent[0]
    # The guide's first block runs before the first turn: a dry run says where its output goes.
    opening, note = dry[1]["content"].split("\n\n(A run runs the first block offered above")
    assert sent[1]["content"].startswith(opening + "\n\nThe first block offered above was run for you")
    assert "records that match: 40" in sent[1]["content"]
    assert "--- user message ---\n" + opening in shown.stdout
    assert "payment declined for order" in sent[1]["content"] and "records() parses" in sent[1]["content"]


def test_input_flags_reach_the_loader(run_rlm, tmp_path):
    write(tmp_path / "t/.gitignore", "ignored.log\n")
    write(tmp_path / "t/.hidden.log", "h" * 59 + "\n")
    write(tmp_path / "t/a.log", "a" * 59 + "\n")
    write(tmp_path / "t/ignored.log", "i" * 199 + "\n")
    write(tmp_path / "t/notes.md", "not included\n")
    write(tmp_path / "t/skip-me.log", "excluded\n")
    write(tmp_path / "t/z.log", "z" * 59 + "\n")
    write(tmp_path / "t/zz.log", "over the total\n")
    flags = ["--include", "*.log", "--exclude", "skip-*", "--hidden", "--no-gitignore"]
    flags += ["--max-file-size", "100", "--max-total-size", "250"]

    result = run_rlm("ask", "--dry-run", "--json", "t", "q?", *flags)

    assert result.returncode == EXIT_OK, result.stderr
    report = json.loads(result.stdout)
    assert [(d["path"], d["chars"], d["truncated"]) for d in report["documents"]] == [
        ("t/.hidden.log", 60, False),
        ("t/a.log", 60, False),
        ("t/ignored.log", 100, True),
        ("t/z.log", 30, True),
    ]
    assert report["skipped"] == [{"path": "t/zz.log", "reason": "total size limit reached"}]
    assert report["warnings"] == [
        "truncated t/ignored.log: first 100 characters kept (--max-file-size)",
        "truncated t/z.log: total size limit reached (--max-total-size)",
    ]


# --- bad input -----------------------------------------------------------------------------------------------


def sparse_2gib(path: Path) -> None:
    """2 GiB on disk as far as stat knows, almost none of it stored: a line of text, then NUL bytes."""
    with open(path, "wb") as f:
        f.write(b"a\n")
        f.truncate(2 << 30)


@pytest.mark.parametrize(
    ("paths", "stdin", "message"),
    [
        (
            ["nope.log"],
            None,
            "no such file or directory: nope.log "
            "(if that is the question, it goes last; usage: rlm ask [OPTIONS] [PATH]... QUESTION)",
        ),
        (["dangling.log"], None, "no readable input: dangling.log: broken symlink"),
        pytest.param(
            [PROC_MEM], None, f"no readable input: {PROC_MEM}: unreadable (Input/output error)", marks=needs_proc_mem
        ),
        (["-"], "", "no readable input: stdin is empty"),
        (["/dev/zero"], None, "no readable input: /dev/zero: not a regular file (character device)"),
        (["huge.img"], None, "no readable input: huge.img: binary (application/octet-stream)"),
    ],
)
def test_unusable_only_input_is_a_one_line_input_error(run_rlm, tmp_path, paths, stdin, message):
    (tmp_path / "dangling.log").symlink_to(tmp_path / "gone.log")
    sparse_2gib(tmp_path / "huge.img")

    result = run_rlm("ask", "--dry-run", *paths, "q?", input=stdin, timeout=30)

    assert (result.returncode, result.stdout, result.stderr) == (EXIT_INPUT, "", f"rlm: error: {message}\n")


def test_missing_path_stops_a_real_run_before_any_model_call(fake_llm, run_rlm, tmp_path):
    write(tmp_path / "ok.log", "x\n")

    result = run_rlm("ask", "ok.log", "nope.log", "q?", *root_args(fake_llm))

    assert (result.returncode, result.stderr) == (EXIT_INPUT, "rlm: error: no such file or directory: nope.log\n")
    assert fake_llm.requests == []


def test_devices_and_huge_files_beside_real_input_are_skipped(run_rlm, tmp_path):
    write(tmp_path / "ok.log", "x\n")
    sparse_2gib(tmp_path / "huge.img")
    write(tmp_path / "long.log", "0123456789abcdef ERROR something\n" * 150_000)

    result = run_rlm(
        "ask", "--dry-run", "/dev/urandom", "huge.img", "long.log", "ok.log", "q?", "--max-file-size", "1000000"
    )

    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.splitlines()[:4] == [
        "  long.log  [text, 1,000,000 chars, 30,304 lines] (truncated)",
        "  ok.log  [text, 2 chars, 1 line]",
        "  skipped /dev/urandom: not a regular file (character device)",
        "  skipped huge.img: binary (application/octet-stream)",
    ]


def test_fifo_is_read_from_its_writer_and_given_up_on_without_one(rlm_main, tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "FIFO_WAIT_S", 1.0)  # 10 s in real use
    fed, idle = tmp_path / "fed", tmp_path / "idle"
    os.mkfifo(fed)
    os.mkfifo(idle)
    writer = threading.Thread(target=lambda: fed.write_text("written then closed\n"), daemon=True)
    writer.start()

    read = rlm_main("ask", "--dry-run", "--json", "fed", "q?")
    waited = rlm_main("ask", "--dry-run", "idle", "q?")

    writer.join(timeout=5)
    assert read.code == EXIT_OK, read.stderr
    assert [(d["path"], d["chars"]) for d in json.loads(read.stdout)["documents"]] == [("fed", 20)]
    message = "no readable input: idle: named pipe: nothing was written to it within 1 s"
    assert (waited.code, waited.stderr) == (EXIT_INPUT, f"rlm: error: {message}\n")
