"""Inputs for the questions CI jobs and pipes ask: a large pytest log, and a service log that ends in a crash.

pytest: a CI job's output (runner preamble, `pytest -v` progress, FAILURES with tracebacks, warnings, the short
test summary). It asks which tests failed (a set), or to summarize the run (facts: each failing test's
name and a keyword of its error).
crash: a service's log, read from stdin, that ends in one of several causes drawn by seed, after warnings
about other causes the service recovered from. The open question "why did it crash?" is scored by facts.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, replace

from bench.common import Built, Fact, fill, iso

# ---------------------------------------------------------------- pytest


@dataclass(frozen=True)
class _Error:
    """How a failing test fails: its traceback's lines and the spellings a summary may use for it."""

    kind: str
    source: str
    message: str
    spellings: tuple[str, ...]


PYTEST_ERRORS = (
    _Error(
        "AssertionError",
        "assert refund(order) == Decimal('{a}.30')",
        "assert Decimal('{a}.29') == Decimal('{a}.30')",
        ("AssertionError", "assertion", "assert "),
    ),
    _Error(
        "KeyError",
        "currency = payload['currency']",
        "'currency'",
        ("KeyError", "missing key", "key error"),
    ),
    _Error(
        "ZeroDivisionError",
        "ratio = hits / total",
        "division by zero",
        ("ZeroDivisionError", "division by zero", "divide by zero", "divided by zero"),
    ),
    _Error(
        "ConnectionRefusedError",
        "conn = socket.create_connection(('localhost', {port}))",
        "[Errno 111] Connection refused",
        ("ConnectionRefusedError", "connection refused", "ConnectionError"),
    ),
    _Error(
        "TypeError",
        "total = subtotal + shipping",
        "unsupported operand type(s) for +: 'int' and 'NoneType'",
        ("TypeError", "NoneType", "unsupported operand", "type error"),
    ),
    _Error(
        "FileNotFoundError",
        "with open(FIXTURES / 'golden_{a}.json') as fh:",
        "[Errno 2] No such file or directory: 'tests/fixtures/golden_{a}.json'",
        ("FileNotFoundError", "No such file", "golden_", "file not found"),
    ),
    _Error(
        "AttributeError",
        "return session.user.id",
        "'NoneType' object has no attribute 'id'",
        ("AttributeError", "has no attribute", "attribute error"),
    ),
    _Error(
        "IndexError",
        "first = rows[0]",
        "list index out of range",
        ("IndexError", "index out of range", "index error"),
    ),
)
AREAS = ("unit", "integration", "api", "models", "services")
TOPICS = ("cart", "orders", "refunds", "invoices", "users", "search", "auth", "shipping", "pricing", "reports")
VERBS = ("creates", "updates", "deletes", "rejects", "accepts", "rounds", "parses", "renders", "caches", "retries")
OBJECTS = ("order", "refund", "invoice", "profile", "token", "query", "address", "coupon", "batch", "session")
QUALIFIERS = ("", "_when_empty", "_with_unicode", "_for_admin", "_twice", "_after_timeout", "_in_bulk", "_on_retry")
PARAMS = ("eur", "usd", "gbp", "small", "large", "empty", "sqlite", "postgres")
XFAIL_REASONS = ("flaky upstream, see #412", "known rounding bug #377", "needs network")
PROGRESS_WIDTH = 70
SUMMARY_CHARS = 2_000  # about what the header, FAILURES, warnings and the summary take
SKIP_REASONS = ("requires docker", "slow test, run with --runslow", "only on Windows")


@dataclass
class _Test:
    module: str
    name: str
    params: list[str]
    outcome: str  # PASSED, FAILED, SKIPPED or XFAIL, for every parametrization


