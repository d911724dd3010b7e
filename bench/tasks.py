"""Seeded benchmark tasks with gold answers known by construction, and their scorers.

Families: needle, logs and oolong here; oneline (needles in a file that is one line) here too, since it
reuses the needles; journal, syslog and jsonl in bench/shapes.py; pytest and crash in bench/reports.py;
semantic (records whose class is not written in them, scored as OOLONG scores) in bench/semantic.py.
Every generator builds its input as lists of lines joined once, so a 1M-token task takes about a second.
A generator returns a question type and the values its wordings need; generate() words the question
(bench/wordings.py) with its own random generator, so the files and the gold never depend on the wording.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import reports, semantic, shapes, wordings
from bench.common import (
    CHARS_PER_TOKEN,
    FIRST_NAMES,
    LAST_NAMES,
    MONTHS,
    SERVICES,
    Built,
    Fact,
    Gold,
    Slots,
    clock,
    fill,
    iso,
    k_slots,
    person,
)

FAMILIES = ("needle", "logs", "oolong", "oneline", "journal", "syslog", "jsonl", "pytest", "crash", "semantic")
# The families a run takes when none are named: the original three, so figures stay comparable.
DEFAULT_FAMILIES = ("needle", "logs", "oolong")


@dataclass
class Task:
    """One generated question: its input files, the gold answer, and what the scorer needs to judge replies.

    kind is how the answer is scored: "value" (needle), "count", "graded" (a count with OOLONG's partial
    credit, see points()), "set", "ranked", "choice" or "facts" (an open question: gold is a list of facts,
    each a list of acceptable spellings).
    names are the words the scorer recognizes in a reply: the options for set/ranked/choice,
    the distractor values for a needle (naming one of them makes the reply wrong).
    slots are the values the question type's wordings fill in (any wording of the type renders with them).
    stdin marks a task whose one file is fed to `rlm ask -` on standard input.
    """

    family: str
    size: str
    target_tokens: int
    seed: int
    index: int
    question: str
    gold: Gold
    kind: str
    files: dict[str, str]
    names: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    question_type: str = ""
    wording_id: str = ""
    wording_group: str = ""
    slots: Slots = field(default_factory=dict)
    stdin: bool = False

    @property
    def id(self) -> str:
        return f"{self.family}-{self.size}-{self.index}"

    @property
    def chars(self) -> int:
        return sum(len(text) for text in self.files.values())

    def write(self, root: Path) -> None:
        """Writes the input files under root, creating subdirectories as the paths need."""
        for rel, text in self.files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

    def describe(self) -> dict[str, Any]:
        """The task without its input text, for result files and listings."""
        return {
            "id": self.id,
            "family": self.family,
            "size": self.size,
            "target_tokens": self.target_tokens,
            "seed": self.seed,
            "index": self.index,
            "question": self.question,
            "question_type": self.question_type,
            "wording_id": self.wording_id,
            "wording_group": self.wording_group,
            "gold": self.gold,
            "kind": self.kind,
            "chars": self.chars,
            "files": len(self.files),
            "stdin": self.stdin,
            "meta": self.meta,
        }


def parse_size(text: str) -> int:
    """'8k' -> 8192, '1m' -> 1048576, '5000' -> 5000: target token counts, binary like RULER's 4K/128K."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([km]?)\s*", text.lower())
    if not match:
        raise ValueError(f"bad size {text!r}: use a token count like 8k, 128k, 1m or 5000")
    scale = {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2)]
    tokens = int(float(match.group(1)) * scale)
    if tokens < 256:
        raise ValueError(f"size {text!r} is too small: at least 256 tokens")
    return tokens


def generate(family: str, size: str, seed: int, index: int, selection: str = "all") -> Task:
    """Builds task number `index` of one family and size, worded from the selection ("all", "tune", "heldout").

    The same arguments always give the same task; another selection changes only the question's words.
    """
    if family not in _GENERATORS:
        raise ValueError(f"unknown family {family!r}: choose from {', '.join(FAMILIES)}")
    tokens = parse_size(size)
    rng = random.Random(f"{family}:{tokens}:{seed}:{index}")
    b = _GENERATORS[family](rng, tokens * CHARS_PER_TOKEN, seed + index)
    # Its own generator, so that drawing a wording consumes nothing the data depends on.
    wording = wordings.pick(b.qtype, selection, random.Random(f"wording:{family}:{tokens}:{seed}:{index}"))
    return Task(
        family,
        size.lower(),
        tokens,
        seed,
        index,
        wording.render(b.slots),
        b.gold,
        b.kind,
        b.files,
        b.names,
        b.meta,
        b.qtype,
        wording.id,
        wording.group,
        b.slots,
        b.stdin,
    )


def generate_all(families: list[str], sizes: list[str], n: int, seed: int, selection: str = "all") -> list[Task]:
    """Every family x size x n task, in that order."""
    return [generate(f, size, seed, i, selection) for f in families for size in sizes for i in range(n)]


# ---------------------------------------------------------------- scoring

_DATE_TIME = re.compile(
    r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d)?(?:\.\d+)?Z?)?|\d\d?:\d\d(?::\d\d)?|\d\d?/\w{3}/\d{4}", re.IGNORECASE
)
_INTEGER = re.compile(r"(?<![\w./:-])(\d{1,3}(?:,\d{3})+|\d+)(?![\w/:-]|\.\d)")
_SAME = re.compile(r"\b(?:equal(?:ly)?|tied?|the same)\b", re.IGNORECASE)


