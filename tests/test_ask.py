"""`rlm ask` end to end: the installed entry point against the scripted OpenAI-compatible server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fakellm import FakeLLM

from rlm_cli.errors import EXIT_BUDGET, EXIT_MODEL, EXIT_OK


def fence(code: str, lang: str = "repl") -> str:
    return f"```{lang}\n{code.strip()}\n```"


def model_args(fake: FakeLLM, *extra: str) -> list[str]:
    return ["--model", "openai/root", "--sub-model", "openai/sub", "--api-base", fake.url, *extra]


@pytest.fixture
def app_log(tmp_path: Path) -> tuple[Path, int]:
    lines = []
    for i in range(400):
        level = "ERROR" if i % 7 == 3 else ("WARN" if i % 5 == 0 else "INFO")
        lines.append(f"2026-11-01T10:{i // 60:02d}:{i % 60:02d} {level} svc-{i % 4} request {i} done")
    path = tmp_path / "app.log"
    path.write_text("\n".join(lines) + "\n")
    return path, sum("ERROR" in line for line in lines)


def count_errors_after_first_line(prompt: str) -> str:
    body = prompt.split("\n", 1)[1]
    return str(sum("ERROR" in line for line in body.splitlines()))


def test_chunked_count_with_batched_subcalls_ends_with_final_var(fake_llm, run_rlm, app_log):
    path, expected = app_log
    fake_llm.script(
        "root",
        fence("lines = context.splitlines()\nprint(len(lines), lines[1][:60])"),
        fence("""
