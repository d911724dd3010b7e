"""Log lines as records: one dict per line, with the usual fields under one name whatever the format.

Small models write wrong regexes for formats they have not looked at; `records()` in the REPL lets them
filter on `r["level"]`, `r["status"]` or `r["time"]` across JSON lines, logfmt, syslog, access logs and
timestamped text at once. Imported by the sandboxed REPL child, so only the standard library and dateutil.
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
}
FIELDS = ("time", "level", "host", "service", "message", "status", "method", "path", "query", "ip", "user")

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
_STAMPED = re.compile(rf"^\[?(?P<time>{_ISO})\]?[\s|,;-]*(?P<rest>.*)$")
_LEVEL_WORD = re.compile(r"^[\[(<]?(?P<level>[A-Za-z]{3,8})[\])>:]?(?:\s+|$)")
_LEVEL_ANYWHERE = re.compile(r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL|PANIC)\b")
_LOGGER = re.compile(r"^\[(?P<service>[\w./@-]+)\]\s*(?:[-:]\s*)?")
_PAIR = re.compile(r'(?<![\w.-])(?P<key>[A-Za-z_][\w.-]*)=(?P<value>"(?:[^"\\]|\\.)*"|\S*)')
_USER_IN_MESSAGE = re.compile(r"\buser[ =:]+([\w.@-]*\w)", re.IGNORECASE)
_REQUEST = re.compile(r"^(?P<method>[A-Z]+) (?P<target>\S+)(?: (?P<protocol>\S+))?$")


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

    def __repr__(self) -> str:
        return "None"

    __str__ = __repr__


ABSENT = _Absent()
_ALIAS_KEYS = {name for names in ALIASES.values() for name in names} - set(ALIASES)


class Record(dict):
    """One parsed line. Absent fields read as ABSENT, so `r["status"] == 503` works on every line."""

    def __missing__(self, key: str) -> _Absent:
        return ABSENT

    def __repr__(self) -> str:
        """Canonical fields first; keys copied to a canonical name, and the raw line, are left out."""
        order = [k for k in FIELDS if k in self] + [k for k in self if k not in FIELDS]
        shown = [k for k in order if k not in ("raw", "lineno") and k.lower() not in _ALIAS_KEYS]
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
    if match := _ACCESS.match(stripped):
        record.update({k: v for k, v in match.groupdict().items() if v not in (None, "-")})
        if record.get("size", "").isdigit():
            record["size"] = int(record["size"])
        return _normalise(record, year, stripped)
    rest = stripped
    if match := _SYSLOG.match(stripped):
        record.update(time=match["time"], host=match["host"], service=match["service"])
        if match["pid"]:
            record["pid"] = int(match["pid"])
        rest = match["message"]
    elif match := _STAMPED.match(stripped):
        record["time"] = match["time"]
        rest = match["rest"]
    pairs = list(_PAIR.finditer(rest))
    for pair in pairs:
        value = pair["value"]
        record.setdefault(pair["key"], value[1:-1].replace('\\"', '"') if value.startswith('"') else value)
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


def parse_lines(path: str, text: str, year: int | None = None) -> list[Record]:
    """Every non-blank line of one document, with its path and line number."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            record = parse_line(line, year)
            record.update(doc=path, lineno=number, raw=line)
            out.append(record)
    return out


def guess_year(texts: Iterable[str]) -> int | None:
    """The most common year among full dates, for formats such as syslog that leave it out."""
    years = Counter(int(m[1]) for text in texts for m in re.finditer(r"\b((?:19|20)\d\d)-\d\d-\d\d", text[:20_000]))
    return years.most_common(1)[0][0] if years else None


def common_fields(text: str, sample: int = 40) -> tuple[str, ...]:
    """The fields records() finds in most of a document's first lines, for the root model's description.

    `message` (every line has one) and the optional `query` are left out.
    """
    counts: Counter[str] = Counter()
    lines = [line for line in text[:20_000].splitlines() if line.strip()][:sample]
    for line in lines:
        record = parse_line(line)
        counts.update(k for k in FIELDS if record[k] not in (None, "") and k not in ("message", "query"))
    return tuple(k for k in FIELDS if counts[k] > len(lines) // 2)


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
    """What a sample of an input's log lines looks like: the values of its category fields and its messages.

    Shown to the root model so that it filters on values the data really has ("login_failed", 503, "FATAL")
    instead of words it guessed from the question.
    """

    lines: int
    values: dict[str, list[Any]]  # category field -> its values in the sample, most common first
    shapes: list[tuple[str, int]]  # message shapes (numbers, addresses, users masked), most common first


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
    total_lines = sum(text.count("\n") + 1 for _, text in docs) or 1
    step = max(1, round(total_lines / max_lines))
    year = guess_year(text for _, text in docs)
    values: dict[str, Counter[Any]] = {}
    shapes: Counter[str] = Counter()
    seen = 0
    sample = [line for _, text in docs for line in _every(text, step)]
    if step > 1:
        sample += also()
    for line in sample:
        if not line.strip():
            continue
        record = parse_line(line, year)
        seen += 1
        for key, value in record.items():
            if key in _NOT_CATEGORIES or key.lower() in _ALIAS_KEYS or not isinstance(value, str | int):
                continue
            if isinstance(value, str) and not 0 < len(value) <= 40:
                continue
            counter = values.setdefault(key, Counter())
            if len(counter) <= max_values:
                counter[value] += 1
        if record["message"] and record["message"] != line.strip():
            shapes[shape(record["message"], record.get("user"))[:160]] += 1
    categories = {
        key: [value for value, _ in counter.most_common()]
        for key, counter in values.items()
        if len(counter) <= max_values and sum(counter.values()) > 1
    }
    return Profile(seen, categories, shapes.most_common())


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
    if isinstance(record.get("status"), str) and record["status"].isdigit():
        record["status"] = int(record["status"])
    if not isinstance(record.get("message"), str):
        record["message"] = line if record.get("message") is None else str(record["message"])
    if record.get("user") in (None, "") and (match := _USER_IN_MESSAGE.search(record["message"])):
        record["user"] = match[1]
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
