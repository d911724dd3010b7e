"""The benchmark: seeded generators whose gold survives an independent re-parse, fair scorers, and a run end to end."""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness, reports, tasks, wordings  # noqa: E402
from bench.tasks import Task, generate, score  # noqa: E402

BASELINE_MARK = "Answer the question using only the text above"


# ---------------------------------------------------------------- generators


@pytest.mark.parametrize("family", tasks.FAMILIES)
def test_generators_are_deterministic_for_a_seed(family):
    first, again, other = generate(family, "8k", 7, 1), generate(family, "8k", 7, 1), generate(family, "8k", 8, 1)
    assert (first.files, first.question, first.gold) == (again.files, again.question, again.gold)
    assert first.files != other.files


@pytest.mark.parametrize("family", tasks.FAMILIES)
@pytest.mark.parametrize("size", ["8k", "64k"])
def test_inputs_are_about_four_characters_per_target_token(family, size):
    task = generate(family, size, 0, 0)
    assert 0.9 <= task.chars / (4 * tasks.parse_size(size)) <= 1.1


@pytest.mark.parametrize("family", tasks.FAMILIES)
def test_tiny_inputs_still_make_answerable_tasks(family):
    for seed in range(3):
        for index in range(12):
            task = generate(family, "1k", seed, index)
            assert task.gold not in ([], "", None) and task.question


def test_sizes_parse_as_binary_token_counts():
    assert [tasks.parse_size(s) for s in ("8k", "128K", "1m", "5000")] == [8192, 131072, 1048576, 5000]
    with pytest.raises(ValueError):
        tasks.parse_size("lots")


VALUES = {
    "number": r"\b\d{7}\b",
    "uuid": r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
    "name": r"\b[A-Z][a-z]+ [A-Z][a-z]+\b",
}


@pytest.mark.parametrize("index", range(8))
def test_needle_gold_is_the_value_on_the_asked_keys_line(index):
    task = generate("needle", "8k", 3, index)
    (text,) = task.files.values()
    key = re.search(rf"\b(?:{'|'.join(tasks.NEEDLE_ADJECTIVES)})-[a-z]+\b", task.question).group(0)
    (line,) = [line for line in text.splitlines() if key in line]
    assert re.findall(VALUES[task.meta["value_kind"]], line) == [task.gold]
    assert abs(text.index(line) / len(text) - task.meta["depth"]) < 0.1
    for other in task.meta["distractors"]:  # distractors are there, with other values, in the same format
        assert other in text and other != key
    assert len(task.names) == len(task.meta["distractors"]) and task.gold not in task.names


SYSLOG = re.compile(r"^\w{3} [ \d]\d (\d\d:\d\d:\d\d) (\S+) ([\w-]+)\[\d+\]: (\w+) (.*)$")
LOGFMT = re.compile(r'^ts=\S+T(\d\d:\d\d:\d\d)Z level=(\w+) host=(\S+) svc=(\S+) msg="([^"]*)"(.*)$')
# The successful logins of each wording a task may use; the failed ones and session refreshes are not logins.
SYSLOG_LOGIN = re.compile(
    r"user (\S+) logged in|Accepted password for (\S+) from|login succeeded for user=(\S+) "
    r"|authenticated user (\S+) from"
)
NGINX = re.compile(r'^\S+ - - \[[^\]]+\] "\w+ ([^ ?"]+)\S* HTTP/1\.1" (\d{3}) ')


def parse_app_line(line: str) -> dict:
    """{time, host, service, level} and, for logins, {event, user}, from any of the three app formats."""
    if m := SYSLOG.match(line):
        record = {"time": m.group(1), "host": m.group(2), "service": m.group(3), "level": m.group(4)}
        if login := SYSLOG_LOGIN.match(m.group(5)):
            record |= {"event": "login", "user": next(g for g in login.groups() if g)}
        return record
    if m := LOGFMT.match(line):
        record = {"time": m.group(1), "level": m.group(2).upper(), "host": m.group(3), "service": m.group(4)}
        return record | dict(re.findall(r"(\w+)=(\S+)", m.group(6)))
    record = json.loads(line)
    return record | {"time": record["ts"][11:19]}


