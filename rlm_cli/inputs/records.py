"""Log lines and exported records as dicts, with the usual fields under one name whatever the format.

Small models write wrong regexes for formats they have not looked at; `records()` in the REPL lets them
filter on `r["level"]`, `r["status"]`, `r["label"]` or `r["time"]` across JSON lines, logfmt, syslog, access
logs, timestamped text and blank-line-separated `Key: value` blocks at once. Imported by the sandboxed REPL
child, so only the standard library and dateutil.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Canonical field -> the keys that formats use for it (compared lower-case).
ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time", "ts", "timestamp", "@timestamp", "datetime", "date", "time_local", "asctime"),
    "level": ("level", "lvl", "severity", "loglevel", "log_level", "levelname", "priority"),
    "service": ("service", "svc", "app", "application", "program", "service_name", "component"),
    "host": ("host", "hostname", "node", "instance"),
    "message": ("message", "msg", "log", "text", "body"),
    "status": ("status", "status_code", "statuscode", "http_status", "response_code"),
    "path": ("path", "uri", "url", "request_uri", "request_path", "endpoint", "route"),
    "method": ("method", "http_method", "verb", "request_method"),
    "ip": ("ip", "remote_addr", "client_ip", "clientip", "remote_ip", "src_ip"),
    "user": ("user", "username", "user_name", "userid", "user_id"),
    "label": ("label", "category", "class", "tag", "topic", "type", "kind"),
}
FIELDS = ("time", "level", "host", "service", "message", "status", "method", "path", "query", "ip", "user", "label")

LEVELS = {
    "TRACE": "TRACE",
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "NOTICE": "NOTICE",
    "WARN": "WARN",
    "WARNING": "WARN",
    "ERR": "ERROR",
    "ERROR": "ERROR",
    "CRIT": "CRITICAL",
    "CRITICAL": "CRITICAL",
    "FATAL": "FATAL",
    "PANIC": "PANIC",
    "ALERT": "ALERT",
    "EMERG": "EMERG",
}
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, start=1)}

_ISO = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:\s?(?:Z|UTC|[+-]\d\d:?\d\d))?"
_ACCESS = re.compile(
    r'^(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<size>\d+|-)'
    r'(?: "(?P<referer>[^"]*)" "(?P<agent>[^"]*)")?'
)
_SYSLOG = re.compile(
    r"^(?P<time>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?P<host>\S+) (?P<service>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: "
    r"(?P<message>.*)$"
)
# journalctl -o short-iso and RFC 5424-ish lines: a full timestamp, then "host program[pid]: message".
_STAMPED_SYSLOG = re.compile(
    rf"^(?P<time>{_ISO})\s+(?P<host>[\w.-]+) (?P<service>[\w./@-]+)\[(?P<pid>\d+)\]: (?P<message>.*)$"
)
_STAMPED = re.compile(rf"^\[?(?P<time>{_ISO})\]?[\s|,;-]*(?P<rest>.*)$")
_LEVEL_WORD = re.compile(r"^[\[(<]?(?P<level>[A-Za-z]{3,8})[\])>:]?(?:\s+|$)")
_LEVEL_ANYWHERE = re.compile(r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL|PANIC)\b")
_LOGGER = re.compile(r"^\[(?P<service>[\w./@-]+)\]\s*(?:[-:]\s*)?")
_PAIR = re.compile(r'(?<![\w.-])(?P<key>[A-Za-z_][\w.-]*)=(?P<value>"(?:[^"\\]|\\.)*"|\S*)')
# "user ann", "user=ann", and sshd's "Accepted password for ann from 10.0.0.7".
# systemd writes about a unit as "<unit>.service: <what happened>": the line is about that unit, not systemd.
_UNIT = re.compile(
    r"^(?P<unit>[\w@.:-]+?)\.(?P<kind>service|socket|timer|mount|target|scope|slice|path):\s*(?P<rest>.*)$"
)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
# syslog folds identical lines into "message repeated N times: [ <message> ]": N events, not one.
_REPEATED = re.compile(r"^message repeated (?P<n>\d+) times: \[\s*(?P<message>.*?)\s*\]$")
_USER_IN_MESSAGE = re.compile(r"\buser[ =:]+([\w.@-]*\w)|\bfor ([\w.@-]*\w) from\b", re.IGNORECASE)
_REQUEST = re.compile(r"^(?P<method>[A-Z]+) (?P<target>\S+)(?: (?P<protocol>\S+))?$")
# Labels as exports write them: "[label: billing]", "(plan: pro)", "... refund. Category: Refund", "... (refund)".
_BRACKET_PAIR = re.compile(r"[\[(]\s*(?P<key>[A-Za-z_][\w-]{0,30}):\s*(?P<value>[^\[\]()]{1,80}?)\s*[\])]")
_TRAILING_PAIR = re.compile(r"(?:^|(?<=[.!?;|])\s+)(?P<key>[A-Z][A-Za-z_-]{1,30}):\s+(?P<value>\w[\w -]{0,40}?)\s*$")
_TRAILING_TAG = re.compile(r"(?:^|\s)\((?P<value>[A-Za-z][\w-]{0,40})\)\s*$")
_HEADER = re.compile(r"^(?P<key>[A-Za-z][\w-]*(?: [\w-]+){0,2}):\s+(?P<value>\S.*)$")
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")
# A line of fields only, `Date: 2023-04-17 || User: 48213 || Text: ...` (OOLONG's layout, some exports).
_FIELD_SEPARATOR = re.compile(r"\s+\|\|?\s+")
_FIELD = re.compile(r"^(?P<key>[A-Za-z][\w -]{0,30}?):\s+(?P<value>.*)$")


class Time(datetime):
    """A record's time: compares with datetimes (naive ones are taken as UTC) and with date strings."""

    def _other(self, other: Any) -> Any:
        if isinstance(other, str):
            return when(other)
        if isinstance(other, datetime) and other.tzinfo is None:
            return other.replace(tzinfo=UTC)
        return other

    def __lt__(self, other: Any) -> bool:
        return super().__lt__(self._other(other))

    def __le__(self, other: Any) -> bool:
        return super().__le__(self._other(other))

    def __gt__(self, other: Any) -> bool:
        return super().__gt__(self._other(other))

    def __ge__(self, other: Any) -> bool:
        return super().__ge__(self._other(other))

    __hash__ = datetime.__hash__

    def __repr__(self) -> str:
        return f"Time('{self.isoformat()}')"

    # Records are shown with their time as ISO text, so code treats it as text too: `r["time"].startswith(
    # "2026-05-09")`, `"T09:" in r["time"]`, `r["time"][:10]`. Those read the ISO form instead of raising.
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not hasattr(str, name):
            raise AttributeError(f"'Time' object has no attribute {name!r}")
        return getattr(self.isoformat(), name)

    def __contains__(self, text: object) -> bool:
        return str(text) in self.isoformat()

    def __getitem__(self, index: int | slice) -> str:
        return self.isoformat()[index]


