"""Log shapes users have and the first benchmark families lacked: systemd journal, syslog with repeats, JSON lines.

journal: `journalctl` output from several hosts, where the failing unit is named inside systemd's message
(`systemd[1]: auth-api.service: Failed with result 'exit-code'.`), so the program field says "systemd".
syslog: an sshd auth log whose "message repeated N times: [ ... ]" lines stand for N more attempts.
jsonl: application events with nested fields (service.name, http.status, error.type).
Each gold is computed from the events the generator made, never from the wording.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from bench.common import FIRST_NAMES, MONTHS, SERVICES, Built, clock, iso, k_slots

_START = 1_767_225_600  # 2026-01-01T00:00:00Z; each task starts on a seeded day after it


def _day_start(rng: random.Random) -> int:
    return _START + rng.randint(0, 300) * 86_400 + rng.randint(0, 6) * 3600


def _syslog_stamp(ts: int, pad: str) -> str:
    """A syslog-style time: "Mar 03 14:02:11" (journalctl, pad "0") or "Mar  3 14:02:11" (rsyslog, pad " ")."""
    t = time.gmtime(ts)
    day = f"{t.tm_mday:02d}" if pad == "0" else f"{t.tm_mday:2d}"
    return f"{MONTHS[t.tm_mon - 1]} {day} {clock(ts)}"


@dataclass
class _Entry:
    """Lines that belong together (a failure and its restart), at one time; `failed` names the unit that failed."""

    ts: int
    lines: list[str]
    failed: str = ""


def _chars(entries: list[_Entry]) -> int:
    return sum(len(line) + 1 for e in entries for line in e.lines)


def _fill_entries(target_chars: float, make: Callable[[], _Entry]) -> list[_Entry]:
    """Entries from `make` until their lines reach target_chars, and at least a few of them."""
    entries: list[_Entry] = []
    total = 0
    while total < target_chars or len(entries) < 3:
        entries.append(make())
        total += _chars(entries[-1:])
    return entries


def _render(entries: list[_Entry]) -> str:
    entries.sort(key=lambda e: e.ts)
    return "\n".join(line for e in entries for line in e.lines) + "\n"


# ---------------------------------------------------------------- journal

JOURNAL_HOSTS = ("host1", "host2", "host3", "host4", "host5", "host6", "db1", "edge1")
SYSTEM_UNITS = ("logrotate", "apt-daily", "man-db", "fstrim", "systemd-tmpfiles-clean")
EXIT_STATUSES = ("1/FAILURE", "1/FAILURE", "2/INVALIDARGUMENT", "3/NOTIMPLEMENTED", "203/EXEC")
APP_LAST_WORDS = (
    "error: connect ECONNREFUSED 10.0.{a}.{b}:5432",
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "fatal: could not bind to 0.0.0.0:{port}: address already in use",
    "Traceback (most recent call last): RuntimeError: worker pool exhausted",
    "uncaught exception: TypeError: Cannot read properties of undefined (reading 'id')",
)
APP_CHATTER = (
    "INFO request handled in {n} ms",
    "INFO processed batch {n} ({m} items)",
    "DEBUG cache lookup key=item:{n} hit=true",
    "WARN slow query took {n} ms",
    "WARN upstream returned 503, will retry in {m}s",
    "INFO health check ok",
)


def _description(unit: str) -> str:
    return unit.replace("-", " ").title().replace("Api", "API")


def _failure(rng: random.Random, ts: int, host: str, unit: str, pid: int, restarts: int) -> _Entry:
    """What journalctl shows when a unit's main process exits non-zero and systemd restarts it."""
    words = rng.choice(APP_LAST_WORDS).format(a=rng.randint(0, 9), b=rng.randint(2, 250), port=rng.randint(3000, 9000))
    stamp, later = _syslog_stamp(ts, "0"), _syslog_stamp(ts + 5, "0")
    desc, status = _description(unit), rng.choice(EXIT_STATUSES)
    lines = [
        f"{stamp} {host} {unit}[{pid}]: {words}",
        f"{stamp} {host} systemd[1]: {unit}.service: Main process exited, code=exited, status={status}",
        f"{stamp} {host} systemd[1]: {unit}.service: Failed with result 'exit-code'.",
        f"{later} {host} systemd[1]: {unit}.service: Scheduled restart job, restart counter is at {restarts}.",
        f"{later} {host} systemd[1]: Stopped {unit}.service - {desc}.",
        f"{later} {host} systemd[1]: Starting {unit}.service - {desc}...",
        f"{_syslog_stamp(ts + 6, '0')} {host} systemd[1]: Started {unit}.service - {desc}.",
    ]
    return _Entry(ts, lines, failed=unit)


