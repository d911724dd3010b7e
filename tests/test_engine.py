"""The loop and the guidance layer in process: scripted model replies, a real REPL child, and assertions on the
answer, the events and the requests the model received (fixtures `model` and `solve` in conftest.py)."""

from __future__ import annotations

import time

import pytest
from conftest import fence

from rlm_cli.engine import events as ev
from rlm_cli.engine.guide import Block, Plain
from rlm_cli.engine.loop import RLM, EngineConfig, Run, corpus_from_text
from rlm_cli.engine.model import ModelSpec
from rlm_cli.engine.parsing import parse_reply
from rlm_cli.guidance import nudges
from rlm_cli.guidance.small import SmallModelGuide

LOG = "".join(
    f'ts=2026-03-03T10:00:{i:02d}Z host=web-{i % 3} level={"error" if i % 4 == 0 else "info"} msg="request {i}"\n'
    for i in range(40)
)
STRONG = [fence('print(sum(1 for r in records() if r["level"] == "ERROR"))'), "FINAL(10)"]


def count_errors_after_first_line(prompt: str) -> str:
    body = prompt.split("\n", 1)[1]
    return str(sum("ERROR" in line for line in body.splitlines()))


# --- guidance levels -------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["off", "small"])
def test_a_strong_model_trajectory_gets_no_extra_turns_at_any_guidance_level(model, solve, level):
    model.script("root", *STRONG)
    run = solve("How many ERROR lines are there?", LOG, guidance=level)
    assert (run.answer, run.outcome.final, run.outcome.iterations) == ("10", True, 2)
    assert len(run.roots) == 2
    assert run.notices("nudge") == []


def test_guidance_off_sends_the_plain_method_and_no_advice(model, solve):
    model.script("root", fence("print([])"), "FINAL(none)")
    run = solve("Which hosts crashed?", LOG, guidance="off")
    assert run.answer == "none"  # the plain method takes the answer; only a guide doubts it
    first, second = (r.messages for r in run.roots)
    assert "More examples" not in first[0]["content"] and "records() parses" not in first[1]["content"]
    assert "found nothing" not in second[-1]["content"]


def test_small_guidance_questions_an_answer_after_a_block_that_found_nothing_once(model, solve):
    model.script("root", fence("print([])"), "FINAL(none)", "FINAL(none)")
    run = solve("Which hosts crashed?", LOG)
    assert (run.answer, run.outcome.iterations) == ("none", 3)
    assert "Your code found nothing" in run.roots[1].last_user
    assert "rests on code that found nothing" in run.roots[2].last_user


def test_small_guidance_drops_a_rerun_reply_and_samples_the_next_one_hotter(model, solve):
    code = fence("print(Counter(r['host'] for r in records()).most_common(1))")
    model.script("root", code, code, "FINAL(web-0)")
    run = solve("Busiest host?", LOG)
    assert run.answer == "web-0"
    last = run.roots[-1]
    assert [r.temperature for r in run.roots] == [0.0, 0.0, 0.7]
    assert [m["role"] for m in last.messages[2:]] == ["assistant", "user"]  # the rerun reply is not kept
    assert "You already ran exactly this code" in last.last_user


def test_guidance_checks_read_the_input_back_once_the_parent_has_released_it(model, solve):
    code = "print(sum('web-2' in d.text and 'request failed' in d.text for d in documents))"
    model.script("root", fence(code), "FINAL(0)", "FINAL(0)")
    run = solve("How many requests failed on web-2?", LOG)
    assert run.corpus is not None
    assert not any(isinstance(d.__dict__["_text"], str) for d in run.corpus.documents)  # the parent let go of it
    told = run.roots[1].last_user
    assert "Your code looks for 'request failed', which the input never contains" in told  # absent: found absent
    assert "The data does contain 'request' (of 'request failed')" in told  # the part the data holds: found
    assert "'web-2'" not in told  # present: not flagged
    assert run.corpus.documents[0].text == LOG


def test_the_child_loads_the_input_only_once_the_opening_has_read_it(model):
    class Watching(Plain):
        held: list[bool] = []

        def opening(self, question, documents):
            time.sleep(0.3)  # time for the REPL start to write the bundle, and to release the text if unguarded
            self.held.append(all(isinstance(d.__dict__["_text"], str) for d in documents))
            return []

    model.script("root", fence("print(len(context))"), "FINAL(done)")
    config = EngineConfig(root=ModelSpec("root"), sub=ModelSpec("sub"), guide=Watching)
    corpus = corpus_from_text(LOG, "app.log")
    outcome = RLM(Run(config, model, lambda event: None)).solve("q?", corpus)
    assert outcome.answer == "done" and Watching.held == [True]
    assert str(len("=== FILE: app.log ===\n" + LOG)) in model.requests[-1].last_user
    assert not isinstance(corpus.documents[0].__dict__["_text"], str) and corpus.documents[0].text == LOG