def parse_logs(task: Task) -> tuple[list[dict], list[tuple[str, int]]]:
    """Every app line as a dict, every request as (path without query, status)."""
    app, access = [], []
    for path, text in task.files.items():
        for line in text.splitlines():
            if m := NGINX.match(line):
                access.append((m.group(1), int(m.group(2))))
            elif line.startswith('{"time"'):
                record = json.loads(line)
                access.append((record["request"].split()[1].split("?")[0], record["status"]))
            else:
                app.append(parse_app_line(line))
                assert app[-1]["host"] == path.split("/")[0]
    return app, access


@pytest.mark.parametrize("size", ["8k", "32k"])
@pytest.mark.parametrize("index", [*range(5), 9, 14, 19])  # 4, 9, 14, 19: the login question in each wording
def test_logs_gold_matches_an_independent_parse_of_the_files(size, index):
    task = generate("logs", size, 0, index)
    assert 5 <= len(task.files) <= 30 and len({p.split("/")[0] for p in task.files}) >= 3
    assert len(task.meta["formats"]) >= 3
    app, access = parse_logs(task)
    params = task.meta["params"]
    which = task.meta["question_type"]
    if which == "fatal":
        crashes = Counter(line["service"] for line in app if line["level"] == "FATAL")
        expected = sorted(s for s in {line["service"] for line in app} if crashes[s] == params["k"])
    elif which == "errors_after":
        after = params["after"][11:19]
        expected = sorted({line["host"] for line in app if line["level"] == "ERROR" and line["time"] > after})
        assert after in task.question
    elif which == "status":
        expected = sum(status == 503 for _, status in access)
    elif which == "top_5xx":
        ranked = Counter(path for path, status in access if status >= 500).most_common(4)
        assert ranked[0][1] > ranked[1][1] > ranked[2][1] > ranked[3][1]  # one right answer
        expected = [path for path, _ in ranked[:3]]
    else:
        expected = len({line["user"] for line in app if line.get("event") == "login"})
    assert task.gold == expected and expected != []


LABEL_TAG = re.compile(
    r'\[label: ([\w-]+)\]|\(([\w-]+)\)$|type=([\w-]+)|Category: ([\w-]+)|"(?:label|category|type)": "([\w-]+)"',
    re.MULTILINE,
)
USER = re.compile(r'user=(\w+) \w+=(\w+)|User: (\w+) \(\w+: (\w+)\)|"user": "(\w+)", "\w+": "(\w+)"')


def parse_records(task: Task) -> list[tuple[str, str, str]]:
    """(user, group, label) per record, whatever the layout and the label's spelling."""
    (text,) = task.files.values()
    chunks = text.split("\n\n") if task.meta["layout"] == "block" else text.splitlines()
    records = []
    for chunk in filter(str.strip, chunks):
        user, group = (g for g in USER.search(chunk).groups() if g)
        (label,) = (g for g in LABEL_TAG.search(chunk).groups() if g)
        records.append((user, group, label.lower()))
    return records


@pytest.mark.parametrize("index", range(8))
def test_oolong_gold_matches_an_independent_parse_of_the_records(index):
    task = generate("oolong", "8k", 5, index)
    records = parse_records(task)
    assert len(records) == task.meta["records"]
    params = task.meta["params"]
    which = task.meta["question_type"]
    if which == "count":
        expected = sum(label == params["label"] for *_, label in records)
    elif which == "top_in_group":
        top = Counter(label for _, group, label in records if group == params["group"]).most_common(2)
        assert top[0][1] > top[1][1]
        expected = top[0][0]
    elif which == "compare":
        a, b = (sum(label == x for *_, label in records) for x in params["labels"])
        expected = params["labels"][0] if a > b else params["labels"][1] if b > a else "same"
    else:
        per_user = Counter(user for user, _, label in records if label == params["label"])
        expected = sum(n >= params["k"] for n in per_user.values())
    assert task.gold == expected


def test_question_types_cycle_with_the_index():
    assert {generate("logs", "8k", 0, i).meta["question_type"] for i in range(5)} == set(tasks.LOG_QUESTIONS)
    logins = [generate("logs", "8k", 0, i) for i in (4, 9, 14, 19)]
    assert {t.meta["question_type"] for t in logins} == {"logins"}
    assert [t.meta["login_wording"] for t in logins] == [0, 1, 2, 3]
    assert {generate("oolong", "8k", 0, i).meta["question_type"] for i in range(4)} == set(tasks.OOLONG_QUESTIONS)


