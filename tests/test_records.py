"""records() and when(): log lines of any common format read as the same fields."""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime

import pytest
from conftest import fence

from rlm_cli.inputs.records import (
    ABSENT,
    common_fields,
    guess_year,
    is_blocks,
    parse_line,
    parse_lines,
    profile,
    shape,
    units,
    when,
)

LINES = {
    "json": '{"ts": "2026-03-03T14:22:05.120Z", "level": "error", "host": "app-01", "service": "cart", "msg": "boom"}',
    "logfmt": 'ts=2026-03-03T14:22:05Z level=warn host=app-02 svc=billing msg="login failed for user ann.lee: bad"',
    "syslog": "Mar  3 14:22:05 app-03 auth-api[812]: FATAL user bob.ray logged in from 10.0.0.7",
    "nginx": '10.1.2.3 - - [03/Mar/2026:14:22:05 +0000] "GET /api/v1/cart?page=2 HTTP/1.1" 503 17 "-" "curl/8.5.0"',
    "json_access": '{"time": "2026-03-03T15:22:05+01:00", "remote_addr": "10.9.9.9", '
    '"request": "POST /login HTTP/1.1", "status": 200}',
    "python": "2026-03-03 14:22:05,120 - shop.views - ERROR - payment declined",
    "log4j": "2026-03-03 14:22:05.120 INFO [scheduler] c.e.Jobs - nightly export done",
}


@pytest.fixture
def ask_about_log(model, solve, tmp_path):
    """Runs the engine in process on one log file with scripted root replies; returns the finished run."""

    def ask(text, *replies, question="q?"):
        log = tmp_path / "app.log"
        log.write_text(text)
        model.script("root", *replies)
        run = solve(question, log)
        assert run.outcome.status == "ok", run.outcome
        return run

    return ask


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("json", {"level": "ERROR", "host": "app-01", "service": "cart", "message": "boom"}),
        ("logfmt", {"level": "WARN", "host": "app-02", "service": "billing", "user": "ann.lee"}),
        (
            "syslog",
            {
                "level": "FATAL",
                "host": "app-03",
                "service": "auth-api",
                "pid": 812,
                "user": "bob.ray",
                "ip": "10.0.0.7",
            },
        ),
        ("nginx", {"ip": "10.1.2.3", "method": "GET", "path": "/api/v1/cart", "query": "page=2", "status": 503}),
        ("json_access", {"ip": "10.9.9.9", "method": "POST", "path": "/login", "status": 200}),
        ("python", {"level": "ERROR"}),
        ("log4j", {"level": "INFO", "service": "scheduler", "message": "c.e.Jobs - nightly export done"}),
    ],
)
def test_each_format_gives_the_canonical_fields_and_utc_time(fmt, expected):
    record = parse_line(LINES[fmt], year=2026)
    assert {k: record[k] for k in expected} == expected
    # Every one of these lines was written at 14:22:05 UTC, in its own notation and zone.
    assert record["time"].replace(microsecond=0) == datetime(2026, 3, 3, 14, 22, 5, tzinfo=UTC)


def test_absent_fields_compare_false_instead_of_raising():
    app, access = parse_line(LINES["json"]), parse_line(LINES["nginx"])
    assert app["status"] == None  # noqa: E711 - the point is that == None holds
    assert not app["status"] >= 500 and not app["status"] < 500
    assert access["status"] >= 500
    assert access["level"] != "ERROR" and not access["level"]
    assert "x" not in app["nothing"]
    assert Counter(r["service"] for r in (app, access)) == Counter({"cart": 1, None: 1})
    assert repr(ABSENT) == "None"


def test_times_compare_with_strings_and_naive_datetimes():
    t = parse_line(LINES["logfmt"])["time"]
    assert t > "2026-03-03 14:22:04 UTC"
    assert t < "14:22:06 UTC on 3 Mar 2026"
    assert t >= datetime(2026, 3, 3, 14, 22, 5)  # naive: taken as UTC
    assert not t > when("3 March 2026 15:00")
    assert sorted([t, when("2026-01-01")])[0] == when("2026-01-01")