def _clean_restart(ts: int, host: str, unit: str) -> _Entry:
    """A deploy: stopped on purpose and started again, which is not a failure."""
    stamp, desc = _syslog_stamp(ts, "0"), _description(unit)
    lines = [
        f"{stamp} {host} systemd[1]: Stopping {unit}.service - {desc}...",
        f"{stamp} {host} systemd[1]: {unit}.service: Deactivated successfully.",
        f"{stamp} {host} systemd[1]: Stopped {unit}.service - {desc}.",
        f"{stamp} {host} systemd[1]: Starting {unit}.service - {desc}...",
        f"{stamp} {host} systemd[1]: Started {unit}.service - {desc}.",
    ]
    return _Entry(ts, lines)


def _journal_noise(
    rng: random.Random, window: tuple[int, int], host: str, units: list[str], pids: dict[str, int]
) -> _Entry:
    ts = rng.randint(*window)
    stamp = _syslog_stamp(ts, "0")
    roll = rng.random()
    if roll < 0.7:
        unit = rng.choice(units)
        text = rng.choice(APP_CHATTER).format(n=rng.randint(1, 99_999), m=rng.randint(1, 64))
        return _Entry(ts, [f"{stamp} {host} {unit}[{pids[unit]}]: {text}"])
    if roll < 0.8:
        unit = rng.choice(SYSTEM_UNITS)
        desc = _description(unit)
        return _Entry(
            ts,
            [
                f"{stamp} {host} systemd[1]: Starting {unit}.service - {desc}...",
                f"{stamp} {host} systemd[1]: {unit}.service: Deactivated successfully.",
                f"{stamp} {host} systemd[1]: Finished {unit}.service - {desc}.",
            ],
        )
    if roll < 0.9:
        pid = rng.randint(1000, 60_000)
        return _Entry(ts, [f"{stamp} {host} CRON[{pid}]: (root) CMD (/usr/local/bin/backup --incremental)"])
    user = rng.choice(FIRST_NAMES).lower()
    ip = f"10.0.{rng.randint(0, 9)}.{rng.randint(2, 250)}"
    port = rng.randint(30_000, 65_000)
    return _Entry(
        ts,
        [f"{stamp} {host} sshd[{rng.randint(1000, 60_000)}]: Accepted publickey for {user} from {ip} port {port} ssh2"],
    )


def journal(rng: random.Random, target_chars: int, salt: int) -> Built:
    """Hosts' journals; some services fail exactly k times in total across hosts, the others a different number."""
    hosts = rng.sample(JOURNAL_HOSTS, rng.randint(3, 6))
    units = rng.sample(SERVICES, rng.randint(5, 8))
    runs_on = {u: rng.sample(hosts, rng.randint(1, len(hosts))) for u in units}
    start = _day_start(rng)
    end = start + rng.randint(10, 20) * 3600
    k = rng.choice((1, 2, 2, 3))
    chosen = set(rng.sample(units, rng.randint(1, 3)))
    entries: dict[str, list[_Entry]] = {h: [] for h in hosts}
    pids = {h: {u: rng.randint(300, 32_000) for u in units} for h in hosts}
    restarts: Counter[tuple[str, str]] = Counter()
    for unit in units:
        times = k if unit in chosen else rng.choice([c for c in (0, 1, 2, 3, 4) if c != k])
        for _ in range(times):
            host = rng.choice(runs_on[unit])
            restarts[host, unit] += 1
            ts = rng.randint(start, end)
            entries[host].append(_failure(rng, ts, host, unit, pids[host][unit], restarts[host, unit]))
        for _ in range(rng.randint(0, 2)):
            host = rng.choice(runs_on[unit])
            entries[host].append(_clean_restart(rng.randint(start, end), host, unit))
    per_host = (target_chars - sum(_chars(es) for es in entries.values())) / len(hosts)
    for host in hosts:
        local = [u for u in units if host in runs_on[u]] or units[:1]
        entries[host] += _fill_entries(per_host, partial(_journal_noise, rng, (start, end), host, local, pids[host]))
    failures = Counter(e.failed for es in entries.values() for e in es if e.failed)
    gold = sorted(u for u in units if failures[u] == k)
    files = {f"{host}/journal.log": _render(entries[host]) for host in sorted(hosts)}
    names = sorted({*units, *SYSTEM_UNITS})
    meta = {"params": {"k": k}, "hosts": sorted(hosts), "failures": dict(failures)}
    return Built("journal.failed_k", k_slots(k), gold, "set", files, names, meta)


# ---------------------------------------------------------------- syslog with "message repeated N times"

SSH_USERS = ("root", "admin", "ubuntu", "oracle", "test", "postgres", "git", "deploy")