def _preamble(rng: random.Random) -> list[str]:
    """What a CI runner prints before the tests: the job, the checkout, the install."""
    lines = [
        "Running with gitlab-runner 17.4.0 (b92ee590)",
        "  on shared-runner-3 t3Xk9aPz, system ID: s_0c6b7b1e8f2d",
        'Preparing the "docker" executor',
        "Using docker image python:3.11-slim ...",
        "Getting source from Git repository",
        "Fetching changes with git depth set to 20...",
        f"Checking out {rng.getrandbits(32):08x} as detached HEAD (ref is main)...",
        "$ pip install -e '.[test]'",
    ]
    for package in ("pytest", "pluggy", "iniconfig", "packaging", "requests", "sqlalchemy", "pydantic", "httpx"):
        version = f"{rng.randint(1, 8)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
        lines += [
            f"Collecting {package}>={version.rsplit('.', 1)[0]}",
            f"  Downloading {package}-{version}-py3-none-any.whl ({rng.randint(20, 900)} kB)",
        ]
    lines += ["Successfully installed shop-0.9.0 and 31 other packages", "$ pytest -v --timeout=60 tests/"]
    return lines


def _plan_tests(rng: random.Random, target_chars: int) -> list[_Test]:
    """Modules of tests until their `-v` lines fill target_chars; names recur across modules, as in real suites."""
    pool = [f"test_{v}_{o}{q}" for v in VERBS for o in OBJECTS for q in QUALIFIERS]
    names: list[str] = []
    tests: list[_Test] = []
    chars = 0
    while chars < target_chars:
        module = f"tests/{rng.choice(AREAS)}/test_{rng.choice(TOPICS)}.py"
        for _ in range(rng.randint(3, 12)):
            if not names:
                names = rng.sample(pool, len(pool))
            params = rng.sample(PARAMS, rng.randint(2, 6)) if rng.random() < 0.4 else []
            tests.append(_Test(module, names.pop(), params, "PASSED"))
            chars += (max(PROGRESS_WIDTH, len(module) + len(tests[-1].name) + 17) + 8) * max(1, len(params))
    return tests


def _progress(tests: list[_Test]) -> list[str]:
    """`pytest -v` lines: one per test id, with the running percentage at the right."""
    ids = [(t, f"{t.module}::{t.name}[{p}]" if p else f"{t.module}::{t.name}") for t in tests for p in t.params or [""]]
    lines = []
    for i, (test, test_id) in enumerate(ids, start=1):
        outcome = test.outcome
        if outcome == "SKIPPED":
            outcome = f"SKIPPED ({SKIP_REASONS[len(test.name) % len(SKIP_REASONS)]})"
        elif outcome == "XFAIL":
            outcome = f"XFAIL ({XFAIL_REASONS[len(test.name) % len(XFAIL_REASONS)]})"
        left = f"{test_id} {outcome}"
        lines.append(f"{left:<{PROGRESS_WIDTH}} [{i * 100 // len(ids):3d}%]")
    return lines


def _traceback(rng: random.Random, test: _Test, error: _Error) -> list[str]:
    line_no = rng.randint(20, 400)
    title = f" {test.name} "
    return [
        f"{title:_^80}",
        "",
        f"    def {test.name}(client, db_session):",
        f"        order = make_order(db_session, items={rng.randint(1, 5)})",
        f">       {error.source}",
        f"E       {error.kind}: {error.message}",
        "",
        f"{test.module}:{line_no}: {error.kind}",
        f"{' Captured log call ':-^80}",
        f"WARNING  shop.{test.module.split('_')[-1][:-3]}:service.py:{rng.randint(20, 300)} retrying once",
    ]


def _happened(rng: random.Random, error: _Error) -> _Error:
    """The error with its placeholders filled in, the same in the traceback and in the summary."""
    a, port = rng.randint(1, 9), rng.randint(5000, 9000)
    return replace(error, source=error.source.format(a=a, port=port), message=error.message.format(a=a, port=port))