def test_a_million_token_task_has_its_size_and_files():
    task = generate("logs", "1m", 0, 0)  # how fast it generates is a benchmark's business, not a test's
    assert task.chars > 3_900_000 and len(task.files) == 30


# ---------------------------------------------------------------- wordings


def task_of_each_type() -> dict[str, Task]:
    """One task per question type, found by walking each family's indices (types cycle with the index)."""
    found: dict[str, Task] = {}
    for family in tasks.FAMILIES:
        for index in range(10):
            task = generate(family, "1k", 0, index)
            found.setdefault(task.question_type, task)
    return found


def test_every_question_type_has_at_least_eight_distinct_wordings_that_render():
    by_type = task_of_each_type()
    assert set(by_type) == set(wordings.WORDINGS)  # no generator asks a type without wordings, and no orphans
    for qtype, task in by_type.items():
        texts = wordings.WORDINGS[qtype]
        assert len(set(texts)) == len(texts) >= 8, qtype
        rendered = [w.render(task.slots) for w in wordings.wordings(qtype)]
        assert len(set(rendered)) == len(rendered) and task.question in rendered


def test_the_missions_own_question_is_a_wording_of_the_failed_k_times_types():
    for family in ("logs", "journal"):
        tasks_k2 = [t for i in range(25) if (t := generate(family, "1k", 0, i)).slots.get("k") == 2]
        rendered = {w.render(tasks_k2[0].slots) for w in wordings.wordings(tasks_k2[0].question_type)}
        assert "which services failed twice?" in rendered


def test_half_of_each_types_wordings_are_held_out_by_a_fixed_seed_sparing_seen_ones():
    for qtype, texts in wordings.WORDINGS.items():
        held = wordings.heldout_numbers(qtype)
        assert len(held) == len(texts) // 2
        assert not held & set(range(wordings.SEEN.get(qtype, 0)))  # wordings asked before the split stay in tune
        groups = [w.group for w in wordings.wordings(qtype)]
        assert groups.count("tune") == len(texts) - len(held)
    # Pinned: a change here means the held-out half moved, and what tuning saw is now held out.
    assert wordings.heldout_numbers("logs.fatal") == {4, 6, 7, 8, 9}
    assert wordings.heldout_numbers("journal.failed_k") == {2, 5, 6, 7}
    assert wordings.heldout_numbers("crash.cause") == {0, 1, 2, 6}


@pytest.mark.parametrize("family", tasks.FAMILIES)
def test_the_wording_group_changes_only_the_question(family):
    for index in range(3):
        tune, held = (generate(family, "1k", 4, index, group) for group in ("tune", "heldout"))
        assert (tune.files, tune.gold, tune.names) == (held.files, held.gold, held.names)
        assert tune.question != held.question
        assert (tune.wording_group, held.wording_group) == ("tune", "heldout")
        assert int(held.wording_id.split("/")[1]) in wordings.heldout_numbers(held.question_type)
        assert generate(family, "1k", 4, index).files == tune.files