def test_small_guidance_describes_a_constant_field_and_the_unit_of_journal_lines(model, solve):
    journal = "".join(
        f"Mar 03 10:00:{i:02d} node-{i % 2} systemd[1]: {svc}.service: Failed with result 'exit-code'.\n"
        for i, svc in enumerate(["auth-api", "billing", "auth-api", "cache", "billing"])
    )
    model.script("root", "FINAL(x)", fence("print(1)"), "FINAL(x)")
    run = solve("which services failed twice?", journal)
    assert "- service: 'auth-api', 'billing', 'cache'" in run.roots[0].messages[1]["content"]


@pytest.mark.parametrize(("level", "noted"), [("off", False), ("small", True)])
def test_notes_from_the_child_reach_the_model_only_with_guidance(model, solve, level, noted):
    model.script("root", fence("users = {r['user'] for r in records()}\nprint(len(users))"), "FINAL(1)", "FINAL(1)")
    run = solve("How many users?", LOG, guidance=level)
    assert ("holds only None" in run.roots[1].last_user) is noted


def test_small_guidance_questions_a_list_answer_that_names_every_counted_item_once(model, solve):
    code = fence("c = Counter(r['host'] for r in records() if r['level'] == 'ERROR')\nprint(c.most_common())")
    model.script("root", code, "FINAL(web-0, web-1, web-2)", "FINAL(web-0, web-1, web-2)")
    run = solve("Which hosts logged 4 errors?", LOG)
    assert run.answer == "web-0, web-1, web-2" and run.outcome.iterations == 3  # told once, then taken
    assert "names every item the output counted" in run.roots[2].last_user


def test_an_answer_stated_without_final_after_an_output_is_shown_as_a_final_line(model, solve):
    model.script("root", fence("print(Counter(r['host'] for r in records()))"), "The busiest host is web-0.")
    model.rule("root", "reply with only this line", "FINAL(The busiest host is web-0.)")
    run = solve("Busiest host?", LOG)
    assert run.answer == "The busiest host is web-0." and run.outcome.iterations == 3
    assert "FINAL(The busiest host is web-0.)" in run.roots[2].last_user


@pytest.mark.parametrize(("index", "checked"), [(0, False), (1, True)])
def test_a_block_the_guide_wrote_is_not_checked_as_the_model_s_code(index, checked):
    """The guide's first block lists kinds of line it only judges (`"Invalid user" in r["message"]`); a flaw
    found there would doubt whatever answer follows it."""
    guide = SmallModelGuide()
    line = "Jul 14 02:0{}:04 bastion sshd[33]: Failed password for invalid user x from 10.0.0.9 port 5 ssh2\n"
    guide.opening("q", corpus_from_text("".join(line.format(i) for i in range(4))).documents)
    code = 'hits = [r for r in records() if "Invalid user" in r["message"]]\nprint(len(hits))'
    advice = guide.after_block("q", Block(index, code, "0", True))
    assert bool(guide.flaws) is checked and any("case-sensitive" in a.text for a in advice) is checked


@pytest.mark.parametrize(
    ("prose", "answer"),
    [
        ("Hosts: ['web-0', 'web-1']", "web-0, web-1"),
        ("Counts: [{{}}]", "Counts: [{{}}]"),  # a set of a dict: not a literal that can be read, kept as written
        ("Result: [1, 2.5, 'x'].", "1, 2.5, x"),
        ("The busiest host is web-0.", "The busiest host is web-0."),
        # The answer in a fence of text after a long explanation: the fence is what the reply states.
        (f"{'The question asks which hosts logged errors. ' * 8}So:\n```\nweb-0, web-1\n```\n", "web-0, web-1"),
        ("Hosts:\n```text\nweb-0\nweb-1\n```", "web-0, web-1"),
    ],
)
def test_a_reply_without_final_is_shown_the_final_line_of_what_it_states(prose, answer):
    guide = SmallModelGuide()
    guide.last = Block(0, "print(1)", "1", True)
    prose = parse_reply(prose).prose  # as the loop gives it: a fence of text is part of a reply's prose
    advice = guide.idle("q", prose)
    assert advice.text.endswith(f"FINAL({answer})") and advice.final is None
    assert guide.idle("q", prose).final == answer  # the same reply again is taken


@pytest.mark.parametrize("plan", ["I will grep for ['error', 'fail']", "Let me look at these lines:\n```\nweb-0\n```"])
def test_a_plan_that_ends_in_a_list_or_a_fence_is_no_answer(plan):
    guide = SmallModelGuide()
    guide.last = Block(0, "print(1)", "1", True)
    for _ in range(2):
        advice = guide.idle("q", parse_reply(plan).prose)
        assert advice.final is None and "FINAL(" not in advice.text


def test_a_stated_answer_that_is_doubted_gets_the_doubt_not_its_final_line(model, solve):
    """The repeated answer goes through the guide's doubts like any FINAL: an empty one is refused once."""
    echo = "Hosts with errors: []"
    model.script("root", fence("print([h for h in [] if h])"), echo, echo, echo)
    run = solve("Which hosts logged errors?", LOG, max_iterations=4)
    doubted = run.roots[3].last_user
    assert nudges.EMPTY_ANSWER in doubted and "reply with only this line" not in doubted
    assert run.answer == echo and run.outcome.iterations == 4  # said a third time: taken at its word
    assert sum("after its FINAL line was shown: taken" in n for n in run.notices()) == 1