def test_a_time_read_as_text_reads_its_iso_form():
    t = parse_line(LINES["logfmt"])["time"]
    assert t.startswith("2026-03-03T14:22") and t[:10] == "2026-03-03" and "T14:22:05" in t
    assert t.split("T")[0] == "2026-03-03" and t.year == 2026  # datetime's own attributes stay
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        t.nope  # noqa: B018


def test_when_reads_many_notations_and_rejects_nonsense():
    target = datetime(2026, 3, 3, 14, 22, 5, tzinfo=UTC)
    for text in (
        "2026-03-03T14:22:05Z",
        "2026-03-03 14:22:05 UTC",
        "03/Mar/2026:14:22:05 +0000",
        "14:22:05 UTC on 3 Mar 2026",
        "2026-03-03T16:22:05+02:00",
    ):
        assert when(text) == target, text
    # What models also write: when() of a record's time, of a missing time, of an epoch.
    assert when(when("2026-03-03T14:22:05Z")) == target and when(parse_line("x")["time"]) is ABSENT
    assert when(1772547725) == target and not when(None) > target
    with pytest.raises(ValueError, match="not a date"):
        when("no date here at all")
    # A clock time alone must not silently mean 1 January: the model dropped the date the question gave.
    with pytest.raises(ValueError, match="not a full date; write the day and month"):
        when("11:35:03 UTC")
    assert when("14 Feb 11:35", year=2025) == datetime(2025, 2, 14, 11, 35, tzinfo=UTC)


def test_the_repl_s_when_takes_the_logs_year_for_dates_without_one():
    from rlm_cli.engine.loop import corpus_from_text
    from rlm_cli.inputs.bundle import load_bundle, write_bundle
    from rlm_cli.repl.helpers import helpers

    with tempfile.TemporaryDirectory() as folder:
        context, documents = load_bundle(write_bundle(corpus_from_text("2023-07-01T10:00:00Z boot\n"), folder))
        repl_when = helpers(context, documents)["when"]
        assert repl_when("3 Mar 14:22") == datetime(2023, 3, 3, 14, 22, tzinfo=UTC)
        assert repl_when("3 Mar 14:22", 2024).year == 2024


def test_syslog_takes_its_year_from_the_other_logs():
    texts = ["2025-12-30T23:59:00Z start\n", LINES["syslog"]]
    year = guess_year(texts)
    assert year == 2025
    assert parse_lines("s.log", LINES["syslog"], year)[0]["time"].year == 2025


def test_message_is_always_text_and_the_line_keeps_its_place():
    recs = parse_lines("a/app.log", "\nplain words here\n\n" + LINES["nginx"] + "\n")
    assert [(r["doc"], r["lineno"]) for r in recs] == [("a/app.log", 2), ("a/app.log", 4)]
    assert recs[0]["message"] == "plain words here" and recs[0]["level"] is ABSENT
    assert "GET /api/v1/cart" in recs[1]["message"]
    assert "lineno" not in repr(recs[1]) and "'status': 503" in repr(recs[1])


@pytest.mark.parametrize(
    ("message", "user"),
    [
        ("Accepted password for ann.lee from 10.0.0.7 port 5122 ssh2", "ann.lee"),
        ("Failed password for invalid user bob from 10.0.0.7 port 22 ssh2", "bob"),
        ("login rejected for user=cy.ng: bad credentials", "cy.ng"),
        ("waiting for the lock", None),
    ],
)
def test_the_user_is_read_from_the_message_when_no_field_names_it(message, user):
    assert parse_line(f"Mar  3 14:22:05 app-03 sshd[812]: INFO {message}")["user"] == user


def test_common_fields_describe_a_log_but_not_prose():
    assert common_fields("\n".join([LINES["syslog"]] * 5)) == ("time", "level", "host", "service", "ip", "user")
    assert common_fields("It was a dark night.\nThe rain fell.\n") == ()


def test_shape_masks_what_varies_between_lines_of_one_log_statement():
    assert shape("user ann.lee logged in from 10.0.0.7", "ann.lee") == "user <user> logged in from <ip>"
    assert shape("job 4411 took 3.5 s, retry 2 of db-primary:5432") == "job <n> took <n> s, retry <n> of db-primary:<n>"
    assert shape("trace 9f3c2a1b77e0 on /api/v1/items") == "trace <id> on /api/v1/items"