parts = chunks(size=2000)
answers = llm_query_batched([f"Count the lines that contain ERROR. Reply with a number only.\\n{p}" for p in parts])
total = sum(int(a) for a in answers)
print(len(parts), total)
"""),
        "FINAL_VAR(total)",
    )
    fake_llm.rule("sub", "Count the lines", count_errors_after_first_line, delay=0.2)
    result = run_rlm("ask", str(path), "How many lines contain ERROR?", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.strip() == str(expected)
    subs = fake_llm.requests_for("sub")
    assert len(subs) >= 8
    assert fake_llm.peak_concurrency_for("sub") >= 4  # the batch really ran concurrently
    # The root model never saw the input itself: only metadata and a prefix.
    first_prompt = "\n".join(m["content"] for m in fake_llm.requests_for("root")[0].messages)
    assert "request 399 done" not in first_prompt
    assert "400 lines" in first_prompt or "400" in first_prompt


def test_final_called_in_code(fake_llm, run_rlm, app_log):
    path, expected = app_log
    fake_llm.script("root", fence('n = sum("ERROR" in l for l in context.splitlines())\nFINAL(f"{n} errors")'))
    result = run_rlm("ask", str(path), "How many errors?", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.strip() == f"{expected} errors"


def test_final_as_text_after_seeing_output(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", fence("print(len(context.splitlines()))"), "The output shows it.\nFINAL(401 lines)")
    result = run_rlm("ask", str(path), "How many lines?", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.strip() == "401 lines"


def test_final_inside_a_fence_is_not_an_answer(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script(
        "root",
        fence("print(len(context))"),
        "Here is how I would finish:\n```text\nFINAL(wrong answer)\n```",
        "FINAL(right answer)",
    )
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.strip() == "right answer"
    third = fake_llm.requests_for("root")[2].last_user
    assert "no ```repl code block and no FINAL" in third


def test_final_var_of_missing_name_is_refused_then_accepted(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", fence("answer = 'svc-1'\nprint(answer)"), "FINAL_VAR(nope)", "FINAL_VAR(answer)")
    result = run_rlm("ask", str(path), "Which service?", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.strip() == "svc-1"
    assert "no variable named 'nope'" in fake_llm.requests_for("root")[2].last_user


def test_python_fence_runs(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", fence("x = 6 * 7\nprint(x)\nSHOW_VARS()", lang="python"), "FINAL(42)")
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.strip() == "42"
    shown = fake_llm.requests_for("root")[1].last_user
    assert "42" in shown and "x: int" in shown


def test_reply_without_code_gets_a_nudge(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", "I think the logs look fine.", fence("print(1)"), "FINAL(fine)")
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    assert "no ```repl code block" in fake_llm.requests_for("root")[1].last_user
    assert "For example" not in fake_llm.requests_for("root")[1].last_user  # "q?" names no key of the logs


def test_a_reply_without_code_is_shown_a_block_to_copy_for_the_question_s_key(fake_llm, run_rlm, tmp_path):
    notes = tmp_path / "notes.txt"
    filler = "".join(f"One of the special magic numbers for key-{i} is: {1000 + i}.\n" for i in range(30))
    notes.write_text(f"{filler}One of the special magic numbers for wandering-summit is: 5209478.\n{filler}")
    fake_llm.script("root", "The first characters of `context`: ...", "FINAL(5209478)")
    question = "What is the special magic number for wandering-summit?"
    run_rlm("ask", str(notes), question, *model_args(fake_llm))
    block = "```repl\nfor line in grep('wandering-summit')[:10]:\n    print(line)\n```"
    assert f"reply with only this block:\n{block}" in fake_llm.requests_for("root")[1].last_user


def test_code_whose_final_line_is_bare_text_runs_without_it(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", fence("n = 57\nprint(n)\nFINAL(there are 57 errors)"), "FINAL(57)")
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.strip() == "57"
    feedback = fake_llm.requests_for("root")[1].last_user
    assert "REPL output of block 1:\n```text\n57\n```" in feedback and "SyntaxError" not in feedback
    assert "before seeing the code's output" in feedback


def test_a_lookup_answer_read_off_another_key_s_line_is_questioned_once(fake_llm, run_rlm, tmp_path):
    filler = "".join(f"setting number {i} is left at its default for now\n" for i in range(40))
    config = tmp_path / "settings.txt"
    config.write_text(f"amber-fox = 7XQ-1\n{filler}velvet-lantern = 9KD-2\n{filler}")
    fake_llm.script("root", fence("print(grep('=')[0])"), "FINAL(7XQ-1)", "FINAL(9KD-2)")
    result = run_rlm("ask", str(config), "Which value is velvet-lantern set to?", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.strip() == "9KD-2"
    assert "7XQ-1 is in the input only on lines that do not mention 'velvet-lantern'" in (
        fake_llm.requests_for("root")[2].last_user
    )


def test_plan_and_premature_final_are_refused(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script(
        "root",
        "FINAL(42)",  # before any code ran
        fence("print(57)") + "\nFINAL(guess)",  # written before seeing the output
        "FINAL(I will now count the errors)",  # a plan
        "FINAL(57)",
    )
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.strip() == "57"
    roots = fake_llm.requests_for("root")
    assert "not looked at the data yet" in roots[1].last_user
    assert "before seeing the code's output" in roots[2].last_user
    # What followed the code block (a guess) is not kept in the conversation.
    assert "FINAL(guess)" not in roots[2].messages[-2]["content"]
    assert "a plan, not an answer" in roots[3].last_user


def test_answer_with_values_never_shown_is_pushed_back_once(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", fence("print('looked at it')"), "FINAL(23)", "FINAL(23)")
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.strip() == "23"
    assert "23, which no REPL output showed as a result" in fake_llm.requests_for("root")[2].last_user


def test_runaway_block_is_cut_and_the_run_continues(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script(
        "root",
        fence("kept = 'still here'\nwhile True:\n    pass"),
        fence("print(kept)"),
        "FINAL(done)",
    )
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm, "--exec-timeout", "1"))
    assert result.returncode == EXIT_OK, result.stderr
    roots = fake_llm.requests_for("root")
    assert "TimeoutError" in roots[1].last_user
    assert "still here" in roots[2].last_user  # a soft timeout keeps the REPL's state


def test_block_that_ignores_its_timer_is_killed_and_state_is_reported_lost(fake_llm, run_rlm, app_log):
    path, _ = app_log
    stubborn = (
        "x = 1\nwhile True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass"
    )
    fake_llm.script("root", fence(stubborn), fence("print('x' in globals())"), "FINAL(done)")
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm, "--exec-timeout", "1"), timeout=60)
    assert result.returncode == EXIT_OK, result.stderr
    roots = fake_llm.requests_for("root")
    assert "was killed" in roots[1].last_user and "every variable you made is gone" in roots[1].last_user
    assert "False" in roots[2].last_user


def test_failed_subcall_inside_batch_is_marked_and_batch_survives(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script(
        "root",
        fence('res = llm_query_batched(["a", "b", "c"])\nprint(res)'),
        "FINAL(ok)",
    )
    fake_llm.fail("sub", status=400, times=1)
    fake_llm.rule("sub", "", lambda p: f"answer-{p.strip()[-1]}")
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm, "--concurrency", "1"))
    assert result.returncode == EXIT_OK, result.stderr
    shown = fake_llm.requests_for("root")[1].last_user
    assert shown.count("[llm_query error") == 1
    assert shown.count("answer-") == 2


def test_depth_two_runs_a_child_rlm(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", fence('r = llm_query("Count the words in: alpha beta gamma")\nprint(r)'), "FINAL_VAR(r)")
    # The sub-model drives the child RLM, with its own REPL whose context is the prompt.
    fake_llm.script(
        "sub", fence("words = context.split('words in:', 1)[1].split()\nprint(len(words))"), "FINAL(3 words)"
    )
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm, "--max-depth", "2"))
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.strip() == "3 words"
    child_first = fake_llm.requests_for("sub")[0]
    assert "Count the words" in child_first.messages[-1]["content"]
    assert "3" in fake_llm.requests_for("sub")[1].last_user


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


def test_a_placeholder_as_the_last_word_gives_the_last_result(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", fence("print('counting')"), fence("print(41 + 1)"), "FINAL(answer)")
    result = run_rlm("ask", str(path), "q?", "--json", *model_args(fake_llm, "--max-iterations", "2"))
    assert result.returncode == EXIT_BUDGET, result.stderr
    assert json.loads(result.stdout)["answer"] == "42"


def test_max_subcalls_stops_the_run(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", fence('r = llm_query_batched(["x"] * 10)\nprint(r)'))
    fake_llm.rule("sub", "", "y")
    result = run_rlm(
        "ask", str(path), "q?", "--json", *model_args(fake_llm, "--max-subcalls", "4", "--concurrency", "2")
    )
    assert result.returncode == EXIT_BUDGET, result.stderr
    data = json.loads(result.stdout)
    assert data["error"]["budget"] == "subcalls"
    assert len(fake_llm.requests_for("sub")) <= 4


def test_max_tokens_stops_the_run(fake_llm, run_rlm, app_log):
    path, _ = app_log
    loop_forever(fake_llm)
    result = run_rlm("ask", str(path), "q?", "--json", *model_args(fake_llm, "--max-tokens", "3000"))
    assert result.returncode == EXIT_BUDGET, result.stderr
    data = json.loads(result.stdout)
    assert data["error"]["budget"] == "tokens"
    used = data["usage"]["input_tokens"] + data["usage"]["output_tokens"]
    assert used >= 3000 and len(fake_llm.requests_for("root")) < 10


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


def test_unknown_price_is_reported_once_and_does_not_crash(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", fence("print(1)"), "FINAL(one)")
    result = run_rlm("ask", str(path), "q?", "--json", *model_args(fake_llm, "--max-cost", "1"))
    assert result.returncode == EXIT_OK, result.stderr
    data = json.loads(result.stdout)
    assert data["cost_usd"] is None
    assert sum("cost unknown for openai/root" in w for w in data["warnings"]) == 1


def test_timeout_stops_the_run_with_its_exit_code(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", fence("import time\nfor _ in range(600):\n    time.sleep(0.1)"))
    result = run_rlm("ask", str(path), "q?", "--json", *model_args(fake_llm, "--timeout", "2"))
    assert result.returncode == EXIT_BUDGET, result.stderr
    data = json.loads(result.stdout)
    assert data["error"]["budget"] == "timeout"
    assert data["elapsed_s"] < 40  # the cell alone would run 60 s; start-up on a loaded 2-core CI takes up to 8 s


def test_code_cannot_pick_an_unconfigured_model(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", fence('print(llm_query("hi", model="openai/attacker-model"))'), "FINAL(done)")
    fake_llm.rule("sub", "", "from the configured sub-model")
    result = run_rlm("ask", str(path), "q?", "--json", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    assert [r.model for r in fake_llm.requests if r.model != "root"] == ["sub"]
    assert "from the configured sub-model" in fake_llm.requests_for("root")[1].last_user
    assert any("attacker-model" in w and "ignored" in w for w in json.loads(result.stdout)["warnings"])


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


def test_a_value_seen_only_inside_a_long_dump_is_pushed_back(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", fence("print(4242, 'x' * 600)"), "FINAL(4242)", fence("print(4242)"), "FINAL(4242)")
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    roots = fake_llm.requests_for("root")
    assert "4242, which no REPL output showed as a result" in roots[2].last_user
    assert len(roots) == 4 and result.stdout.strip() == "4242"


def test_answer_after_an_output_the_model_wrote_itself_is_refused(fake_llm, run_rlm, app_log):
    path, _ = app_log
    invented = "```\napp.log:3: ERROR disk full\n```\nThe output above shows it.\nFINAL(disk full)"
    fake_llm.script("root", fence("print(1)"), invented, "FINAL(disk full)")
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    assert "an output that you wrote yourself" in fake_llm.requests_for("root")[2].last_user
    assert result.stdout.strip() == "disk full"


def test_final_of_a_bare_name_uses_the_variable_or_is_refused_as_a_placeholder(fake_llm, run_rlm, app_log):
    path, _ = app_log
    fake_llm.script("root", fence("top_three = ['auth', 'cart', 'db']"), "FINAL(answer)", "FINAL(top_three)")
    result = run_rlm("ask", str(path), "q?", *model_args(fake_llm))
    assert result.returncode == EXIT_OK, result.stderr
    assert "FINAL(answer): there is no variable named 'answer'" in fake_llm.requests_for("root")[2].last_user
    assert result.stdout.strip() == "['auth', 'cart', 'db']"  # and FINAL(fine) in another test stays "fine"