class _Absent:
    """What a record gives for a field its line lacks: equal to None, and False in every comparison.

    So `r["status"] >= 500` or `r["time"] > after` skip lines without that field instead of raising.
    """

    def __eq__(self, other: object) -> bool:
        return other is None or other is self

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __lt__(self, other: object) -> bool:
        return False

    __le__ = __gt__ = __ge__ = __lt__

    def __bool__(self) -> bool:
        return False

    def __hash__(self) -> int:
        return hash(None)

    def __contains__(self, item: object) -> bool:
        return False

    def __getitem__(self, key: object) -> _Absent:
        return self  # r["error"]["type"] on a record without "error" is missing too, not a TypeError

    def __repr__(self) -> str:
        return "None"

    __str__ = __repr__


ABSENT = _Absent()
_CANONICAL = {name: field for field, names in ALIASES.items() for name in names}


def _copied(key: str) -> bool:
    """A key whose value is also under a canonical name ("Category", "ts", "User"): listed once, canonically."""
    return key not in FIELDS and key.lower() in _CANONICAL


class Record(dict):
    """One parsed line or block. Absent fields read as ABSENT, so `r["status"] == 503` works on every line.

    Another name of a canonical field reads as that field (`r["category"]` is `r["label"]` where the record
    wrote "type=refund"), since models name a field after the question's word.
    """

    def __missing__(self, key: str) -> Any:
        field = _CANONICAL.get(key.lower()) if isinstance(key, str) else None
        if field is not None and field != key and field in self:
            return self[field]
        return ABSENT

    def __repr__(self) -> str:
        """Canonical fields first; keys copied to a canonical name, and the raw text, are left out."""
        order = [k for k in FIELDS if k in self] + [k for k in self if k not in FIELDS]
        shown = [k for k in order if k not in ("raw", "lineno") and not _copied(k)]
        if self.get("message") == str(self.get("raw", "")).strip():
            shown.remove("message")  # access and JSON lines without a message of their own
        return "{" + ", ".join(f"{k!r}: {_show(self[k])}" for k in shown if self[k] not in (None, "")) + "}"


