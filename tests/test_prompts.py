"""What the root model is shown about the input."""

from __future__ import annotations

import pytest

from rlm_cli.prompts import absent_literals, counted_sets, present_part, sample_lines, searched_strings, shape_notes


def test_sample_lines_rank_the_question_s_rare_words_first():
    distractors = [f"One of the special magic names for key-{i} is: Name{i}." for i in range(50)]
    text = "\n".join([*distractors, "filler"] + ["One of the special magic names for crimson-pylon is: Mateo."])
    found = sample_lines([("a.txt", text)], "What is the special magic name for crimson-pylon?")
    assert found[0] == "a.txt: One of the special magic names for crimson-pylon is: Mateo."
    assert len(found) == 6


def test_an_empty_result_is_flagged_as_a_likely_wrong_filter():
    from rlm_cli.prompts import NUDGE_NOTHING_FOUND, cell_feedback

    assert NUDGE_NOTHING_FOUND in cell_feedback(1, "[]\n", 0)
    assert NUDGE_NOTHING_FOUND in cell_feedback(1, "0", 0)
    assert NUDGE_NOTHING_FOUND not in cell_feedback(1, "['auth']\n", 0)
    assert "printed nothing" in cell_feedback(2, "", 0)


def test_a_name_never_assigned_is_explained():
    from rlm_cli.prompts import cell_feedback

    error = "Traceback (most recent call last):\n  File \"<cell 2>\", line 1\nNameError: name 'recs' is not defined\n"
    assert "`recs` does not exist: a variable exists only once a block that assigns it has run" in cell_feedback(
        2, error, 0
    )
    assert "does not exist" not in cell_feedback(2, "NameError is a class\n", 0)


def test_grep_gives_each_matching_line_once_with_its_number():
    import tempfile

    from rlm_cli.bundle import load_bundle, write_bundle
    from rlm_cli.engine import corpus_from_text
    from rlm_cli.replkit import helpers

    with tempfile.TemporaryDirectory() as folder:
        context, documents = load_bundle(write_bundle(corpus_from_text("ok\nERROR a ERROR b\nok\nerror c\n"), folder))
        grep = helpers(context, documents)["grep"]
        assert grep("error") == ["<prompt>:2: ERROR a ERROR b", "<prompt>:4: error c"]
        assert grep("error", ignore_case=False) == ["<prompt>:4: error c"]


def test_log_inputs_get_fields_and_a_records_hint_instead_of_a_raw_prefix():
    from types import SimpleNamespace

    from rlm_cli.prompts import metadata, question_terms, record_fields

    log = "".join(f"2026-01-0{d} 10:00:00 ERROR [cart] request {d} failed with 503\n" for d in range(1, 9))
    prose = "It was a dark and stormy night.\nThe end.\n"
    docs = [
        SimpleNamespace(path=p, text=t, chars=len(t), lines=t.count("\n")) for p, t in (("a.log", log), ("b", prose))
    ]
    fields = record_fields([(d.path, d.text) for d in docs])
    assert fields[0].startswith("time, level, service, message: 1 document(s)\n  e.g. {'time': '2026-01-01T10:00:00")
    assert "'level': 'ERROR', 'service': 'cart'" in fields[0] and len(fields) == 1
    intro = metadata("How many 503s?", docs, log[:100], [], fields)
    assert "recs = records()" in intro and "The first characters" not in intro
    plain = metadata("Who?", docs[1:], prose, [], record_fields([("b", prose)]))
    assert "The first characters of `context`" in plain and "records()" not in plain
    assert question_terms("How many requests returned status 503 after 2026?") == [
        "requests",
        "returned",
        "status",
        "503",
        "2026",
    ]