def pytest_log(rng: random.Random, target_chars: int, salt: int) -> Built:
    """A CI job's pytest output with one to four failing tests, a few xfails and skips, and warnings."""
    preamble = _preamble(rng)
    tests = _plan_tests(rng, target_chars - SUMMARY_CHARS - sum(len(x) + 1 for x in preamble))
    # Failing tests are plain (not parametrized) and their names occur nowhere else, so a name is one test.
    seen = Counter(t.name for t in tests)
    plain = [t for t in tests if not t.params and seen[t.name] == 1]
    if len(plain) < 4:
        # A large log runs every name of the pool more than once: a failing test then gets a name no other has.
        plain = [t for t in tests if not t.params]
    failing = rng.sample(plain, min(len(plain), rng.randint(1, 4)))
    for number, test in enumerate(failing):
        if seen[test.name] > 1:
            test.name = f"{test.name}_case{number}"
    errors = [_happened(rng, error) for error in rng.sample(PYTEST_ERRORS, len(failing))]
    for test in failing:
        test.outcome = "FAILED"
    others = [t for t in tests if t.outcome == "PASSED"]
    for test in rng.sample(others, min(len(others), rng.randint(1, 3))):
        test.outcome = "XFAIL"
    for test in rng.sample(others, min(len(others), rng.randint(2, 6))):
        if test.outcome == "PASSED":
            test.outcome = "SKIPPED"
    count = {o: sum(max(1, len(t.params)) for t in tests if t.outcome == o) for o in ("PASSED", "SKIPPED", "XFAIL")}
    warnings = rng.randint(1, 9)
    lines = [
        *preamble,
        f"{' test session starts ':=^80}",
        "platform linux -- Python 3.11.9, pytest-8.3.3, pluggy-1.5.0 -- /usr/local/bin/python",
        "cachedir: .pytest_cache",
        "rootdir: /builds/acme/shop",
        "configfile: pyproject.toml",
        "plugins: timeout-2.3.1, cov-5.0.0, anyio-4.6.0",
        "timeout: 60.0s",
        f"collecting ... collected {sum(max(1, len(t.params)) for t in tests)} items",
        "",
        *_progress(tests),
        "",
        f"{' FAILURES ':=^80}",
    ]
    for test, error in zip(failing, errors, strict=True):
        lines += _traceback(rng, test, error)
    lines += [
        f"{' warnings summary ':=^80}",
        "tests/integration/test_orders.py::test_creates_order",
        "  /usr/local/lib/python3.11/site-packages/sqlalchemy/orm/session.py:1290: DeprecationWarning: "
        "The Session.autocommit parameter is deprecated",
        "",
        "-- Docs: https://docs.pytest.org/en/stable/how-to/capture-warnings.html",
        f"{' short test summary info ':=^80}",
    ]
    lines += [f"FAILED {t.module}::{t.name} - {e.kind}: {e.message}" for t, e in zip(failing, errors, strict=True)]
    seconds = rng.uniform(60, 900)
    tally = (
        f"{len(failing)} failed, {count['PASSED']} passed, {count['SKIPPED']} skipped, {count['XFAIL']} xfailed, "
        f"{warnings} warnings in {seconds:.2f}s ({int(seconds) // 60}:{int(seconds) % 60:02d})"
    )
    lines += [
        f" {tally} ".center(80, "="),
        "Cleaning up project directory and file based variables",
        "ERROR: Job failed: exit code 1",
    ]
    files = {"ci-job.log": "\n".join(lines) + "\n"}
    gold_names = sorted(t.name for t in failing)
    meta = {"failing": {t.name: e.kind for t, e in zip(failing, errors, strict=True)}}
    if salt % 2 == 0:
        names = sorted({t.name for t in tests if t.outcome != "PASSED" or "rejects" in t.name})
        return Built("pytest.failed", {}, gold_names, "set", files, names, meta)
    facts: list[Fact] = []
    for test, error in zip(failing, errors, strict=True):
        facts += [[test.name], list(error.spellings)]
    return Built("pytest.summary", {}, facts, "facts", files, [], meta)