def _show(value: Any) -> str:
    return repr(value.isoformat()) if isinstance(value, datetime) else repr(value)


def when(text: Any, year: int | None = None) -> Time | _Absent:
    """A date or time written any common way, as a UTC time ("14:02 UTC on 3 May 2025", "2025-05-03T14:02Z").

    Times, epoch numbers and absent fields pass through, since models also write `when(r["time"])`.
    """
    if isinstance(text, datetime):
        return _as_time(text)
    if text is None or text is ABSENT:
        return ABSENT
    if isinstance(text, int | float) and not isinstance(text, bool):
        return _epoch(text) or ABSENT
    text = str(text)
    fast = _fast_time(text.strip(), year)
    if fast is not None:
        return fast
    from dateutil import parser  # slow to import; only odd formats need it

    default = datetime(year or datetime.now(UTC).year, 1, 1)
    try:
        parsed = parser.parse(text, fuzzy=True, default=default)
        other = parser.parse(text, fuzzy=True, default=default.replace(month=2, day=2))
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a date or time: {text!r}") from exc
    if parsed.date() != other.date():
        # A clock time alone would silently mean 1 January: small models drop the date the question gave.
        raise ValueError(f"{text!r} is not a full date; write the day and month too, e.g. when('10:00 UTC on 2 May')")
    return _as_time(parsed)


def parse_line(text: str, year: int | None = None) -> Record:
    """The fields of one log line; unknown formats still get a level and key=value pairs when present."""
    record = Record()
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            record.update(data)
            return _normalise(record, year, stripped)
    if pairs := fields_line(stripped):
        # The free text is the longest value; it is the message, and no other field ("Instance" names hosts).
        fields = dict(pairs)
        text_key = max(fields, key=lambda k: len(fields[k]))
        record.update(fields, message=fields[text_key])
        record = _normalise(record, year, stripped)
        for field in FIELDS:
            if field != "message" and record.get(field) is fields[text_key]:
                del record[field]
        return record
    if match := _ACCESS.match(stripped):
        record.update({k: v for k, v in match.groupdict().items() if v not in (None, "-")})
        if record.get("size", "").isdigit():
            record["size"] = int(record["size"])
        return _normalise(record, year, stripped)
    rest = stripped
    if match := (_SYSLOG.match(stripped) or _STAMPED_SYSLOG.match(stripped)):
        record.update(time=match["time"], host=match["host"], service=match["service"])
        if match["pid"]:
            record["pid"] = int(match["pid"])
        rest = match["message"]
        if unit := _UNIT.match(rest):
            record.update(program=match["service"], unit=f"{unit['unit']}.{unit['kind']}", service=unit["unit"])
            rest = unit["rest"]
    elif match := _STAMPED.match(stripped):
        record["time"] = match["time"]
        rest = match["rest"]
    pairs = list(_PAIR.finditer(rest))
    for pair in pairs:
        record.setdefault(pair["key"], _pair_value(pair))
    _tags(rest, record)  # not pairs: a line with only a label tag still gets its level from anywhere in it
    if "level" not in record and (match := _LEVEL_WORD.match(rest)) and match["level"].upper() in LEVELS:
        record["level"] = match["level"]
        rest = rest[match.end() :]
    if match := _LOGGER.match(rest):
        record.setdefault("service", match["service"])
        rest = rest[match.end() :]
    if "level" not in record and not pairs and (match := _LEVEL_ANYWHERE.search(rest)):
        record["level"] = match[1]
    if not pairs or not any(k.lower() in ALIASES["message"] for k in record):
        record.setdefault("message", rest.strip(" -:|"))
    return _normalise(record, year, stripped)


