"""`rlm ask` end to end: the installed entry point against the scripted OpenAI-compatible server.

Only what needs the real CLI and litellm is here: connection errors and retries, exit codes and --json for a
stopped run, litellm's prices, and a local server without a key. The loop's rules are tested in process in
test_engine.py."""

from __future__ import annotations

import json
import re

import pytest
from conftest import fence, model_args
from fakellm import FakeLLM

from rlm_cli.errors import EXIT_BUDGET, EXIT_MODEL, EXIT_OK

pytestmark = pytest.mark.slow


def test_server_down_is_a_clean_model_error(dead_url, run_rlm, app_log):
    path, _ = app_log
    result = run_rlm(
        "ask",
        str(path),
        "q?",
        "--model",
        "openai/root",
        "--api-base",
        dead_url,
        env_extra={"RLM_RETRIES": "1", "RLM_RETRY_DELAY": "0.01"},
    )
    assert result.returncode == EXIT_MODEL
    assert "Traceback" not in result.stderr
    assert re.search(r"rlm: .*cannot connect to openai/root", result.stderr), result.stderr


def test_server_500_then_200_is_retried(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.fail("root", status=500, times=2)
    fake_llm.script("root", fence("print(1)"), "FINAL(recovered)")
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm), env_extra={"RLM_RETRY_DELAY": "0.01"})
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.strip() == "recovered"
    assert [r.status for r in fake_llm.requests_for("root")][:3] == [500, 500, 200]


# --- budgets --------------------------------------------------------------------------------------


def loop_forever(fake: FakeLLM) -> None:
    fake.rule("root", "", lambda _: fence("print('still looking')"))


def test_max_iterations_asks_for_a_best_answer_marked_not_final(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", *[fence(f"print({i})") for i in range(3)], "FINAL(best guess 7)")
    result = run_rlm("ask", str(path), "q?", "--json", *model_args(fake_llm, "--max-iterations", "3"))
    assert result.returncode == EXIT_BUDGET, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "budget_exhausted" and data["final"] is False
    assert data["answer"] == "best guess 7"
    assert "no iterations left" in fake_llm.requests_for("root")[3].last_user


def test_max_cost_stops_the_run_for_a_priced_model(fake_llm, run_rlm, app_log):
    path, _ = app_log
    loop_forever(fake_llm)
    fake_llm.rule("gpt-4o-mini", "", lambda _: fence("print('still looking')"))
    result = run_rlm(
        "ask",
        str(path),
        "q?",
        "--json",
        "--model",
        "openai/gpt-4o-mini",
        "--api-base",
        fake_llm.url,
        "--max-cost",
        "0.0005",
    )
    assert result.returncode == EXIT_BUDGET, result.stderr
    data = json.loads(result.stdout)
    assert data["error"]["budget"] == "cost"
    assert data["cost_usd"] >= 0.0005


def test_local_server_needs_no_key_and_context_cannot_be_reassigned(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script(
        "root",
        fence('context = "I made this up"\nprint(len(context))'),
        fence("print(context.count('ERROR') > 0, len(documents))"),
        "FINAL(done)",
    )
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm), env_extra={"OPENAI_API_KEY": None})
    assert result.returncode == EXIT_OK, result.stderr
    roots = fake_llm.requests_for("root")
    assert "`context` is the input and cannot be reassigned" in roots[1].last_user
    assert "True 1" in roots[2].last_user