def score(task: Task, answer: str | None) -> bool:
    """True when the reply gives the gold answer and nothing that contradicts it."""
    if not answer:
        return False
    if task.kind == "value":
        return _has_value(answer, str(task.gold)) and not any(_has_value(answer, other) for other in task.names)
    if task.kind in ("count", "graded"):
        return _count_read(answer, int(task.gold), task.question) == int(task.gold)
    if task.kind == "facts":
        return facts_found(task, answer) == 1.0
    found = mentioned(answer, task.names)
    if task.kind == "set":
        return set(found) == set(task.gold)
    if task.kind == "ranked":
        return found == list(task.gold)
    if task.kind == "choice":
        if "same" in task.names:
            found = mentioned(_SAME.sub(" same ", answer), task.names)
        return bool(found) and found[0] == task.gold
    raise ValueError(f"unknown answer kind {task.kind!r}")


def points(task: Task, answer: str | None) -> float:
    """The credit a reply earns, in [0, 1]: OOLONG's 0.75 ** |error| for a graded count, else 1.0 or 0.0 as
    score() judges (labels and every other kind stay exact)."""
    if task.kind != "graded":
        return float(score(task, answer))
    read = _count_read(answer or "", int(task.gold), task.question)
    return 0.0 if read is None else 0.75 ** abs(read - int(task.gold))


def facts_found(task: Task, answer: str | None) -> float | None:
    """For an open question, the fraction of its facts the reply carries; None for other kinds."""
    if task.kind != "facts":
        return None
    facts: list[Fact] = task.gold  # type: ignore[assignment]
    text = " ".join((answer or "").split()).lower()
    return sum(any(spelling.lower() in text for spelling in fact) for fact in facts) / len(facts)


def mentioned(answer: str, names: list[str]) -> list[str]:
    """The known names a reply mentions, in order of first mention; '-', '_' and ' ' count as one separator."""
    hits: list[tuple[int, str]] = []
    for name in names:
        pattern = "[-_ ]".join(re.escape(part) for part in re.split(r"[-_]", name))
        match = re.search(rf"(?<![\w/-]){pattern}(?:e?s)?(?![\w/-])", answer, re.IGNORECASE)
        if match:
            hits.append((match.start(), name))
    return [name for _, name in sorted(hits)]


def integers(text: str) -> list[int]:
    """Standalone integers in a reply (thousands commas allowed), ignoring dates, times and parts of names."""
    return [int(m.replace(",", "")) for m in _INTEGER.findall(_DATE_TIME.sub(" ", text))]


def _count_read(answer: str, gold: int, question: str) -> int | None:
    """The number a reply gives as its count: the first it states, skipping numbers it merely repeats from
    the question; when it states only those, the gold if it is among them, else the first. None: no number."""
    numbers = integers(answer)
    asked = set(integers(question))
    fresh = [n for n in numbers if n not in asked]
    if fresh:
        return fresh[0]
    return gold if gold in numbers else next(iter(numbers), None)


def _has_value(answer: str, value: str) -> bool:
    text = " ".join(answer.split())
    if value.isdigit():
        return re.search(rf"(?<!\d){value}(?!\d)", re.sub(r"(?<=\d)[,_ ](?=\d{3}\b)", "", text)) is not None
    pattern = r"\s+".join(re.escape(word) for word in value.split())
    return re.search(rf"(?<![\w-]){pattern}(?![\w-])", text, re.IGNORECASE) is not None


# ---------------------------------------------------------------- needle (RULER S-NIAH)

NEEDLE_ADJECTIVES = [
    "amber",
    "crimson",
    "silent",
    "hollow",
    "brisk",
    "golden",
    "restless",
    "velvet",
    "frozen",
    "lucid",
    "copper",
    "distant",
    "gentle",
    "jagged",
    "mossy",
    "quiet",
    "rapid",
    "scarlet",
    "tidal",
    "wandering",
]
NEEDLE_NOUNS = [
    "falcon",
    "harbor",
    "lantern",
    "meadow",
    "otter",
    "quarry",
    "willow",
    "beacon",
    "cinder",
    "glacier",
    "heron",
    "orchard",
    "pylon",
    "raven",
    "summit",
    "thicket",
    "canyon",
    "ember",
    "juniper",
    "kestrel",
]


@dataclass
class _NeedleFormat:
    line: str
    kinds: tuple[str, ...]
    qtype: str


NEEDLE_FORMATS = (
    _NeedleFormat(
        "One of the special magic {plural} for {key} is: {value}.", ("number", "uuid", "name"), "needle.magic"
    ),
    _NeedleFormat("{key}'s access code: {value}", ("number", "uuid"), "needle.access"),
    _NeedleFormat("config: {key}={value}", ("number", "uuid", "name"), "needle.config"),
    _NeedleFormat(
        '{{"event": "credential_issued", "key": "{key}", "value": "{value}"}}', ("number", "uuid"), "needle.event"
    ),
    _NeedleFormat("Note for the record: the on-call contact for {key} is {value}.", ("name",), "needle.contact"),
)
KIND_WORDS = {"number": ("number", "numbers"), "uuid": ("UUID", "UUIDs"), "name": ("name", "names")}

