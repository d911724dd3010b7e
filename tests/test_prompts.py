"""What the root model is shown about the input."""

from __future__ import annotations

from rlm_cli.engine.prompts import sample_lines


def test_sample_lines_rank_the_question_s_rare_words_first():
    distractors = [f"One of the special magic names for key-{i} is: Name{i}." for i in range(50)]
    text = "\n".join([*distractors, "filler"] + ["One of the special magic names for crimson-pylon is: Mateo."])
    found = sample_lines([("a.txt", text)], "What is the special magic name for crimson-pylon?")
    assert found[0] == "a.txt: One of the special magic names for crimson-pylon is: Mateo."
    assert len(found) == 6


def test_an_empty_result_is_flagged_as_a_likely_wrong_filter():
    from rlm_cli.engine.prompts import NUDGE_NOTHING_FOUND, cell_feedback

    assert NUDGE_NOTHING_FOUND in cell_feedback(1, "[]\n", 0)
    assert NUDGE_NOTHING_FOUND in cell_feedback(1, "0", 0)
    assert NUDGE_NOTHING_FOUND not in cell_feedback(1, "['auth']\n", 0)
    assert "printed nothing" in cell_feedback(2, "", 0)


def test_a_name_never_assigned_is_explained():
    from rlm_cli.engine.prompts import cell_feedback

    error = "Traceback (most recent call last):\n  File \"<cell 2>\", line 1\nNameError: name 'recs' is not defined\n"
    assert "`recs` does not exist: a variable exists only once a block that assigns it has run" in cell_feedback(
        2, error, 0
    )
    assert "does not exist" not in cell_feedback(2, "NameError is a class\n", 0)


def test_grep_gives_each_matching_line_once_with_its_number():
    import tempfile

    from rlm_cli.engine.loop import corpus_from_text
    from rlm_cli.inputs.bundle import load_bundle, write_bundle
    from rlm_cli.repl.helpers import helpers

    with tempfile.TemporaryDirectory() as folder:
        context, documents = load_bundle(write_bundle(corpus_from_text("ok\nERROR a ERROR b\nok\nerror c\n"), folder))
        grep = helpers(context, documents)["grep"]
        assert grep("error") == ["<prompt>:2: ERROR a ERROR b", "<prompt>:4: error c"]
        assert grep("error", ignore_case=False) == ["<prompt>:4: error c"]


def test_log_inputs_get_fields_and_a_records_hint_instead_of_a_raw_prefix():
    from types import SimpleNamespace

    from rlm_cli.engine.prompts import metadata, record_fields
    from rlm_cli.guidance.questions import question_terms

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
    from rlm_cli.engine.prompts import data_profile, question_profile

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


def test_the_reminder_repeats_the_hints_for_log_inputs_only():
    from rlm_cli.engine.prompts import reminder

    assert '("5xx" means 500 <= r["status"] <= 599.)' in reminder("Top 5xx paths?", logs=True)
    assert "means" not in reminder("Top 5xx paths?", logs=False)


def test_samples_of_an_export_show_whole_records():
    export = "".join(
        f"Ticket {i}\nUser: u{i} (plan: pro)\n[label: {lab}]\nText {i}.\n\n" for i, lab in enumerate("ab" * 3)
    )
    found = sample_lines([("t.txt", export)], "Which plan has the most tickets?")
    assert found[0] == "t.txt:\nTicket 0\nUser: u0 (plan: pro)\n[label: a]\nText 0.\n"


def test_values_the_question_names_are_tied_to_their_field():
    from rlm_cli.engine.prompts import data_profile, question_profile

    def profile_of(text, question):
        return "\n".join(data_profile(question_profile([("t.txt", text)], question), question))

    lines = [f"user=u{i} account={a} :: paid [label: {lab}]" for i, (a, lab) in enumerate([("personal", "rent")] * 3)]
    lines += [f"user=v{i} account=joint :: paid type=travel" for i in range(3)]
    profile = profile_of("\n".join(lines), "Top label for personal accounts, not travel?")
    assert """'personal' is r["account"] == 'personal'; 'travel' is r["label"] == 'travel'.""" in profile
    assert "among these values" not in profile_of("level=ERROR msg=x\n" * 3, "Which errors?")


def test_after_a_failed_block_the_reminder_asks_for_a_fix_not_an_answer():
    from rlm_cli.engine.prompts import reminder

    failed = reminder("How many users?", logs=False, failed=True)
    assert "stopped with an error" in failed and "computed answer" not in failed
    assert "computed answer" in reminder("How many users?", logs=False)
