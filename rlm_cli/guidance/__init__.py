"""Help for weak models, behind one interface the engine calls (engine/guide.py); switchable as a whole.

`--guidance off` runs the plain method; `--guidance small` adds the data description, the checks on blocks
and the doubts about answers in small.py. Nothing in here reads a question's phrasing.
"""

from __future__ import annotations

from rlm_cli.engine.guide import GuideFactory, Plain


def output_limit(level: str, configured: int, source: str) -> int:
    """Characters of a block's output the model sees: the level's own cap unless the user set one."""
    # A small model reads a prompt slowly and loses the question in long outputs; samples and counts serve it
    # better than a 20K-character dump, which it re-reads on every later turn.
    return 5_000 if level == "small" and source == "default" else configured


def reply_tokens(level: str) -> int | None:
    """The most tokens a root reply may have at this level (None: the provider's own limit)."""
    # One ```repl block and a line of prose fit in a few hundred tokens. A small model that runs on (repeating
    # a record, re-typing the input) can go on for thousands, minutes each on a CPU; cut its root replies short.
    return 1_500 if level == "small" else None


def factory(level: str) -> GuideFactory:
    """The guide for a --guidance level; the loop makes one per RLM from it."""
    if level == "off":
        return Plain
    if level == "small":
        from rlm_cli.guidance.small import SmallModelGuide

        return SmallModelGuide
    raise ValueError(f"unknown guidance level {level!r}")  # config.py checks the setting's choices first
