"""What model code can call in the REPL, as the real child process runs it."""

from __future__ import annotations

import ast
import tempfile

import pytest

from rlm_cli.engine.loop import corpus_from_text
from rlm_cli.inputs.bundle import load_bundle, write_bundle
from rlm_cli.repl.helpers import ReadOnlyError, helpers, skip_pasted_bindings
from rlm_cli.repl.process import ReplConfig, ReplProcess


def _grep(text: str):
    folder = tempfile.mkdtemp()
    context, documents = load_bundle(write_bundle(corpus_from_text(text), folder))
    return helpers(context, documents)["grep"]


def test_grep_gives_each_short_matching_line_once_with_its_number():
    grep = _grep("ok\nERROR a ERROR b\nok\nerror c\n")
    assert grep("error") == ["<prompt>:2: ERROR a ERROR b", "<prompt>:4: error c"]
    assert grep("error", ignore_case=False) == ["<prompt>:4: error c"]


def test_grep_shows_every_match_of_a_long_line_in_its_context():
    filler = "x" * 5_000
    line = f'{filler}"note":"magic number for amber-falcon is 7302914"{filler}"note":"amber-falcon again"{filler}'
    found = _grep(f"header\n{line}\n")("amber-falcon")
    assert len(found) == 2 and all(hit.startswith("<prompt>:2: ...") and hit.endswith("...") for hit in found)
    assert "magic number for amber-falcon is 7302914" in found[0] and len(found[0]) < 600
    assert "amber-falcon again" in found[1]
    near = _grep(f"{filler}amber-falcon one, amber-falcon two{filler}\n")("amber-falcon")
    assert len(near) == 1 and "one, amber-falcon two" in near[0]  # a match inside the window is not shown twice


@pytest.mark.parametrize(
    ("code", "skipped", "left"),
    [
        ("context = 'pasted'\nn = len(context)", ["context"], "pass\nn = len(context)"),
        ('context: str = """INFO a\nERROR b"""', ["context"], "pass"),
        ("x = context = 'a' + 'b'", ["context"], "x = 'a' + 'b'"),
        ("if True:\n    documents = ['a']", ["documents"], "if True:\n    pass"),
    ],
)
def test_pasted_text_assigned_to_the_input_is_skipped_and_the_rest_kept(code, skipped, left):
    tree, names = skip_pasted_bindings(ast.parse(code), {"context", "documents"})
    assert names == skipped and ast.unparse(tree) == left


def test_an_unpacking_that_pastes_over_the_input_is_refused():
    with pytest.raises(ReadOnlyError, match="cannot be replaced by text you write"):
        skip_pasted_bindings(ast.parse("documents, n = [], 1"), {"context", "documents"})


@pytest.mark.parametrize(
    "code",
    ["text = context[:10]", "def f(context):\n    return context", "documents = context.split('\\n')", "del context"],
)
def test_cells_that_read_or_derive_from_the_input_run(code):
    tree, names = skip_pasted_bindings(ast.parse(code), {"context", "documents"})
    assert names == [] and ast.unparse(tree) == ast.unparse(ast.parse(code))


def test_the_child_skips_pasted_input_and_reports_notes_as_data():
    repl = ReplProcess(
        lambda folder: write_bundle(corpus_from_text("a\nb\n"), folder),
        ReplConfig(),
        lambda prompts, model, batched: ["x"] * len(prompts),
    )
    repl.start()
    try:
        skipped = repl.run('context = """a"""\nprint("ran", context.endswith("a\\nb\\n"))', 10)
        assert skipped.status == "ok" and skipped.output.strip() == "ran True"
        (note,) = skipped.notes  # context holds the file separator line and "a\nb\n"
        assert note["kind"] == "pasted" and note["name"] == "context" and note["total"] > len("a\nb\n")
        refused = repl.run('documents, n = ["a"], 1\nprint("ran")', 10)
        assert refused.status == "error" and "ReadOnlyError" in refused.output and "ran" not in refused.output
        noted = repl.run("users = {None, 'ann'}\nprint(len(users))", 10)
        assert noted.output.strip() == "2"  # the note travels as data, not as text in the output
        assert noted.notes == [{"kind": "has_none", "name": "users", "kept": 1, "total": 2}]
    finally:
        repl.close()


def test_a_list_of_records_named_after_the_function_can_still_be_called():
    folder = tempfile.mkdtemp()
    context, documents = load_bundle(write_bundle(corpus_from_text("level=error a=1\nlevel=info a=2\n"), folder))
    records = helpers(context, documents)["records"]
    records = records()
    assert len(records) == 2 and [r["level"] for r in records()] == ["ERROR", "INFO"]


def test_choices_travel_as_fields_and_fall_back_to_text_without_a_chooser():
    """classify() asks the parent for choices: with a chooser the first-token alternatives come back as data
    (forged entries dropped); without one, the prompts are served as text and the labels read from it."""
    code = 'print(classify(["a crash", "add a mode"], ["bug", "feature"]))'
    texts = lambda prompts, model, batched: ["feature" if "mode" in p else "bug" for p in prompts]  # noqa: E731

    def chooser(prompts, model):
        lean = [("bug", -0.2), ("feature", -1.8), ("x", float("nan"))]
        return [("feature", None) if "mode" in p else ("bug", lean) for p in prompts]

    for on_choose, expected in ((None, "['bug', 'feature']"), (chooser, "['bug', 'feature']")):
        repl = ReplProcess(lambda f: write_bundle(corpus_from_text("x\n"), f), ReplConfig(), texts, on_choose)
        repl.start()
        try:
            result = repl.run(code, 10)
        finally:
            repl.close()
        assert result.status == "ok" and expected in result.output
        read = "read from token probabilities" in result.output
        assert read is (on_choose is not None)