def test_log_questions_see_the_data_s_values_and_message_shapes_their_words_first():
    from rlm_cli.prompts import data_profile, question_profile

    messages = [("session refreshed for user {u}", "refresh"), ("user {u} logged in from 10.1.1.{i}", "login")] * 3
    log = "".join(
        f'ts=2026-01-01T10:00:0{i}Z level=info svc=auth msg="{m.format(u=f"u{i}", i=i)}" event={e} user=u{i} '
        f"hit={i % 2}\n"
        for i, (m, e) in enumerate(messages)
    )
    question = "How many users logged in?"
    shown = data_profile(question_profile([("auth.log", log)], question), question)
    assert "- event: 'refresh', 'login'" in shown and "- level: 'INFO'" in shown
    assert not any(line.startswith("- hit:") for line in shown)  # the data's own key, unrelated to the question
    shapes = shown[shown.index("") + 2 :]
    assert shapes == ["- user <user> logged in from <ip>", "- session refreshed for user <user>"]
    assert data_profile(question_profile([("empty", "")], "q?"), "q?") == []


def test_sample_lines_show_each_kind_of_line_once():
    lines = [f"2026-01-01 10:00:{i:02d} WARN [db] slow query took {i}00 ms" for i in range(20)]
    lines.append("2026-01-01 10:01:00 ERROR [db] query failed: deadlock")
    found = sample_lines([("db.log", "\n".join(lines))], "Which query failed or was slow?")
    assert sorted(found) == [f"db.log: {lines[0]}", f"db.log: {lines[-1]}"]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Which users failed to log in exactly 4 times?", ['"exactly 4 times" means a count equal to 4']),
        ("Which jobs ran exactly twice?", ["keep the items whose count == 2 (not the top 2)"]),
        ("How many different client IPs sent a POST?", ["a number of distinct values, build a set"]),
        (
            "List the top 5 hosts by WARN lines.",
            [
                "For the top 5, print Counter(...).most_common(5).",
                'Counter(r["host"] for r in recs if ...).most_common(5)',
            ],
        ),
        ("Rank the paths by 5xx responses.", ['For the most common paths, count r["path"]', '"5xx" means 500']),
        ("How many 4xx responses did /login get?", ['"4xx" means 400 <= r["status"] <= 499.']),
        ("Which services logged errors since 2024-05-01 10:00?", ['Compare r["time"] with when("...")']),
        ("Count the users with 3 or more refunds.", ['"3 or more" means a count >= 3: count per item']),
        ("Which hosts failed at least 2 times?", ['"at least 2" means a count >= 2']),
        ("What is the most frequent review category for EU reviewers?", ['count r["label"] over the matching']),
        ("Among pro users, which label is the most common?", ['Counter(r["label"] for r in recs if ...)']),
        ("Which host logged the most ERROR lines?", ['For the most common host, count r["host"]']),
        ("Which label occurs more often: rent or dining?", []),
        ("Who wrote the letter after the war?", []),
    ],
)
def test_common_phrasings_of_a_log_question_come_with_their_meaning_in_code(question, expected):
    from rlm_cli.prompts import question_hints

    hints = question_hints(question)
    assert len(hints) == len(expected)
    for hint, part in zip(hints, expected, strict=True):
        assert part in hint


def test_the_reminder_repeats_the_hints_for_log_inputs_only():
    from rlm_cli.prompts import reminder

    assert '("5xx" means 500 <= r["status"] <= 599.)' in reminder("Top 5xx paths?", logs=True)
    assert "means" not in reminder("Top 5xx paths?", logs=False)


def test_an_exact_count_the_code_never_tested_is_caught():
    from rlm_cli.prompts import exact_count, misses_count_test

    assert [
        exact_count(q) for q in ("Which ran exactly twice?", "exactly three times?", "exactly 12 times", "twice")
    ] == [
        2,
        3,
        12,
        None,
    ]
    top = "c = Counter(r['service'] for r in recs)\nprint(c.most_common(2))"
    assert "never kept the items whose count == 2" in misses_count_test("Which failed exactly twice?", top)
    assert misses_count_test("Which failed exactly twice?", "print([s for s, n in c.items() if n == 2])") is None
    assert misses_count_test("Which failed twice or more?", top) is None
    users = "print(len({r['user'] for r in recs if r['label'] == 'refund'}))"
    assert "never kept the counts >= 3" in misses_count_test("Count the users with 3 or more refunds.", users)
    for tested in ("n >= 3", "n > 2", "3 <= n", "2 < n"):
        assert misses_count_test("How many users have at least 3 refunds?", f"print(sum({tested} for n in c))") is None