def _attacker_ip(rng: random.Random) -> str:
    first = rng.choice((45, 61, 91, 103, 141, 178, 185, 193, 218))
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _attempt(rng: random.Random, ts: int, host: str, ip: str, repeats: int) -> tuple[_Entry, int]:
    """One failed password, followed by rsyslog's "message repeated" line when it came `repeats` more times."""
    pid, port = rng.randint(1000, 60_000), rng.randint(30_000, 65_000)
    user = rng.choice(SSH_USERS)
    who = user if user in ("root", "deploy", "git") else f"invalid user {user}"
    message = f"Failed password for {who} from {ip} port {port} ssh2"
    lines = []
    if who.startswith("invalid"):
        lines.append(f"{_syslog_stamp(ts, ' ')} {host} sshd[{pid}]: Invalid user {user} from {ip} port {port}")
    lines.append(f"{_syslog_stamp(ts, ' ')} {host} sshd[{pid}]: {message}")
    if repeats:
        later = _syslog_stamp(ts + rng.randint(2, 40), " ")
        lines.append(f"{later} {host} sshd[{pid}]: message repeated {repeats} times: [ {message}]")
    lines.append(f"{_syslog_stamp(ts + 41, ' ')} {host} sshd[{pid}]: Connection closed by {ip} port {port} [preauth]")
    return _Entry(ts, lines), 1 + repeats


def _auth_noise(rng: random.Random, ts: int, host: str) -> _Entry:
    stamp = _syslog_stamp(ts, " ")
    pid = rng.randint(1000, 60_000)
    roll = rng.random()
    if roll < 0.35:
        lines = [
            f"{stamp} {host} CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
            f"{stamp} {host} CRON[{pid}]: pam_unix(cron:session): session closed for user root",
        ]
        if rng.random() < 0.3:  # repeats of other messages, which are not password failures
            lines.append(
                f"{stamp} {host} CRON[{pid}]: message repeated {rng.randint(2, 9)} times: "
                f"[ pam_unix(cron:session): session closed for user root]"
            )
        return _Entry(ts, lines)
    if roll < 0.65:
        user, ip = rng.choice(FIRST_NAMES).lower(), f"10.1.{rng.randint(0, 9)}.{rng.randint(2, 250)}"
        port = rng.randint(30_000, 65_000)
        return _Entry(
            ts,
            [
                f"{stamp} {host} sshd[{pid}]: Accepted publickey for {user} from {ip} port {port} ssh2",
                f"{stamp} {host} sshd[{pid}]: pam_unix(sshd:session): session opened for user {user}(uid=1000)",
                f"{stamp} {host} systemd-logind[611]: New session {pid % 900} of user {user}.",
            ],
        )
    if roll < 0.85:
        user = rng.choice(FIRST_NAMES).lower()
        return _Entry(
            ts,
            [
                f"{stamp} {host} sudo: {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; "
                "COMMAND=/usr/bin/systemctl status nginx"
            ],
        )
    ip, port = f"10.1.0.{rng.randint(2, 250)}", rng.randint(30_000, 65_000)
    return _Entry(
        ts, [f"{stamp} {host} sshd[{pid}]: Received disconnect from {ip} port {port}:11: disconnected by user"]
    )


def syslog(rng: random.Random, target_chars: int, salt: int) -> Built:
    """One auth.log: the IP with the most attempts writes few lines with big repeats, a decoy many single ones."""
    host = rng.choice(("bastion", "gw1", "jump01", "sshgate"))
    start = _day_start(rng)
    end = start + rng.randint(10, 20) * 3600
    ips: list[str] = []
    wanted = rng.randint(5, 9)
    while len(ips) < wanted:
        ip = _attacker_ip(rng)
        if ip not in ips:
            ips.append(ip)
    top, decoy, others = ips[0], ips[1], ips[2:]
    # Counted by lines, the decoy leads (many single failures); counted with the repeats, the top IP leads.
    plan = {decoy: [0] * rng.randint(12, 20)}
    for ip in others:
        plan[ip] = [rng.choice((0, 0, 1, 2)) for _ in range(rng.randint(1, 6))]
    plan[top] = [rng.randint(8, 15) for _ in range(rng.randint(3, 5))]
    shortfall = max(len(b) + sum(b) for b in plan.values()) + 5 - (len(plan[top]) + sum(plan[top]))
    plan[top][0] += max(0, shortfall)
    entries: list[_Entry] = []
    attempts: Counter[str] = Counter()
    for ip, bursts in plan.items():
        for repeats in bursts:
            entry, n = _attempt(rng, rng.randint(start, end), host, ip, repeats)
            entries.append(entry)
            attempts[ip] += n
    entries += _fill_entries(target_chars - _chars(entries), lambda: _auth_noise(rng, rng.randint(start, end), host))
    files = {"auth.log": _render(entries)}
    meta = {"attempts": dict(attempts), "decoy": decoy}
    if salt % 2 == 0:
        return Built("syslog.top_ip", {}, top, "choice", files, sorted(ips), meta)
    repeated = [ip for ip in ips if any(plan[ip])]
    ip = rng.choice(repeated)
    return Built("syslog.attempts_from", {"ip": ip}, attempts[ip], "count", files, [], meta | {"params": {"ip": ip}})


