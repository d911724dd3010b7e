"""The first block the small guide offers: built from the words of the question that the data holds."""

from __future__ import annotations

import re

import pytest

from rlm_cli.guidance.starter import first_block

JOURNAL = "".join(
    f"Jul 23 0{i}:00:00 host{i % 2} systemd[1]: {name}.service: Failed with result 'exit-code'.\n"
    f"Jul 23 0{i}:00:01 host{i % 2} {name}[7]: INFO request handled in 12 ms\n"
    for i, name in enumerate(["cart", "mail", "cart", "geo", "geo"])
)
SSHD = "".join(
    f"Jul 14 02:0{i}:04 bastion sshd[33{i}]: Failed password for root from {ip} port 5{i} ssh2\n"
    for i, ip in enumerate(["10.0.0.9", "10.0.0.7", "10.0.0.9", "10.0.0.9"])
)


def _offered(text: str) -> str:
    return re.search(r"```repl\n(.*?)\n```", text, re.DOTALL)[1]


@pytest.mark.parametrize("level", ["small", "off"])
def test_the_offered_block_runs_on_the_real_records_with_small_guidance_only(model, solve, level):
    offer = "A first block built"
    model.rule("root", offer, lambda prompt: f"```repl\n{_offered(prompt.split(offer)[1])}\n```")
    model.rule("root", "records kept", "FINAL(cart, geo)")
    model.rule("root", ".", "```repl\nprint(1)\n```")
    run = solve("which services failed twice?", JOURNAL, guidance=level)
    offered = "A first block built from the question's words" in run.roots[0].last_user
    assert offered is (level == "small")
    if offered:
        assert "3 of 10 records kept" not in run.roots[1].last_user  # 5 failures among 10 records
        assert "5 of 10 records kept" in run.roots[1].last_user
        assert "2 each: ['cart', 'geo']\n1 each: ['mail']" in run.roots[1].last_user
        assert run.answer == "cart, geo"


def test_the_block_keeps_what_the_question_names_and_counts_by_the_field_it_names():
    values = {"host": ["bastion"], "service": ["sshd"]}
    shapes = ["Failed password for <user> from <ip> port <n> ssh2"]
    block = first_block("How many failed passwords came from 10.0.0.9?", values, shapes, [SSHD])
    assert """hits = [r for r in recs if "Failed password" in r["message"] and '10.0.0.9' in r["raw"]]""" in block
    assert "Counter(" not in block  # nothing to count by
    top = first_block("top source IP of failed ssh passwords?", values, shapes, [SSHD])
    assert 'counts = Counter(r["ip"] for r in hits if r["ip"] != None)' in top
    assert first_block("why did it crash?", values, shapes, [SSHD]) is None
    assert first_block("What was the root cause of the service's failure?", values, shapes, [SSHD]) is None
    nested = {"service.name": ["shipping", "payments"], "error.type": ["KeyError", "TimeoutError"]}
    block = first_block("Which error type is most common for shipping?", nested, [], ["x"])
    assert """if r["service"]["name"] == 'shipping'""" in block and 'Counter(r["error"]["type"]' in block
