"""How a root reply is read: which fences are code, and which FINAL markers are answers."""

from __future__ import annotations

import pytest

from rlm_cli.engine.parsing import is_placeholder, looks_like_plan, parse_reply


def test_repl_python_and_unlabeled_fences_are_code_but_not_other_languages():
    text = "a\n```repl\nx = 1\n```\n```python\ny = 2\n```\n```\nz = 3\n```\n```bash\nrm -rf /\n```\n"
    assert parse_reply(text).code_blocks == ["x = 1\n", "y = 2\n", "z = 3\n"]


@pytest.mark.parametrize(
    ("body", "is_code"),
    [
        ("order-router, cart-service, auth-api", False),  # an answer that happens to parse
        ("{'auth-api', 'cart'}", False),  # an output the model pasted
        ("17", False),
        ("The services are auth-api and cart", False),
        ("recs", True),  # a variable shown notebook-style
        ("len(recs)", True),
        ("x = 1", True),
        ("FINAL(x)", True),
    ],
)
def test_an_unlabeled_fence_runs_only_when_it_holds_code(body, is_code):
    assert parse_reply(f"Here:\n```\n{body}\n```").code_blocks == ([body + "\n"] if is_code else [])
    assert parse_reply(f"```python\n{body}\n```").code_blocks == [body + "\n"]  # a label is trusted


def test_unclosed_final_fence_still_runs():
    assert parse_reply("Let me look.\n```repl\nprint(len(context))\n").code_blocks == ["print(len(context))\n"]


def test_final_on_its_own_line_outside_fences():
    reply = parse_reply("The count is known.\nFINAL(There are 12 errors)")
    assert (reply.final_kind, reply.final_value, reply.code_blocks) == ("FINAL", "There are 12 errors", [])


def test_final_inside_a_fence_is_code_not_an_answer():
    reply = parse_reply("```repl\nFINAL(x)\n```")
    assert reply.final_kind is None and reply.code_blocks == ["FINAL(x)\n"]
    assert parse_reply("```text\nFINAL(no)\n```").final_kind is None


def test_final_var_and_quotes():
    assert parse_reply("FINAL_VAR(total)").final_kind == "FINAL_VAR"
    assert parse_reply("FINAL_VAR(total)").final_value == "total"
    assert parse_reply('FINAL("42")').final_value == "42"
    assert parse_reply("FINAL(f(x) = 3)").final_value == "f(x) = 3"


def test_multiline_final_answer():
    reply = parse_reply("FINAL(first line\nsecond line)")
    assert reply.final_value == "first line\nsecond line"


def test_final_after_an_output_the_model_wrote_itself_is_flagged():
    reply = parse_reply('```\napp.log: ts=1 msg="made up"\n```\nThe lines above show it.\nFINAL(made up)')
    assert reply.code_blocks == [] and reply.final_after_output and not reply.final_after_code
    assert not parse_reply("```\n17\n```\nwhat I saw before").final_after_output
    assert not parse_reply("FINAL(17)\n```\n17\n```").final_after_output


def test_final_after_code_in_the_same_reply_is_flagged():
    reply = parse_reply("```repl\nprint(1)\n```\nFINAL(1)")
    assert reply.final_after_code and reply.final_value == "1"
    assert not parse_reply("FINAL(1)").final_after_code


def test_a_final_line_of_bare_text_in_code_is_an_answer_written_before_the_output():
    reply = parse_reply("```repl\nhits = grep('willow')\nprint(hits)\nFINAL(willow is set to Nadia Duarte)\n```")
    assert reply.code_blocks == ["hits = grep('willow')\nprint(hits)\n"]
    assert reply.final_kind == "FINAL" and reply.final_value == "willow is set to Nadia Duarte"
    assert reply.final_after_code
    # FINAL of a variable is code; a bare FINAL the block needs in order to parse, or other broken code, is left.
    for code in ("x = 1\nFINAL(x)\n", "if x:\n    FINAL(a b)\n", "print(1\nFINAL(a b)\n"):
        reply = parse_reply(f"```repl\n{code}```")
        assert reply.code_blocks == [code] and reply.final_kind is None


def test_mention_of_final_inside_a_sentence_is_not_an_answer():
    assert parse_reply("When done I will call FINAL(answer).").final_kind is None


@pytest.mark.parametrize(
    "text",
    [
        "I will now count the errors",
        "Let me check the logs",
        "First, grep it",
        "",
        "The plan is:",
        "To answer this, we need the counts",
    ],
)
def test_plans_are_detected(text):
    assert looks_like_plan(text)