# ---------------------------------------------------------------- a service log that ends in a crash


@dataclass(frozen=True)
class _Cause:
    """A crash: the last lines the service writes, the facts an answer must carry, and a survivable cousin."""

    name: str
    ending: tuple[str, ...]
    facts: tuple[tuple[str, ...], ...]
    survived: tuple[str, ...]


CAUSES = (
    _Cause(
        "enospc",
        (
            "WARN  [storage] volume /var/lib/{svc} at 99% capacity",
            "ERROR [wal] write segment 000{n}.wal failed: [Errno 28] No space left on device",
            "ERROR [wal] retrying write of segment 000{n}.wal in 1s",
            "ERROR [wal] write segment 000{n}.wal failed: [Errno 28] No space left on device",
            "FATAL [main] unrecoverable storage error (ENOSPC), shutting down",
        ),
        (
            (
                "ENOSPC",
                "no space left",
                "disk full",
                "disk is full",
                "disk was full",
                "disk space",
                "out of space",
                "storage full",
                "full disk",
                "filled the disk",
                "filled up the disk",
            ),
        ),
        ("WARN  [storage] volume /var/lib/{svc} at 81% capacity", "INFO  [storage] compaction freed 2.1 GiB"),
    ),
    _Cause(
        "oom",
        (
            "WARN  [gc] heap in use 1.9 GiB of 2 GiB limit",
            "ERROR [worker-{m}] allocation of 268435456 bytes failed",
            "FATAL [runtime] out of memory: cannot allocate 268435456-byte block (2147483648 in use)",
            "FATAL [main] process terminated by the runtime: OOM",
        ),
        (("out of memory", "OOM", "out-of-memory", "memory exhausted", "ran out of memory", "memory limit"),),
        ("WARN  [gc] heap in use 1.5 GiB of 2 GiB limit, forcing collection", "INFO  [gc] collection freed 700 MiB"),
    ),
    _Cause(
        "segfault",
        (
            "INFO  [thumbs] decoding upload {n}.tiff with libtiff 4.5.1",
            "Fatal Python error: Segmentation fault",
            "Current thread 0x00007f3a9c1fe700 (most recent call first):",
            '  File "/usr/lib/python3/dist-packages/PIL/TiffImagePlugin.py", line 1313 in load_prepare',
            '  File "/srv/{svc}/thumbs.py", line 88 in render',
            "[supervisor] {svc} exited on signal 11 (SIGSEGV)",
        ),
        (("segfault", "segmentation fault", "SIGSEGV", "signal 11"),),
        ("WARN  [thumbs] skipped corrupt upload {n}.png", "INFO  [thumbs] queue drained"),
    ),
    _Cause(
        "config",
        (
            "INFO  [main] received SIGHUP, reloading configuration",
            "ERROR [config] open /etc/{svc}/{svc}.yaml: no such file or directory",
            "FATAL [main] cannot run without a configuration file, exiting",
        ),
        (
            ("config",),
            (
                "no such file",
                "missing",
                "not found",
                "does not exist",
                "doesn't exist",
                "absent",
                "deleted",
                "{svc}.yaml",
            ),
        ),
        ("INFO  [main] received SIGHUP, reloading configuration", "INFO  [config] loaded 42 keys"),
    ),
    _Cause(
        "database",
        (
            "ERROR [db] connect to db-primary:5432 failed: connection refused (attempt 1/5)",
            "ERROR [db] connect to db-primary:5432 failed: connection refused (attempt 3/5)",
            "ERROR [db] connect to db-primary:5432 failed: connection refused (attempt 5/5)",
            "FATAL [main] giving up: database db-primary:5432 unreachable after 5 attempts",
        ),
        (
            ("database", "db-primary", "postgres"),
            (
                "refused",
                "unreachable",
                "could not connect",
                "cannot connect",
                "can't connect",
                "couldn't connect",
                "unable to connect",
                "failed to connect",
            ),
        ),
        ("WARN  [db] connection to db-primary:5432 reset, reconnecting", "INFO  [db] reconnected to db-primary:5432"),
    ),
    _Cause(
        "permissions",
        (
            "INFO  [state] opening state store /var/lib/{svc}/state.db",
            "ERROR [state] open /var/lib/{svc}/state.db: permission denied (EACCES)",
            "FATAL [main] cannot open state store, exiting",
        ),
        (("permission", "EACCES", "access denied", "not allowed to"),),
        ("INFO  [state] opening state store /var/lib/{svc}/state.db", "INFO  [state] state store ready"),
    ),
    _Cause(
        "fds",
        (
            "ERROR [http] accept tcp [::]:8080: accept4: too many open files; retrying in 1s",
            "ERROR [http] accept tcp [::]:8080: accept4: too many open files; retrying in 1s",
            "FATAL [main] listener failed: too many open files (EMFILE), shutting down",
        ),
        (("too many open files", "EMFILE", "file descriptor", "open files", "fd limit", "ulimit"),),
        ("WARN  [http] slow client closed connection", "INFO  [http] open connections: 412"),
    ),
)
STAMP_CHARS = len("2026-01-01T00:00:00.000Z ") + 1
CRASH_SERVICES = ("ingest", "thumbnailer", "ledger", "notifier", "mailer", "scheduler")
CRASH_CHATTER = (
    "INFO  [worker-{m}] processed batch {n} ({k} items) in {ms} ms",
    "INFO  [http] GET /v1/jobs/{n} 200 {ms}ms",
    "DEBUG [cache] hit ratio 0.{k}",
    "INFO  [scheduler] next run in {m}s",
    "WARN  [http] slow request POST /v1/jobs took {ms} ms",
    "INFO  [worker-{m}] job {n} done",
)


