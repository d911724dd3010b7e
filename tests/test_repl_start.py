"""A REPL started with start_soon boots beside the first model call; its first cell waits for it."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator

import pytest

from rlm_cli.engine.loop import corpus_from_text
from rlm_cli.errors import SandboxError
from rlm_cli.inputs.bundle import write_bundle
from rlm_cli.repl.process import ReplConfig, ReplProcess
from rlm_cli.repl.sandbox import SandboxPolicy


def make_repl(python: str = sys.executable) -> ReplProcess:
    repl = ReplProcess(
        lambda workdir: write_bundle(corpus_from_text("alpha\nbeta\n"), workdir),
        ReplConfig(python=python),
        lambda prompts, _model, _batched: ["" for _ in prompts],
    )
    repl.config.sandbox = SandboxPolicy.for_input(100, repl.workdir)
    return repl


@pytest.fixture
def repls() -> Iterator[list[ReplProcess]]:
    made: list[ReplProcess] = []
    yield made
    for repl in made:
        repl.close()


def test_the_first_cell_waits_for_the_start_and_gets_the_input(repls: list[ReplProcess]):
    repl = make_repl()
    repls.append(repl)
    warned: list[list[str]] = []
    repl.start_soon(warned.append)
    assert repl.run("print('beta' in context)", timeout=30).output.strip() == "True"
    assert warned == [repl.warnings]  # told once, when the child was up
    assert repl.get_var("context") is not None


def test_a_child_that_cannot_start_fails_the_first_cell_with_a_sandbox_error(repls: list[ReplProcess]):
    repl = make_repl(python="/bin/false")  # spawns, then dies before its handshake
    repls.append(repl)
    warned: list[list[str]] = []
    repl.start_soon(warned.append)
    with pytest.raises(SandboxError, match="the REPL process failed to start"):
        repl.run("print(1)", timeout=30)
    assert warned == []


def test_closing_while_the_child_boots_ends_it_at_once():
    repl = make_repl()
    repl.start_soon()
    assert repl.proc is not None
    pid = repl.proc.pid
    repl.close()  # a run that failed on its first model call: nothing in the child to keep
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped
    assert not os.path.exists(repl.workdir)


def test_closing_a_start_held_at_its_gate_ends_it():
    """The engine holds the child's load until it has built its first message; a close (Ctrl-C twice) meanwhile
    must not wait for that."""
    gate = threading.Event()
    written = threading.Event()

    def write_then_wait(workdir: str) -> str:
        bundle = write_bundle(corpus_from_text("alpha\n"), workdir)
        written.set()
        gate.wait()
        return bundle

    repl = ReplProcess(write_then_wait, ReplConfig(), lambda prompts, _model, _batched: ["" for _ in prompts])
    repl.config.sandbox = SandboxPolicy.for_input(100, repl.workdir)
    repl.start_soon(gate=gate)
    assert written.wait(30)
    closing = threading.Thread(target=repl.close, daemon=True)
    closing.start()
    closing.join(30)
    assert not closing.is_alive() and not os.path.exists(repl.workdir)