PROSE_SUBJECTS = (
    "The committee",
    "Our small team",
    "A visiting engineer",
    "The harbor master",
    "Most of the early readers",
    "The old archive",
    "Every quarterly review",
    "The night shift",
    "A patient gardener",
    "The new municipal library",
    "Her second novel",
    "The research vessel",
)
PROSE_VERBS = (
    "quietly revised",
    "argued at length about",
    "kept returning to",
    "carefully documented",
    "was surprised by",
    "slowly rebuilt",
    "never fully understood",
    "published a note on",
    "spent the winter studying",
    "made a habit of questioning",
)
PROSE_OBJECTS = (
    "the drainage plans for the lower town",
    "an unusually long letter from the suppliers",
    "the way the river changes course in spring",
    "the budget for the coming season",
    "a set of maps drawn before the war",
    "the tide tables and their odd exceptions",
    "how startups decide what to build first",
    "the habits of migrating birds along the coast",
    "a forgotten recipe for dark rye bread",
    "the cost of keeping the lighthouse running",
)
PROSE_TAILS = (
    "and nobody objected.",
    "before anyone else had noticed.",
    "which took far longer than expected.",
    "although the results were mixed.",
    "in the margins of an older report.",
    "while the rain kept falling.",
    "as if it were the most natural thing.",
    "and then moved on to other matters.",
)
FILLER_COMPONENTS = ("scheduler", "http", "cache", "db-pool", "indexer", "mailer", "gc", "metrics")
FILLER_MESSAGES = (
    "handled request in {a} ms",
    "flushed {a} entries to disk",
    "cache hit ratio {b}%",
    "connection pool size {b}, idle {c}",
    "job {a} finished after {c} retries",
    "heartbeat ok, uptime {a}s",
    "compacted segment {a} ({b} MB)",
    "slow call to upstream took {a} ms",
)
FILLER_CITIES = ("Lisbon", "Osaka", "Nairobi", "Calgary", "Tallinn", "Recife", "Hobart", "Tbilisi", "Quito")


def _needle_value(rng: random.Random, kind: str) -> str:
    if kind == "number":
        return str(rng.randint(1_000_000, 9_999_999))
    if kind == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return person(rng)


def _sentence(rng: random.Random) -> str:
    return (
        f"{rng.choice(PROSE_SUBJECTS)} {rng.choice(PROSE_VERBS)} {rng.choice(PROSE_OBJECTS)} {rng.choice(PROSE_TAILS)}"
    )


