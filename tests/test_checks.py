"""Checks on blocks and answers: mistakes that no error shows, found from code, outputs and data alone."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from rlm_cli.guidance.checks import (
    absent_literals,
    all_counted,
    blind_queries,
    bound_text,
    case_misses,
    code_flaws,
    counted_sets,
    cuts_a_ranking,
    every_value,
    key_terms,
    levels_in_messages,
    mixed_counts,
    off_key,
    path_tails,
    present_part,
    repeated_items,
    searched_strings,
    shape_notes,
    truncated_values,
    unrelated_answer,
    unsupported_values,
)
from rlm_cli.guidance.scan import WINDOW, find_all
from rlm_cli.guidance.small import InputTexts
from rlm_cli.inputs import bundle as bundle_module
from rlm_cli.inputs.bundle import StoredText, release, write_bundle
from rlm_cli.inputs.corpus import Corpus, Document


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ('answer = "The disk filled up."', ("answer", "The disk filled up.")),
        ("answer = 'first'\nanswer = 'second'", ("answer", "second")),
        ('cause = """out of\nmemory"""', ("cause", "out of\nmemory")),
        ('answer = f"{len(context)} lines"', None),  # computed, not written
        ('answer = "x"\nprint(answer)', None),
        ('a = "x"\nb = "y"', None),
        ("n = 3", None),
        ("answer = (", None),
    ],
)
def test_bound_text_is_the_one_name_a_block_only_assigns_written_text_to(code, name):
    assert bound_text(code) == name


def test_blind_queries_are_sub_calls_whose_prompt_names_no_variable():
    code = """