@pytest.mark.parametrize(("level", "iterations", "status"), [("small", 3, "ok"), ("off", 4, "budget_exhausted")])
def test_the_same_answer_stated_again_after_its_final_line_was_shown_is_taken(model, solve, level, iterations, status):
    """A small model that echoes an output's last line ("...: ['web-0', 'web-1']") turn after turn is shown the
    FINAL line once, with the list's items as the answer; the same line again ends the run with that answer.
    The plain method has no such reading: the run goes on to its last turn."""
    echo = "Hosts with errors, as counted: ['web-0', 'web-1']"
    model.script("root", fence("print(sorted({r['host'] for r in records()})[:2])"), echo, echo, echo, echo)
    run = solve("Which hosts logged errors?", LOG, guidance=level, max_iterations=4)
    assert run.outcome.iterations == iterations and run.outcome.status == status
    if level == "small":
        assert run.answer == "web-0, web-1" and run.outcome.final
        assert "FINAL(web-0, web-1)" in run.roots[2].last_user
        assert run.noticed("the same answer again, after its FINAL line was shown: taken")


def test_a_list_answer_taking_items_of_different_counts_is_questioned_once(model, solve):
    code = fence("c = Counter(r['host'] for r in records() if r['msg'] != 'x')\nprint(c.most_common())")
    model.script("root", code, "FINAL(web-0, web-1)", "FINAL(web-1, web-2)")
    run = solve("Which hosts logged 13 requests?", LOG.replace("host=web-0", "host=web-9", 2))
    assert run.answer == "web-1, web-2" and run.outcome.iterations == 3
    assert "Your answer takes items the output counted differently" in run.roots[2].last_user


def test_a_top_k_the_code_cut_is_not_questioned_as_every_counted_item(model, solve):
    code = fence("c = Counter(r['host'] for r in records() if r['level'] == 'ERROR')\nprint(c.most_common(3))")
    model.script("root", code, "FINAL(web-0, web-1, web-2)")
    run = solve("Which three hosts logged the most errors?", LOG)
    assert run.answer == "web-0, web-1, web-2" and run.outcome.iterations == 2


SERVICES = "".join(
    f'2026-03-03T10:{i:02d}:00Z host=db level={"error" if i % 7 == 0 else "info"} service={name} msg="tick {i}"\n'
    for i, name in enumerate(["auth", "cart", "mail", "feed", "geo"] * 6)
)


@pytest.mark.parametrize(("level", "asked"), [("small", True), ("off", False)])
def test_a_list_answer_naming_nearly_every_value_of_a_field_is_questioned_once(model, solve, level, asked):
    listed = fence("print(sorted({r['service'] for r in records()}))")
    model.script("root", listed, "FINAL(auth, cart, feed, geo, mail)", "FINAL(auth, cart, feed, geo, mail)")
    run = solve("Which services failed twice?", SERVICES, guidance=level)
    assert run.answer == "auth, cart, feed, geo, mail" and run.outcome.iterations == (3 if asked else 2)
    assert ('names 5 of the 5 values of r["service"]' in run.roots[-1].last_user) is asked


# --- final answers ---------------------------------------------------------------------------------