def test_profile_lists_category_values_and_message_shapes_but_not_ids():
    lines = [
        f'{{"level": "{lvl}", "event": "{ev}", "id": {i}, "msg": "user u{i % 7} did {ev} in {i} ms", '
        f'"user": "u{i % 7}"}}'
        for i, (lvl, ev) in enumerate([("info", "login"), ("warn", "login_failed"), ("info", "login")] * 20)
    ]
    found = profile([("a.jsonl", "\n".join(lines)), ("web.log", (LINES["nginx"] + "\n") * 3)])
    assert found.lines == 63
    assert found.values["level"] == ["INFO", "WARN"] and found.values["event"] == ["login", "login_failed"]
    assert found.values["status"] == [503] and found.values["method"] == ["GET"]
    assert "id" not in found.values and "user" not in found.values and "time" not in found.values
    assert found.shapes == [("user <user> did login in <n> ms", 40), ("user <user> did login_failed in <n> ms", 20)]


def test_profile_of_a_large_input_samples_it_but_keeps_the_rare_lines_it_is_given():
    common = "2026-03-03 14:22:05 INFO [app] request handled in 12 ms\n" * 5_000
    rare = "2026-03-03 14:22:06 FATAL [app] disk full on /var"
    text = common + "2026-03-03 14:22:05 INFO [app] start\n" + rare + "\n" + common  # the rare line: number 5002
    assert "FATAL" not in profile([("big.log", text)], max_lines=500).values["level"]
    assert profile([("small.log", rare)], also=lambda: 1 / 0).lines == 1  # all lines read: no search for rare ones
    found = profile([("big.log", text)], also=lambda: [rare], max_lines=500)
    assert found.lines == 502
    assert "FATAL" in found.values["level"] and ("disk full on /var", 1) in found.shapes


def test_none_notes_look_only_at_new_collections_of_plain_values():
    from rlm_cli.engine.guide import Note
    from rlm_cli.repl.helpers import none_notes

    kept = {None}
    namespace = {"kept": kept, "fresh": [None, None], "mixed": Counter({"a": 2, None: 1}), "recs": [{"a": None}]}
    namespace |= {"fine": {"a", "b"}, "empty": set(), "_private": {None}, "text": "None"}
    notes = none_notes(namespace, before={"kept": id(kept)})
    assert notes == [
        {"kind": "only_none", "name": "fresh", "kept": 0, "total": 2},
        {"kind": "has_none", "name": "mixed", "kept": 1, "total": 2},
    ]
    texts = [Note(**n).text() for n in notes]
    assert "`fresh` holds only None" in texts[0] and "without None it has 1 value, not 2" in texts[1]


def test_systemd_lines_are_about_their_unit_and_sshd_lines_name_their_address():
    unit = parse_line("Mar 03 14:02:11 host1 systemd[1]: auth-api.service: Failed with result 'exit-code'.")
    assert (unit["service"], unit["unit"], unit["program"]) == ("auth-api", "auth-api.service", "systemd")
    assert unit["message"] == "Failed with result 'exit-code'."
    iso = parse_line("2026-03-03T14:02:11+0000 node-b systemd[1]: web.service: Main process exited, code=exited")
    assert (iso["host"], iso["service"]) == ("node-b", "web")
    ssh = parse_line("Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for root from 173.234.31.186 port 38926 ssh2")
    assert (ssh["service"], ssh["user"], ssh["ip"]) == ("sshd", "root", "173.234.31.186")
    two = parse_line("Dec 10 06:55:46 h sshd[1]: from 1.2.3.4 to 5.6.7.8")
    assert "ip" not in two  # two addresses: which one is the client's is not known
    plain = parse_line("2026-03-03 14:02:11,123 INFO app: started")  # no [pid]: not a host and a program
    assert plain["level"] == "INFO" and "host" not in plain