lines = grep("scarlet-thicket")
a = llm_query("What is scarlet-thicket set to?")
b = llm_query(f"What is it set to?\\n{lines}")
c = llm_query_batched([f"Summarize: {p}" for p in chunks()])
d = llm_query_batched(["one", "two"])
"""
    assert blind_queries(code) == ["llm_query('What is scarlet-thicket set to?')", "llm_query_batched(['one', 'two'])"]
    assert blind_queries("llm_query(") == []


def test_unsupported_values_are_the_numbers_never_shown():
    seen = "count: 17\nids: ab-12"
    assert unsupported_values("There are 17 refunds.", seen) == []
    assert unsupported_values("There are 23 refunds, see ab-12.", seen) == ["23"]
    assert unsupported_values("auth and billing", seen) == []
    # a number is a value only as a whole token, and grep's line numbers are not values
    grepped = "auth.log:3: Jul 14 02:01:13 sshd[3369]: message repeated 12 times: [ Failed password ]"
    assert unsupported_values("3", grepped) == ["3"]
    assert unsupported_values("12", grepped) == []
    assert unsupported_values("It was 3.", "total: 3.") == []
    assert unsupported_values("10.1.0.188", "ip 10.1.0.188 port 22") == []


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


def test_the_guides_texts_are_the_separators_then_each_documents_text_taken_when_asked():
    docs = [Document("a.log", "alpha\n", "text", 6, 6), Document("b.log", "beta\n", "text", 5, 5)]
    texts = InputTexts(docs)
    assert list(texts) == ["=== FILE: a.log ===\n", "=== FILE: b.log ===\n", "alpha\n", "beta\n"]
    assert (len(texts), texts[-1], texts[1:3]) == (4, "beta\n", ["=== FILE: b.log ===\n", "alpha\n"])
    with pytest.raises(IndexError):
        texts[4]

    class Stored:  # as inputs/bundle.StoredText, which release gives each document
        reads: list[str] = []

        def read(self) -> str:
            self.reads.append("whole")
            return "beta, read back\n"

        def pieces(self) -> list[str]:
            self.reads.append("pieces")
            return ["beta, re", "ad back\n"]

    docs[1].release(Stored())
    assert absent_literals('print("read back" in context)', texts) == [] and Stored.reads == ["pieces"]
    assert absent_literals('print("not there" in context)', texts) == ["not there"] and Stored.reads == ["pieces"] * 2
    assert texts[3] == "beta, read back\n" and Stored.reads[-1] == "whole"
    assert docs[1].lines == 1 and Stored.reads[-1] == "pieces"


@pytest.mark.parametrize("window", [1, 2, 3, 5, 8, 13, 64, WINDOW])
def test_find_all_finds_in_windows_what_finditer_finds_in_each_whole_text(window):
    rng = random.Random(window)
    texts = ["".join(rng.choice("aAb \n") for _ in range(rng.randrange(300))) for _ in range(6)]
    patterns = [("a", 1, 0), ("aa", 2, 0), ("ab a", 4, 0), ("a\na", 3, 0), (r"(?<!\w)ab(?!\w)", 2, 1)]
    for pattern, width, looks in patterns:
        rx = re.compile(pattern, re.IGNORECASE)
        for around in (looks, 3):
            # each match, with `around` characters of its text on either side: where in the text it was found
            whole = [(t[max(0, m.start() - around) : m.end() + around], m[0]) for t in texts for m in rx.finditer(t)]
            windowed = list(find_all(rx, texts, width, around, window))
            assert [(m.string[max(0, m.start() - around) : m.end() + around], m[0]) for m in windowed] == whole
            assert all(len(m.string) < 2 * (window + around) + width for m in windowed)  # a window at a time


def test_a_literal_across_a_window_edge_is_found_and_an_absent_one_is_not():
    text = "x" * 10 + " payment declined twice " + "y" * 40 + "\n"  # "payment declined" spans 11 to 27
    for window in (4, 16, 17, 33, WINDOW):
        assert absent_literals('print("payment declined" in context)', [text], window=window) == []
        assert absent_literals('print("Payment Refused" in context)', [text], window=window) == ["Payment Refused"]
        assert present_part("payment refused", [text], window=window) == "payment"
    # "payment" from 16 on, in the second window of 16, is the end of a longer word: not the word
    assert present_part("payment refused", ["x" * 15 + "ypayment declined\n"], window=16) is None
    assert present_part("payment refused", ["x" * 15 + ".payment declined\n"], window=16) == "payment"


@pytest.mark.parametrize("window", [3, 7, 64, 300, WINDOW])
def test_key_terms_and_off_key_count_and_reach_across_windows(window):
    texts = ["alpha-one bravo\n" * 3 + "bravo charlie-two\n" + "delta\n" * 9]  # delta is on too many lines
    assert key_terms("alpha-one, bravo, charlie-two or delta?", texts, window=window) == [
        "charlie-two",
        "alpha-one",
        "bravo",
    ]
    filler = "filler text about nothing in particular\n" * 20
    texts = [f"velvet-lantern = d78e-1\n{filler}other-key = aab0-2\n" + "config line\n" * 50]
    question = "Which value is velvet-lantern set to in the config lines?"
    assert off_key(question, "aab0-2", texts, window=window) == "velvet-lantern"
    assert off_key(question, "d78e-1", texts, window=window) is None  # the key is within reach, windows apart
    assert off_key("Which config value is set for other things?", "d78e-1", texts, window=window) is None


def test_checks_read_a_released_document_in_pieces_never_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    text = "caf\u00e9 \u2713 velvet-lantern = d78e-1\n" + "filler \U0001f600 line\n" * 30 + "other-key = aab0-2\n"
    docs = [Document("a.log", text, "text", len(text.encode()), len(text)), Document("b.log", "bravo\n", "text", 6, 6)]
    texts = InputTexts(docs)
    question = "Which value is velvet-lantern set to?"
    code = 'print("velvet-lantern = d78e" in context, "velvet lamp" in context, "bravo" in context)'

    def checks(window: int = WINDOW) -> tuple[object, ...]:
        return (
            absent_literals(code, texts, window=window),
            present_part("velvet lamp", texts, window=window),
            key_terms(question, texts, window=window),
            off_key(question, "aab0-2", texts, window=window),
            off_key(question, "d78e-1", texts, window=window),
        )

    held = checks()
    assert held == (["velvet lamp"], "velvet", ["velvet-lantern"], "velvet-lantern", None)
    monkeypatch.setattr(bundle_module, "CHUNK", 5)  # read back 5 bytes at a time: characters split between reads
    corpus = Corpus(docs)
    release(corpus, write_bundle(corpus, str(tmp_path)))
    monkeypatch.setattr(StoredText, "read", lambda self: pytest.fail("a check read a document whole"))
    assert checks() == checks(window=6) == held


def test_absent_literals_are_those_no_document_contains_in_any_case():
    texts = ["user ann LOGGED IN from 10.0.0.1\n", "login failed for user bob\n"]
    code = 'print(sum(("logged in" in m) + ("Login Failed" in m) + ("Failed password" in m) for m in ms))'
    assert absent_literals(code, texts) == ["Failed password"]
    assert absent_literals('print("successful" in context)', []) == ["successful"]
    assert present_part("logged in successfully", texts) == "logged in"
    assert present_part("Failed password", texts) == "Failed"
    assert present_part("xyz abc", texts) is None
    # A grep() of plain text is a search for that string; a regex is not one string to look for.
    phrase = 'print(grep("magic number for ann logged in"))\nprint(grep("ann"), grep(r"fail|login failed x"))'
    assert absent_literals(phrase, texts) == ["magic number for ann logged in"]


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
    assert shape_notes(code, shapes) == [
        "[note: of the 4 message shapes, 'login' is in 1 only: \"login failed for user <user>: bad password\". "
        "Check that these are the lines the question asks about.]"
    ]
    assert "'logged in' is in 1 only" in shape_notes(code.replace("login", "logged in"), shapes)[0]
    assert shape_notes('print(sum(r["event"] == "login" for r in recs))', shapes) == []  # a whole value
    excluded = 'print(len({r["user"] for r in recs if "login failed" not in r["message"]}))'
    assert shape_notes(excluded, shapes) == []  # left out, not kept
    assert shape_notes('print(sum("zzz" in r["message"] for r in recs))', shapes) == []  # absent
    assert shape_notes('print(sum("o" in m or "in" in m for m in ms))', shapes) == []  # too short


def test_off_key_finds_a_lookup_answer_far_from_the_key_the_question_names():
    filler = "filler text about nothing in particular\n" * 20
    texts = [f"velvet-lantern = d78e-1\n{filler}other-key = aab0-2\n" + "config line\n" * 50]
    question = "Which value is velvet-lantern set to in the config lines?"
    assert off_key(question, "aab0-2", texts) == "velvet-lantern"
    assert off_key(question, "d78e-1", texts) is None
    assert off_key(question, "not in the input", texts) is None
    # "config" is on 50 lines: a common word is no key.
    assert off_key("Which config value is set for other things?", "d78e-1", texts) is None


def test_key_terms_are_the_question_s_rare_words_rarest_first():
    texts = ["alpha-one bravo\n" * 3 + "bravo charlie-two\n" + "delta\n" * 9]
    assert key_terms("alpha-one, bravo, charlie-two or delta?", texts) == ["charlie-two", "alpha-one", "bravo"]
    assert key_terms("echo?", texts) == []


def test_levels_in_messages_are_level_names_no_message_shape_holds():
    shapes = ["request <n> failed: upstream timeout", "upstream returned ERROR <n>"]
    code = 'a = [r for r in recs if "FATAL" in r["message"] or "ERROR" in r["message"] or "WARN" in r["level"]]'
    assert levels_in_messages(code, shapes) == ["FATAL"]  # ERROR is in a message; r["level"] is no message
    assert levels_in_messages(code, []) == []  # no log records: nothing to judge by
    assert levels_in_messages('print("timeout" in r["message"])', shapes) == []


def test_all_counted_is_an_answer_naming_every_item_of_differing_counts():
    printed = "Services that failed:\ncache: 3\nsearch: 1\nbilling: 2\nauth-api: 2"
    assert all_counted("cache, search, billing, auth-api", printed) == {
        "cache": 3,
        "search": 1,
        "billing": 2,
        "auth-api": 2,
    }
    assert all_counted("billing, auth-api", printed) == {}  # a condition was applied
    assert all_counted("a, b, c", "[('a', 2), ('b', 2), ('c', 2)]") == {}  # equal counts: nothing to choose by
    assert all_counted("a, b", "[('a', 2), ('b', 1)]") == {}  # too few items to tell
    assert all_counted("a, b, c", "{'a': 5, 'b': 1, 'c': 9}") == {"a": 5, "b": 1, "c": 9}


def test_mixed_counts_is_a_list_answer_taking_some_items_of_several_counts():
    grouped = "5 different values\n4 each: ['cache']\n3 each: ['geo']\n2 each: ['auth-api', 'billing', 'mail']"
    assert mixed_counts("cache, geo, auth-api", grouped) == {"cache": 4, "geo": 3, "auth-api": 2}
    assert mixed_counts("auth-api, billing, mail", grouped) == {}  # the items of one count
    assert mixed_counts("cache, geo, auth-api, billing, mail", grouped) == {}  # every item: all_counted's case
    assert mixed_counts("a, b", "[('a', 5), ('b', 2), ('c', 1)]") == {"a": 5, "b": 2}
    assert mixed_counts("a", "[('a', 5), ('b', 2)]") == {}  # one item has one count


def test_a_case_sensitive_substring_test_is_told_which_shapes_it_skips():
    shapes = ["Failed with result 'exit-code'.", "request failed: upstream timeout", "Started <unit>", "ok"]
    code = 'print([r["service"] for r in recs if "failed" in r["message"]])'
    flaws = code_flaws(code, ["Failed with result 'exit-code'. request failed"], shapes)
    assert [f.notice for f in flaws] == ["'failed' is tested case-sensitively: 1 message shapes differ in case"]
    assert "\"Failed with result 'exit-code'.\"" in flaws[0].nudge and 'r["message"].lower()' in flaws[0].nudge
    # the note on kept shapes counts what the test really matches, in its own case
    assert '"request failed: upstream timeout"' in shape_notes(code, shapes)[0]
    assert "Failed with" not in shape_notes(code, shapes)[0]
    folded = 'print([r["service"] for r in recs if "failed" in r["message"].lower()])'
    assert case_misses(folded, shapes) == []
    assert case_misses('print([r for r in recs if "failed" not in r["message"]])', shapes) == []  # leaves lines out
    assert case_misses('print([r for r in recs if "Failed" in r["message"]])', ["Failed x", "ok"]) == []


def test_every_value_is_a_list_answer_naming_nearly_all_values_of_a_field():
    values = {"service": ["auth", "cart", "mail", "feed", "geo"], "level": ["INFO", "ERROR"]}
    assert every_value("auth, cart, mail, feed", values) == ("service", 4, 5)
    assert every_value("['auth', 'cart', 'mail', 'feed', 'geo']", values) == ("service", 5, 5)
    assert every_value("auth, cart, mail", values) is None  # a condition kept some
    assert every_value("INFO, ERROR", values) is None  # too few values to tell
    assert every_value("7", {"status": [200, 404, 500, 503]}) is None


def test_a_ranking_cut_to_its_first_items_was_chosen():
    assert cuts_a_ranking("print(Counter(paths).most_common(3))")
    assert cuts_a_ranking("print(sorted(c.items(), key=lambda p: -p[1])[:3])")
    assert not cuts_a_ranking("print(Counter(paths).most_common())")
    assert not cuts_a_ranking("print(lines[2:])")
    assert cuts_a_ranking("ranked = sorted(c, key=c.get)\nprint(ranked[:3])")
    assert not cuts_a_ranking("hits = [r for r in recs if r['level'] == 'ERROR']\nfor r in hits[:3]:\n    print(r)")


@pytest.mark.parametrize(
    ("question", "answer", "outputs", "unrelated"),
    [
        # "none found" against a count, and the question's words given back: nothing from the outputs
        ("failed ssh logins from 10.0.0.9?", "No failed logins from 10.0.0.9 found", ["records that match: 54"], True),
        ("what did quiet-meadow get issued?", "quiet-meadow got issued", ["x.log:3: quiet-meadow 6101475"], True),
        ("how many failed logins?", "54", ["records that match: 54"], False),  # a value: unsupported_values' job
        ("which hosts failed?", "web-2, db-1", ["[('web-2', 7), ('db-1', 4)]", "2"], False),  # an earlier output
        ("did anything fail?", "yes", ["True"], False),  # an output with no number to take
        ("on-call for mossy-otter?", "on-call for mossy-otter", [""], True),  # the question given back
        ("is auth or db slower?", "auth", ["auth 3 s, db 1 s"], False),  # one word of the question: a choice
        ("why did it stop?", "the disk filled up", ["disk usage 100% on /var"], False),
    ],
)
def test_an_unrelated_answer_takes_nothing_from_any_output_beyond_the_questions_words(
    question, answer, outputs, unrelated
):
    assert unrelated_answer(question, answer, outputs[-1], outputs) is unrelated