def _filler_maker(rng: random.Random, style: str) -> Callable[[], str]:
    """A function that makes one unit of filler: a prose paragraph, a log line or a key-value record."""
    if style == "prose":

        def paragraph() -> str:
            return " ".join(_sentence(rng) for _ in range(rng.randint(3, 7)))

        return paragraph
    if style == "json":
        return lambda: _json_record(rng, _sentence(rng))
    if style == "logs":
        now = rng.randint(1_760_000_000, 1_790_000_000)

        def log_line() -> str:
            nonlocal now
            now += rng.randint(0, 9)
            message = rng.choice(FILLER_MESSAGES).format(
                a=rng.randint(1, 99_999), b=rng.randint(1, 99), c=rng.randint(0, 9)
            )
            level = rng.choice(("INFO", "INFO", "INFO", "DEBUG", "WARN"))
            return f"{iso(now)} {level} [{rng.choice(FILLER_COMPONENTS)}] {message}"

        return log_line

    def record() -> str:
        return (
            f"record {rng.randint(10_000, 999_999)}: city={rng.choice(FILLER_CITIES)} "
            f"owner={rng.choice(FIRST_NAMES).lower()} score={rng.randint(0, 1000)} "
            f"active={rng.choice(('true', 'false'))} updated=2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        )

    return record


@dataclass
class _Needles:
    """The asked needle (first) and its distractors: same format and kind, other keys and values."""

    fmt: _NeedleFormat
    kind: str
    keys: list[str]
    values: list[str]
    lines: list[str]

    def built(self, files: dict[str, str], meta: dict[str, Any]) -> Built:
        slots = {"key": self.keys[0], "kind": KIND_WORDS[self.kind][0]}
        meta = {"format": self.fmt.line, "value_kind": self.kind, "distractors": self.keys[1:]} | meta
        return Built(self.fmt.qtype, slots, self.values[0], "value", files, self.values[1:], meta)


def _draw_needles(rng: random.Random, salt: int) -> _Needles:
    fmt = NEEDLE_FORMATS[salt % len(NEEDLE_FORMATS)]  # successive tasks cycle through the formats
    kind = rng.choice(fmt.kinds)
    pairs = rng.sample([(a, n) for a in NEEDLE_ADJECTIVES for n in NEEDLE_NOUNS], rng.randint(4, 7))
    keys = [f"{a}-{n}" for a, n in pairs]
    values: list[str] = []
    while len(values) < len(keys):
        value = _needle_value(rng, kind)
        if value not in values:
            values.append(value)
    plural = KIND_WORDS[kind][1]
    lines = [fmt.line.format(key=k, value=v, plural=plural) for k, v in zip(keys, values, strict=True)]
    return _Needles(fmt, kind, keys, values, lines)


def _place(rng: random.Random, units: list[str], lines: list[str]) -> float:
    """Distractors first at random places, then the real needle (lines[0]) at its exact depth; returns that depth."""
    depth = rng.random()
    for line in lines[1:]:
        units.insert(rng.randint(0, len(units)), line)
    units.insert(round(depth * len(units)), lines[0])
    return depth


def _needle(rng: random.Random, target_chars: int, salt: int) -> Built:
    style = rng.choice(("prose", "logs", "kv"))
    needles = _draw_needles(rng, salt)
    units = fill(target_chars - sum(len(n) + 1 for n in needles.lines), _filler_maker(rng, style))
    depth = _place(rng, units, needles.lines)
    separator = "\n\n" if style == "prose" else "\n"
    name = {"prose": "essays.txt", "logs": "service.log", "kv": "records.txt"}[style]
    return needles.built({name: separator.join(units) + "\n"}, {"filler": style, "depth": round(depth, 3)})


def _oneline(rng: random.Random, target_chars: int, salt: int) -> Built:
    """Needles in a file that is one line: minified JSON records, or prose with no line breaks at all."""
    style = rng.choice(("json", "prose"))
    needles = _draw_needles(rng, salt)
    if style == "prose":
        paragraph = _filler_maker(rng, "prose")
        units = fill(target_chars - sum(len(n) + 1 for n in needles.lines), paragraph)
        depth = _place(rng, units, needles.lines)
        return needles.built({"extracted.txt": " ".join(units)}, {"filler": style, "depth": round(depth, 3)})
    record = _filler_maker(rng, "json")
    notes = [_json_record(rng, line) for line in needles.lines]
    head = '{"export":{"generated":"2025-11-02T08:00:00Z","records":['
    units = fill(target_chars - len(head) - sum(len(n) + 1 for n in notes), record)
    needles.lines = notes
    depth = _place(rng, units, needles.lines)
    text = head + ",".join(units) + "]}}"
    return needles.built({"export.min.json": text}, {"filler": style, "depth": round(depth, 3)})


def _json_record(rng: random.Random, note: str) -> str:
    """One minified record of the JSON export; the note holds a needle or a sentence of prose."""
    record = {
        "id": rng.randint(10_000, 999_999),
        "city": rng.choice(FILLER_CITIES),
        "owner": rng.choice(FIRST_NAMES).lower(),
        "score": rng.randint(0, 1000),
        "active": rng.random() < 0.5,
        "tags": rng.sample(FILLER_COMPONENTS, rng.randint(0, 3)),
        "note": note,
    }
    return json.dumps(record, separators=(",", ":"))


# ---------------------------------------------------------------- logs (multi-file aggregation)

LOGIN_SERVICES = ("auth-api", "sso-bridge", "identity-provider")
APP_HOST_PREFIXES = ("app", "node", "batch")
WEB_HOST_PREFIXES = ("web", "edge")
ENDPOINTS = [
    "/api/v1/orders",
    "/api/v1/cart",
    "/api/v1/search",
    "/login",
    "/checkout",
    "/api/v2/users/profile",
    "/static/app.js",
    "/health",
    "/api/v1/payments",
    "/graphql",
    "/api/v1/inventory",
    "/account/settings",
    "/api/v1/recommendations",
    "/images/upload",
]
QUERY_STRINGS = ("", "", "", "?page=2", "?q=shoes", "?ref=mail", "?lang=en", "?sort=price")
METHODS = ("GET", "GET", "GET", "POST", "PUT", "DELETE")
BENIGN_STATUSES = (200,) * 14 + (201, 204, 301, 302, 304, 304, 400, 401, 403, 404, 404, 429)
SERVER_ERRORS = (500, 502, 502, 503, 503, 503, 504)
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
    "curl/8.5.0",
    "okhttp/4.12.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/129.0",
)
BENIGN_APP = (
    ("INFO", "request handled in {n} ms"),
    ("INFO", "processed batch {n} ({m} items)"),
    ("DEBUG", "cache lookup key=item:{n} hit={flag}"),
    ("INFO", "connected to db-primary:5432 pool={m}"),
    ("DEBUG", "gc pause {m} ms"),
    ("INFO", "health check ok"),
    ("WARN", "slow query took {n} ms"),
    ("WARN", "transient error talking to cache, retrying (attempt {m})"),
    ("WARN", "upstream returned 503, will retry in {m}s"),
    ("INFO", "config reloaded, {m} keys changed"),
)
NOISE_ERRORS = (
    "request {n} failed: upstream timeout",
    "could not write to queue orders-{m}: connection reset",
    "unhandled exception in handler /api/v1/items/{n}",
    "payment provider rejected token (code {m})",
)
FATAL_MESSAGES = (
    "process crashed: segmentation fault",
    "out of memory, killed by the runtime",
    "panic: runtime error: index out of range [{m}]",
    "unrecoverable state, shutting down",
)
LOG_QUESTIONS = ("fatal", "errors_after", "status", "top_5xx", "logins")
LINE_CHARS = {"syslog": 85, "json": 145, "logfmt": 107, "nginx": 136, "json_access": 182}  # mean rendered lengths


@dataclass
class _AppLine:
    ts: int
    level: str
    message: str
    user: str = ""
    event: str = ""