def test_harness_selects_wordings_and_lists_their_group(capsys):
    assert harness.main(["--list", "--families", "journal,crash", "--sizes", "1k", "--n", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("  wording: ") == 6 and "(tune)" in out and "(heldout)" in out and "on stdin" in out
    assert harness.main(["--list", "--families", "logs", "--sizes", "1k", "--n", "4", "--wordings", "heldout"]) == 0
    out = capsys.readouterr().out
    assert out.count("(heldout)") == 4 and "(tune)" not in out
    with pytest.raises(SystemExit):
        harness.main(["--list", "--wordings", "secret"])
    assert "invalid choice" in capsys.readouterr().err


# ---------------------------------------------------------------- new shapes, checked by independent parsers


@pytest.mark.parametrize("index", range(6))
def test_oneline_needles_sit_in_a_single_line_of_json_or_prose(index):
    task = generate("oneline", "8k", 2, index)
    (text,) = task.files.values()
    assert "\n" not in text and len(text) > 30_000
    key = task.slots["key"]
    if task.meta["filler"] == "json":  # minified, yet valid JSON
        assert len(json.loads(text)["export"]["records"]) > 100
    assert text.count(key) == 1
    after = text[text.index(key) + len(key) :][:80]
    assert re.search(VALUES[task.meta["value_kind"]], after).group(0) == task.gold


JOURNAL = re.compile(r"^\w{3} \d\d \d\d:\d\d:\d\d (\S+) (\S+?)\[\d+\]: (.*)$")


@pytest.mark.parametrize("index", range(6))
def test_journal_gold_counts_units_failing_across_hosts(index):
    task = generate("journal", "8k", 1, index)
    failures: Counter[str] = Counter()
    for path, text in task.files.items():
        for line in text.splitlines():
            host, program, message = JOURNAL.match(line).groups()
            assert host == path.split("/")[0]
            if program == "systemd" and (m := re.match(r"([\w-]+)\.service: Failed with result", message)):
                failures[m.group(1)] += 1
    k = task.meta["params"]["k"]
    assert task.gold == sorted(unit for unit, n in failures.items() if n == k) != []
    assert "systemd" not in task.gold and set(task.gold) <= set(task.names)


FAILED_PASSWORD = re.compile(r"sshd\[\d+\]: (?:message repeated (\d+) times: \[ )?Failed password for .* from (\S+) ")


@pytest.mark.parametrize("index", range(4))
def test_syslog_gold_honours_message_repeated_lines(index):
    task = generate("syslog", "8k", 3, index)
    honoured: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    for line in task.files["auth.log"].splitlines():
        if m := FAILED_PASSWORD.search(line):
            honoured[m.group(2)] += int(m.group(1) or 1)
            lines[m.group(2)] += not m.group(1)
    if task.question_type == "syslog.top_ip":
        (first, a), (_, b) = honoured.most_common(2)
        assert task.gold == first and a > b
        assert lines.most_common(1)[0][0] != first  # ignoring the repeats gives another IP
    else:
        ip = task.slots["ip"]
        assert task.gold == honoured[ip] > lines[ip] and ip in task.question


@pytest.mark.parametrize("index", range(4))
def test_jsonl_gold_reads_the_nested_fields(index):
    task = generate("jsonl", "8k", 5, index)
    records = [json.loads(line) for line in task.files["events.jsonl"].splitlines()]
    service = task.slots["service"]
    types = Counter(r["error"]["type"] for r in records if r["service"]["name"] == service and "error" in r)
    (first, a), (_, b) = types.most_common(2)
    assert task.gold == first and a > b
    overall = Counter(r["error"]["type"] for r in records if "error" in r)
    assert overall.most_common(1)[0][0] != first  # the service filter matters
    assert [r["ts"] for r in records] == sorted(r["ts"] for r in records)


PROGRESS = re.compile(r"^(tests/\S+)::(\w+)(?:\[[\w-]+\])? (PASSED|FAILED|SKIPPED|XFAIL)\b.*\[\s*\d+%\]$")


@pytest.mark.parametrize(("size", "index"), [("32k", 0), ("32k", 1), ("32k", 2), ("32k", 3), ("128k", 0), ("128k", 1)])
def test_pytest_log_gold_matches_its_progress_summary_and_tally(size, index):
    task = generate("pytest", size, 0, index)
    (text,) = task.files.values()
    outcomes = [m.groups() for line in text.splitlines() if (m := PROGRESS.match(line))]
    failed = sorted(name for _, name, outcome in outcomes if outcome == "FAILED")
    # At every size a failing test's name is that test's alone (a large log runs each pooled name many times).
    assert failed and all(sum(name == n for _, n, _ in outcomes) == 1 for name in failed)
    summary = re.findall(r"^FAILED \S+::(\w+) - (\w+):", text, re.MULTILINE)
    assert sorted(name for name, _ in summary) == failed
    tally = re.search(r"(\d+) failed, (\d+) passed, (\d+) skipped, (\d+) xfailed", text).groups()
    counts = Counter(outcome for *_, outcome in outcomes)
    assert [int(n) for n in tally] == [counts["FAILED"], counts["PASSED"], counts["SKIPPED"], counts["XFAIL"]]
    assert "= FAILURES =" in text and text.count("Traceback") == 0 and f"def {failed[0]}(" in text
    assert not re.search(r"\{\w+\}", text)  # every placeholder filled, in tracebacks and summary alike
    if task.kind == "set":
        assert task.gold == failed
    else:
        errors = dict(summary)
        names = [name for (name,) in task.gold[0::2]]
        assert sorted(names) == failed
        for name, spellings in zip(names, task.gold[1::2], strict=True):
            assert errors[name] in spellings  # the error's type is one accepted spelling
        for fact in task.gold:
            assert any(s.lower() in text.lower() for s in fact)


def test_crash_logs_end_in_varied_causes_whose_facts_are_in_the_last_lines():
    crashes = [generate("crash", "8k", 0, index) for index in range(len(reports.CAUSES))]
    assert {t.meta["cause"] for t in crashes} == {c.name for c in reports.CAUSES}
    for task in crashes:
        assert task.stdin and task.kind == "facts" and len(task.files) == 1
        (text,) = task.files.values()
        lines = text.splitlines()
        tail, head = "\n".join(lines[-6:]).lower(), "\n".join(lines[:-6]).lower()
        for fact in task.gold:
            assert any(s.lower() in tail for s in fact), (task.meta["cause"], fact)
        assert "fatal" in tail and "fatal" not in head  # only the ending is fatal
        assert not re.search(r"\{\w+\}", text)
        stamps = [line[:24] for line in lines]
        assert stamps == sorted(stamps)


# ---------------------------------------------------------------- scorers


def fake_task(kind: str, gold, names=(), question: str = "How many?") -> Task:
    return Task("x", "8k", 8192, 0, 0, question, gold, kind, {}, list(names))


def test_needle_values_match_whole_tokens_and_reject_distractors():
    number = fake_task("value", "4821337", ["5550123"])
    assert score(number, "The special magic number is 4,821,337.")
    assert score(number, "4821337")
    assert not score(number, "48213370")
    assert not score(number, "It is 4821337 or 5550123")
    uuid = fake_task("value", "b45de2c1-80b1-47c9-acef-0718ddfec3ba")
    assert score(uuid, "Access code: B45DE2C1-80B1-47C9-ACEF-0718DDFEC3BA")
    assert not score(uuid, "b45de2c1-80b1-47c9-acef-0718ddfec3bb")
    name = fake_task("value", "Mateo Abara")
    assert score(name, "the contact is mateo  abara")
    assert not score(name, "Mateo")
    assert not score(name, None) and not score(name, "")


def test_counts_take_the_first_number_not_repeated_from_the_question():
    task = fake_task("count", 15, question="How many requests returned HTTP status 503?")
    assert score(task, "15")
    assert score(task, "There were 15 requests with status 503.")
    assert score(task, "Status 503 was returned 15 times.")
    assert not score(task, "16")
    assert not score(task, "between 10 and 20, probably 15")
    assert not score(task, "at 2026-05-25 15:00:00 there were 3")
    at_least = fake_task("count", 2, question="How many users have at least 2 tickets labelled refund?")
    assert score(at_least, "2")
    assert not score(at_least, "3 users have at least 2")
    assert score(fake_task("count", 1200), "1,200 users")


def test_sets_need_every_gold_name_and_nothing_else():
    task = fake_task("set", ["auth-api", "billing-worker"], ["auth-api", "billing-worker", "cart-service"])
    assert score(task, "billing worker and auth-api")
    assert score(task, "- auth_api\n- billing-worker")
    assert not score(task, "auth-api")
    assert not score(task, "auth-api, billing-worker, cart-service")  # listing every name earns nothing


def test_ranked_answers_need_the_right_order():
    task = fake_task(
        "ranked", ["/login", "/api/v1/orders", "/graphql"], ["/login", "/api/v1/orders", "/graphql", "/health"]
    )
    assert score(task, "1. /login (40)\n2. /api/v1/orders (31)\n3. /graphql (22)")
    assert not score(task, "/api/v1/orders, /login, /graphql")
    assert not score(task, "/login, /api/v1/orders, /graphql, /health")


def test_choices_take_the_first_option_named():
    task = fake_task("choice", "billing", ["billing", "shipping", "same"])
    assert score(task, "Billing is more common than shipping (14 vs 9).")
    assert not score(task, "shipping")
    tied = fake_task("choice", "same", ["billing", "shipping", "same"])
    assert score(tied, "They are equal.")
    assert score(tied, "same")
    assert not score(tied, "billing")


def test_open_answers_need_one_spelling_of_every_fact():
    task = fake_task("facts", [["test_rounds_refund"], ["ZeroDivisionError", "division by zero"]])
    assert score(task, "test_rounds_refund failed: Division by zero in the ratio")
    assert tasks.facts_found(task, "test_rounds_refund failed") == 0.5 and not score(task, "test_rounds_refund failed")
    assert tasks.facts_found(task, None) == 0.0 and tasks.facts_found(fake_task("count", 3), "3") is None


def test_the_baseline_keeps_the_beginning_and_the_end():
    text = "".join(f"line {i}\n" for i in range(1000))
    cut, omitted = harness.truncate_middle(text, 2000)
    assert len(cut) <= 2000 and omitted > 0
    assert cut.startswith("line 0\n") and cut.endswith("line 999\n") and "omitted" in cut
    assert harness.truncate_middle("short", 100) == ("short", 0)


# ---------------------------------------------------------------- end to end


@pytest.fixture
def hermetic_env(monkeypatch, rlm_env):
    """The harness's rlm subprocesses see only the test environment (no real keys, traces under tmp_path)."""
    for name in list(os.environ):
        if name not in rlm_env:
            monkeypatch.delenv(name)
    for name, value in rlm_env.items():
        monkeypatch.setenv(name, value)


def root_reply(text: str) -> str:
    """Looks at the data once, then answers something no task's gold can be."""
    if text.startswith("Question:"):
        return "```repl\nprint('no idea', len(context))\n```"
    return "FINAL(no idea)"


@pytest.mark.slow
def test_harness_runs_rlm_and_a_truncated_baseline_end_to_end(fake_llm, hermetic_env, tmp_path, capsys):
    # One task (a directory of logs): every rlm run is a subprocess that pays for importing litellm.
    fake_llm.rule("root", BASELINE_MARK, "no idea")
    fake_llm.rule("root", "", root_reply)
    out = tmp_path / "results.json"
    argv = ["--model", "openai/root", "--api-base", fake_llm.url, "--families", "logs", "--sizes", "1k", "--n", "1"]
    # Seed 1: a question about hosts, not "exactly N times", whose answers rlm questions when code never tests == N.
    argv += ["--seed", "1", "--window", "900", "--out", str(out), "--rlm-arg=--max-iterations=3"]
    assert harness.main(argv) == 0

    captured = capsys.readouterr()
    # Two sub-calls: the offered first block has the helper model read which side of the question's time it means.
    row = r"^logs\s+1k\s+1 \|\s+0/1 0%\s+0\.00\s+[\d.]+\s+2\.0\s+2\.0 .*\| +0/1 0%\s+0\.00 "
    assert re.search(row, captured.out, re.MULTILINE)
    progress = r"^\[1/1\] logs 1k #0 \(logs\.errors_after/\d+, (tune|heldout)\) +rlm: WRONG .* baseline: WRONG"
    assert re.search(progress, captured.err, re.MULTILINE)
    assert re.search(r"^(tune|heldout)\s+1 \|\s+0/1 0%\s+0\.00\s+- \|\s+0/1 0%\s+0\.00\s+-$", captured.out, re.M)

    report = json.loads(out.read_text())
    assert report["schema"] == "rlm.bench/1" and report["config"]["rlm_args"] == ["--max-iterations=3"]
    (result,) = report["results"]
    (task,) = tasks.generate_all(["logs"], ["1k"], 1, 1)
    assert result["task"]["question"] == task.question and result["task"]["gold"] == task.gold
    rlm = result["rlm"]
    assert (rlm["status"], rlm["exit_code"], rlm["correct"], rlm["answer"]) == ("ok", 0, False, "no idea")
    assert rlm["score"] == 0.0
    assert rlm["iterations"] == 2 and rlm["input_tokens"] > 0 and Path(rlm["trace"]).is_file()
    base = result["baseline"]
    assert (base["status"], base["answer"], base["correct"]) == ("ok", "no idea", False)
    assert base["omitted_chars"] > 0 and base["input_tokens"] > 0
    assert report["summary"][0]["rlm"]["correct"] == 0 and report["summary"][0]["baseline"]["n"] == 1

    # The root model saw the task's files by path; the baseline saw both ends of the input, cut to the window.
    # (The sub-model is the root model here: the first block's judgement of the question's time is sent to it.)
    first_turn = next(r.last_user for r in fake_llm.requests_for("root") if "The input in `context`" in r.last_user)
    assert all(path in first_turn for path in task.files)
    (request,) = [r for r in fake_llm.requests_for("root") if BASELINE_MARK in r.last_user]
    prompt = request.last_user
    assert len(prompt) / 4 <= 900 - harness.ANSWER_TOKENS
    assert request.params["temperature"] == 0 and request.params["max_tokens"] == harness.ANSWER_TOKENS
    assert task.files[min(task.files)].splitlines()[0] in prompt
    assert task.files[max(task.files)].splitlines()[-1] in prompt
    assert prompt.endswith(task.question)


def crash_reply(text: str) -> str:
    """Reads the end of the input, then names the cause it printed."""
    if text.startswith("REPL output"):
        return "FINAL(It ran out of disk: ENOSPC, no space left on device.)"
    return "```repl\nprint(context[-300:])\n```"


def test_a_stdin_task_is_piped_to_rlm_ask_dash_and_scored_by_facts(fake_llm, hermetic_env, tmp_path, capsys):
    fake_llm.rule("root", "", crash_reply)
    out = tmp_path / "results.json"
    argv = ["--model", "openai/root", "--api-base", fake_llm.url, "--families", "crash", "--sizes", "1k", "--n", "1"]
    assert harness.main([*argv, "--no-baseline", "--out", str(out), "--rlm-arg=--max-iterations=3"]) == 0

    (task,) = tasks.generate_all(["crash"], ["1k"], 1, 0)
    assert task.meta["cause"] == "enospc" and task.stdin
    first, second = fake_llm.requests_for("root")[:2]
    assert "<stdin>" in first.last_user and next(iter(task.files)) not in first.last_user
    assert "No space left on device" in second.last_user  # the piped log reached the REPL's context
    report = json.loads(out.read_text())
    (result,) = report["results"]
    assert result["task"]["stdin"] and result["task"]["question_type"] == "crash.cause"
    rlm = result["rlm"]
    assert (rlm["status"], rlm["correct"], rlm["facts"], rlm["score"]) == ("ok", True, 1.0, 1.0)
    (group,) = report["by_wording_group"]
    assert group["wording_group"] == task.wording_group and group["rlm"]["facts"] == 1.0
    assert report["by_question_type"][0]["question_type"] == "crash.cause"
    table = capsys.readouterr().out
    assert re.search(rf"^{task.wording_group}\s+1 \|\s+1/1 100%\s+1\.00\s+1\.00 \|\s+-\s+-\s+-$", table, re.M), table
    assert re.search(r"^crash\.cause\s+1 \|\s+1/1 100%\s+1\.00\s+1\.00 \|", table, re.MULTILINE)


def test_accuracy_is_broken_down_by_wording_group_and_question_type():
    def result(group: str, qtype: str, correct: bool, facts: float | None) -> harness.TaskResult:
        rlm = harness.RlmRun("x", correct, 1.0, 1, 0, 10, 5, None, "ok", 0, None, None, facts, float(correct))
        task = {"family": "logs", "size": "8k", "wording_group": group, "question_type": qtype}
        return harness.TaskResult(task, rlm, None)

    results = [
        result("tune", "logs.fatal", True, None),
        result("heldout", "logs.fatal", False, None),
        result("heldout", "pytest.summary", False, 0.5),
        result("heldout", "pytest.summary", True, 1.0),
    ]
    groups = {row["wording_group"]: row["rlm"] for row in harness.summarize_by(results, "wording_group")}
    assert (groups["tune"]["correct"], groups["tune"]["n"], groups["tune"]["facts"]) == (1, 1, None)
    assert (groups["heldout"]["correct"], groups["heldout"]["n"], groups["heldout"]["facts"]) == (1, 3, 0.75)
    table = harness.report_tables(results)
    assert re.search(r"^heldout\s+3 \|\s+1/3 33%\s+0\.33\s+0\.75 \|\s+-\s+-\s+-$", table, re.MULTILINE)
    assert re.search(r"^pytest\.summary\s+2 \|\s+1/2 50%\s+0\.50\s+0\.75 \|", table, re.MULTILINE)


def test_the_table_has_a_row_per_family_and_size_and_a_total():
    def result(family: str, size: str, correct: bool) -> harness.TaskResult:
        rlm = harness.RlmRun("x", correct, 10.0, 3, 4, 1000, 50, None, "ok", 0, None, None, None, float(correct))
        return harness.TaskResult({"family": family, "size": size}, rlm, None)

    results = [result("needle", "8k", True), result("needle", "8k", False), result("logs", "32k", True)]
    rows = harness.summarize(results)
    assert [(r["family"], r["size"], r["n"]) for r in rows] == [("needle", "8k", 2), ("logs", "32k", 1), ("all", "", 3)]
    table = harness.format_table(rows)
    row = r"^needle\s+8k\s+2 \|\s+1/2 50%\s+0\.50\s+10\.0\s+3\.0\s+4\.0\s+1,000\s+50\s+0 \|\s+-"
    assert re.search(row, table, re.MULTILINE)
    assert re.search(r"^all\s+3 \|\s+2/3 67%", table, re.MULTILINE)


def test_failed_runs_are_recorded_and_still_make_a_table(fake_llm, hermetic_env, tmp_path, capsys):
    out = tmp_path / "results.json"
    argv = ["--model", "openai/root", "--api-base", fake_llm.url, "--families", "needle,oolong", "--sizes", "1k"]
    argv += ["--n", "1", "--out", str(out), "--no-baseline", "--rlm-arg=--max-iterations=lots"]
    assert harness.main(argv) == 0
    table = capsys.readouterr().out
    for family in ("needle", "oolong", "all"):
        assert re.search(rf"^{family}\s+\S*\s+\d \|\s+0/\d 0%.* [12] \|\s+-", table, re.MULTILINE), table
    for result in json.loads(out.read_text())["results"]:
        assert result["baseline"] is None
        rlm = result["rlm"]
        assert (rlm["status"], rlm["exit_code"], rlm["correct"], rlm["answer"]) == ("error", 2, False, None)
        assert "--max-iterations" in rlm["error"]
    assert not fake_llm.requests


def test_list_prints_questions_and_gold_without_a_model(capsys):
    assert harness.main(["--list", "--families", "needle,logs", "--sizes", "8k", "--n", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("  Q: ") == 4 and out.count("  gold: ") == 4
    assert "needle-8k-1" in out and "logs-8k-0" in out


def test_baseline_tasks_runs_the_baseline_on_the_first_tasks_only(fake_llm, hermetic_env, tmp_path, capsys):
    fake_llm.rule("root", BASELINE_MARK, "no idea")
    out = tmp_path / "results.json"
    argv = ["--model", "openai/root", "--api-base", fake_llm.url, "--families", "needle", "--sizes", "1k", "--n", "3"]
    argv += ["--baseline-tasks", "1", "--out", str(out), "--rlm-arg=--max-iterations=lots"]
    assert harness.main(argv) == 0
    report = json.loads(out.read_text())
    assert [r["baseline"] is not None for r in report["results"]] == [True, False, False]
    assert report["config"]["baseline_tasks"] == 1 and report["summary"][0]["baseline"]["n"] == 1
    assert len(fake_llm.requests_for("root")) == 1
    with pytest.raises(SystemExit):
        harness.main([*argv[:-3], "--baseline-tasks", "-1"])
    assert "--baseline-tasks must be 0 or more" in capsys.readouterr().err


@pytest.mark.parametrize("family", tasks.FAMILIES)
def test_every_family_s_result_file_is_written(family, tmp_path):
    found = [generate(family, "1k", 31, i) for i in range(2)]
    run = harness.RlmRun("x", False, 1.0, 1, 0, 1, 1, None, "ok", 0, None, None)
    out = tmp_path / "results.json"
    harness.write_results(out, {}, [harness.TaskResult(t.describe(), run, None) for t in found])
    written = json.loads(out.read_text())["results"]
    assert [r["task"]["id"] for r in written] == [t.id for t in found]
    assert [r["task"]["meta"] for r in written] == [json.loads(json.dumps(t.describe()["meta"])) for t in found]
