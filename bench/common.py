"""What every benchmark family shares: the shape a generator returns, and helpers for names, times and filler."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4

# A fact is a set of acceptable spellings; an open answer must carry one spelling of every fact.
Fact = list[str]
Gold = str | int | list[str] | list[Fact]
Slots = dict[str, str | int]


@dataclass
class Built:
    """What a family's generator makes; tasks.generate() words the question and adds the task's identity.

    qtype names the question type (a key of wordings.WORDINGS); slots are the values its wordings fill in.
    Nothing here depends on the wording, so every wording of a task has the same files and gold.
    """

    qtype: str
    slots: Slots
    gold: Gold
    kind: str
    files: dict[str, str]
    names: list[str]
    meta: dict[str, Any]
    stdin: bool = False


# ---------------------------------------------------------------- shared vocabulary

FIRST_NAMES = [
    "Amara",
    "Bruno",
    "Chiara",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kavya",
    "Lars",
    "Mei",
    "Nadia",
    "Omar",
    "Priya",
    "Quentin",
    "Rosa",
    "Soren",
    "Tamar",
    "Uma",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zofia",
    "Anders",
    "Beatriz",
    "Cyrus",
    "Delphine",
    "Emeka",
    "Freya",
    "Gideon",
    "Hana",
    "Ivo",
    "Jana",
    "Kofi",
    "Leilani",
    "Mateo",
    "Noor",
]
LAST_NAMES = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Castillo",
    "Novak",
    "Haddad",
    "Brennan",
    "Sato",
    "Ferreira",
    "Kowalski",
    "Abara",
    "Petrov",
    "Nakamura",
    "Gallagher",
    "Rossi",
    "Mbeki",
    "Halvorsen",
    "Duarte",
    "Varga",
    "Ishikawa",
    "Fontaine",
    "Oyelaran",
    "Keller",
    "Ramos",
    "Nguyen",
    "Sorensen",
    "Quint",
    "Achebe",
    "Vidal",
]
# Service names shared by the log families.
SERVICES = [
    "billing-worker",
    "cart-service",
    "search-indexer",
    "payments-gateway",
    "notification-hub",
    "inventory-sync",
    "report-builder",
    "media-transcoder",
    "profile-store",
    "order-router",
    "email-relay",
    "geo-lookup",
    "session-cache",
    "pricing-engine",
    "feed-ranker",
    "audit-logger",
    "export-runner",
]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def fill(target_chars: int, make: Callable[[], str]) -> list[str]:
    """Units from `make` until their total length (with a newline each) reaches target_chars."""
    units: list[str] = []
    total = 0
    while total < target_chars:
        unit = make()
        units.append(unit)
        total += len(unit) + 1
    return units


def iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))


def clock(ts: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def k_slots(k: int) -> Slots:
    """How wordings of "exactly k times" questions say k: 2, "twice", "2 failures"."""
    word = {1: "once", 2: "twice", 3: "three times"}.get(k, f"{k} times")
    return {"k": k, "k_word": word, "k_failures": f"{k} failure{'s' if k != 1 else ''}"}
