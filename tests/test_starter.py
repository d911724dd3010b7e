"""The first block the small guide offers: built from the words of the question that the data holds."""

from __future__ import annotations

import ast
import re

import pytest

from rlm_cli.engine import events as ev
from rlm_cli.engine.loop import corpus_from_text
from rlm_cli.guidance.describe import describe
from rlm_cli.guidance.questions import moment
from rlm_cli.guidance.small import found_nothing
from rlm_cli.guidance.starter import CLASSIFY_FIRST_LINES, READ_CHUNK, RUN_FIRST_CHARS, first_block, line_kinds, offer

JOURNAL = "".join(
    f"Jul 23 0{i}:00:00 host{i % 2} systemd[1]: {name}.service: Failed with result 'exit-code'.\n"
    f"Jul 23 0{i}:00:01 host{i % 2} {name}[7]: INFO request handled in 12 ms\n"
    for i, name in enumerate(["cart", "mail", "cart", "geo", "geo"])
)
UNITS = "".join(
    f"Oct 26 0{i}:00:00 host{i % 3} systemd[1]: Starting {name}.service - {name.title()}...\n"
    f"Oct 26 0{i}:00:05 host{i % 3} systemd[1]: {name}.service: Main process exited, code=exited, status=1/FAILURE\n"
    for i, name in enumerate(["cart", "geo", "cart", "mail", "geo"])
)
SSHD = "".join(
    f"Jul 14 02:0{i}:04 bastion sshd[33{i}]: Failed password for root from {ip} port 5{i} ssh2\n"
    for i, ip in enumerate(["10.0.0.9", "10.0.0.7", "10.0.0.9", "10.0.0.9"])
)


def _offered(text: str) -> str:
    return re.search(r"```repl\n(.*?)\n```", text, re.DOTALL)[1]


@pytest.mark.parametrize("level", ["small", "off"])
def test_the_offered_block_runs_on_the_real_records_before_the_first_turn_with_small_guidance_only(model, solve, level):
    model.rule("root", "records that match", "FINAL(cart, geo)")
    model.rule("root", ".", "FINAL(none)")
    model.rule("sub", 'count the lines that contain "Failed with result"', "yes")  # the kind of line it counts
    model.rule("sub", ".", "no")
    run = solve("which services failed twice?", JOURNAL, guidance=level, max_iterations=1)
    first = run.roots[0].last_user
    assert ("A first block built from the question's words" in first) is (level == "small")
    if level == "small":
        # The question, then the output, then what to do: the output is not pushed back behind a long question.
        ran = first.index("The first block offered above was run for you before your first reply.")
        asked = first.index("The question: which services failed twice?", ran)
        assert asked < first.index("records that match: 5\n") < first.index("If the output above answers")
        assert "2 each: ['cart', 'geo']\n1 each: ['mail']" in first
        assert run.answer == "cart, geo" and run.outcome.iterations == 1
        assert [e.index for e in run.of_type(ev.CodeExecuted)] == [0]
    else:
        assert "records that match" not in first and not run.of_type(ev.CodeExecuted)


def test_a_lookup_s_few_kept_lines_are_shown_and_a_count_s_many_are_not(model, solve):
    needle = "Jul 23 09:00:00 host1 deployer[3]: build-4471 promoted to staging by ann\n"
    model.rule("root", ".", "FINAL(none)")
    run = solve("who pushed build-4471 on?", JOURNAL + needle + JOURNAL, max_iterations=1)
    first = run.roots[0].last_user
    assert "records that match: 1\n" + needle.rstrip() + "\n" in first
    counted = solve("how many times did anything fail?", JOURNAL * 3, max_iterations=1).roots[0].last_user
    assert "records that match: 15\n```" in counted  # the count alone: no lines to read an answer off


def test_the_block_keeps_what_the_question_names_and_counts_by_the_field_it_names():
    values = {"host": ["bastion"], "service": ["sshd"]}
    shapes = ["Failed password for <user> from <ip> port <n> ssh2"]
    block = first_block("How many failed passwords came from 10.0.0.9?", values, shapes, [SSHD])
    assert """hits = [r for r in recs if "Failed password" in r["message"] and '10.0.0.9' in r["raw"]]""" in block
    assert "Counter(" not in block  # nothing to count by
    top = first_block("top source IP of failed ssh passwords?", values, shapes, [SSHD])
    assert 'counts = Counter(r["ip"] for r in hits if r["ip"] != None)' in top
    assert first_block("why did it crash?", values, shapes, [SSHD]) is None
    assert first_block("What was the root cause of the service's failure?", values, shapes, [SSHD]) is None
    nested = {"service.name": ["shipping", "payments"], "error.type": ["KeyError", "TimeoutError"]}
    block = first_block("Which error type is most common for shipping?", nested, [], ["x"])
    assert """if r["service"]["name"] == 'shipping'""" in block and 'Counter(r["error"]["type"]' in block