def test_a_repeated_message_line_is_as_many_records_as_it_stands_for():
    text = (
        "Dec 10 06:55:46 LabSZ sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2\n"
        "Dec 10 06:55:47 LabSZ sshd[1]: message repeated 3 times: "
        "[ Failed password for root from 1.2.3.4 port 22 ssh2]\n"
    )
    recs = parse_lines("auth.log", text)
    assert len(recs) == 4 and {r["lineno"] for r in recs} == {1, 2}
    assert all(r["message"].startswith("Failed password for root") and r["ip"] == "1.2.3.4" for r in recs)


def test_records_helper_reads_every_document_or_one():
    from rlm_cli.inputs.bundle import load_bundle, write_bundle
    from rlm_cli.inputs.corpus import Corpus, Document
    from rlm_cli.repl.helpers import helpers

    texts = {"web/access.log": LINES["nginx"] + "\n", "app.log": LINES["json"]}
    docs = [Document(path, text, "text", len(text), len(text)) for path, text in texts.items()]
    with tempfile.TemporaryDirectory() as folder:
        context, documents = load_bundle(write_bundle(Corpus(docs), folder))
        records = helpers(context, documents)["records"]
        assert [r["doc"] for r in records()] == ["web/access.log", "app.log"]
        assert [r["status"] for r in records("access.log")] == [503]
        with pytest.raises(ValueError, match="no document"):
            records("missing.log")


def test_model_code_counts_across_formats_in_the_sandbox(model, solve, tmp_path):
    logs = tmp_path / "logs"
    (logs / "app-01").mkdir(parents=True)
    (logs / "app-01" / "cart.jsonl").write_text(LINES["json"] + "\n" + LINES["json"].replace("error", "info") + "\n")
    (logs / "app-03.log").write_text(LINES["syslog"] + "\n" + LINES["python"] + "\n")
    (logs / "access.log").write_text((LINES["nginx"] + "\n") * 3)
    code = (
        "recs = records()\n"
        "late = when('14:00 UTC on 3 March 2026')\n"
        "bad = Counter(r['doc'] for r in recs if r['level'] in ('ERROR', 'FATAL') and r['time'] > late)\n"
        "print(sorted(bad.items()), sum(r['status'] >= 500 for r in recs))"
    )
    model.script("root", fence(code), "FINAL(done)")
    run = solve("Which files had errors?", logs)
    assert run.answer == "done"
    assert "records() parses these documents' records" in run.roots[0].messages[1]["content"]
    assert f"[('{logs}/app-01/cart.jsonl', 1), ('{logs}/app-03.log', 2)] 3" in run.roots[1].last_user
    assert "The question: Which files had errors?" in run.roots[1].last_user  # small models lose it otherwise


def test_rebinding_a_helper_keeps_the_block_s_value_and_restores_the_function(ask_about_log):
    replies = [fence("records = records()\nprint(len(records))"), fence("print(len(records()), callable(grep))")]
    text = LINES["syslog"] + "\n" + LINES["python"] + "\n"
    run = ask_about_log(text, *replies, "FINAL(2 True)")
    assert "2\n" in run.roots[1].last_user
    assert "`records` is a REPL function and cannot be replaced; it was restored" in run.roots[1].last_user
    assert "2 True" in run.roots[2].last_user


def test_running_the_same_code_twice_is_pointed_out(ask_about_log):
    replies = [fence("print(grep('5XX'))"), fence("print( grep('5XX') )"), "FINAL(none)", "FINAL(none)", "FINAL(none)"]
    run = ask_about_log(LINES["syslog"] + "\n", *replies)
    assert "already ran exactly this code" not in run.roots[1].last_user
    assert "already ran exactly this code, so its output cannot change" in run.roots[2].last_user


def test_a_model_that_reruns_a_block_is_sampled_once_to_get_it_unstuck(ask_about_log):
    code = fence("print([r for r in records() if r['status'] == 200])")
    replies = [code, code, fence("print(sum(r['level'] == 'FATAL' for r in records()))"), "FINAL(1)"]
    run = ask_about_log(LINES["syslog"] + "\n", *replies)
    assert [r.temperature for r in run.roots] == [0.0, 0.0, 0.7, 0.0]
    assert run.noticed("sampled at temperature 0.7")


