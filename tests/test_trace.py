"""Saved traces: valid JSONL, no secrets, retention, listing and lookup that survive killed runs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from rlm_cli.engine.events import ModelReply, Notice, RunFinished, RunStarted, SubcallFinished
from rlm_cli.errors import InputError, UsageError
from rlm_cli.trace import (
    REDACTED,
    TraceWriter,
    list_traces,
    load_events,
    new_run_id,
    redact,
    resolve_trace,
    traces_dir,
)

SECRET = "sk-abc123def456ghi789jkl012mno345"


@pytest.fixture(autouse=True)
def trace_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "traces"
    monkeypatch.setenv("RLM_TRACE_DIR", str(directory))
    return directory


def write_trace(
    run_id: str, question: str = "q?", answer: str | None = "42", finished: bool = True, t: float = 1_700_000_000.0
) -> Path:
    writer = TraceWriter(run_id)
    writer(RunStarted(run_id=run_id, question=question, config={"model": "m"}, t=t))
    writer(ModelReply(iteration=1, model="m", text="FINAL(42)", t=t + 1))
    if finished:
        writer(RunFinished(run_id=run_id, answer=answer, final=True, iterations=1, t=t + 2))
    writer.close()
    return writer.path


def test_traces_dir_follows_the_environment(trace_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert traces_dir() == trace_dir
    monkeypatch.delenv("RLM_TRACE_DIR")
    assert traces_dir().parts[-2:] == ("rlm", "traces")


def test_run_ids_sort_by_time_and_are_unique() -> None:
    ids = [new_run_id() for _ in range(50)]
    assert all(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", i) for i in ids)
    assert len(set(ids)) == 50


def test_writer_writes_jsonl_that_round_trips(trace_dir: Path) -> None:
    events = [
        RunStarted(run_id="r1", question="How many?", config={"model": "m", "max_tokens": 1000}),
        SubcallFinished(batch_id=1, index=2, prompt="p", response="r", error="boom", depth=1),
        Notice(kind="warning", message="careful"),
        RunFinished(run_id="r1", answer="7", usage={"input_tokens": 5, "output_tokens": 6}),
    ]
    writer = TraceWriter("r1")
    for event in events:
        writer(event)
        # Flushed per line, so a killed run leaves everything written so far.
        assert writer.path.read_text().count("\n") == events.index(event) + 1
    writer.close()
    assert writer.path == trace_dir / "r1.jsonl"
    lines = writer.path.read_text().splitlines()
    assert [json.loads(line)["type"] for line in lines] == [e.type for e in events]
    assert load_events(writer.path) == events


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    extra = tmp_path / "copy.jsonl"
    writer = TraceWriter("r2", extra_path=str(extra))
    config = {
        "model": "m",
        "api_key": SECRET,
        "max_tokens": 100,
        "headers": {"Authorization": "Bearer xyz"},
        "extra": [{"OPENAI_API_KEY": "plain-secret"}],
        "client_secret": "hush",
        "password": "pw",
    }
    writer(RunStarted(run_id="r2", config=config))
    writer(ModelReply(text=f"the .env says OPENAI_API_KEY={SECRET} so", input_tokens=3, output_tokens=4))
    writer.close()
    raw = writer.path.read_bytes()
    for secret in (SECRET.encode(), b"xyz", b"plain-secret", b"hush", b'"pw"'):
        assert secret not in raw
    assert extra.read_bytes() == raw
    started, reply = load_events(writer.path)
    assert started.config["max_tokens"] == 100 and started.config["api_key"] == REDACTED
    assert reply.input_tokens == 3 and reply.text == f"the .env says OPENAI_API_KEY={REDACTED} so"


def test_redact_spares_counters_and_empty_values() -> None:
    usage = {"input_tokens": 1, "output_tokens": 2, "max_tokens": 3, "token": "t0k", "key": "", "api_key": None}
    assert redact(usage) == {
        "input_tokens": 1,
        "output_tokens": 2,
        "max_tokens": 3,
        "token": REDACTED,
        "key": "",
        "api_key": None,
    }


def test_unwritable_extra_path_is_a_usage_error(tmp_path: Path, trace_dir: Path) -> None:
    with pytest.raises(UsageError, match="cannot write trace file"):
        TraceWriter("r3", extra_path=str(tmp_path / "missing" / "t.jsonl"))
    assert list(trace_dir.iterdir()) == []


def test_retention_keeps_newest_and_never_the_current(trace_dir: Path) -> None:
    trace_dir.mkdir()
    for i in range(6):
        old = trace_dir / f"old{i}.jsonl"
        old.write_text("x" * 100)
        os.utime(old, (1000 + i, 1000 + i))
    writer = TraceWriter("current", keep=3)
    writer(Notice(message="hi"))
    os.utime(writer.path, (1, 1))  # even when it looks oldest
    writer.close()
    assert sorted(p.stem for p in trace_dir.iterdir()) == ["current", "old4", "old5"]


def test_retention_caps_total_bytes(trace_dir: Path) -> None:
    trace_dir.mkdir()
    for i, size in enumerate([100, 5000, 100]):
        p = trace_dir / f"old{i}.jsonl"
        p.write_text("x" * size)
        os.utime(p, (1000 + i, 1000 + i))
    writer = TraceWriter("current", max_bytes=1000)
    writer.close()
    # old1 busts the budget, so it and everything older go, even the small old0.
    assert sorted(p.stem for p in trace_dir.iterdir()) == ["current", "old2"]


def test_list_traces_newest_first_with_status(trace_dir: Path) -> None:
    write_trace("20260101-000000-aaaaaa", question="first   question\nhere", t=1_700_000_000)
    write_trace("20260102-000000-bbbbbb", question="x" * 500, answer="y" * 500, t=1_700_100_000)
    write_trace("20260103-000000-cccccc", finished=False, t=1_700_200_000)
    infos = list_traces()
    assert [i.run_id for i in infos] == ["20260103-000000-cccccc", "20260102-000000-bbbbbb", "20260101-000000-aaaaaa"]
    newest, middle, oldest = infos
    assert newest.status == "incomplete" and newest.answer == ""
    assert middle.status == "ok" and len(middle.question) <= 80 and middle.answer.endswith("...")
    assert oldest.question == "first question here" and oldest.answer == "42"
    assert oldest.started.timestamp() == 1_700_000_000 and oldest.size_bytes == oldest.path.stat().st_size


def test_list_traces_survives_corrupt_and_huge_files(trace_dir: Path) -> None:
    killed = write_trace("20260101-000000-aaaaaa", finished=False)
    done = write_trace("20260103-000000-dddddd")
    for path in (killed, done):
        with path.open("a") as f:
            f.write('{"type": "notice", "mess')  # cut mid-line
    big = write_trace("20260102-000000-bbbbbb", answer="z" * 300_000)
    (trace_dir / "garbage.jsonl").write_bytes(b"\x00\xff not json\n")
    infos = {i.run_id: i for i in list_traces()}
    assert infos["20260101-000000-aaaaaa"].status == "incomplete"
    assert infos["20260103-000000-dddddd"].status == "ok"
    assert infos["20260102-000000-bbbbbb"].status == "ok" and big.stat().st_size > 300_000
    assert infos["garbage"].status == "incomplete" and infos["garbage"].question == ""
    assert len(load_events(killed)) == 2 and len(load_events(done)) == 3


def test_list_traces_without_a_directory() -> None:
    assert list_traces() == []


def test_resolve_trace(trace_dir: Path) -> None:
    write_trace("20260101-000000-aaaaaa", t=1_700_000_000)
    write_trace("20260101-000000-abbbbb", t=1_700_100_000)
    write_trace("20260102-000000-cccccc", t=1_700_050_000)
    assert resolve_trace("last") == trace_dir / "20260101-000000-abbbbb.jsonl"
    assert resolve_trace("20260102") == trace_dir / "20260102-000000-cccccc.jsonl"
    assert resolve_trace("20260101-000000-aaaaaa.jsonl") == trace_dir / "20260101-000000-aaaaaa.jsonl"
    by_path = trace_dir / "20260102-000000-cccccc.jsonl"
    assert resolve_trace(str(by_path)) == by_path
    with pytest.raises(UsageError, match="matches 2 traces"):
        resolve_trace("20260101-000000-a")
    with pytest.raises(InputError, match="no trace matches"):
        resolve_trace("1999")
    with pytest.raises(UsageError):
        resolve_trace(" ")


def test_resolve_last_without_traces() -> None:
    with pytest.raises(InputError, match="no saved traces"):
        resolve_trace("last")


def test_load_events_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read trace"):
        load_events(tmp_path / "nope.jsonl")
