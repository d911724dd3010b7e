"""What the root model is shown about the input: the plain first message, and the small guide's description."""

from __future__ import annotations

from types import SimpleNamespace

from rlm_cli.engine.guide import Plain
from rlm_cli.engine.prompts import metadata, opening
from rlm_cli.guidance.describe import data_profile, describe, question_profile, record_fields, sample_lines
from rlm_cli.guidance.questions import question_terms
from rlm_cli.guidance.small import SmallModelGuide


def _docs(*pairs: tuple[str, str]) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(path=p, text=t, chars=len(t), lines=t.count("\n"), pieces=lambda t=t: (t,)) for p, t in pairs
    ]


def test_sample_lines_rank_the_question_s_rare_words_first():
    distractors = [f"One of the special magic names for key-{i} is: Name{i}." for i in range(50)]
    text = "\n".join([*distractors, "filler"] + ["One of the special magic names for crimson-pylon is: Mateo."])
    found = sample_lines([("a.txt", text)], "What is the special magic name for crimson-pylon?")
    assert found[0] == "a.txt: One of the special magic names for crimson-pylon is: Mateo."
    assert len(found) == 6


def test_log_questions_see_the_data_s_values_and_message_shapes_their_words_first():
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
    assert shapes[:2] == ["- user <user> logged in from <ip>", "- session refreshed for user <user>"]
    assert shapes[2:] == [
        'Tests for the question\'s words in messages, as the data writes them: "logged in from" in r["message"].'
    ]
    assert data_profile(question_profile([("empty", "")], "q?"), "q?") == []


def test_sample_lines_show_each_kind_of_line_once():
    lines = [f"2026-01-01 10:00:{i:02d} WARN [db] slow query took {i}00 ms" for i in range(20)]
    lines.append("2026-01-01 10:01:00 ERROR [db] query failed: deadlock")
    found = sample_lines([("db.log", "\n".join(lines))], "Which query failed or was slow?")
    assert sorted(found) == [f"db.log: {lines[0]}", f"db.log: {lines[-1]}"]


def test_samples_of_an_export_show_whole_records():
    export = "".join(
        f"Ticket {i}\nUser: u{i} (plan: pro)\n[label: {lab}]\nText {i}.\n\n" for i, lab in enumerate("ab" * 3)
    )
    found = sample_lines([("t.txt", export)], "Which plan has the most tickets?")
    assert found[0] == "t.txt:\nTicket 0\nUser: u0 (plan: pro)\n[label: a]\nText 0.\n"


def test_values_the_question_names_are_tied_to_their_field():
    def profile_of(text, question):
        return "\n".join(data_profile(question_profile([("t.txt", text)], question), question))

    lines = [f"user=u{i} account={a} :: paid [label: {lab}]" for i, (a, lab) in enumerate([("personal", "rent")] * 3)]
    lines += [f"user=v{i} account=joint :: paid type=travel" for i in range(3)]
    profile = profile_of("\n".join(lines), "Top label for personal accounts, not travel?")
    assert """'personal' is r["account"] == 'personal'; 'travel' is r["label"] == 'travel'.""" in profile
    assert "among these values" not in profile_of("level=ERROR msg=x\n" * 3, "Which errors?")


def test_log_inputs_get_their_fields_and_a_records_hint_from_the_guide_only():
    log = "".join(f"2026-01-0{d} 10:00:00 ERROR [cart] request {d} failed with 503\n" for d in range(1, 9))
    prose = "It was a dark and stormy night.\nThe end.\n"
    docs = _docs(("a.log", log), ("b", prose))
    fields = record_fields([(d.path, d.text) for d in docs])
    assert fields[0].startswith("time, level, service, message: 1 document(s)\n  e.g. {'time': '2026-01-01T10:00:00")
    assert "'level': 'ERROR', 'service': 'cart'" in fields[0] and len(fields) == 1
    guided = "\n\n".join(describe("How many 503s?", docs[:1]).sections)
    assert "recs = records()" in guided and "- time, level, service, message" in guided
    assert "text, not log records" in describe("Who?", docs[1:]).sections[-1]
    plain = metadata("How many 503s?", docs[:1])
    assert "records() parses" not in plain and "characters of the first document:" in plain
    # Its last words are not the fence's: a small model ended "Write a ```repl block" with `repl` and a fence.
    assert plain.endswith("in a ```repl fence.") and "```repl block" not in plain
    assert question_terms("How many requests returned status 503 after 2026?") == [
        "requests",
        "returned",
        "status",
        "503",
        "2026",
    ]


def test_guidance_off_opens_with_the_plain_method_only():
    docs = _docs(("j.log", "Mar 03 14:02:11 h1 systemd[1]: api.service: Failed with result 'exit-code'.\n" * 3))
    plain = opening("Which services failed?", docs, "=== {path} ===", 1000, Plain()).messages
    guided = opening("Which services failed?", docs, "=== {path} ===", 1000, SmallModelGuide()).messages
    assert "More examples" not in plain[0]["content"] and "More examples" in guided[0]["content"]
    assert "records() parses" not in plain[1]["content"] and "records() parses" in guided[1]["content"]
    assert plain[1]["content"].startswith("Question: Which services failed?")


