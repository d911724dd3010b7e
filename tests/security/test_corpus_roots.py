"""F7: the corpus stays inside the given paths, and a hostile .gitignore can neither hang nor break the walk."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from rlm_cli.inputs.corpus import OUTSIDE_REASON, CorpusOptions, load_corpus


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """input/ with a file, links to a file and a dir outside it, and links that stay inside."""
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "secret.txt").write_text("outside secret\n")
    (outside / "deep" / "more.txt").write_text("more outside\n")
    top = tmp_path / "input"
    (top / "sub").mkdir(parents=True)
    (top / "notes.txt").write_text("inside notes\n")
    (top / "sub" / "inner.txt").write_text("inner text\n")
    (top / "file-link").symlink_to(outside / "secret.txt")
    (top / "dir-link").symlink_to(outside)
    (top / "relative-link").symlink_to(os.path.join("..", "outside", "secret.txt"))
    (top / "inside-link").symlink_to(top / "sub" / "inner.txt")
    (top / "inside-dir").symlink_to("sub")
    return top


def test_links_that_leave_the_given_paths_are_skipped_with_a_reason(tree: Path) -> None:
    corpus = load_corpus([str(tree)], CorpusOptions())
    texts = "".join(doc.text for doc in corpus.documents)
    assert "outside" not in texts and "inner text" in texts and "inside notes" in texts
    outside = [s.path for s in corpus.skipped if s.reason == OUTSIDE_REASON]
    assert [Path(path).name for path in outside] == ["dir-link", "file-link", "relative-link"]
    assert {"path": outside[0], "reason": OUTSIDE_REASON} in corpus.summary()["skipped"]  # the manifest says why


def test_a_link_into_another_given_path_or_follow_symlinks_loads_it(tree: Path) -> None:
    both = load_corpus([str(tree), str(tree.parent / "outside")], CorpusOptions())
    assert not any(s.reason == OUTSIDE_REASON for s in both.skipped)
    followed = load_corpus([str(tree)], CorpusOptions(follow_symlinks=True))
    texts = "".join(doc.text for doc in followed.documents)
    assert "outside secret" in texts and "more outside" in texts


def test_the_cli_flag_follows_links(rlm_main, tree: Path) -> None:
    skipped = rlm_main("ask", str(tree), "q?", "--dry-run")
    assert f"skipped {tree.name}/file-link: {OUTSIDE_REASON}" in skipped.stdout.replace(str(tree.parent) + "/", "")
    followed = rlm_main("ask", str(tree), "q?", "--dry-run", "--follow-symlinks")
    assert "file-link" in followed.stdout and OUTSIDE_REASON not in followed.stdout


def test_a_backtracking_gitignore_pattern_is_matched_in_linear_time(tmp_path: Path) -> None:
    top = tmp_path / "repo"
    top.mkdir()
    # Python's re needs minutes for `*a*a...*b` against a long run of a's; the walk must not.
    (top / ".gitignore").write_text("*a*a*a*a*a*a*a*a*a*a*a*a*b\n" + "*.log\n")
    (top / ("a" * 250)).write_text("kept\n")
    (top / "x.log").write_text("ignored\n")
    result: list[object] = []
    walk = threading.Thread(target=lambda: result.append(load_corpus([str(top)], CorpusOptions())), daemon=True)
    walk.start()
    walk.join(60)  # a hang guard, not a speed test: a backtracking matcher takes far longer
    assert not walk.is_alive(), "the .gitignore match hung"
    [corpus] = result
    assert [Path(doc.path).name for doc in corpus.documents] == ["a" * 250]  # type: ignore[attr-defined]


def test_bad_gitignore_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    top = tmp_path / "repo"
    top.mkdir()
    (top / ".gitignore").write_text("!\n" + "x" * 5000 + "\n*.log\n")
    (top / "keep.txt").write_text("kept\n")
    (top / "drop.log").write_text("dropped\n")
    corpus = load_corpus([str(top)], CorpusOptions())
    assert [Path(doc.path).name for doc in corpus.documents] == ["keep.txt"]
    gitignore = str(top / ".gitignore")
    assert any(w.startswith(f"{gitignore}:1: pattern skipped") for w in corpus.warnings)
    assert f"{gitignore}:2: pattern skipped (longer than 4096 characters)" in corpus.warnings


def test_a_gitignore_that_is_a_fifo_does_not_block(tmp_path: Path) -> None:
    top = tmp_path / "repo"
    top.mkdir()
    os.mkfifo(top / ".gitignore")
    (top / "keep.txt").write_text("kept\n")
    corpus = load_corpus([str(top)], CorpusOptions())
    assert [Path(doc.path).name for doc in corpus.documents] == ["keep.txt"]
    assert any("not a regular file" in w for w in corpus.warnings)
