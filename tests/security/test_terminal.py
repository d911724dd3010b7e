"""F6: escapes, C1 controls and bidi overrides from untrusted text never reach a terminal raw;
`--json` and piped stdout keep the exact text."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from fakellm import FakeLLM

from rlm_cli import cli, runner
from rlm_cli.engine import events as ev
from rlm_cli.errors import EXIT_MODEL, EXIT_OK, ModelError
from rlm_cli.render import make_renderer
from rlm_cli.sanitize import for_terminal
from security.conftest import fence, model_args

HOSTILE = "a\x1b]0;pwned\x07b\x9b31mc\x9d8;;x\x9c\u202ed\u2066e\x00f\rg"
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_the_sanitizer_keeps_newlines_and_tabs_only() -> None:
    assert for_terminal("x\ty\nz\r\n") == "x\ty\nz\n"
    cleaned = for_terminal(HOSTILE)
    assert not UNSAFE.search(cleaned) and cleaned.startswith("a?]0;pwned?b?31mc")


@pytest.mark.parametrize("plain", [True, False])
def test_every_view_of_untrusted_text_is_clean(plain: bool) -> None:
    stream = io.StringIO()
    view = make_renderer(stream, verbose=True, force_plain=plain, replay=True)
    for event in (
        ev.RunStarted(run_id="r", question=HOSTILE, config={"model": HOSTILE}),
        ev.ModelReply(text=HOSTILE, model="m"),
        ev.CodeExecuted(index=1, code=HOSTILE, output=HOSTILE),
        ev.SubcallFinished(batch_id=1, model="m", prompt=HOSTILE, response=HOSTILE, error=HOSTILE),
        ev.Notice(kind="warning", message=HOSTILE),
        ev.RunFinished(run_id="r", status="error", answer=HOSTILE, error={"type": "model", "message": HOSTILE}),
    ):
        view(event)
    view.close()
    text = stream.getvalue()
    if not plain:  # rich writes its own colours and progress (CSI, \r); HOSTILE has no "\x1b[" of its own
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "")
    assert "pwned" in text and not UNSAFE.search(text.replace("\n", "").replace("\t", ""))


def test_error_lines_and_a_terminal_answer_are_clean(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    assert cli._report(ModelError(f"server said {HOSTILE}")) == EXIT_MODEL
    line = capsys.readouterr().err
    assert line.startswith("rlm: error: server said a?]0;pwned") and not UNSAFE.search(line.rstrip("\n"))

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdout", Terminal())
    assert runner._for_stdout(HOSTILE) == for_terminal(HOSTILE)


def test_a_run_shows_clean_text_and_pipes_the_exact_answer(fake_llm: FakeLLM, rlm_main, tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("line\n" * 10)
    turns = (f"{HOSTILE}\n" + fence(f"print({HOSTILE!r})"), fence(f"FINAL({HOSTILE!r})"))
    fake_llm.script("root", *turns, *turns)
    result = rlm_main("ask", "app.log", "q?", "-v", *model_args(fake_llm))
    assert result.code == EXIT_OK, result.stderr
    assert result.stderr.count("pwned") >= 3 and not UNSAFE.search(result.stderr.replace("\n", "").replace("\t", ""))
    assert result.stdout == HOSTILE + "\n"  # not a terminal: the exact text
    as_json = rlm_main("ask", "app.log", "q?", "--json", *model_args(fake_llm))
    assert json.loads(as_json.stdout)["answer"] == HOSTILE


def test_a_server_error_line_is_clean(fake_llm: FakeLLM, rlm_main, tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("line\n")
    fake_llm.fail("root", status=400, body=f"bad request {HOSTILE}")
    result = rlm_main("ask", "app.log", "q?", *model_args(fake_llm))
    assert result.code == EXIT_MODEL
    assert "pwned" in result.stderr and not UNSAFE.search(result.stderr.replace("\n", ""))