def test_a_field_with_one_value_everywhere_is_said_not_to_tell_records_apart():
    log = "".join(f"Mar 03 14:0{i}:11 node-1 cron[{i}]: job {i} ran\n" for i in range(6))
    shown = "\n".join(describe("Which jobs ran?", _docs(("c.log", log))).sections)
    assert "they do not tell records apart" in shown and """r["host"] == 'node-1'""" in shown
    assert """r["service"] == 'cron'""" in shown


def test_labels_the_question_lists_and_the_data_never_writes_come_with_a_classify_block():
    lines = "".join(
        f"Date: 2024-01-0{i} || User: 1{i} || Instance: {q}\n"
        for i, q in enumerate(["Who wrote Emma?", "Why is ice slippery?", "Where is Petra?"], 1)
    )
    question = "Label each line human (a person), description (a reason) or location (a place). Which is most common?"
    found = describe(question, _docs(("q.txt", lines)))
    assert found.labels == ["human", "description", "location"]
    shown = "\n".join(found.sections)
    assert "labels that no line of the input contains (human, description, location)" in shown
    assert "records() would only cut them" not in shown
    # The question's other words are the labels' meanings ("a place"): lines holding them are no evidence.
    assert "Lines that contain words of the question" not in shown and "Shapes of the messages" not in shown
    # Labels the records write are counted from the data, not judged again.
    written = lines.replace("?\n", "? (location)\n")
    assert not any("classify(" in s for s in describe(question, _docs(("q.txt", written))).sections)
    assert not any("classify(" in s for s in describe("Is the light red or green?", _docs(("q.txt", lines))).sections)


def test_folded_syslog_repeats_are_described_as_the_records_they_stand_for():
    log = (
        "Jul 14 02:01:04 bastion sshd[3369]: Failed password for root from 10.0.0.9 port 5 ssh2\n"
        "Jul 14 02:01:13 bastion sshd[3369]: message repeated 12 times: "
        "[ Failed password for root from 10.0.0.9 port 5 ssh2]\n"
        "Jul 14 02:04:02 bastion sshd[3370]: Accepted publickey for ann from 10.0.0.7 port 6 ssh2\n"
    ) * 3
    description = describe("How many failed passwords from 10.0.0.9?", _docs(("auth.log", log)))
    shown = "\n".join(description.sections)
    assert "records() gives <n> records for such a line" in shown
    assert not any("message repeated" in s for s in description.shapes)  # the repeat is its inner message
    assert description.shapes[0] == "Failed password for <user> from <ip> port <n> ssh2"
    plain = "\n".join(
        describe(
            "Who logged in?", _docs(("auth.log", log.replace("message repeated 12 times: [ ", "").replace("]\n", "\n")))
        ).sections
    )
    assert "records() gives <n> records" not in plain


def test_the_question_s_words_in_messages_come_as_ready_tests_in_the_data_s_case():
    log = "".join(
        f"Jul 23 0{i}:00:00 host{i % 2} systemd[1]: {name}.service: Failed with result 'exit-code'.\n"
        f"Jul 23 0{i}:00:01 host{i % 2} {name}[7]: ERROR upstream error talking to cache\n"
        for i, name in enumerate(["cart", "mail", "cart", "geo"])
    )
    shown = "\n".join(describe("which services failed twice?", _docs(("j.log", log))).sections)
    assert "Tests for the question's words in messages" in shown
    assert '"Failed with result" in r["message"]' in shown
    assert '"upstream' not in shown  # "services" names a field: it groups, it does not select
    erred = "\n".join(describe("Which hosts logged an ERROR?", _docs(("j.log", log))).sections)
    assert "Tests for the question's words" not in erred  # ERROR is a level value, tested on r["level"]


def test_nested_json_fields_are_described_with_the_code_that_reads_them():
    log = "".join(
        f'{{"ts": "2026-10-08T02:03:0{i}Z", "level": "error", "service": {{"name": "{name}"}}, '
        f'"msg": "request failed", "error": {{"type": "{kind}"}}}}\n'
        for i, (name, kind) in enumerate([("shipping", "KeyError"), ("payments", "TimeoutError")] * 3)
    )
    shown = "\n".join(describe("Which error type is most common for shipping?", _docs(("a.jsonl", log))).sections)
    assert """- error.type (r["error"]["type"]): 'KeyError', 'TimeoutError'""" in shown
    assert """'shipping' is r["service"]["name"] == 'shipping'""" in shown


def test_a_nested_field_of_a_record_without_it_reads_as_missing():
    from rlm_cli.inputs.records import parse_line

    record = parse_line('{"ts": "2026-10-08T02:03:01Z", "level": "info", "msg": "ok"}')
    assert record["error"]["type"] is not None and record["error"]["type"] == None  # noqa: E711
    assert not record["error"]["type"]