def test_samples_of_an_export_show_whole_records():
    export = "".join(
        f"Ticket {i}\nUser: u{i} (plan: pro)\n[label: {lab}]\nText {i}.\n\n" for i, lab in enumerate("ab" * 3)
    )
    found = sample_lines([("t.txt", export)], "Which plan has the most tickets?")
    assert found[0] == "t.txt:\nTicket 0\nUser: u0 (plan: pro)\n[label: a]\nText 0.\n"


def test_values_the_question_names_are_tied_to_their_field():
    from rlm_cli.prompts import data_profile, question_profile

    def profile_of(text, question):
        return "\n".join(data_profile(question_profile([("t.txt", text)], question), question))

    lines = [f"user=u{i} account={a} :: paid [label: {lab}]" for i, (a, lab) in enumerate([("personal", "rent")] * 3)]
    lines += [f"user=v{i} account=joint :: paid type=travel" for i in range(3)]
    profile = profile_of("\n".join(lines), "Top label for personal accounts, not travel?")
    assert """'personal' is r["account"] == 'personal'; 'travel' is r["label"] == 'travel'.""" in profile
    assert "among these values" not in profile_of("level=ERROR msg=x\n" * 3, "Which errors?")


def test_an_answer_that_misreads_the_printed_counts_is_caught():
    from rlm_cli.prompts import misread_counts

    question = "Are there more tickets labelled rent or labelled dining? Answer rent, dining, or same."
    assert "dining: 87, rent: 53: rent does not have the largest" in misread_counts(
        question, "rent", "Rent: 53, Dining: 87"
    )
    assert misread_counts(question, "dining", "Rent: 53, Dining: 87") is None
    assert misread_counts(question, "same", "Rent: 53, Dining: 87") is None
    assert "a does not have the smallest" in misread_counts("Which has fewer: a or b?", "a", "[('a', 9), ('b', 3)]")
    # Counts of things the question does not name, and "at least" / "or more", are not comparisons.
    assert misread_counts("Which label is the most common for pro users?", "refund", "pro: 40, refund: 12") is None
    assert misread_counts("How many users have 3 or more refunds?", "refund", "refund: 2, billing: 5") is None
    # "The most frequent <field>" is read off a most_common() list.
    top = "[('positive', 11), ('negative', 10), ('neutral', 5)]"
    question = "What is the most frequent review category for APAC reviewers?"
    assert "negative does not have the largest" in misread_counts(question, "negative", top)
    assert misread_counts(question, "positive", top) is None


def test_after_a_failed_block_the_reminder_asks_for_a_fix_not_an_answer():
    from rlm_cli.prompts import reminder

    failed = reminder("How many users?", logs=False, failed=True)
    assert "stopped with an error" in failed and "computed answer" not in failed
    assert "computed answer" in reminder("How many users?", logs=False)


def test_an_answer_read_off_printed_records_is_caught():
    from rlm_cli.prompts import read_off_records

    dump = "[{'user': 'ann', 'label': 'travel', 'doc': 't.txt'}, {'user': 'bo', 'label': 'rent', 'doc': 't.txt'}]"
    question = "What is the most frequent label for personal accounts?"
    assert read_off_records(question, "travel", [dump]) == ["travel"]
    assert read_off_records(question, "travel", [dump, "[('travel', 9), ('rent', 4)]"]) == []  # also computed
    assert read_off_records("Is travel more common than rent?", "travel", [dump]) == []  # the question's word
    assert read_off_records(question, "travel", ["travel 3"]) == []
    assert read_off_records("Which user wrote ticket 1002?", "ann", [dump.replace("travel", "x")]) == []