def test_a_rerun_block_is_kept_once_in_the_conversation(ask_about_log):
    code = fence("print(len(grep('FATAL')))")
    replies = [code, code, code, fence("print(len(records()))"), "FINAL(1)"]
    run = ask_about_log(LINES["syslog"] + "\n", *replies)
    assert run.answer == "1"
    # The copies are dropped, so the model does not see itself repeating, and the nudge is there once.
    assert [len(r.messages) for r in run.roots] == [2, 4, 4, 4, 6]
    assert run.roots[3].last_user.count("You already ran exactly this code") == 1
    assert "REPL output of block 1" in run.roots[3].last_user and "1" in run.roots[3].last_user


def test_the_same_reply_twice_is_also_sampled_once(ask_about_log):
    replies = [fence("print(list(range(9)))"), "FINAL(result)", "FINAL(result)", "FINAL(7)"]
    run = ask_about_log(LINES["syslog"] + "\n", *replies)
    assert run.answer == "7"
    assert [r.temperature for r in run.roots] == [0.0, 0.0, 0.0, 0.7]


def test_a_collection_of_none_made_by_a_wrong_filter_is_pointed_out(ask_about_log):
    replies = [
        fence('ok = {r["user"] for r in records() if r["status"] == 503}\nprint(len(ok))'),
        fence('users = {r["user"] for r in records()}\nprint(len(users))'),
        "FINAL(1)",
    ]
    run = ask_about_log(LINES["syslog"] + "\n" + LINES["nginx"] + "\n", *replies)
    assert "[note: `ok` holds only None: the lines your filter kept do not have that field." in run.roots[1].last_user
    assert "[note: `users` contains None, from lines without that field: without None it has 1 value, not 2." in (
        run.roots[2].last_user
    )


def test_a_level_looked_for_inside_messages_is_told_to_be_r_level(ask_about_log):
    code = fence('print({r["host"] for r in records() if "FATAL" in r["message"]})')
    text = LINES["syslog"] + "\n" + LINES["json"] + "\n"
    fixed = fence('print({r["host"] for r in records() if r["level"] == "FATAL"})')
    run = ask_about_log(text, code, "FINAL(none)", fixed, "FINAL(app-03)")
    assert run.answer == "app-03"
    assert "keeps a line's level in r[\"level\"] and no message holds 'FATAL'" in run.roots[1].last_user
    assert "r[\"level\"] == 'FATAL'" in run.roots[1].last_user
    assert "not accepted yet" in run.roots[2].last_user  # the answer from that block is questioned once


def test_an_answer_from_a_set_of_only_none_is_questioned_as_nothing_found(ask_about_log):
    code = fence('ok = {r["user"] for r in records() if "/login" in r["message"]}\nprint(len(ok))')
    text = LINES["syslog"] + "\n" + LINES["nginx"].replace("/api/v1/cart", "/login") + "\n"
    run = ask_about_log(text, code, "FINAL(1)", "FINAL(0)")
    assert run.answer == "0"
    assert "That answer rests on code that found nothing" in run.roots[2].last_user


def test_an_answer_right_after_code_that_found_nothing_is_questioned_once(ask_about_log):
    code = fence("print(sum(1 for r in records() if 'logged in' in r['message'] and r['level'] == 'ERROR'))")
    run = ask_about_log(LINES["syslog"] + "\n", code, "FINAL(0)", "FINAL(0)")
    assert run.answer == "0"
    assert "That answer rests on code that found nothing" in run.roots[2].last_user
    assert run.noticed("final answer right after code that found nothing")