def crash_log(rng: random.Random, target_chars: int, salt: int) -> Built:
    """A service log of everyday lines and survived trouble, ending in one cause (cycling with the task index)."""
    cause = CAUSES[salt % len(CAUSES)]
    svc = rng.choice(CRASH_SERVICES)
    ms = (1_767_225_600 + rng.randint(0, 300) * 86_400) * 1000

    def text(template: str) -> str:
        n, m, k, ms = rng.randint(1000, 99_999), rng.randint(1, 8), rng.randint(10, 99), rng.randint(3, 4000)
        return template.format(svc=svc, n=n, m=m, k=k, ms=ms)

    def line(template: str) -> str:
        nonlocal ms
        ms += rng.randint(0, 3000)
        return f"{iso(ms // 1000)}.{ms % 1000:03d}Z {text(template)}"

    version = f"3.{rng.randint(0, 9)}.{rng.randint(0, 9)}"
    head = [line(f"INFO  [main] {svc} {version} starting, pid {rng.randint(300, 30_000)}")]
    ending_chars = sum(len(t) + STAMP_CHARS for t in cause.ending)
    body = fill(target_chars - len(head[0]) - ending_chars, lambda: line(rng.choice(CRASH_CHATTER)))
    # Trouble of other kinds that the service got over, so the first alarming line is not the answer.
    for other in rng.sample([c for c in CAUSES if c is not cause], 2):
        at = rng.randint(1, len(body))
        stamp = body[at - 1].split(" ", 1)[0]
        body[at:at] = [f"{stamp} {text(t)}" for t in other.survived]
    ending = [line(t) for t in cause.ending]
    facts = [[spelling.format(svc=svc) for spelling in fact] for fact in cause.facts]
    meta = {"cause": cause.name, "service": svc}
    files = {f"{svc}.log": "\n".join([*head, *body, *ending]) + "\n"}
    return Built("crash.cause", {}, facts, "facts", files, [], meta, stdin=True)