# ---------------------------------------------------------------- JSON lines with nested fields

JSONL_SERVICES = ("checkout", "catalog", "accounts", "shipping", "search", "payments")
ERROR_TYPES = (
    "TimeoutError",
    "ConnectionResetError",
    "KeyError",
    "ValidationError",
    "PermissionError",
    "RateLimitExceeded",
    "DatabaseError",
)
ERROR_MESSAGES = {
    "TimeoutError": "upstream did not answer within {n} ms",
    "ConnectionResetError": "connection reset by peer while reading response",
    "KeyError": "'{field}'",
    "ValidationError": "field '{field}' is required",
    "PermissionError": "user lacks scope orders:{field}",
    "RateLimitExceeded": "more than {n} requests per minute",
    "DatabaseError": "deadlock detected while updating {field}",
}
PATHS = ("/api/v1/orders", "/api/v1/cart", "/api/v1/items", "/api/v1/users/me", "/api/v1/payments", "/healthz")
PLANS = ("free", "pro", "team", "enterprise")
TS_CHARS = len("2026-01-01T00:00:00.000Z")


def _event(rng: random.Random, service: str, versions: dict[str, str], error: str = "") -> dict[str, object]:
    """One event without its time ("ts" comes first, set when the events are put in time order)."""
    status = rng.choice((500, 502, 503, 504)) if error else rng.choice((200, 200, 200, 201, 204, 304, 404))
    record: dict[str, object] = {
        "ts": "",
        "level": "error" if error else rng.choice(("info", "info", "info", "debug", "warn")),
        "service": {"name": service, "version": versions[service], "instance": f"{service}-{rng.randint(1, 4)}"},
        "http": {
            "method": rng.choice(("GET", "GET", "POST", "PUT")),
            "path": rng.choice(PATHS),
            "status": status,
            "duration_ms": rng.randint(2, 4000),
        },
        "user": {"id": f"u-{rng.randint(1000, 99_999)}", "plan": rng.choice(PLANS)},
        "trace_id": f"{rng.getrandbits(64):016x}",
        "msg": "request failed" if error else "request completed",
    }
    if error:
        detail = ERROR_MESSAGES[error].format(n=rng.randint(100, 9000), field=rng.choice(("sku", "email", "qty", "id")))
        record["error"] = {"type": error, "message": detail, "retryable": error in ERROR_TYPES[:2]}
    return record


def jsonl(rng: random.Random, target_chars: int, salt: int) -> Built:
    """One events.jsonl; the asked service's most common error.type differs from the most common one overall."""
    services = rng.sample(JSONL_SERVICES, rng.randint(3, 5))
    versions = {s: f"{rng.randint(1, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}" for s in services}
    asked, loud = services[0], services[1]
    start = _day_start(rng)
    end = start + rng.randint(4, 12) * 3600
    types = rng.sample(ERROR_TYPES, len(ERROR_TYPES))
    errors: list[tuple[str, str]] = []
    # The asked service: a strict winner; the loud one: many errors of another type, the overall leader.
    counts = [rng.randint(7, 11), *sorted((rng.randint(1, 5) for _ in range(3)), reverse=True)]
    errors += [(asked, t) for t, c in zip(types, counts, strict=False) for _ in range(c)]
    errors += [(loud, types[1]) for _ in range(counts[0] + rng.randint(8, 14))]
    for service in services[2:]:
        errors += [(service, rng.choice(types)) for _ in range(rng.randint(1, 6))]
    events = [_event(rng, s, versions, t) for s, t in errors]
    chars = sum(len(json.dumps(e)) + TS_CHARS + 1 for e in events)
    while chars < target_chars:
        events.append(_event(rng, rng.choice(services), versions))
        chars += len(json.dumps(events[-1])) + TS_CHARS + 1
    rng.shuffle(events)
    for event, ts in zip(events, sorted(rng.randint(start, end) for _ in events), strict=True):
        event["ts"] = f"{iso(ts)}.{rng.randint(0, 999):03d}Z"
    text = "\n".join(json.dumps(e) for e in events) + "\n"
    gold = Counter(t for s, t in errors if s == asked).most_common(1)[0][0]
    # A plain dict: dataclasses.asdict rebuilds a Counter from its items, counting (key, n) pairs as keys.
    meta = {"params": {"service": asked}, "errors": dict(Counter(f"{s}:{t}" for s, t in errors))}
    files = {"events.jsonl": text}
    return Built("jsonl.top_error", {"service": asked}, gold, "choice", files, list(ERROR_TYPES), meta)