def test_code_that_tests_for_words_the_input_never_contains_is_told_and_its_answer_questioned_once(ask_about_log):
    text = LINES["syslog"] + "\n" + LINES["json"] + "\n"
    guessed = fence("print(sorted({r['service'] for r in records() if 'Failed password' not in r['message']}))")
    replies = [guessed, "FINAL(auth-api, cart)", "FINAL(auth-api, cart)"]
    run = ask_about_log(text, *replies, question="Which services failed?")
    assert run.answer == "auth-api, cart"
    assert "Your code looks for 'Failed password', which the input never contains" in run.roots[1].last_user
    assert "That answer comes from code with the mistake named above" in run.roots[2].last_user
    assert run.noticed("final answer from flawed code (the code tests for strings the input never contains")
    # A FINAL called by such code is questioned too, and the data's own words then pass.
    in_code = fence("FINAL(str(sum(r['message'].count('exactly twice') == 2 for r in records())))")
    fixed = fence("FINAL(str(sum(r['level'] == 'FATAL' and 'logged in' in r['message'] for r in records())))")
    run = ask_about_log(text, in_code, fixed, question="How many crashed?")
    assert run.answer == "1" and len(run.roots) == 2
    assert "Your code looks for 'exactly twice'" in run.roots[-1].last_user


def test_a_counter_over_a_set_is_told_with_the_count_it_meant_and_its_answer_questioned(ask_about_log):
    text = LINES["syslog"] + "\n" + LINES["json"] + "\n" + LINES["syslog"] + "\n"
    setwise = "s = {r['service'] for r in records()}\nprint([k for k, c in Counter(s).items() if c == 1])"
    counted = "print([k for k, c in Counter(r['service'] for r in records()).items() if c == 1])"
    replies = [fence(setwise), "FINAL(auth-api, cart)", fence(counted), "FINAL(cart)"]
    run = ask_about_log(text, *replies, question="Which logged exactly once?")
    assert run.answer == "cart"
    assert "`Counter(s)` counts a set" in run.roots[1].last_user
    assert "Count the records themselves: `Counter(r['service'] for r in records())`" in run.roots[1].last_user
    assert "That answer comes from code with the mistake named above" in run.roots[2].last_user
    assert "['cart']" in run.roots[3].last_user and "counts a set" not in run.roots[3].last_user


def test_a_substring_filter_is_shown_the_message_shapes_it_keeps(ask_about_log):
    text = "\n".join([LINES["logfmt"], LINES["syslog"], LINES["python"], LINES["log4j"]]) + "\n"
    code = "print(len({r['user'] for r in records() if 'login' in r['message']}))"
    run = ask_about_log(text, fence(code), "FINAL(1)", question="Who logged in?")
    assert run.answer == "1"
    assert "'login' is in 1 only: \"login failed for user <user>: bad\"" in run.roots[1].last_user


def test_a_path_shortened_to_a_word_the_data_also_uses_alone_is_questioned(ask_about_log):
    text = LINES["json"] + "\n" + LINES["nginx"] + "\n"  # "cart" is a service, and /api/v1/cart a path
    replies = [
        fence("print(Counter(r['path'] for r in records() if r['status'] >= 500).most_common(3))"),
        "FINAL(cart)",
        "FINAL(/api/v1/cart)",
    ]
    run = ask_about_log(text, *replies, question="Top paths by 5xx?")
    assert run.answer == "/api/v1/cart"
    assert "Your answer shortens values that the output shows in full: /api/v1/cart" in run.roots[2].last_user


def test_a_list_answer_naming_an_item_twice_is_questioned_once(ask_about_log):
    text = LINES["nginx"] + "\n" + LINES["nginx"].replace("cart", "search") + "\n" + LINES["nginx"] + "\n"
    replies = [
        fence("print([r['path'] for r in records() if r['status'] >= 500][:3])"),
        "FINAL(/api/v1/cart, /api/v1/search, /api/v1/cart)",
        fence("print(Counter(r['path'] for r in records() if r['status'] >= 500).most_common(3))"),
        "FINAL(/api/v1/cart, /api/v1/search)",
    ]
    run = ask_about_log(text, *replies, question="Top 3 paths by 5xx?")
    assert run.answer == "/api/v1/cart, /api/v1/search"
    assert "Your answer names /api/v1/cart more than once" in run.roots[2].last_user
    assert run.noticed("answer repeats ['/api/v1/cart']")