@dataclass
class _AccessLine:
    ts: int
    path: str
    status: int
    ip: str
    method: str = "GET"
    query: str = ""
    size: int = 0
    agent: str = ""


@dataclass
class _LogFile:
    path: str
    host: str
    service: str
    fmt: str
    lines: list[Any] = field(default_factory=list)


def _render_app(f: _LogFile, line: _AppLine, pid: int) -> str:
    if f.fmt == "syslog":
        t = time.gmtime(line.ts)
        stamp = f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {clock(line.ts)}"
        return f"{stamp} {f.host} {f.service}[{pid}]: {line.level} {line.message}"
    if f.fmt == "json":
        record: dict[str, Any] = {
            "ts": f"{iso(line.ts)}.{line.ts % 1000:03d}Z",
            "level": line.level,
            "host": f.host,
            "service": f.service,
            "msg": line.message,
        }
        if line.event:
            record.update(event=line.event, user=line.user)
        return json.dumps(record)
    extra = f" event={line.event} user={line.user}" if line.event else ""
    return f'ts={iso(line.ts)}Z level={line.level.lower()} host={f.host} svc={f.service} msg="{line.message}"{extra}'


def _render_access(f: _LogFile, line: _AccessLine) -> str:
    if f.fmt == "nginx":
        t = time.gmtime(line.ts)
        stamp = f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:{clock(line.ts)} +0000"
        return (
            f'{line.ip} - - [{stamp}] "{line.method} {line.path}{line.query} HTTP/1.1" {line.status} {line.size} '
            f'"-" "{line.agent}"'
        )
    return json.dumps(
        {
            "time": f"{iso(line.ts)}+00:00",
            "remote_addr": line.ip,
            "request": f"{line.method} {line.path}{line.query} HTTP/1.1",
            "status": line.status,
            "body_bytes_sent": line.size,
            "request_time": round(line.size % 997 / 1000, 3),
        }
    )


# How a service words a login and a failed one: one pair per task, so no filter on one phrasing always works.
LOGIN_WORDINGS = (
    ("user {user} logged in from {ip}", "login failed for user {user}: invalid password"),
    (
        "Accepted password for {user} from {ip} port {port} ssh2",
        "Failed password for {user} from {ip} port {port} ssh2",
    ),
    ("login succeeded for user={user} src={ip}", "login rejected for user={user}: bad credentials"),
    ("authenticated user {user} from {ip}", "authentication failed for user {user} from {ip}"),
)


def _login_line(rng: random.Random, ts: int, user: str, event: str, wording: tuple[str, str]) -> _AppLine:
    ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if event == "session_refresh":
        return _AppLine(ts, "INFO", f"session refreshed for user {user}", user, event)
    template, level = (wording[0], "INFO") if event == "login" else (wording[1], "WARN")
    return _AppLine(ts, level, template.format(user=user, ip=ip, port=1024 + ts % 60_000), user, event)


