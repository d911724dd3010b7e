"""`rlm ask` end to end against the scripted OpenAI-compatible server, through litellm.

Only what needs the CLI and litellm is here: connection errors and retries, litellm's prices, a local server
without a key (run through cli.main() in this process, `rlm_main`), and the exit code and --json of a stopped
run (the installed entry point, `run_rlm`). The loop's rules are tested without litellm in test_engine.py."""

from __future__ import annotations

import json
import re

import pytest
from conftest import fence, model_args
from fakellm import FakeLLM

from rlm_cli.errors import EXIT_BUDGET, EXIT_MODEL, EXIT_OK


def test_server_down_is_a_clean_model_error_at_once(dead_url, rlm_main, app_log):
    path, _ = app_log
    result = rlm_main("ask", str(path), "q?", "--json", "--model", "openai/root", "--api-base", dead_url)
    assert result.code == EXIT_MODEL
    assert "Traceback" not in result.stderr
    assert re.search(rf"rlm: .*cannot connect to openai/root at {dead_url}", result.stderr), result.stderr
    assert "retry" not in result.stderr  # with the default 4 retries: none was tried
    assert json.loads(result.stdout)["error"]["type"] == "model"


def test_server_500_then_200_is_retried(fake_llm, rlm_main, app_log, monkeypatch):
    path, _ = app_log
    fake_llm.fail("root", status=500, times=2)
    fake_llm.script("root", fence("print('recovered')"), "FINAL(recovered)")
    monkeypatch.setenv("RLM_RETRY_DELAY", "0.01")
    result = rlm_main("ask", str(path), "q?", *model_args(fake_llm))
    assert result.code == EXIT_OK, result.stderr
    assert result.stdout.strip() == "recovered"
    assert [r.status for r in fake_llm.requests_for("root")][:3] == [500, 500, 200]


# --- budgets --------------------------------------------------------------------------------------


def loop_forever(fake: FakeLLM) -> None:
    fake.rule("root", "", lambda _: fence("print('still looking')"))


@pytest.mark.slow
def test_max_iterations_asks_for_a_best_answer_marked_not_final(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", *[fence(f"print({i})") for i in range(3)], "FINAL(best guess 7)")
    result = run_rlm("ask", str(path), "q?", "--json", *model_args(fake_llm, "--max-iterations", "3"))
    assert result.returncode == EXIT_BUDGET, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "budget_exhausted" and data["final"] is False
    assert data["answer"] == "best guess 7"
    assert "no iterations left" in fake_llm.requests_for("root")[3].last_user


def test_max_cost_stops_the_run_for_a_priced_model(fake_llm, rlm_main, app_log):
    path, _ = app_log
    loop_forever(fake_llm)
    fake_llm.rule("gpt-4o-mini", "", lambda _: fence("print('still looking')"))
    result = rlm_main(
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
    assert result.code == EXIT_BUDGET, result.stderr
    data = json.loads(result.stdout)
    assert data["error"]["budget"] == "cost"
    assert data["cost_usd"] >= 0.0005


def test_local_server_needs_no_key_and_context_cannot_be_reassigned(fake_llm, rlm_main, app_log, monkeypatch):
    path, _ = app_log
    fake_llm.script(
        "root",
        fence('context = "I made this up"\nprint(len(context) > 100)'),
        fence("print(context.count('ERROR') > 0, len(documents))"),
        "FINAL(True 1)",
    )
    monkeypatch.delenv("OPENAI_API_KEY")
    result = rlm_main("ask", str(path), "q?", *model_args(fake_llm))
    assert result.code == EXIT_OK, result.stderr
    roots = fake_llm.requests_for("root")
    assert "text to `context` was skipped" in roots[1].last_user and "True" in roots[1].last_user
    assert "True 1" in roots[2].last_user


@pytest.mark.parametrize(("level", "cap"), [("small", 1_500), ("off", None)])
def test_root_replies_are_capped_by_the_guidance_level(fake_llm, rlm_main, app_log, level, cap):
    path, _ = app_log
    fake_llm.script("root", fence("print(len(context) > 0)"), "FINAL(yes)")
    result = rlm_main("ask", str(path), "q?", "--guidance", level, *model_args(fake_llm))
    assert result.code == EXIT_OK, result.stderr
    roots = fake_llm.requests_for("root")
    assert [r.params.get("max_tokens") for r in roots] == [cap, cap]