def fields_line(line: str) -> list[tuple[str, str]]:
    """The (key, value) parts of a line made only of `Key: value` parts joined by "||" or "|", else []."""
    parts = _FIELD_SEPARATOR.split(line)
    if len(parts) < 2:
        return []
    found = [_FIELD.match(part) for part in parts]
    if not all(found):
        return []
    return [(m["key"], m["value"].strip()) for m in found if m]


def _pair_value(pair: re.Match[str]) -> str:
    """The value of a key=value pair, unquoted: `msg="a \\"b\\""` gives `a "b"`, and `user=ann:` gives `ann`."""
    value = pair["value"]
    return value[1:-1].replace('\\"', '"') if value.startswith('"') else value.rstrip(",;:")


def _tags(text: str, record: Record) -> list[re.Match[str]]:
    """Labels written inside a line: "[label: x]" and "(plan: pro)" anywhere, "Category: X" or "(x)" at its end."""
    found = list(_BRACKET_PAIR.finditer(text))
    for match in found:
        record.setdefault(match["key"], match["value"])
    if match := _TRAILING_PAIR.search(text):
        record.setdefault(match["key"], match["value"])
        found.append(match)
    elif match := _TRAILING_TAG.search(text):
        record.setdefault("tag", match["value"])
        found.append(match)
    return found


def parse_block(text: str, year: int | None = None) -> Record:
    """One record written as lines of `Key: value` (and tags), as ticket and review exports write them.

    The lines that are not fields make its message.
    """
    record = Record()
    body = []
    for line in text.splitlines():
        stripped = line.strip()
        if match := _HEADER.match(stripped):
            value = match["value"]
            for tag in reversed(_tags(value, record)):
                value = (value[: tag.start()] + value[tag.end() :]).strip()
            record.setdefault(match["key"], value)
        elif stripped:
            rest = stripped
            for pair in sorted([*_PAIR.finditer(stripped), *_tags(stripped, record)], key=lambda m: -m.start()):
                if pair.re is _PAIR:
                    record.setdefault(pair["key"], _pair_value(pair))
                rest = rest[: pair.start()] + rest[pair.end() :]
            if rest.strip():
                body.append(rest.strip())
    if not any(k.lower() in ALIASES["message"] for k in record):
        record["message"] = " ".join(body)
    return _normalise(record, year, " ".join(body))


def is_blocks(text: str, sample: int = 20_000) -> bool:
    """A document of records separated by blank lines, each with `Key: value` lines (an export, not prose or logs).

    Judged on its start: at least three blocks of two lines or more, and one key in four blocks out of five.
    """
    blocks = [b for b in _BLANK_LINES.split(text[:sample].strip()) if b.strip()][:-1]  # the last may be cut
    if len(blocks) < 3 or sum(b.count("\n") >= 1 for b in blocks) < 0.8 * len(blocks):
        return False
    keys: Counter[str] = Counter()
    for block in blocks:
        keys.update({m["key"].lower() for line in block.splitlines() if (m := _HEADER.match(line.strip()))})
    return bool(keys) and keys.most_common(1)[0][1] >= 0.8 * len(blocks)