def _plan_log_files(rng: random.Random, tokens: int) -> list[_LogFile]:
    """5 files for 8K tokens up to 30 for 1M, split over hosts, services and four-plus formats."""
    n_files = 5 + round(25 * math.log2(max(1.0, tokens / 8192)) / 7) + rng.randint(0, 2)
    n_files = max(5, min(30, n_files))
    n_access = max(2, n_files * 3 // 10)
    n_app = n_files - n_access
    web_hosts = rng.sample([f"{p}-{i:02d}" for p in WEB_HOST_PREFIXES for i in range(1, 10)], n_access)
    app_hosts = [f"{p}-{i:02d}" for p in APP_HOST_PREFIXES for i in range(1, 10)]
    app_hosts = rng.sample(app_hosts, max(2, min(len(app_hosts), n_app * 2 // 3)))
    services = [rng.choice(LOGIN_SERVICES), *rng.sample(SERVICES, max(3, min(len(SERVICES), n_app - 1)))]
    files = []
    pairs: set[tuple[str, str]] = set()
    for i in range(n_app):
        service = services[i % len(services)]
        host = app_hosts[i % len(app_hosts)]
        while (host, service) in pairs:
            host = rng.choice(app_hosts)
        pairs.add((host, service))
        fmt = ("syslog", "json", "logfmt")[(i + rng.randint(0, 2)) % 3]
        ext = {"syslog": "log", "json": "jsonl", "logfmt": "log"}[fmt]
        files.append(_LogFile(f"{host}/{service}.{ext}", host, service, fmt))
    for host in web_hosts:
        fmt = rng.choice(("nginx", "nginx", "json_access"))
        path = f"{host}/nginx/access.log" if fmt == "nginx" else f"{host}/envoy/access.jsonl"
        files.append(_LogFile(path, host, "", fmt))
    return files


def _logs(rng: random.Random, target_chars: int, salt: int) -> Built:
    files = _plan_log_files(rng, target_chars // CHARS_PER_TOKEN)
    app_files = [f for f in files if f.service]
    access_files = [f for f in files if not f.service]
    start = 1_767_225_600 + rng.randint(0, 300) * 86_400 + rng.randint(0, 6) * 3600
    window = _Window(start, start + rng.randint(8, 16) * 3600)
    cutoff = start + int((window.end - start) * rng.uniform(0.6, 0.85))
    k = rng.choice((1, 2, 2, 3))

    # The lines that decide the answers first, then benign traffic up to the target size.
    _add_crashes(rng, app_files, window, k)
    _add_late_errors(rng, app_files, window, cutoff)
    expected_access = len(access_files) * target_chars / len(files) / LINE_CHARS["nginx"]
    _add_server_errors(rng, access_files, window, base=max(2, int(expected_access) // 200))
    wording = LOGIN_WORDINGS[salt // len(LOG_QUESTIONS) % len(LOGIN_WORDINGS)]  # login tasks cycle through them
    _add_logins(rng, [f for f in app_files if f.service in LOGIN_SERVICES], window, target_chars, wording)
    signal_chars = sum(len(f.lines) * LINE_CHARS[f.fmt] for f in files)
    per_file = max(0, target_chars - signal_chars) / len(files)
    for f in files:
        count = max(10, int(per_file / LINE_CHARS[f.fmt]))
        if f.service:
            f.lines += [_benign_app_line(rng, window.draw(rng), cutoff) for _ in range(count)]
        else:
            statuses = rng.choices(BENIGN_STATUSES, k=count)
            f.lines += [_access_line(rng, window.draw(rng), rng.choice(ENDPOINTS), s) for s in statuses]

    texts: dict[str, str] = {}
    for f in sorted(files, key=lambda f: f.path):
        f.lines.sort(key=lambda line: line.ts)
        if f.service:
            pid = rng.randint(200, 32_000)
            texts[f.path] = "\n".join(_render_app(f, line, pid) for line in f.lines) + "\n"
        else:
            texts[f.path] = "\n".join(_render_access(f, line) for line in f.lines) + "\n"

    which = LOG_QUESTIONS[salt % len(LOG_QUESTIONS)]
    slots, gold, kind, names = _log_question(which, files, k, cutoff)
    meta = {
        "question_type": which,
        "params": {"k": k, "after": iso(cutoff) + "Z"},
        "formats": sorted({f.fmt for f in files}),
        "login_wording": LOGIN_WORDINGS.index(wording),
    }
    return Built(f"logs.{which}", slots, gold, kind, texts, names, meta)


@dataclass
class _Window:
    start: int
    end: int

    def draw(self, rng: random.Random, after: int | None = None) -> int:
        """A random second in the window, or strictly after `after` when given."""
        return rng.randint(self.start if after is None else after + 1, self.end)


def _benign_app_line(rng: random.Random, ts: int, cutoff: int) -> _AppLine:
    """Everyday traffic, with ERROR noise only before the cutoff so "errors after" has an exact answer."""
    if ts < cutoff and rng.random() < 0.03:
        level, message = "ERROR", rng.choice(NOISE_ERRORS)
    else:
        level, message = rng.choice(BENIGN_APP)
    n, m = rng.randint(1, 99_999), rng.randint(1, 64)
    return _AppLine(ts, level, message.format(n=n, m=m, flag=rng.choice(("true", "false"))))


def _add_crashes(rng: random.Random, app_files: list[_LogFile], window: _Window, k: int) -> None:
    """FATAL lines: one to three services crash exactly k times, the others a different number of times."""
    services = sorted({f.service for f in app_files})
    crashed = set(rng.sample(services, rng.randint(1, min(3, len(services) - 1))))
    for service in services:
        times = k if service in crashed else rng.choice([c for c in (0, 1, 2, 3, 4) if c != k])
        candidates = [f for f in app_files if f.service == service]
        for _ in range(times):
            message = rng.choice(FATAL_MESSAGES).format(m=rng.randint(1, 64))
            rng.choice(candidates).lines.append(_AppLine(window.draw(rng), "FATAL", message))


def _add_late_errors(rng: random.Random, app_files: list[_LogFile], window: _Window, cutoff: int) -> None:
    """ERROR lines after the cutoff on one to three hosts, never all of them."""
    hosts = sorted({f.host for f in app_files})
    for host in rng.sample(hosts, rng.randint(1, min(3, len(hosts) - 1))):
        for _ in range(rng.randint(1, 3)):
            target = rng.choice([f for f in app_files if f.host == host])
            message = rng.choice(NOISE_ERRORS).format(n=rng.randint(1, 99_999), m=rng.randint(1, 64))
            target.lines.append(_AppLine(window.draw(rng, after=cutoff), "ERROR", message))


def _add_server_errors(rng: random.Random, access_files: list[_LogFile], window: _Window, base: int) -> None:
    """5xx responses per endpoint, with a strict order among the top four so "top 3" has one answer."""
    for rank, endpoint in enumerate(rng.sample(ENDPOINTS, len(ENDPOINTS))):
        times = (4 - rank) * base + rng.randint(1, base) if rank < 4 else rng.randint(0, base)
        for _ in range(times):
            line = _access_line(rng, window.draw(rng), endpoint, rng.choice(SERVER_ERRORS))
            rng.choice(access_files).lines.append(line)


def _add_logins(
    rng: random.Random, login_files: list[_LogFile], window: _Window, target_chars: int, wording: tuple[str, str]
) -> None:
    """Successful logins, users who only ever failed, and session refreshes that are not logins."""
    pool = [f"{a.lower()}.{b.lower()}" for a in FIRST_NAMES for b in LAST_NAMES]
    n_users = min(400, 4 + rng.randint(0, 6) + target_chars // 16_000)
    for i, user in enumerate(rng.sample(pool, n_users + rng.randint(2, 6))):
        if i < n_users:
            events = ["login"] * rng.randint(1, 3) + ["session_refresh"] * rng.randint(0, 2)
            events += ["login_failed"] * rng.randint(0, 2)
        else:
            events = ["login_failed"] * rng.randint(1, 2)
        for event in events:
            rng.choice(login_files).lines.append(_login_line(rng, window.draw(rng), user, event, wording))


def _access_line(rng: random.Random, ts: int, path: str, status: int) -> _AccessLine:
    ip = f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    size = rng.randint(120, 90_000) if status < 300 else rng.randint(0, 600)
    method, query, agent = rng.choice(METHODS), rng.choice(QUERY_STRINGS), rng.choice(USER_AGENTS)
    return _AccessLine(ts, path, status, ip, method, query, size, agent)


def _log_question(which: str, files: list[_LogFile], k: int, cutoff: int) -> tuple[Slots, Gold, str, list[str]]:
    """The slots of one question type and its gold, computed from the generated lines (not from the plan)."""
    app_lines = [(f, line) for f in files if f.service for line in f.lines]
    access_lines = [line for f in files if not f.service for line in f.lines]
    if which == "fatal":
        counts = Counter(f.service for f, line in app_lines if line.level == "FATAL")
        services = sorted({f.service for f in files if f.service})
        gold = sorted(s for s in services if counts[s] == k)
        return k_slots(k), gold, "set", services
    if which == "errors_after":
        hosts = sorted({f.host for f in files})
        gold = sorted({f.host for f, line in app_lines if line.level == "ERROR" and line.ts > cutoff})
        t = time.gmtime(cutoff)
        slots: Slots = {
            "when_iso": f"{iso(cutoff).replace('T', ' ')} UTC",
            "when_words": f"{clock(cutoff)} UTC on {t.tm_mday} {MONTHS[t.tm_mon - 1]} {t.tm_year}",
        }
        return slots, gold, "set", hosts
    if which == "status":
        return {}, sum(line.status == 503 for line in access_lines), "count", []
    if which == "top_5xx":
        counts = Counter(line.path for line in access_lines if line.status >= 500)
        return {}, [path for path, _ in counts.most_common(3)], "ranked", list(ENDPOINTS)
    users = {line.user for _, line in app_lines if line.event == "login"}
    return {}, len(users), "count", []


# ---------------------------------------------------------------- oolong (labelled records)


@dataclass
class _Domain:
    noun: str
    group_key: str
    groups: tuple[str, ...]
    group_phrase: str
    labels: dict[str, tuple[str, ...]]


DOMAINS = (
    _Domain(
        "ticket",
        "plan",
        ("free", "pro", "team", "enterprise"),
        "users on the {g} plan",
        {
            "billing": ("I was charged twice for {x} this month.", "The invoice for {x} shows the wrong amount."),
            "shipping": ("My {x} has not arrived after {n} days.", "Tracking for the {x} order stopped updating."),
            "account-access": ("I cannot sign in since the password reset.", "2FA codes for my account never come."),
            "bug-report": ("The {x} page crashes when I press save.", "Export to CSV drops the last {n} rows."),
            "feature-request": ("Please add dark mode to {x}.", "It would help to schedule {x} reports weekly."),
            "refund": ("I want my money back for the {x}.", "Requesting reimbursement for the {x}, it was faulty."),
        },
    ),
    _Domain(
        "review",
        "region",
        ("EU", "US", "APAC", "LATAM"),
        "reviewers in the {g} region",
        {
            "positive": ("Love the {x}, works perfectly.", "Great {x}, would buy again."),
            "negative": ("The {x} broke after {n} days.", "Terrible {x}, do not recommend."),
            "neutral": ("The {x} is fine, nothing special.", "Got the {x}; it does what it says."),
            "mixed": ("Nice {x} but the battery is weak.", "Good {x}, although shipping took {n} days."),
        },
    ),
    _Domain(
        "transaction",
        "account",
        ("personal", "business", "student", "joint"),
        "{g} accounts",
        {
            "groceries": ("Weekly shop, {n} items incl. {x}.", "Market stall, fresh {x}."),
            "travel": ("Train ticket to the {x} conference.", "Airport taxi, {n} km."),
            "dining": ("Dinner for {n} with {x}.", "Coffee and {x} at the corner cafe."),
            "utilities": ("Electricity bill, {n} kWh.", "Water and {x} service charge."),
            "entertainment": ("Concert tickets ({x}).", "Streaming subscription, {x} tier."),
            "rent": ("Monthly rent, flat {n}.", "Garage rent for the {x}."),
        },
    ),
)
OOLONG_ITEMS = ("headphones", "laptop stand", "desk lamp", "backpack", "kettle", "router", "notebook", "monitor")
OOLONG_QUESTIONS = ("count", "top_in_group", "compare", "users_at_least")
RECORD_CHARS = {"line": 101, "block": 120, "jsonl": 147}  # mean rendered length per layout, to hit the target size


@dataclass
class _Record:
    day: int
    user: str
    label: str
    text: str


def _label_tag(rng: random.Random, label: str) -> str:
    return rng.choice((f"[label: {label}]", f"({label})", f"type={label}", f"Category: {label.title()}"))


def _render_records(
    rng: random.Random, domain: _Domain, layout: str, records: list[_Record], groups: dict[str, str]
) -> str:
    out: list[str] = []
    for i, r in enumerate(records, start=1000):
        date = time.strftime("%Y-%m-%d", time.gmtime(1_735_689_600 + r.day * 86_400))
        group = groups[r.user]
        if layout == "line":
            out.append(f"#{i} {date} user={r.user} {domain.group_key}={group} :: {r.text} {_label_tag(rng, r.label)}")
        elif layout == "block":
            out.append(
                f"{domain.noun.title()} {i}\nDate: {date}\nUser: {r.user} ({domain.group_key}: {group})\n"
                f"{_label_tag(rng, r.label)}\n{r.text}\n"
            )
        else:
            key = rng.choice(("label", "category", "type"))
            record = {"id": i, "date": date, "user": r.user, domain.group_key: group, "text": r.text, key: r.label}
            out.append(json.dumps(record))
    return "\n".join(out) + "\n"


def _draw_for_old_wording(rng: random.Random) -> None:
    """Spends the draw that once chose between two wordings here, so a seed still gives the records it gave
    before wordings moved to bench/wordings.py, and earlier figures stay comparable."""
    rng.choice((0, 1))


def _oolong(rng: random.Random, target_chars: int, salt: int) -> Built:
    domain = rng.choice(DOMAINS)
    labels = list(domain.labels)
    layout = rng.choice(tuple(RECORD_CHARS))
    n_records = max(30, target_chars // RECORD_CHARS[layout])
    n_users = max(8, min(3000, n_records // 6))
    numbers = rng.sample(range(10, 9999), n_users)
    users = [f"{rng.choice(FIRST_NAMES).lower()}{n}" for n in numbers]
    groups = {u: rng.choice(domain.groups) for u in users}
    weights = {g: [rng.random() + 0.3 for _ in labels] for g in domain.groups}
    for g in domain.groups:
        weights[g][rng.randrange(len(labels))] += 1.0
    # Users write several records each, so "users with at least k records labelled X" is not trivial.
    active = rng.choices(users, k=n_records)

    def record(user: str, label: str) -> _Record:
        text = rng.choice(domain.labels[label]).format(x=rng.choice(OOLONG_ITEMS), n=rng.randint(2, 40))
        return _Record(rng.randint(0, 364), user, label, text)

    records = [record(u, rng.choices(labels, weights[groups[u]])[0]) for u in active]
    which = OOLONG_QUESTIONS[salt % len(OOLONG_QUESTIONS)]
    slots: Slots = {"noun": domain.noun}
    _draw_for_old_wording(rng)
    if which == "count":
        x = rng.choice(labels)
        gold: Gold = sum(r.label == x for r in records)
        slots |= {"x": x}
        kind, names, params = "count", [], {"label": x}
    elif which == "top_in_group":
        # Only groups with records (a tiny input may leave one empty); the same draw as before otherwise.
        g = rng.choice([g for g in domain.groups if any(groups[r.user] == g for r in records)])
        counts = Counter(r.label for r in records if groups[r.user] == g)
        top = counts.most_common()
        if len(top) > 1 and top[0][1] == top[1][1]:
            members = [u for u in users if groups[u] == g]
            records.append(record(rng.choice(members), top[0][0]))
        gold = Counter(r.label for r in records if groups[r.user] == g).most_common(1)[0][0]
        slots |= {"who": domain.group_phrase.format(g=g)}
        kind, names, params = "choice", labels, {"group": g}
    elif which == "compare":
        a, b = rng.sample(labels, 2)
        if rng.random() < 0.25:
            diff = sum(r.label == a for r in records) - sum(r.label == b for r in records)
            fewer = b if diff > 0 else a
            records += [record(rng.choice(users), fewer) for _ in range(abs(diff))]
        count_a, count_b = sum(r.label == a for r in records), sum(r.label == b for r in records)
        gold = a if count_a > count_b else b if count_b > count_a else "same"
        slots |= {"a": a, "b": b}
        kind, names, params = "choice", [a, b, "same"], {"labels": [a, b]}
    else:
        x, k = rng.choice(labels), rng.choice((2, 3))
        per_user = Counter(r.user for r in records if r.label == x)
        gold = sum(c >= k for c in per_user.values())
        slots |= {"x": x, "k": k}
        kind, names, params = "count", [], {"label": x, "k": k}
    _draw_for_old_wording(rng)
    records.sort(key=lambda r: r.day)
    name = {"line": f"{domain.noun}s.txt", "block": f"{domain.noun}_export.txt", "jsonl": f"{domain.noun}s.jsonl"}
    text = _render_records(rng, domain, layout, records, groups)
    meta = {
        "question_type": which,
        "params": params,
        "domain": domain.noun,
        "layout": layout,
        "records": len(records),
        "users": n_users,
    }
    return Built(f"oolong.{which}", slots, gold, kind, {name[layout]: text}, names, meta)


_GENERATORS: dict[str, Callable[[random.Random, int, int], Built]] = {
    "needle": _needle,
    "logs": _logs,
    "oolong": _oolong,
    "oneline": _oneline,
    "journal": shapes.journal,
    "syslog": shapes.syslog,
    "jsonl": shapes.jsonl,
    "pytest": reports.pytest_log,
    "crash": reports.crash_log,
    "semantic": semantic.build,
}