QUESTIONS = "".join(
    f"Date: 2024-0{month}-1{month} || User: {user} || Instance: {text}\n"
    for month, user, text in [
        (1, 311, "Who wrote Emma?"),
        (2, 311, "Why is ice slippery?"),
        (3, 402, "Where is Petra?"),
        (4, 311, "Where is Lima?"),
        (5, 402, "Who painted Guernica?"),
    ]
)
LABELS = "Label each question human (a person), description (a reason) or location (a place)."


@pytest.mark.parametrize(
    ("ask", "keeps"),
    [
        ("Which label is most common?", None),
        ("How many questions from user 311 are location questions?", """r["user"] == '311'"""),
        (
            "Between 2024-02-01 and 2024-04-30, which is most common?",
            """'2024-02-01' <= str(r["time"])[:10] <= '2024-04-30'""",
        ),
    ],
)
def test_labels_no_record_writes_are_judged_for_the_records_the_question_names(ask, keeps):
    block = _offered(_offer(f"{LABELS} {ask}", QUESTIONS))
    ast.parse(block)
    assert 'classify([r["message"] for r in' in block and "['human', 'description', 'location']" in block
    if keeps is None:
        assert "hits" not in block
    else:
        assert f"hits = [r for r in records() if {keeps}]" in block


def test_the_labels_block_over_many_lines_is_offered_not_run():
    question = f"{LABELS} Which label is most common?"
    for lines, run in ((QUESTIONS, True), (QUESTIONS * (CLASSIFY_FIRST_LINES // 5 + 1), False)):
        docs = corpus_from_text(lines, "q.txt").documents
        found = offer(question, describe(question, docs), [d.text for d in docs], len(lines))
        assert found is not None and found.run is run and "classify(" in found.code


def test_the_labels_block_runs_first_and_the_helper_model_judges_each_kept_record(model, solve):
    def judge(prompt: str) -> str:
        item = prompt.split("\nItem: ", 1)[1].split("\n", 1)[0]
        return {"Who": "human", "Why": "description", "Whe": "location"}.get(item[:3], "?")

    model.rule("sub", "\nItem: ", judge)
    model.rule("root", ".", "FINAL(2)")
    run = solve(f"{LABELS} How many questions from user 311 are location questions?", QUESTIONS, max_iterations=1)
    first = run.roots[0].last_user
    assert "records that match" not in first  # a count of one label was answered with the records kept
    assert "most common: human, description, location\nleast common: human, description, location" in first
    assert "3 items in 5 sub-calls" in first and "human: 1\ndescription: 1\nlocation: 1\n" in first
    judged = [r.last_user.split("\nItem: ", 1)[1].split("\n", 1)[0] for r in model.requests if r.model == "sub"]
    # Two content-free items measure the model's lean; the three questions of user 311 are judged by their text.
    assert sorted(judged) == sorted(["", "N/A", "Who wrote Emma?", "Why is ice slippery?", "Where is Lima?"])


PROSE = (
    "Harbor is a tool that copies photos from a camera card into dated folders.\n"
    "It keeps the originals untouched and writes a manifest beside each folder.\n"
    "Install it with pipx, then run harbor import /media/card to start.\n"
)


def _offer(question: str, text: str) -> str | None:
    docs = corpus_from_text(text, "notes.txt").documents
    found = offer(question, describe(question, docs), [d.text for d in docs], sum(d.chars for d in docs))
    return found.text if found else None


def test_text_that_the_question_names_nothing_of_is_read_by_the_helper_model_whole_or_by_chunks():
    short = _offer("what is this?", PROSE)
    assert "llm_query(" in short and "llm_query_batched" not in short
    long = _offer("What is this about?", PROSE * (READ_CHUNK // len(PROSE) + 2))
    assert "parts = chunks()" in long and "llm_query_batched(" in long
    for block in (short, long):
        code = _offered(block)
        ast.parse(code)  # runs as offered
        assert code.startswith("question = 'what is this") or code.startswith("question = 'What is this")


def test_no_reading_is_offered_for_a_lookup_a_label_list_or_records_the_question_selects_nothing_of():
    assert _offer("Which folder does harbor import write the manifest to?", PROSE) is None  # rare plain words
    lookup = _offer("Which manifest does harbor-cli write?", PROSE.replace("harbor import", "harbor-cli import"))
    assert "words that this text holds on a few lines only" in lookup
    assert "{context}" not in lookup and "chunks(" not in lookup  # the helper model reads the lines, not the text
    assert "for key in ['harbor-cli']:" in lookup  # a name, not the rare plain word "manifest"
    labels = _offer("Is each line a bug, feature or question?", PROSE)  # judged one by one, not read whole
    assert "classify(" in labels and "llm_query(" not in labels
    assert _offer("why did it crash?", SSHD) is None  # records, and no word of the question selects any
    assert "records that match" in _offer("How many failed passwords came from 10.0.0.9?", SSHD)


def test_a_lookup_s_lines_are_printed_before_the_first_turn_wherever_they_fall_in_a_one_line_text(model, solve):
    text = " ".join(["The harbor stayed calm all winter and the boats kept to their moorings."] * 400)
    text = text[:15_000] + " config: silent-pylon=dd298d02-9849 config: amber-fjord=77aa10c3-0001 " + text[15_000:]
    model.rule("sub", "answer as briefly as possible", "dd298d02-9849")
    model.script("root", "FINAL(dd298d02-9849)")
    run = solve("Kindly provide the access code assigned to silent-pylon.", text)
    first = run.roots[0].last_user
    assert "1 lines hold 'silent-pylon':" in first and "config: silent-pylon=dd298d02-9849" in first
    # The helper model reads the key's lines (its neighbour's entry among them), with the question after them.
    asked = run.requests_to("sub")[0].last_user
    assert asked.index("silent-pylon=dd298d02-9849") < asked.index("Kindly provide the access code")
    assert "--- the helper model's answer, from these lines ---\ndd298d02-9849" in first
    assert (run.answer, run.outcome.iterations) == ("dd298d02-9849", 1)


def test_a_block_that_re_types_the_input_is_dropped_and_the_reading_is_offered_again(model, solve):
    pasted = "```repl\n" + PROSE + "```"
    reading = "read the text itself"
    model.rule("root", "That block is not code", lambda prompt: f"```repl\n{_offered(prompt.split(reading)[-1])}\n```")
    model.script("root", pasted)
    model.rule("root", "It copies photos", "FINAL(A tool that copies camera photos into dated folders.)")
    model.rule("sub", "one to three sentences", "It copies photos from a camera card into dated folders.")
    run = solve("what is this?", PROSE)
    assert run.answer == "A tool that copies camera photos into dated folders."
    second = run.roots[1]
    assert "That block is not code: it is the input's own text, copied" in second.last_user
    assert not any(m["role"] == "assistant" and "Harbor is a tool" in m["content"] for m in second.messages)
    assert "Using only this text" in run.requests_to("sub")[0].last_user
    assert [e.index for e in run.of_type(ev.CodeExecuted)] == [1, 1]  # a reading is offered, never run first


def test_a_value_the_question_names_that_keeps_no_record_with_the_rest_is_left_out_of_the_offered_filter(model, solve):
    question = "Which systemd units exited with a non-zero status exactly twice, all hosts combined?"
    block = _offer(question, UNITS)
    assert "'systemd'" not in block  # systemd writes the lines, but `service` is the unit on the exit lines
    assert '"Main process exited, code=exited," in r["message"]' in block
    assert 'Counter(r["unit"]' in block  # the field named first: units, not hosts
    model.rule(
        "root", "A first block built", lambda prompt: f"```repl\n{_offered(prompt.split('A first block')[1])}\n```"
    )
    model.rule("root", "records that match", "FINAL(cart, geo)")
    run = solve(question, UNITS)
    assert "2 each: ['cart.service', 'geo.service']" in run.roots[1].last_user


def test_counts_of_none_are_found_nothing():
    assert found_nothing("0 of 397 records kept, such as:\n0 different values")
    assert found_nothing("records that match: 0\n0 different values")
    assert not found_nothing("0 of 397 records kept\n3 different values")
    assert not found_nothing("10 of 397 records kept")


def test_over_a_large_input_the_count_is_offered_and_not_run_first():
    question = "How many failed passwords came from 10.0.0.9?"
    docs = corpus_from_text(SSHD, "auth.log").documents
    texts = [d.text for d in docs]
    small = offer(question, describe(question, docs), texts, RUN_FIRST_CHARS)
    large = offer(question, describe(question, docs), texts, RUN_FIRST_CHARS + 1)
    assert small.run and "run for you" in small.text
    assert not large.run and "then run it" in large.text and large.code == small.code


def test_a_message_text_that_keeps_nothing_with_a_named_value_goes_before_the_value():
    access = "".join(
        f'10.0.0.{i} - - [23/Jul/2026:10:00:0{i} +0000] "GET /cart HTTP/1.1" {503 if i % 2 else 200} 12\n'
        for i in range(8)
    )
    app = "".join(f"2026-07-23T10:00:0{i}Z INFO cart request handled in {i} ms\n" for i in range(8))
    docs = [*corpus_from_text(access, "access.log").documents, *corpus_from_text(app, "app.log").documents]
    question = "Number of requests that got Service Unavailable (503)?"
    found = offer(question, describe(question, docs), [d.text for d in docs], 1000)
    assert 'hits = [r for r in recs if r["status"] == 503]' in found.code


@pytest.mark.parametrize(
    ("question", "written"),
    [
        ("After 11:27:45 UTC on 20 Oct 2026, which hosts wrote an ERROR line?", "11:27:45 UTC on 20 Oct 2026"),
        ("hosts with errors prior to 2026-08-27 08:30:19?", "2026-08-27 08:30:19"),
        ("What did 10.0.0.1 do at 08:30 on May 3?", "08:30 on May 3"),  # an address is not a time
        ("since 2026-10-20, who failed?", "2026-10-20"),
        ("Give the top 3 hosts after 10:00?", None),  # a clock time without a day
        ("errors between 2026-01-01 and 2026-02-01?", None),  # two moments: a span, not a side
        ("which services failed twice?", None),
    ],
)
def test_the_moment_a_question_writes_is_found_with_its_day(question, written):
    assert moment(question) == written


TIMED = "".join(
    f"2026-10-20T0{i}:00:00Z {host} {level} job {i} done\n"
    for i, (host, level) in enumerate([("web-0", "ERROR"), ("web-1", "ERROR"), ("web-1", "INFO"), ("web-2", "ERROR")])
)


def _judged(question: str, text: str, model, solve, yes: str):
    """A one-turn run whose helper model says yes only to prompts that `yes` matches."""
    model.rule("sub", yes, "yes")
    model.rule("sub", ".", "no")
    model.rule("root", ".", "FINAL(none)")
    return solve(question, text, max_iterations=1)


def test_a_question_s_moment_makes_the_block_keep_the_side_the_helper_model_reads(model, solve):
    """Which side of its moment a question asks about is its English: the block has the helper model judge the
    two readings, prints the one it took, and counts only that side's records."""
    run = _judged(
        "From 02:00 UTC on 20 Oct 2026 on, which hosts logged an ERROR line?",
        TIMED,
        model,
        solve,
        yes="the records at or after",
    )
    first = run.roots[0].last_user
    assert "side = pick_reading(readings)" in first
    reading = "the question asks about the records at or after 2026-10-20 02:00:00+00:00 (as the helper model reads it)"
    assert reading in first
    assert "records that match: 1\n2026-10-20T03:00:00Z web-2 ERROR job 3 done\n" in first
    assert len(run.requests_to("sub")) == 2


CRASHES = "".join(
    f'ts=2026-10-20T0{i}:00:00Z service={service} level={level} msg="{message}"\n'
    for i, (service, level, message) in enumerate(
        [
            ("cart", "INFO", "request handled in 12 ms"),
            ("cart", "FATAL", "unrecoverable state, shutting down"),
            ("geo", "FATAL", "unrecoverable state, shutting down"),
            ("cart", "FATAL", "unrecoverable state, shutting down"),
            ("mail", "INFO", "request handled in 9 ms"),
        ]
    )
) + "".join(f'ts=2026-10-20T06:00:0{i}Z status=503 path=/api msg="GET /api"\n' for i in range(2))


def test_a_question_whose_words_select_nothing_keeps_the_kind_of_line_the_helper_model_reads(model, solve):
    """ "Crashed" is no word of the data: which lines the question counts is in its meaning. The block lists the
    data's kinds of line (levels, statuses, message shapes), has the helper model judge them, and counts the one
    it took."""
    run = _judged("Which services crashed twice?", CRASHES, model, solve, yes="count the lines of level FATAL")
    first = run.roots[0].last_user
    # A kind whose lines have no service to count (the access lines' statuses) is listed, but not judged.
    assert "'the lines with status 503': lambda r: r[\"status\"] == 503," in first
    assert not any("status" in request.last_user for request in run.requests_to("sub"))
    assert "    'the lines of level FATAL': lambda r: r[\"level\"] == 'FATAL'," in first
    assert 'the lines that read "unrecoverable state, shutting down"' in first
    assert "the lines the question counts, as the helper model reads it: the lines of level FATAL" in first
    assert "records that match: 3" in first and "2 each: ['cart']" in first
    # As few lines as these are shown too: a question about one event asks what its line says.
    assert first.split("records that match: 3")[1].count('msg="unrecoverable state, shutting down"\n') == 3
    ast.parse(_offered(first.split("A first block")[1]))


def test_the_kinds_of_line_are_the_worded_texts_then_levels_statuses_and_the_shapes_no_worded_text_covers():
    shapes = [
        "Failed password for <user> from <ip> port <n> ssh2",
        "Failed password for invalid user <user> from <ip> port <n> ssh2",
        "Accepted password for <user> from <ip> port <n> ssh2",
    ]
    kinds = line_kinds({"level": ["INFO"], "status": [503, 200, "x"]}, shapes, ["Failed password"])
    assert kinds == {
        'the lines that contain "Failed password"': '"Failed password" in r["message"]',
        "the lines of level INFO": "r[\"level\"] == 'INFO'",
        "the lines with a status from 200 to 299": '200 <= (r["status"] or 0) <= 299',
        "the lines with a status from 500 to 599": '500 <= (r["status"] or 0) <= 599',
        "the lines with status 503": 'r["status"] == 503',
        "the lines with status 200": 'r["status"] == 200',
        f'the lines that read "{shapes[2]}"': '"Accepted password for" in r["message"]',
    }


def test_lines_without_a_time_get_no_time_condition():
    question, lines = "After 09:00 UTC on 2 May 2026, which hosts logged ERROR?", "host=web-0 level=ERROR\n"
    values = describe(question, corpus_from_text(lines, "a.log").documents).values
    assert first_block(question, values, [], [lines]) == first_block("which hosts logged ERROR?", values, [], [lines])


CI_LOG = "".join(f"tests/test_{i}.py::test_case_{i} PASSED\n" for i in range(30)) + (
    "tests/test_io.py::test_reads_config FAILED\n"
    "E       FileNotFoundError: [Errno 2] No such file or directory: 'golden.json'\n"
    "=== 1 failed, 30 passed in 4.20s ===\n"
)


def test_text_reporting_trouble_gets_its_trouble_lines_and_end_read_by_the_helper_model():
    """The question names nothing the text holds, and it reports trouble: the lines that report it and the
    text's end are printed and handed to one sub-call, run first; not a reading of the whole input."""
    docs = corpus_from_text(CI_LOG, "ci.log").documents
    description = describe("why is it red?", docs)
    assert not description.records
    found = offer("why is it red?", description, [d.text for d in docs], len(CI_LOG))
    assert found.run and "limit=len(context)" in found.code and "chunks()" not in found.code
    ast.parse(found.code)


def test_the_trouble_block_runs_first_and_its_helper_answer_is_the_answer_final_answer_names(model, solve):
    model.rule("sub", "Using only the parts of the input above", "test_reads_config failed: golden.json was missing.")
    model.rule("root", "the helper model's answer", "FINAL(answer)")
    run = solve("why is it red?", CI_LOG, max_iterations=2)
    output = run.of_type(ev.CodeExecuted)[0].output
    assert output.startswith(
        "--- the start of the input ---\n=== FILE: app.log ===\ntests/test_0.py::test_case_0 PASSED"
    )
    assert "\n3 lines report trouble:\napp.log:31: tests/test_io.py::test_reads_config FAILED\n" in output
    assert "--- the end of the input ---\n" in output and output.rstrip().endswith("golden.json was missing.")
    sent = run.requests_to("sub")[0].last_user
    assert sent.startswith("--- the start of the input ---\n=== FILE: app.log ===")
    assert sent.endswith("Using only the parts of the input above, answer in one to three sentences: why is it red?")
    assert "FileNotFoundError" in sent
    assert run.answer == "test_reads_config failed: golden.json was missing." and run.outcome.final


def test_a_timeout_setting_or_test_name_is_not_trouble():
    """`--timeout=60` and `test_retries_after_timeout PASSED` name no event: text holding only those is read
    whole, as text that reports no trouble is."""
    calm = "$ pytest --timeout=60\n" + CI_LOG.split("tests/test_io.py")[0].replace("case_3 ", "retries_after_timeout ")
    assert "after_timeout PASSED" in calm
    found = _offer("why is it red?", calm)
    assert "lines report trouble" not in found and "llm_query(" in found