@pytest.mark.parametrize("text", ["42", "svc-a and svc-b", "The service that failed is auth.", "Illinois"])
def test_answers_are_not_plans(text):
    assert not looks_like_plan(text)


def test_one_line_final_ignores_commentary_after_it():
    assert parse_reply("FINAL(42)\nThis is based on the grep (above).").final_value == "42"


def test_history_drops_invented_output_after_the_code():
    text = "Let me look.\n```repl\nprint(x)\n```\nOutput:\n42\nFINAL(42)"
    assert parse_reply(text).history == "Let me look.\n```repl\nprint(x)\n```"
    text = "```repl\ntotal = 3\n```\nFINAL_VAR(total)"
    assert parse_reply(text).history == text
    assert parse_reply("no code here").history == "no code here"

    # Small models shorten the paths they were shown.


@pytest.mark.parametrize(
    ("reply", "blocks", "final"),
    [
        # The opener lost its backticks but its closing fence is there (a reply of the local model, shortened).
        (
            'repl\ngrep("travel")\n```\n(a.txt:3: travel)\n```\nrecs = records()\nprint(len(recs))\n```',
            ['grep("travel")\n', "recs = records()\nprint(len(recs))\n"],
            None,
        ),
        # No fences at all: the code runs to the `text` line that starts the output the model invented.
        ("python\nprint(len(context))\ntext\n42\nFINAL(42)", ["print(len(context))\n"], "42"),
        ("python\nx = 1\nprint(x)", ["x = 1\nprint(x)\n"], None),
        ("repl\nprint(1)\n```text\n1\n```", ["print(1)\n"], None),
        ('repl\nx = grep("a")\nrepl\nprint(len(x))\n```', ['x = grep("a")\n', "print(len(x))\n"], None),
        # "repl block" as the opener, and the invented output after the closing fence is prose.
        ('repl block\ngrep("quarry")\n```\noutput: "a.txt: quarry is Lars"\nFINAL(Lars)', ['grep("quarry")\n'], "Lars"),
        # A word alone on a line of prose or inside a fence, or fences that would not pair up, are left alone.
        ("repl\nprint(1)\n```\n1\n```\nFINAL(1)", [], "1"),
        ("Use the\nrepl\nto count.\n```repl\nprint(1)\n```", ["print(1)\n"], None),
        ("```repl\nprint('''\nrepl\n''')\n```", ["print('''\nrepl\n''')\n"], None),
    ],
)
def test_a_repl_line_without_backticks_opens_a_block(reply, blocks, final):
    parsed = parse_reply(reply)
    assert (parsed.code_blocks, parsed.final_value) == (blocks, final)
    assert parsed.history.startswith("```repl\n") == (bool(blocks) and reply.startswith(("repl", "python", "```")))


@pytest.mark.parametrize(
    "reply",
    [
        'grep("crash")',
        'print(len(context))\nfor l in grep("ENOSPC")[:5]:\n    print(l)',
        "  records()[:3]\n",
        'grep("x")\n```\n',
    ],
)
def test_a_reply_that_is_only_code_without_a_fence_is_code(reply):
    parsed = parse_reply(reply)
    assert parsed.code_blocks == [reply.strip().removesuffix("```").strip() + "\n"] and parsed.final_kind is None


@pytest.mark.parametrize("reply", ["auth-api", "42", "The service crashed.", "x = 1 is the answer", "FINAL(grep('x'))"])
def test_prose_names_and_answers_are_not_bare_code(reply):
    assert parse_reply(reply).code_blocks == []


def test_final_in_any_case_is_a_final_and_placeholders_are_recognised():
    parsed = parse_reply("Final(answer)")
    assert parsed.final_kind == "FINAL" and parsed.final_value == "answer" and is_placeholder(parsed.final_value)
    assert parse_reply("final_var(total)").final_kind == "FINAL_VAR"
    assert is_placeholder("<answer>") and is_placeholder("final answer") and not is_placeholder("auth-api")


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ('FINAL(answer) is the cause: "No space left".', 'is the cause: "No space left".'),
        ("FINAL(answer): web-0, web-1", "web-0, web-1"),
        ("FINAL(answer)", "answer"),  # nothing after it: still the placeholder, refused by the loop
        ("FINAL(web-0) and web-1", "web-0"),  # after a real answer, the rest of the line is commentary
    ],
)
def test_the_words_after_a_placeholder_final_on_its_line_are_the_answer(reply, value):
    assert parse_reply(reply).final_value == value
