"""Checks on blocks and answers: the mistakes small models make that no error shows."""

from __future__ import annotations

from rlm_cli.guidance.checks import (
    absent_literals,
    counted_by_eye,
    counted_sets,
    key_terms,
    levels_in_messages,
    misread_counts,
    misses_count_test,
    off_key,
    path_tails,
    present_part,
    read_off_records,
    rebound_input,
    repeated_items,
    searched_strings,
    shape_notes,
    truncated_values,
    unsupported_values,
    wrong_moment,
)


def test_unsupported_values_are_the_numbers_never_shown():
    seen = "count: 17\nids: ab-12"
    assert unsupported_values("There are 17 refunds.", seen) == []
    assert unsupported_values("There are 23 refunds, see ab-12.", seen) == ["23"]
    assert unsupported_values("auth and billing", seen) == []


def test_truncated_values_finds_the_longer_code_in_the_data():
    data = "x.log:9: the deployment access code is 7XQ-4471-ZP\nDeployment access code found: 7XQ"
    assert truncated_values("7XQ", data) == ["7XQ-4471-ZP"]
    assert truncated_values("The code is 7XQ-4471-ZP.", data) == []
    assert truncated_values("17 errors", "errors: 17-3") == []  # plain numbers are not codes
    hosts = "- batch-08/export-runner.log: 9 lines\napp-02.log:12: ERROR x\n{'batch-08', 'app-02'}"
    assert truncated_values("batch-08, app-02", hosts) == []  # names in paths and grep prefixes are not cut codes


def test_path_tails_finds_the_paths_an_answer_shortened_in_its_order():
    top = "[('/api/v1/search', 10), ('/api/v2/users/profile', 8), ('/health', 5)]"
    assert path_tails("users/profile, search, /health", top) == ["/api/v2/users/profile", "/api/v1/search"]
    assert path_tails("/api/v1/search, /api/v2/users/profile, /health", top) == []
    assert path_tails("search", "search took 3 ms\n/api/v1/search") == []  # the word alone was seen too


def test_repeated_items_are_names_a_list_answer_gives_twice():
    assert repeated_items("['/api/v2/users/profile', '/api/v2/users/profile', '/api/v1/inventory']") == [
        "/api/v2/users/profile"
    ]
    assert repeated_items("[('/health', 9), ('/api/v1/search', 9)]") == []  # equal counts are not names
    assert repeated_items("The cart failed, then the cart recovered") == []  # prose is not a list


def test_an_exact_count_the_code_never_tested_is_caught():
    top = "c = Counter(r['service'] for r in recs)\nprint(c.most_common(2))"
    assert "never kept the items whose count == 2" in misses_count_test("Which failed exactly twice?", top)
    assert misses_count_test("Which failed exactly twice?", "print([s for s, n in c.items() if n == 2])") is None
    assert misses_count_test("Which failed twice or more?", top) is None
    users = "print(len({r['user'] for r in recs if r['label'] == 'refund'}))"
    assert "never kept the counts >= 3" in misses_count_test("Count the users with 3 or more refunds.", users)
    for tested in ("n >= 3", "n > 2", "3 <= n", "2 < n"):
        assert misses_count_test("How many users have at least 3 refunds?", f"print(sum({tested} for n in c))") is None


def test_an_answer_that_misreads_the_printed_counts_is_caught():
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


def test_an_answer_read_off_printed_records_is_caught():
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
    excluded = 'print(len({r["user"] for r in recs if "login failed" not in r["message"]}))'
    assert shape_notes(excluded, shapes, "How many users had a successful login?") == ([], [])  # left out, not kept
    assert shape_notes('print(sum("zzz" in r["message"] for r in recs))', shapes, "q?") == ([], [])  # absent
    assert shape_notes('print(sum("o" in m or "in" in m for m in ms))', shapes, "q?") == ([], [])  # too short


def test_counted_by_eye_needs_a_how_many_question_and_an_unprinted_whole_number():
    assert counted_by_eye("How many users?", "10", ["[('ann', 3), ('bo', 2)]", "user10 id=4.10"])
    assert not counted_by_eye("How many users?", "10.", ["[('ann', 10)]"])
    assert not counted_by_eye("Which user logged in most?", "10", ["ann"])
    assert not counted_by_eye("Count the users.", "ann", ["bo"])


def test_off_key_finds_a_lookup_answer_far_from_the_key_the_question_names():
    filler = "filler text about nothing in particular\n" * 20
    texts = [f"velvet-lantern = d78e-1\n{filler}other-key = aab0-2\n" + "config line\n" * 50]
    question = "Which value is velvet-lantern set to in the config lines?"
    assert off_key(question, "aab0-2", texts) == "velvet-lantern"
    assert off_key(question, "d78e-1", texts) is None
    assert off_key("How many lines mention velvet-lantern?", "aab0-2", texts) is None  # a count, not a lookup
    assert off_key(question, "not in the input", texts) is None
    # "config" is on 50 lines: a common word is no key.
    assert off_key("Which config value is set for other things?", "d78e-1", texts) is None


def test_key_terms_are_the_question_s_rare_words_rarest_first():
    texts = ["alpha-one bravo\n" * 3 + "bravo charlie-two\n" + "delta\n" * 9]
    assert key_terms("alpha-one, bravo, charlie-two or delta?", texts) == ["charlie-two", "alpha-one", "bravo"]
    assert key_terms("echo?", texts) == []


def test_wrong_moment_is_a_when_literal_that_is_not_the_question_s_moment():
    question = "Which hosts logged ERROR-level lines after 09:37:43 UTC on 12 Sep 2026?"
    code = 'after = when("2026-09-12T03:37:43+00:00")\nprint(sum(r["time"] > after for r in records()))'
    assert wrong_moment(code, question) == ("2026-09-12T03:37:43+00:00", "09:37:43 UTC on 12 Sep 2026")
    assert wrong_moment(code.replace("03:37", "09:37"), question) is None
    assert wrong_moment('after = when("09:37:43 UTC on 12 Sep 2026")', question) is None
    assert wrong_moment('after = when("2026-09-11T09:37:43Z")', question)[0] == "2026-09-11T09:37:43Z"  # the day
    assert wrong_moment('print(when(r["time"]), when("soon"))', question) is None  # not a literal, or no moment
    assert wrong_moment(code, "Which hosts logged ERROR-level lines after 09:37?") is None  # no date: no moment


def test_levels_in_messages_are_level_names_no_message_shape_holds():
    shapes = ["request <n> failed: upstream timeout", "upstream returned ERROR <n>"]
    code = 'a = [r for r in recs if "FATAL" in r["message"] or "ERROR" in r["message"] or "WARN" in r["level"]]'
    assert levels_in_messages(code, shapes) == ["FATAL"]  # ERROR is in a message; r["level"] is no message
    assert levels_in_messages(code, []) == []  # no log records: nothing to judge by
    assert levels_in_messages('print("timeout" in r["message"])', shapes) == []


def test_rebound_input_names_context_or_documents_assigned_by_the_code():
    assert rebound_input('context = """INFO boot ok"""\ndocuments = context.split("x")') == ["context", "documents"]
    assert rebound_input("lines = context.splitlines()\nfor d in documents: print(d.path)") == []
    assert rebound_input("def f(:") == []