def test_the_strings_code_tests_for_are_its_in_eq_and_count_operands():
    code = """
recs = records()
a = [r for r in recs if "login ok" in r["message"] and r["event"] in ("signin", 'sso') and r["level"] == "ERROR"]
b = sum(r["message"].count("exactly twice") == 2 for r in recs if r["service"] != "cart-api")
c = [r for r in recs if r["time"].startswith("2026-03-14T12") and "event" in r and r.get("svc") == "db"]
print(f"found {len(a)}", "label" in recs[0], "unused literal")
"""
    # Level names, canonical field names, dates and short strings are left out: records() rewrites those.
    assert searched_strings(code) == ["login ok", "signin", "sso", "exactly twice", "cart-api", "event"]
    assert searched_strings("def f(:") == []
    # Tests on a helper model's replies are not tests on the data.
    assert searched_strings('a = llm_query("is it?")\nprint(a == "maybe")') == []


def test_absent_literals_are_those_no_document_contains_in_any_case():
    texts = ["user ann LOGGED IN from 10.0.0.1\n", "login failed for user bob\n"]
    code = 'print(sum(("logged in" in m) + ("Login Failed" in m) + ("Failed password" in m) for m in ms))'
    assert absent_literals(code, texts) == ["Failed password"]
    assert absent_literals('print("successful" in context)', []) == ["successful"]
    assert present_part("logged in successfully", texts) == "logged in"
    assert present_part("Failed password", texts) == "Failed"
    assert present_part("xyz abc", texts) is None


def test_counted_sets_name_the_counter_call_and_the_count_it_meant():
    code = 'fatal = {r["service"] for r in recs if r["level"] == "FATAL"}\nprint(Counter(fatal).most_common(3))'
    assert counted_sets(code) == [("Counter(fatal)", "Counter(r['service'] for r in recs if r['level'] == 'FATAL')")]
    assert counted_sets("print(collections.Counter(set(users)))") == [
        ("collections.Counter(set(users))", "Counter(users)")
    ]
    assert counted_sets("users = [r['user'] for r in recs]\nprint(Counter(users))") == []
    assert counted_sets("def f(:") == []


def test_shape_notes_show_the_few_message_shapes_a_substring_test_keeps():
    shapes = ["login failed for user <user>: bad password", "user <user> logged in from <ip>", "gc pause <n> ms", "ok"]
    code = 'print(len({r["user"] for r in recs if "login" in r["message"]}))'
    notes, flaws = shape_notes(code, shapes, "Which users logged in?")
    assert flaws == [] and notes == [
        "[note: of the 4 message shapes, 'login' is in 1 only: \"login failed for user <user>: bad password\". "
        "Check that these are the lines the question asks about.]"
    ]
    # Only failures kept for a question about successes: told, as a flaw that questions the answer.
    notes, flaws = shape_notes(code, shapes, "How many users had a successful login?")
    assert notes == [] and len(flaws) == 1
    assert (
        'keeps only lines like "login failed for user <user>: bad password", but the question asks about '
        "successful ones" in flaws[0].nudge
    )
    # Failures the question leaves out mean it asks about successes; a question about failures keeps them.
    for question in ("Users who managed to log in (failed attempts do not count)?", "Logins, not counting failed?"):
        assert len(shape_notes(code, shapes, question)[1]) == 1
    assert shape_notes(code, shapes, "How many users failed to log in?")[1] == []
    notes, flaws = shape_notes(code.replace("login", "logged in"), shapes, "Successful logins?")
    assert flaws == [] and "'logged in' is in 1 only" in notes[0]
    assert shape_notes('print(sum(r["event"] == "login" for r in recs))', shapes, "q?") == ([], [])  # a whole value
    assert shape_notes('print(sum("zzz" in r["message"] for r in recs))', shapes, "q?") == ([], [])  # absent
    assert shape_notes('print(sum("o" in m or "in" in m for m in ms))', shapes, "q?") == ([], [])  # too short