def test_chunked_count_with_batched_subcalls_ends_with_final_var(model, solve, app_log):
    path, expected = app_log
    model.script(
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
    model.rule("sub", "Count the lines", count_errors_after_first_line, delay=0.5)  # long enough to overlap
    run = solve("How many lines contain ERROR?", path)
    assert (run.answer, run.outcome.final, run.outcome.status) == (str(expected), True, "ok")
    assert len(run.requests_to("sub")) >= 8
    assert model.peak_concurrency_for("sub") >= 4  # the batch really ran concurrently
    # The root model never saw the input itself: only metadata and a prefix.
    first_prompt = "\n".join(m["content"] for m in run.roots[0].messages)
    assert "request 399 done" not in first_prompt
    assert "400" in first_prompt


def test_final_called_in_code(model, solve, app_log):
    path, expected = app_log
    model.script("root", fence('n = sum("ERROR" in l for l in context.splitlines())\nFINAL(f"{n} errors")'))
    run = solve("How many errors?", path, guidance="off")  # with guidance, a count never printed is questioned
    assert (run.answer, run.outcome.final) == (f"{expected} errors", True)


def test_final_as_text_after_seeing_output(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence("print(len(context.splitlines()))"), "The output shows it.\nFINAL(401 lines)")
    assert solve("How many lines?", path).answer == "401 lines"


def test_final_inside_a_fence_is_not_an_answer(model, solve, app_log):
    path, _ = app_log
    model.script(
        "root",
        fence("print(len(context))"),
        "Here is how I would finish:\n```text\nFINAL(wrong answer)\n```",
        "FINAL(right answer)",
    )
    run = solve("q?", path)
    assert run.answer == "right answer"
    assert "no ```repl code block and no FINAL" in run.roots[2].last_user


def test_final_var_of_missing_name_is_refused_then_accepted(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence("answer = 'svc-1'\nprint(answer)"), "FINAL_VAR(nope)", "FINAL_VAR(answer)")
    run = solve("Which service?", path)
    assert run.answer == "svc-1"
    assert "no variable named 'nope'" in run.roots[2].last_user


def test_python_fence_runs(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence("x = 6 * 7\nprint(x)\nSHOW_VARS()", lang="python"), "FINAL(42)")
    run = solve("q?", path)
    assert run.answer == "42"
    assert "42" in run.roots[1].last_user and "x: int" in run.roots[1].last_user


def test_a_reply_that_is_only_a_bare_call_runs_as_code(model, solve):
    model.script("root", 'grep("request 7")', "FINAL(web-1)")
    run = solve("Which host served request 7?", LOG, guidance="off")
    assert run.answer == "web-1"
    assert any("request 7" in e.output for e in run.of_type(ev.CodeExecuted))
    assert "app.log:" in run.roots[1].last_user


def test_code_whose_final_line_is_bare_text_runs_without_it(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence("n = 57\nprint(n)\nFINAL(there are 57 errors)"), "FINAL(57)")
    run = solve("q?", path)
    assert run.answer == "57"
    feedback = run.roots[1].last_user
    assert "REPL output of block 1:\n```text\n57\n```" in feedback and "SyntaxError" not in feedback
    assert "before seeing the code's output" in feedback


def test_plan_and_premature_final_are_refused(model, solve, app_log):
    path, _ = app_log
    model.script(
        "root",
        "FINAL(42)",  # before any code ran
        fence("print(57)") + "\nFINAL(guess)",  # written before seeing the output
        "FINAL(I will now count the errors)",  # a plan
        "FINAL(57)",
    )
    run = solve("q?", path)
    assert run.answer == "57"
    assert "not looked at the data yet" in run.roots[1].last_user
    assert "before seeing the code's output" in run.roots[2].last_user
    # What followed the code block (a guess) is not kept in the conversation.
    assert "FINAL(guess)" not in run.roots[2].messages[-2]["content"]
    assert "a plan, not an answer" in run.roots[3].last_user


def test_answer_after_an_output_the_model_wrote_itself_is_refused(model, solve, app_log):
    path, _ = app_log
    invented = "```\napp.log:3: ERROR disk full\n```\nThe output above shows it.\nFINAL(disk full)"
    model.script("root", fence("print(1)"), invented, "FINAL(disk full)")
    run = solve("q?", path)
    assert "an output that you wrote yourself" in run.roots[2].last_user
    assert run.answer == "disk full"


def test_final_of_a_bare_name_uses_the_variable_or_is_refused_as_a_placeholder(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence("top_three = ['auth', 'cart', 'db']"), "FINAL(answer)", "FINAL(top_three)")
    run = solve("q?", path)
    assert "FINAL(answer): there is no variable named 'answer'" in run.roots[2].last_user
    assert run.answer == "['auth', 'cart', 'db']"


def test_a_placeholder_is_never_an_answer_even_right_after_a_printed_result(model, solve):
    model.script("root", fence("print(41)"), "FINAL(answer)", "Final(answer)", "FINAL(result)")
    run = solve("How many lines?", LOG, guidance="off", max_iterations=3)
    assert run.outcome.final is False and run.outcome.status == "budget_exhausted"
    assert "there is no variable named 'answer'" in run.roots[2].last_user
    assert run.answer == "41"  # the best partial answer: the last output, marked not final


FAILING = (
    "== FAILURES ==\nE   KeyError: 'sku'\nFAILED tests/test_cart.py::test_totals - KeyError\n== 1 failed, 9 passed ==\n"
)
FOUND = fence('print([line for line in context.splitlines() if "FAILED" in line])')


@pytest.mark.parametrize(("level", "final", "status"), [("small", True, "ok"), ("off", False, "budget_exhausted")])
def test_a_model_stuck_on_a_placeholder_gets_the_helper_model_s_answer_from_its_outputs(
    model, solve, level, final, status
):
    """The 1.5B model printed the failing tests, then wrote FINAL(answer) with no `answer` to the iteration limit."""
    model.script("root", FOUND, "FINAL(answer)", "FINAL(answer)")
    model.rule("sub", "what code run on the input printed", "test_totals failed with KeyError: 'sku'.")
    run = solve("Summarize the test failures.", FAILING, guidance=level, max_iterations=3)
    assert (run.outcome.final, run.outcome.status) == (final, status)
    helped = run.requests_to("sub")
    if level == "off":
        assert helped == [] and run.answer != "test_totals failed with KeyError: 'sku'."
        return
    assert run.answer == "test_totals failed with KeyError: 'sku'." and run.outcome.iterations == 3
    prompt = helped[0].last_user  # the question, what the model's code printed, the trouble lines and the end
    assert (
        "Summarize the test failures." in prompt and "['FAILED tests/test_cart.py::test_totals - KeyError']" in prompt
    )
    assert "E   KeyError: 'sku'" in prompt
    shown = run.roots[2].last_user
    assert "there is no variable named 'answer'" in shown and "You are not getting closer" in shown
    assert "test_totals failed with KeyError: 'sku'." in shown and run.noticed("the model is stuck")


@pytest.mark.parametrize("level", ["off", "small"])
def test_a_placeholder_final_called_in_code_is_refused_not_answered_with_its_name(model, solve, level):
    model.script("root", fence('print("FAILED test_totals - KeyError")\nFINAL(answer)'), "FINAL(test_totals: KeyError)")
    model.rule("sub", "", "test_totals failed with KeyError.")
    run = solve("Which test failed?", FAILING, guidance=level)
    assert "there is no variable named 'answer'" in run.roots[1].last_user
    assert run.answer == "test_totals: KeyError" and run.noticed("FINAL(answer): a placeholder: refused")
    assert ("You are not getting closer" in run.roots[1].last_user) == (level == "small")


def test_the_helper_model_s_answer_is_offered_once_per_run(model, solve):
    model.script("root", FOUND, "FINAL(result)", "FINAL(result)", "FINAL(result)")
    model.rule("sub", "", "test_totals failed.")
    run = solve("Summarize the test failures.", FAILING, max_iterations=4)
    assert run.outcome.status == "budget_exhausted"
    assert len(run.requests_to("sub")) == 1 and sum("You are not getting closer" in r.last_user for r in run.roots) == 1


def test_an_answer_from_a_sub_call_that_read_none_of_the_input_is_questioned_once(model, solve):
    model.script("root", fence('print(llm_query("What is the retry limit set to?"))'), "FINAL(true)", "FINAL(true)")
    model.rule("sub", "", "true")
    run = solve("What is the retry limit set to?", LOG)
    assert "sends the helper model only the words written in it" in run.roots[1].last_user
    assert run.noticed("final answer from flawed code") and (run.answer, run.outcome.iterations) == ("true", 3)


def test_an_answer_written_as_a_bound_string_is_shown_its_final_var_line_even_when_run_again(model, solve):
    said = fence('answer = "Too many open files: the listener shut down."')
    model.script("root", said, fence('answer = "It stopped."'), said, said)
    run = solve("Why did it stop?", LOG)
    assert (run.answer, run.outcome.final) == ("Too many open files: the listener shut down.", True)
    assert run.outcome.iterations == 4  # the same text bound right after its FINAL_VAR line was shown: taken
    for request in run.roots[1:4]:
        assert "Your block only set `answer` to text you wrote" in request.last_user
        assert "You already ran exactly this code" not in request.last_user
    assert run.noticed("bound to the same text again, after its FINAL_VAR line: taken")


@pytest.mark.parametrize(("level", "iterations"), [("small", 2), ("off", 3)])
def test_a_bound_answer_given_again_is_taken_only_by_the_small_guide(model, solve, level, iterations):
    said = fence('answer = "disk full"')
    model.script("root", said, said, "FINAL_VAR(answer)")
    run = solve("Why did it stop?", LOG, guidance=level)
    assert (run.answer, run.outcome.iterations) == ("disk full", iterations)


@pytest.mark.parametrize("last", ["FINAL(answer)", "FINAL_VAR(answer)"])
def test_the_last_call_answering_with_a_bound_variable_gives_its_value(model, solve, last):
    model.script("root", fence("answer = 'web-1'\nprint('looked')"), last)
    run = solve("Which host?", LOG, guidance="off", max_iterations=1)
    assert (run.answer, run.outcome.status) == ("web-1", "budget_exhausted")


@pytest.mark.parametrize("level", ["small", "off"])
def test_the_no_output_note_copied_into_final_is_refused(model, solve, level):
    """The note the engine writes for a block that printed nothing is not an answer, whatever the guidance."""
    echoed = "FINAL(no output: the code printed nothing. Use print() to see values.)"
    model.script("root", fence("hits = [1, 2]"), echoed, fence("print(len(hits))"), "FINAL(2)")
    run = solve("How many hits?", LOG, guidance=level)
    assert "that is the REPL's note that your code printed nothing, not an answer" in run.roots[2].last_user
    assert run.answer == "2" and run.outcome.final and run.noticed("final answer echoes the no-output note")


def test_a_variable_named_like_a_placeholder_is_its_value(model, solve):
    model.script("root", fence("answer = len(context.splitlines())\nprint(answer)"), "FINAL(answer)")
    run = solve("How many lines?", LOG, guidance="off")
    assert run.answer == "41" and run.outcome.final


def test_pasting_the_input_as_context_is_skipped_and_the_block_runs_on_the_input(model, solve):
    model.script("root", fence('context = """level=info a"""\nprint(context.count("level=error"))'), "FINAL(10)")
    run = solve("How many error lines?", LOG, guidance="off")
    assert run.answer == "10" and run.outcome.final
    assert "the line assigning your own text to `context` was skipped" in run.roots[1].last_user
    assert "\n10\n" in run.roots[1].last_user


@pytest.mark.parametrize("level", ["small", "off"])
def test_an_answer_that_takes_nothing_from_the_outputs_is_questioned_once_by_the_small_guide(model, solve, level):
    model.script("root", fence("print('records that match:', 54)"), "FINAL(no failed logins were found)", "FINAL(54)")
    run = solve("failed logins from 10.0.0.9?", LOG, guidance=level)
    if level == "off":
        assert run.answer == "no failed logins were found" and len(run.roots) == 2
    else:
        assert run.answer == "54" and len(run.roots) == 3
        doubt = run.roots[2].last_user
        assert "takes nothing from the output it follows (records that match: 54)" in doubt
        assert "The one value that output shows is 54. If it answers the question, reply with only this" in doubt
        assert "\nFINAL(54)\nIf it does not, write the next block." in doubt


def test_an_unrelated_answer_after_an_output_of_several_values_is_offered_no_final_line(model, solve):
    code = fence("print('records that match:', 54, 'of', 120)")
    model.script("root", code, "FINAL(no failed logins were found)", "FINAL(54)")
    run = solve("failed logins from 10.0.0.9?", LOG)
    doubt = run.roots[2].last_user
    assert "takes nothing from the output it follows (records that match: 54 of 120)" in doubt
    assert "FINAL(54)" not in doubt and run.answer == "54"


def test_code_that_opens_an_input_file_by_its_path_reads_the_input(model, solve, tmp_path):
    logs = tmp_path / "logs"
    (logs / "api").mkdir(parents=True)
    (logs / "api" / "service.log").write_text("ERROR disk full\nINFO ok\n")
    (logs / "db.log").write_text("INFO fine\n")
    code = (
        "with open('service.log') as f:\n    print(f.readlines())\n"
        "print(open('db.log', 'rb').read())\n"
        "open('db.log', 'w').write('mine')\nprint(open('db.log').read())\n"  # a file the code wrote is its own
        "try:\n    open('nothing.log')\nexcept FileNotFoundError:\n    print('no such input')"
    )
    model.script("root", fence(code), "FINAL(disk full)")
    run = solve("What failed?", logs, guidance="off")
    shown = run.roots[1].last_user
    assert "['ERROR disk full\\n', 'INFO ok\\n']\nb'INFO fine\\n'\nmine\nno such input" in shown
    assert (logs / "db.log").read_text() == "INFO fine\n"  # the user's file is untouched


def test_a_pasted_copy_that_found_nothing_is_still_nothing_found_to_the_small_guide(model, solve):
    # The skip is reported as a note beside the output, not in it: the output is the code's alone.
    model.script("root", fence('context = """level=info a"""\nprint([])'), "FINAL(none)", "FINAL(none)")
    run = solve("Which hosts crashed?", LOG)
    assert "the line assigning your own text to `context` was skipped" in run.roots[1].last_user
    assert "Your code found nothing" in run.roots[1].last_user
    assert "rests on code that found nothing" in run.roots[2].last_user


# --- nudges and doubts -----------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["small", "off"])
def test_reply_without_code_gets_a_nudge(model, solve, app_log, level):
    path, _ = app_log
    model.script("root", "I think the logs look fine.", fence("print(1)"), "FINAL(fine)")
    run = solve("q?", path, guidance=level)
    assert run.answer == "fine"
    assert "no ```repl code block" in run.roots[1].last_user
    # "q?" names no key of the logs: the small guide offers the trouble lines and the end of the input
    assert ("lines report trouble" in run.roots[1].last_user) is (level == "small")
    assert "no code and no final answer: reminded the model" in run.notices("nudge")


def test_a_reply_without_code_is_shown_a_block_to_copy_for_the_question_s_key(model, solve, tmp_path):
    notes = tmp_path / "notes.txt"
    filler = "".join(f"One of the special magic numbers for key-{i} is: {1000 + i}.\n" for i in range(30))
    notes.write_text(f"{filler}One of the special magic numbers for wandering-summit is: 5209478.\n{filler}")
    model.script("root", "Let me look at the data first.", "FINAL(5209478)")
    run = solve("What is the special magic number for wandering-summit?", notes)
    block = "```repl\nfor line in grep('wandering-summit')[:10]:\n    print(line)\n```"
    assert f"reply with only this block:\n{block}" in run.roots[1].last_user


def test_a_lookup_answer_read_off_another_key_s_line_is_questioned_once(model, solve, tmp_path):
    filler = "".join(f"setting number {i} is left at its default for now\n" for i in range(40))
    config = tmp_path / "settings.txt"
    config.write_text(f"amber-fox = 7XQ-1\n{filler}velvet-lantern = 9KD-2\n{filler}")
    model.script("root", fence("print(grep('=')[0])"), "FINAL(7XQ-1)", "FINAL(9KD-2)")
    run = solve("Which value is velvet-lantern set to?", config)
    assert run.answer == "9KD-2"
    assert "7XQ-1 is in the input only on lines that do not mention 'velvet-lantern'" in run.roots[2].last_user


def test_answer_with_values_never_shown_is_pushed_back_once(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence("print('looked at it')"), "FINAL(23)", "FINAL(23)")
    run = solve("q?", path)
    assert run.answer == "23"
    assert "23, which no REPL output showed as a result" in run.roots[2].last_user


def test_a_value_seen_only_inside_a_long_dump_is_pushed_back(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence("print(4242, 'x' * 600)"), "FINAL(4242)", fence("print(4242)"), "FINAL(4242)")
    run = solve("q?", path)
    assert "4242, which no REPL output showed as a result" in run.roots[2].last_user
    assert len(run.roots) == 4 and run.answer == "4242"


def test_the_same_reply_twice_is_sampled_hotter_without_guidance_too(model, solve):
    model.script("root", fence("print(1)"), fence("print(1)"), "FINAL(1)")
    run = solve("q?", LOG, guidance="off")
    assert run.answer == "1"
    assert [r.temperature for r in run.roots] == [0.0, 0.0, 0.7]


# --- the REPL's faults -----------------------------------------------------------------------------


def test_runaway_block_is_cut_and_the_run_continues(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence("kept = 'still here'\nwhile True:\n    pass"), fence("print(kept)"), "FINAL(done)")
    run = solve("q?", path, exec_timeout=1)
    assert run.answer == "done"
    assert "TimeoutError" in run.roots[1].last_user
    assert "still here" in run.roots[2].last_user  # a soft timeout keeps the REPL's state


def test_block_that_ignores_its_timer_is_killed_and_state_is_reported_lost(model, solve, app_log):
    path, _ = app_log
    stubborn = (
        "x = 1\nwhile True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass"
    )
    model.script("root", fence(stubborn), fence("print('x' in globals())"), "FINAL(done)")
    run = solve("q?", path, exec_timeout=1)
    assert run.answer == "done"
    assert "was killed" in run.roots[1].last_user and "every variable you made is gone" in run.roots[1].last_user
    assert "False" in run.roots[2].last_user
    assert [e.state_lost for e in run.of_type(ev.CodeExecuted)] == [True, False]


# --- sub-calls and recursion -----------------------------------------------------------------------


def test_failed_subcall_inside_batch_is_marked_and_batch_survives(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence('res = llm_query_batched(["a", "b", "c"])\nprint(res)'), "FINAL(ok)")
    model.fail("sub", times=1)
    model.rule("sub", "", lambda p: f"answer-{p.strip()[-1]}")
    run = solve("q?", path, concurrency=1)
    shown = run.roots[1].last_user
    assert shown.count("[llm_query error") == 1
    assert shown.count("answer-") == 2
    assert [e.failed for e in run.of_type(ev.BatchFinished)] == [1]


@pytest.mark.parametrize("level", ["off", "small"])
def test_a_failed_sub_call_s_error_is_never_the_final_answer(model, solve, app_log, level):
    path, _ = app_log
    model.script(
        "root",
        fence('answer = llm_query(f"Why? {context[-200:]}")\nprint(answer)'),
        "FINAL_VAR(answer)",
        "FINAL(disk full)",
    )
    model.fail("sub", times=1)
    run = solve("q?", path, guidance=level)
    assert "error a sub-call returned, not an answer" in run.roots[2].last_user
    assert (run.answer, run.outcome.final) == ("disk full", True)


def test_depth_two_runs_a_child_rlm(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence('r = llm_query("Count the words in: alpha beta gamma")\nprint(r)'), "FINAL_VAR(r)")
    # The sub-model drives the child RLM, with its own REPL whose context is the prompt.
    model.script("sub", fence("words = context.split('words in:', 1)[1].split()\nprint(len(words))"), "FINAL(3 words)")
    run = solve("q?", path, max_depth=2)
    assert run.answer == "3 words"
    child = run.requests_to("sub")
    assert "Count the words" in child[0].messages[-1]["content"]
    assert "3" in child[1].last_user
    assert [e.recursive for e in run.of_type(ev.SubcallFinished)] == [True]
    assert {e.depth for e in run.of_type(ev.TurnStarted)} == {0, 1}


def test_code_cannot_pick_an_unconfigured_model(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence('print(llm_query("hi", model="openai/attacker-model"))'), "FINAL(done)")
    model.rule("sub", "", "from the configured sub-model")
    run = solve("q?", path)
    assert [r.model for r in run.requests if r.model != "root"] == ["sub"]
    assert "from the configured sub-model" in run.roots[1].last_user
    assert any("attacker-model" in w and "ignored" in w for w in run.notices("warning"))


def test_events_come_in_the_order_things_happen(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence('print(llm_query_batched(["a", "b"]))'), "FINAL(done)")
    model.rule("sub", "", "x")
    run = solve("q?", path, concurrency=1, guidance="off")
    kinds = [e.type for e in run.events if not isinstance(e, ev.Notice)]
    assert kinds == [
        "turn_started",
        "model_reply",
        "code_started",
        "batch_started",
        "subcall_finished",
        "subcall_finished",
        "batch_finished",
        "code_executed",
        "turn_started",
        "model_reply",
    ]
    usage = run.of_type(ev.ModelReply)[-1].usage
    assert usage["subcalls"] == 2 and usage["by_model"]["sub"]["calls"] == 2


# --- budgets and partial answers -------------------------------------------------------------------


def loop_forever(model) -> None:
    model.rule("root", "", lambda _: fence("print('still looking')"))


def test_max_iterations_asks_for_a_best_answer_marked_not_final(model, solve, app_log):
    path, _ = app_log
    model.script("root", *[fence(f"print({i})") for i in range(3)], "FINAL(best guess 7)")
    run = solve("q?", path, max_iterations=3)
    assert (run.answer, run.outcome.final, run.outcome.status) == ("best guess 7", False, "budget_exhausted")
    assert run.outcome.error.budget == "iterations"
    assert "no iterations left" in run.roots[3].last_user


def test_a_placeholder_as_the_last_word_gives_the_last_result(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence("print('counting')"), fence("print(41 + 1)"), "FINAL(answer)")
    run = solve("q?", path, max_iterations=2)
    assert (run.answer, run.outcome.status) == ("42", "budget_exhausted")


def test_a_stopped_run_answers_with_the_end_of_the_last_output_never_with_code(model, solve):
    model.script("root", fence("print('start')"), fence("print('counting')\nprint('web-0: 4')"), fence("print(1)"))
    run = solve("Which host?", LOG, guidance="off", max_iterations=2)
    assert run.outcome.status == "budget_exhausted" and run.outcome.final is False
    assert run.answer == "counting\nweb-0: 4"


def test_the_output_of_a_failed_block_is_never_the_partial_answer(model, solve):
    model.script("root", fence("print('web-0: 4')"), fence("raise ValueError('boom')"), fence("print(1)"))
    run = solve("Which host?", LOG, guidance="off", max_iterations=2)
    assert run.outcome.status == "budget_exhausted" and run.answer == "web-0: 4"


def test_a_refused_answer_is_the_partial_answer_when_the_run_stops(model, solve, app_log):
    path, _ = app_log
    # Refused (written before its code's output was seen); then the last call fails, since no script is left.
    model.script("root", fence("print(57)") + "\nFINAL(57 errors)")
    run = solve("q?", path, max_iterations=1)
    assert (run.answer, run.outcome.final, run.outcome.status) == ("57 errors", False, "budget_exhausted")


def test_max_subcalls_stops_the_run(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence('r = llm_query_batched(["x"] * 10)\nprint(r)'))
    model.rule("sub", "", "y")
    run = solve("q?", path, max_subcalls=4, concurrency=2)
    assert run.outcome.status == "budget_exhausted" and run.outcome.error.budget == "subcalls"
    assert len(run.requests_to("sub")) <= 4


def test_max_tokens_stops_the_run(model, solve, app_log):
    path, _ = app_log
    loop_forever(model)
    run = solve("q?", path, max_tokens=3000)
    assert run.outcome.error.budget == "tokens"
    usage = run.of_type(ev.ModelReply)[-1].usage
    assert usage["input_tokens"] + usage["output_tokens"] >= 3000 and len(run.roots) < 10


def test_max_cost_stops_the_run_for_a_priced_model(model, solve, app_log):
    path, _ = app_log
    loop_forever(model)
    model.price("root", 0.0002)
    run = solve("q?", path, max_cost=0.0005)
    assert run.outcome.error.budget == "cost"
    assert len(run.roots) == 3  # 0.0006 spent after three calls: no fourth call is made


def test_unknown_price_is_reported_once_and_does_not_crash(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence("print(1)"), "FINAL(one)")
    run = solve("q?", path, max_cost=1)
    assert run.answer == "one"
    warnings = run.notices("warning")
    assert sum("cost unknown for root" in w for w in warnings) == 1
    assert sum("--max-cost cannot be enforced" in w for w in warnings) == 1


def test_timeout_stops_the_run(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence("import time\nfor _ in range(600):\n    time.sleep(0.1)"))
    run = solve("q?", path, timeout=2)
    assert run.outcome.status == "budget_exhausted" and run.outcome.error.budget == "timeout"
    assert run.of_type(ev.CodeExecuted) == []  # the 60 s cell was cut by the run's deadline, not finished


def test_a_model_behind_its_own_api_base_has_no_price_warning(model, solve, app_log):
    path, _ = app_log
    model.script("root", fence("print(1)"), "FINAL(one)")
    run = solve("q?", path, root=ModelSpec("root", "http://127.0.0.1:1/v1"), max_cost=1)
    warnings = run.notices("warning")
    assert not any("cost unknown" in w for w in warnings)
    assert sum("--max-cost cannot be enforced" in w for w in warnings) == 1


def test_an_empty_answer_after_labelled_empty_results_is_questioned_once(model, solve):
    code = fence(
        "hits = [r for r in records() if r['level'] == 'FATAL']\nprint('kept:', len(hits))\nprint('hosts:', [])"
    )
    model.script("root", code, "FINAL(None)", "FINAL(None)")
    run = solve("Which hosts logged FATAL lines?", LOG)
    assert run.answer == "None" and run.outcome.iterations == 3
    assert "That answer rests on code that found nothing" in run.roots[2].last_user