def test_a_count_that_includes_none_and_shortened_paths_are_questioned(ask_about_log):
    text = LINES["syslog"] + "\n" + LINES["nginx"] + "\n"
    count = fence('users = {r["user"] for r in records()}\nprint(len(users))')
    run = ask_about_log(text, count, "FINAL(2)", "FINAL(1)")
    assert (
        "Your answer 2 counts None as one of the values" in run.roots[-1].last_user
        and "FINAL(1)" in run.roots[-1].last_user
    )
    top = fence("print([('/api/v1/cart', 3), ('/health', 1)])")
    run = ask_about_log(text, top, "FINAL(cart, health)", "FINAL(cart)")
    assert "shows in full: /api/v1/cart, /health." in run.roots[-1].last_user  # the last request: the nudge
    assert "FINAL(/api/v1/cart, /health)" in run.roots[-1].last_user and run.answer == "cart"


def test_rerunning_code_that_printed_a_result_is_told_to_answer(ask_about_log):
    code = fence("print(sum(r['level'] == 'FATAL' for r in records()))")
    run = ask_about_log(LINES["syslog"] + "\n", code, code, "FINAL(1)")
    assert "it printed the same: 1\nIf that answers the question, reply FINAL(answer) now" in run.roots[2].last_user


EXPORT = (
    "Ticket 1000\nDate: 2025-01-03\nUser: emeka39 (plan: pro)\n(refund)\nI want my money back for the kettle.\n\n"
    "Ticket 1001\nDate: 2025-01-04\nUser: ana7 (plan: free)\nCategory: Account-Access\nI cannot sign in (again).\n\n\n"
    "Ticket 1002\nDate: 2025-01-05\nUser: emeka39 (plan: pro)\ntype=refund\nRefund the monitor.\n\n"
    "Ticket 1003\nDate: 2025-01-06\nUser: bo12 (plan: pro)\n[label: billing]\nCharged twice.\n"
)


def test_an_export_of_blank_line_separated_blocks_reads_as_one_record_per_block():
    recs = parse_lines("tickets.txt", EXPORT)
    assert [(r["lineno"], r["user"], r["plan"], r["label"]) for r in recs] == [
        (1, "emeka39", "pro", "refund"),
        (7, "ana7", "free", "account-access"),
        (14, "emeka39", "pro", "refund"),
        (20, "bo12", "pro", "billing"),
    ]
    assert recs[1]["message"] == "Ticket 1001 I cannot sign in (again)."  # a bracket mid-text is not a label
    assert recs[3]["time"] == datetime(2025, 1, 6, tzinfo=UTC) and recs[3]["raw"].startswith("Ticket 1003\n")
    assert Counter(r["label"] for r in recs if r["plan"] == "pro").most_common(1) == [("refund", 2)]


def test_a_label_written_any_way_in_a_line_reads_as_one_lower_case_label():
    lines = [
        "#1 2025-01-01 user=mei4 account=joint :: Coffee (kettle) at the cafe. [label: dining]",
        "#2 2025-01-02 user=farid2 account=student :: Weekly shop, 11 items. Category: Groceries",
        "#3 2025-01-03 user=zofia7 account=student :: Weekly shop, 3 items. type=groceries",
        "#4 2025-01-04 user=ivo9 account=business :: Monthly rent, flat 22. (rent)",
        '{"id": 5, "date": "2025-01-05", "user": "x1", "region": "EU", "text": "ok", "category": "Mixed"}',
    ]
    assert [parse_line(line)["label"] for line in lines] == ["dining", "groceries", "groceries", "rent", "mixed"]
    assert parse_line(lines[4])["category"] == "Mixed" and parse_line(lines[4])["region"] == "EU"
    assert common_fields("\n".join(lines[:4])) == ("user", "label")


def test_another_name_of_a_field_reads_as_that_field():
    record = parse_line("#3 user=zofia7 :: Weekly shop. type=groceries")
    assert record["category"] == record["kind"] == "groceries"  # models name the field after the question
    assert parse_line(LINES["json"])["severity"] == "ERROR" and parse_line(LINES["json"])["plan"] is ABSENT
    assert "'type'" not in repr(record) and "'label': 'groceries'" in repr(record)


