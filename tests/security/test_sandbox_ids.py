"""F3: a sandbox uid is never shared by two live REPLs, and child RLMs are capped at once and in all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakellm import FakeLLM

from rlm_cli.engine.budget import MAX_CHILD_REPLS, ChildCaps
from rlm_cli.errors import EXIT_OK
from rlm_cli.repl import sandbox
from security.conftest import fence, model_args, shown

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not hasattr(os, "getuid"), reason="private uids need root")


@needs_root
def test_uids_are_unique_among_live_repls_and_reused_only_after_release(tmp_path: Path) -> None:
    workdirs = [str(tmp_path / f"w{i}") for i in range(sandbox._SLOTS + 1)]
    try:
        ids = [sandbox._sandbox_ids(w) for w in workdirs]
        private = [uid for uid, _gid in ids if uid != sandbox._NOBODY]
        assert len(private) == len(set(private))
        assert ids[-1] == (sandbox._NOBODY, sandbox._NOBODY)  # all slots live: the shared uid, never reaped
        assert not sandbox.reap(sandbox.SandboxPolicy(uid=sandbox._NOBODY))
        assert sandbox._sandbox_ids(workdirs[3]) == ids[3]  # the same workdir keeps its uid
        sandbox.release_ids(workdirs[3])
        fresh = str(tmp_path / "fresh")
        workdirs.append(fresh)
        assert sandbox._sandbox_ids(fresh) == ids[3]
    finally:
        for workdir in workdirs:
            sandbox.release_ids(workdir)


def test_child_caps_refuse_past_either_limit() -> None:
    caps = ChildCaps(at_once=2, total=3)
    assert caps.reserve() is None and caps.reserve() is None
    assert "max_child_repls" in (caps.reserve() or "")
    caps.release()
    assert caps.reserve() is None
    caps.release()
    caps.release()
    assert "max_recursive_calls" in (caps.reserve() or "")
    assert ChildCaps(at_once=1000, total=5).at_once == MAX_CHILD_REPLS


def test_34_recursive_sub_calls_leave_the_root_repl_alive(fake_llm: FakeLLM, rlm_main, tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("line\n" * 10)
    batch = "keep = 'root state'\nr = llm_query_batched([f'part {i}' for i in range(34)])\n"
    batch += "print(len(r), sorted(set(r)))"
    fake_llm.script("root", fence(batch), fence("print(keep)"), "FINAL(done)")
    fake_llm.rule("sub", ".*", fence("FINAL('child ok')"))
    result = rlm_main("ask", "app.log", "q?", "--max-depth", "2", *model_args(fake_llm))
    assert result.code == EXIT_OK, result.stderr
    assert "34 ['child ok']" in shown(fake_llm)[1]
    assert "root state" in shown(fake_llm)[2] and "restarted" not in "".join(shown(fake_llm))
