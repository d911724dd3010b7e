"""F2, F4: every frame from the REPL child is hostile, and the parent survives each one."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import FORGE
from fakellm import FakeLLM

from rlm_cli.engine.loop import RLM, EngineConfig, Run
from rlm_cli.engine.model import ModelClient, ModelSpec
from rlm_cli.errors import EXIT_INTERNAL, EXIT_OK, EXIT_SANDBOX
from rlm_cli.repl import protocol
from rlm_cli.repl.process import ReplProcess
from security.conftest import fence, model_args, shown, trace_events


@pytest.mark.slow  # the CLI's own SIGPIPE disposition is the point: a real process
def test_a_forged_llm_frame_then_exit_costs_a_restart_not_the_run(fake_llm: FakeLLM, run_rlm, tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    (tmp_path / "app.log").write_text("line\n" * 10)
    forged = FORGE + "frame({'op': 'llm', 'prompts': ['forged'], 'model': None, 'batched': False})\nos._exit(0)"
    fake_llm.script("root", fence(forged), fence("print('back', len(context), 'survived')"), "FINAL(survived)")
    fake_llm.rule("sub", "forged", "sub answer")
    result = run_rlm("ask", "app.log", "q?", "--json", *model_args(fake_llm), env_extra={"TMPDIR": str(tmpdir)})
    assert result.returncode == EXIT_OK, result.stderr  # SIGPIPE used to end it with 141
    envelope = json.loads(result.stdout)
    assert envelope["status"] == "ok" and envelope["answer"] == "survived"
    assert "restarted" in shown(fake_llm)[1] and "back" in shown(fake_llm)[2]
    assert list(tmpdir.iterdir()) == []


def test_an_empty_batch_gets_an_empty_answer(hostile_repl: ReplProcess) -> None:
    config = EngineConfig(root=ModelSpec("openai/root"), sub=ModelSpec("openai/sub"))
    rlm = RLM(Run(config, ModelClient(), lambda event: None))
    assert rlm._on_llm([], None, True) == []  # a pool of 0 workers used to raise ValueError
    forged = FORGE + "frame({'op': 'llm', 'prompts': [], 'model': None, 'batched': True})\nprint('asked')"
    hostile_repl.on_llm = rlm._on_llm
    result = hostile_repl.run(forged, timeout=5)
    assert not result.state_lost and "asked" in result.output


def test_a_200k_deep_frame_is_a_malformed_message(hostile_repl: ReplProcess) -> None:
    nested = "b'[' * 200_000 + b']' * 200_000"
    deep = FORGE + f'raw(b\'{{"op": "result", "x": \' + {nested} + b\'}}\')\nimport time\ntime.sleep(5)'
    result = hostile_repl.run(deep, timeout=5)
    assert result.state_lost and "malformed message (malformed message: nested too deeply)" in result.output
    assert hostile_repl.run("print('beta' in context)", timeout=5).output.strip() == "True"


def test_lone_surrogates_from_the_child_come_back_encodable(hostile_repl: ReplProcess) -> None:
    assert hostile_repl.run("print('a\\ud800b')", timeout=5).output.strip() == "a?b"
    asked: list[str] = []
    hostile_repl.on_llm = lambda prompts, _m, _b: asked.extend(prompts) or ["answer"] * len(prompts)
    # A JSON escape of a lone surrogate, and bytes that are no UTF-8 at all.
    body = 'b\'{"op": "llm", "prompts": ["p\\\\udc80q", "x\\xff\\xed\\xa0\\x80y"]}\''
    result = hostile_repl.run(FORGE + f"raw({body})\nprint('sent')", timeout=5)
    assert "sent" in result.output and len(asked) == 2
    assert asked[0] == "p\ufffdq" and [p.encode("utf-8") for p in asked]  # strict: no surrogate got through


def test_the_decoder_bounds_nesting_without_a_recursion_error() -> None:
    parent, child = socket.socketpair()
    with parent, child:
        body = b"[" * 200_000 + b"]" * 200_000
        # Written by a thread: 400 KB is more than the socket holds before the decoder reads.
        writer = threading.Thread(target=child.sendall, args=(len(body).to_bytes(4, "big") + body,))
        writer.start()
        try:
            protocol.recv(parent, deadline=time.monotonic() + 5)
        except protocol.ProtocolError as exc:
            assert "nested too deeply" in str(exc)
        else:
            raise AssertionError("a 200k-deep frame was accepted")
        writer.join()


def test_lone_surrogates_in_replies_and_output_end_in_a_normal_run(fake_llm: FakeLLM, rlm_main, tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("line\n" * 10)
    fake_llm.script("root", "thinking \ud800\n" + fence("print('a\\udc80b')"), "FINAL(done \udfff)")
    trace_file = tmp_path / "run.jsonl"
    result = rlm_main("ask", "app.log", "q?", "--json", "-v", "--trace-file", str(trace_file), *model_args(fake_llm))
    assert result.code == EXIT_OK, result.stderr
    assert json.loads(result.stdout)["answer"] == "done \ufffd"
    assert [event["type"] for event in trace_events(trace_file)][-1] == "run_finished"


def test_a_repl_that_cannot_start_ends_the_run_with_exit_7_and_a_complete_envelope(
    fake_llm: FakeLLM, rlm_main, tmp_path: Path
) -> None:
    (tmp_path / "app.log").write_text("line\n")
    fake_llm.script("root", fence("print(1)"))
    result = rlm_main("ask", "app.log", "q?", "--json", "--memory-limit", "1", *model_args(fake_llm))
    assert result.code == EXIT_SANDBOX, result.stderr
    envelope = json.loads(result.stdout)
    assert envelope["status"] == "error" and envelope["error"]["type"] == "sandbox"
    assert "the REPL process failed to start" in envelope["error"]["message"]
    assert trace_events(envelope["trace"])[-1]["type"] == "run_finished"


def test_an_unexpected_fault_still_ends_with_exit_1_a_trace_and_a_complete_envelope(
    fake_llm: FakeLLM, rlm_main, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: RLM, *args: object) -> None:
        raise RuntimeError("a fault nothing else caught")

    monkeypatch.setattr(RLM, "_solve", broken)
    (tmp_path / "app.log").write_text("line\n")
    result = rlm_main("ask", "app.log", "q?", "--json", *model_args(fake_llm))
    assert result.code == EXIT_INTERNAL, result.stderr
    envelope = json.loads(result.stdout)
    assert envelope["error"] == {
        "type": "internal",
        "message": "internal error: RuntimeError: a fault nothing else caught",
    }
    assert trace_events(envelope["trace"])[-1]["type"] == "run_finished"