def test_blocks_are_exports_only_when_most_of_them_share_a_key():
    prose = "It was a dark night.\nThe rain fell.\n\nNote: nobody came.\nThe end was near.\n\n" * 3
    logs = "\n\n".join([LINES["python"], LINES["log4j"] + "\n" + LINES["syslog"]] * 3)
    assert is_blocks(EXPORT * 2)
    assert not is_blocks(prose) and not is_blocks(logs) and not is_blocks("\n".join(LINES.values()))
    assert [n for n, _ in units("\n\n" + EXPORT)] == [3, 9, 16, 22]


def test_profile_reads_an_export_by_its_records():
    found = profile([("tickets.txt", "\n".join([EXPORT] * 3))])
    assert found.lines == 12
    assert found.values["label"] == ["refund", "account-access", "billing"] and found.values["plan"] == ["pro", "free"]


def test_model_code_counts_labels_in_an_export_in_the_sandbox(ask_about_log):
    code = fence('print(Counter(r["category"] for r in records() if r["plan"] == "pro").most_common(1))')
    run = ask_about_log(EXPORT, code, "FINAL(refund)", question="Top label on the pro plan?")
    assert run.answer == "refund"
    assert "[('refund', 2)]" in run.roots[1].messages[-1]["content"]
    intro = run.roots[0].messages[1]["content"]
    assert "- plan: 'pro', 'free'" in intro and "- label: 'refund', 'account-access', 'billing' (r[\"label\"]" in intro
    assert "Shapes of the messages" not in intro  # labelled records are counted by label, not by their text


def test_a_label_tag_on_a_log_line_keeps_its_level():
    record = parse_line("2026-03-03T14:22:05Z worker stopped with ERROR (timeout)")
    assert (record["level"], record["label"]) == ("ERROR", "timeout")


def test_a_block_that_failed_is_followed_by_a_request_for_a_fix(ask_about_log):
    replies = [fence("print(len(recs))"), fence("recs = records()\nprint(len(recs))"), "FINAL(1)"]
    run = ask_about_log(LINES["syslog"] + "\n", *replies)
    assert run.answer == "1"
    assert "`recs` does not exist" in run.roots[1].last_user and "stopped with an error" in run.roots[1].last_user
    assert "stopped with an error" not in run.roots[2].last_user


def test_final_of_an_unquoted_word_in_code_answers_the_word(ask_about_log):
    code = (
        'c = Counter(r["label"] for r in records())\n'
        "billing = 'not a label'\n"
        'if c["refund"] > c["billing"]:\n    FINAL(refund)\nelse:\n    FINAL(billing)'
    )
    run = ask_about_log(EXPORT, fence(code), question="More refund or billing?")
    assert run.answer == "refund"  # no variable `refund`: the word itself
    run = ask_about_log(EXPORT, fence(code.replace('c["refund"] >', 'c["refund"] <')), question="q?")
    assert run.answer == "not a label"  # a variable keeps its value


def test_a_count_printed_beside_a_counter_of_only_none_is_not_questioned(ask_about_log):
    code = fence('c = Counter(r["host"] for r in records() if r["status"] == 503)\nprint(c)')
    run = ask_about_log(LINES["nginx"] + "\n" + LINES["nginx"] + "\n", code, "FINAL(2)")
    assert run.answer == "2" and len(run.roots) == 2  # Counter({None: 2}): the 2 is there to read


def test_a_line_of_key_value_fields_joined_by_bars_is_a_record_of_those_fields():
    record = parse_line("Date: 2023-04-17 || User: 48213 || Instance: What instrument did Miles Davis play?")
    assert record["message"] == "What instrument did Miles Davis play?"  # the free text, not the whole line
    assert record["user"] == "48213" and str(record["time"]).startswith("2023-04-17")
    assert record["Instance"] == record["message"] and "host" not in record  # "instance" names hosts elsewhere
    assert parse_line("Region: eu | Plan: pro | Note: renewal asked twice")["Plan"] == "pro"
    # A line with a bar that is not all fields is a log line as before.
    mixed = parse_line("2024-01-01 ERROR a | b: c")
    assert mixed["level"] == "ERROR" and "b" not in mixed