def units(text: str, blocks: bool | None = None) -> list[tuple[int, str]]:
    """A document's records as (first line number, text): its blocks when is_blocks(), else its non-blank lines."""
    if not (is_blocks(text) if blocks is None else blocks):
        return [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    out = []
    start, line = 0, 1
    for gap in [*_BLANK_LINES.finditer(text), None]:
        end = gap.start() if gap else len(text)
        block = text[start:end]
        if block.strip():
            out.append((line + len(block) - len(block.lstrip("\n")), block.strip("\n")))
        after = gap.end() if gap else end
        line += text.count("\n", start, after)
        start = after
    return out


def parse_unit(text: str, year: int | None = None) -> Record:
    """A line or a block, whichever `text` is."""
    return parse_block(text, year) if "\n" in text.strip() else parse_line(text, year)


def parse_lines(path: str, text: str, year: int | None = None) -> list[Record]:
    """Every record of one document (its non-blank lines, or its blocks), with its path and line number."""
    out = []
    for number, unit in units(text):
        record = parse_unit(unit, year)
        record.update(doc=path, lineno=number, raw=unit)
        if folded := _REPEATED.match(record["message"]):
            # One record per event the line stands for, so counts over records() are right.
            inner = parse_unit(unit.replace(record["message"], folded["message"]), year)
            inner.update(doc=path, lineno=number, raw=unit)
            out += [Record(inner) for _ in range(int(folded["n"]))]
            continue
        out.append(record)
    return out


def guess_year(texts: Iterable[str]) -> int | None:
    """The most common year among full dates, for formats such as syslog that leave it out."""
    years = Counter(int(m[1]) for text in texts for m in re.finditer(r"\b((?:19|20)\d\d)-\d\d-\d\d", text[:20_000]))
    return years.most_common(1)[0][0] if years else None


def common_fields(text: str, sample: int = 40) -> tuple[str, ...]:
    """The fields records() finds in most of a document's first records, for the root model's description.

    `message` (every line has one) and the optional `query` are left out.
    """
    counts: Counter[str] = Counter()
    head = text[:20_000]
    found = [unit for _, unit in units(head[: head.rfind("\n") + 1] or head, is_blocks(text))][:sample]
    for unit in found:
        record = parse_unit(unit)
        counts.update(k for k in FIELDS if record[k] not in (None, "") and k not in ("message", "query"))
    return tuple(k for k in FIELDS if counts[k] > len(found) // 2)


# Keys whose values are not categories worth listing: they are unique per line, or copied elsewhere.
_NOT_CATEGORIES = {"time", "message", "raw", "doc", "lineno", "pid", "size", "ip", "user", "query", "request", "agent"}
_SHAPE_PARTS = re.compile(
    r"(?P<ip>\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b)"
    r"|(?P<id>\b(?=[0-9a-f-]*\d)[0-9a-f]{8,}(?:-[0-9a-f]{4,})*\b)"
    r"|(?P<n>(?<![A-SU-Za-z])\d+(?:[.,:]\d+)*)",  # T is the one letter allowed before: ISO times
    re.IGNORECASE,
)


PROFILE_LINES = 6_000  # parsing 6,000 lines for the root prompt takes a few tenths of a second


@dataclass
class Profile:
    """What a sample of an input's records looks like: the values of its category fields and its messages.

    Shown to the root model so that it filters on values the data really has ("login_failed", 503, "FATAL")
    instead of words it guessed from the question.
    """

    lines: int
    values: dict[str, list[Any]]  # category field -> its values in the sample, most common first
    shapes: list[tuple[str, int]]  # message shapes (numbers, addresses, users masked), most common first
    repeats: int = 0  # "message repeated N times" lines among them: records() makes N records of each


def shape(message: str, user: Any = None) -> str:
    """A message with its variable parts masked, so that lines written by one log statement read the same."""
    if isinstance(user, str) and user:
        message = message.replace(user, "<user>")
    return _SHAPE_PARTS.sub(lambda m: f"<{m.lastgroup}>", message)


def profile(
    docs_text: Iterable[tuple[str, str]],
    also: Callable[[], Iterable[str]] = tuple,
    max_lines: int = PROFILE_LINES,
    max_values: int = 25,
) -> Profile:
    """Values and message shapes over about `max_lines` lines spread evenly over every document, plus `also()`.

    `also()` gives lines that must count, however rare (those holding the question's words); it is called only
    when the documents are sampled, since otherwise every line is read anyway.
    A field with more than `max_values` distinct values (ids, sizes) is not a category and is left out.
    """
    docs = [(path, text) for path, text in docs_text if text]
    blocks = {path: [unit for _, unit in units(text, True)] for path, text in docs if is_blocks(text)}
    total = sum(len(blocks[path]) if path in blocks else text.count("\n") + 1 for path, text in docs) or 1
    step = max(1, round(total / max_lines))
    year = guess_year(text for _, text in docs)
    values: dict[str, Counter[Any]] = {}
    shapes: Counter[str] = Counter()
    seen = repeats = 0
    sample = [unit for path, text in docs for unit in (blocks[path][::step] if path in blocks else _every(text, step))]
    if step > 1:
        sample += also()
    for line in sample:
        if not line.strip():
            continue
        record = parse_unit(line, year)
        seen += 1
        for key, value in _with_nested(record):
            if key in _NOT_CATEGORIES or _copied(key) or not isinstance(value, str | int):
                continue
            if isinstance(value, str) and not 0 < len(value) <= 40:
                continue
            counter = values.setdefault(key, Counter())
            if len(counter) <= max_values:
                counter[value] += 1
        message, times = record["message"], 1
        if message and (folded := _REPEATED.match(message)):
            message, times = folded["message"], int(folded["n"])
            repeats += 1
        if message and message != line.strip():
            shapes[shape(message, record.get("user"))[:160]] += times
    categories = {
        key: [value for value, _ in counter.most_common()]
        for key, counter in values.items()
        if len(counter) <= max_values and sum(counter.values()) > 1
    }
    return Profile(seen, categories, shapes.most_common(), repeats)


def _with_nested(record: Record) -> Iterable[tuple[str, Any]]:
    """The record's fields, and those one level down in nested objects as "error.type" (JSON lines nest them)."""
    for key, value in record.items():
        if isinstance(value, dict):
            yield from ((f"{key}.{sub}", inner) for sub, inner in value.items() if isinstance(sub, str))
        else:
            yield key, value


def _every(text: str, step: int) -> Iterable[str]:
    """Every step-th line of text, without splitting all of it."""
    pos = index = 0
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        if index % step == 0:
            yield text[pos:end]
        index += 1
        pos = end + 1


def _normalise(record: Record, year: int | None, line: str) -> Record:
    """Copy known keys to canonical names and types; the original keys stay."""
    lower = {k.lower(): k for k in record}
    for field, names in ALIASES.items():
        if record.get(field) not in (None, ""):
            continue
        for name in names:
            key = lower.get(name)
            if key is not None and record[key] not in (None, "") and not isinstance(record[key], dict | list):
                record[field] = record[key]
                break
    if isinstance(record.get("request"), str) and (match := _REQUEST.match(record["request"])):
        record.setdefault("method", match["method"])
        record["path"] = record.get("path") or match["target"]
    if isinstance(record.get("path"), str) and "?" in record["path"]:
        record["path"], record["query"] = record["path"].split("?", 1)
    if isinstance(record.get("level"), str):
        record["level"] = LEVELS.get(record["level"].upper(), record["level"].upper())
    if isinstance(record.get("label"), str):
        record["label"] = record["label"].lower()
    if isinstance(record.get("status"), str) and record["status"].isdigit():
        record["status"] = int(record["status"])
    if not isinstance(record.get("message"), str):
        record["message"] = line if record.get("message") is None else str(record["message"])
    if record.get("user") in (None, "") and (match := _USER_IN_MESSAGE.search(record["message"])):
        record["user"] = match[1] or match[2]
    if record.get("ip") in (None, "") and len(found := _IPV4.findall(record["message"])) == 1:
        record["ip"] = found[0]
    raw = record.get("time")
    if isinstance(raw, str):
        try:
            record["time"] = when(raw, year)
        except ValueError:
            record["time"] = None
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        record["time"] = _epoch(raw)
    return record


def _epoch(value: float) -> Time | None:
    seconds = value / 1000 if value > 1e11 else value  # milliseconds are common in JSON logs
    try:
        return _as_time(datetime.fromtimestamp(seconds, UTC))
    except (OverflowError, OSError, ValueError):
        return None


def _as_time(value: datetime) -> Time:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return Time(value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, UTC)


_SYSLOG_TIME = re.compile(r"^([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)$")
_CLF_TIME = re.compile(r"^(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-]\d{4})$")


def _fast_time(text: str, year: int | None) -> Time | None:
    """ISO, syslog and access-log times without dateutil: they are most lines of most logs."""
    if re.fullmatch(_ISO, text):
        iso = text.replace(",", ".").replace(" UTC", "+00:00").replace("UTC", "+00:00")
        try:
            return _as_time(datetime.fromisoformat(iso))
        except ValueError:
            return None
    if (match := _SYSLOG_TIME.match(text)) and match[1].lower() in _MONTHS:
        month, day, hh, mm, ss = _MONTHS[match[1].lower()], *map(int, match.groups()[1:])
        return _as_time(datetime(year or datetime.now(UTC).year, month, day, hh, mm, ss))
    if (match := _CLF_TIME.match(text)) and match[2].lower() in _MONTHS:
        stamp = f"{match[3]}-{_MONTHS[match[2].lower()]:02d}-{match[1]}T{match[4]}:{match[5]}:{match[6]}{match[7]}"
        return _as_time(datetime.fromisoformat(stamp))
    return None
