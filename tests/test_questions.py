"""What a question's wording asks for."""

from __future__ import annotations

import pytest

from rlm_cli.guidance.questions import at_least, drop_at_least, exact_count, moment, question_hints, wanted_outcome


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
    hints = question_hints(question)
    assert len(hints) == len(expected)
    for hint, part in zip(hints, expected, strict=True):
        assert part in hint


def test_exact_count_reads_words_and_digits():
    questions = ("Which ran exactly twice?", "exactly three times?", "exactly 12 times", "twice")
    assert [exact_count(q) for q in questions] == [2, 3, 12, None]


def test_at_least_reads_both_wordings_and_leaves_a_least_that_compares():
    assert at_least("Users with at least 3 refunds?") == 3
    assert at_least("Hosts with 12 or more errors?") == 12
    assert at_least("Which label is the least common?") is None
    assert drop_at_least("Which user has the fewest, among those with at least 2?") == (
        "Which user has the fewest, among those with ?"
    )


@pytest.mark.parametrize(
    ("question", "outcome"),
    [
        ("How many users had a successful login?", "successful"),
        ("Users who managed to log in (failed attempts do not count)?", "successful"),
        ("Logins, not counting failed?", "successful"),
        ("How many users failed to log in?", "failed"),
        ("Which hosts logged errors after 10:00?", "failed"),
        ("Compare successful and failed logins per user.", None),
        ("Which service was restarted most?", None),
    ],
)
def test_the_outcome_a_question_is_about(question, outcome):
    assert wanted_outcome(question) == outcome


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("Hosts with ERROR lines after 09:37:43 UTC on 12 Sep 2026?", "09:37:43 UTC on 12 Sep 2026"),
        ("After 2026-10-24 12:23:39 UTC, which hosts wrote an ERROR line?", "2026-10-24 12:23:39 UTC"),
        ("Errors since March 3, 2025 at 14:00?", "March 3, 2025 at 14:00"),
        ("Which jobs ran twice?", None),
    ],
)
def test_the_moment_a_question_compares_with_is_read_as_written(question, phrase):
    assert moment(question) == phrase
