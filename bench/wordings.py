"""How each benchmark question type can be asked, and which wordings are held out.

Every question type has at least eight wordings: formal, casual, terse, and ones that swap in synonyms
("crashed", "went down", "non-zero exit", "errored out"), so a score cannot come from matching one phrasing.
Templates fill in a task's slots with str.format; the gold never depends on the wording.

Half of each type's wordings are held out. The split is a shuffle seeded by SPLIT_SEED and the type's name
only, never by a task's seed, so the same wordings stay held out in every run. Wordings the benchmark
asked before the split (SEEN) are never held out: tuning has seen them. Held-out wordings are run
only to report, never while tuning (see docs/bench-tasks.md). Changing SPLIT_SEED, or the order or number
of a type's wordings, changes which wordings are held out: the held-out half then has been seen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench.common import Slots

SPLIT_SEED = 20261206
GROUPS = ("tune", "heldout")
SELECTIONS = ("all", *GROUPS)

# How wordings of the semantic types name the label set ({labels}: each label with its meaning). Openings:
_PREAMBLE = (  # the preamble the family asked before the split
    "Each line of the input is a question that a user asked, with its date and user id. Classify every question "
    "by the kind of answer it seeks, with one of these labels: {labels}. "
)
_LINES = (
    "Each line below is a question someone asked. Judged by the kind of answer it seeks, every question is "
    "one of: {labels}. "
)
_CASUAL = "so every line here is somebody's question, and it wants one kind of answer: {labels}. "
_TERSE = "Labels: {labels}. "
_SORT = "Sort every query in the file by the sort of answer it is after, one of {labels}. "
_CATEGORIES = "Categories, by what each question asks for: {labels}. "
# Closings, after the question:
_FORMAL = (
    ", where each question is assigned exactly one category according to the type of answer it requests: {labels}."
)
_CLASSED = ", if each entry (a user's question) is classed by the answer it calls for as one of: {labels}?"

WORDINGS: dict[str, tuple[str, ...]] = {
    # ---------------------------------------------------------------- needles (also the one-line files)
    "needle.magic": (
        "What is the special magic {kind} for {key} mentioned in the text?",
        "The text mentions a special magic {kind} for {key}. What is it?",
        "special magic {kind} for {key}?",
        "Please state the special magic {kind} associated with {key}.",
        "hey, what's the magic {kind} they give for {key}?",
        "Somewhere in here is a special magic {kind} for {key}. Reply with that {kind} only.",
        "Look up {key}: which special magic {kind} is recorded for it?",
        "I need the special magic {kind} of {key}. What does the document say it is?",
    ),
    "needle.access": (
        "What is {key}'s access code?",
        "Find the access code of {key}. Reply with the code only.",
        "access code for {key}?",
        "Kindly provide the access code assigned to {key}.",
        "what code does {key} use to get in?",
        "Which access code belongs to {key}?",
        "The input lists access codes for several keys. Give the one for {key}.",
        "I forgot {key}'s access code, can you dig it up?",
    ),
    "needle.config": (
        "Which value is {key} set to in the config lines?",
        "What does the config set {key} to?",
        "{key} = ?",
        "Please report the configured value of the setting {key}.",
        "what's {key} configured as?",
        "Find the config entry for {key} and give its value only.",
        "In the configuration, what value was assigned to {key}?",
        "quick one: the config value of {key}?",
    ),
    "needle.event": (
        "A credential_issued event records a value for the key {key}. What is that value?",
        "What value was issued for {key}?",
        "issued credential value for {key}?",
        "Please give the value recorded in the credential_issued event for {key}.",
        "which credential got handed out for {key}?",
        "Find the event that issued a credential for {key}; what value does it carry?",
        "What credential value did the system issue to {key}?",
        "hey, what did {key} get issued?",
    ),
    "needle.contact": (
        "Who is the on-call contact for {key}?",
        "Name the person listed as on-call contact for {key}.",
        "on-call for {key}?",
        "Please identify the individual designated as the on-call contact for {key}.",
        "who do I page for {key}?",
        "Which person is on call for {key}? Give the full name.",
        "If {key} breaks, who is the on-call contact?",
        "who's on call for {key}, according to the notes?",
    ),
    # ---------------------------------------------------------------- logs (many files, many formats)
    "logs.fatal": (
        "Which services failed exactly {k_word}? A failure is a log line with level FATAL.",
        "List every service that logged a FATAL-level line exactly {k_word} across all the logs.",
        "Counting FATAL log lines as crashes, which services crashed exactly {k_word}?",
        "Which services hit a FATAL error exactly {k_word}? Give their names.",
        "which services failed {k_word}?",
        "services that logged FATAL exactly {k_word}?",
        "Please identify the services whose logs record a fatal error exactly {k_word}, summed over all hosts.",
        "which services went down {k_word}, all hosts together?",
        "Across every host, which apps died exactly {k_word}? Count the FATAL entries.",
        "Which services errored out fatally exactly {k_word} (FATAL level), whichever host they ran on?",
    ),
    "logs.errors_after": (
        "Which hosts logged ERROR-level lines after {when_iso}? (Level ERROR only, not WARN or FATAL.)",
        "Name the hosts with at least one log line at level ERROR later than {when_words}.",
        "After {when_words}, which hosts wrote at least one ERROR line?",
        "hosts with ERROR lines after {when_iso}?",
        "Please identify every host that emitted an ERROR-level log entry subsequent to {when_iso}.",
        "which machines errored out after {when_words}? only lines with level ERROR count",
        "Since {when_iso}, which boxes have reported errors (level ERROR, not WARN or FATAL)?",
        "Give the hosts that had ERROR-severity log lines later than {when_words}.",
    ),
    "logs.status": (
        "How many requests returned HTTP status 503, across all the access logs?",
        "Count the access-log entries whose response status is 503. How many are there?",
        "In total, how many HTTP requests were answered with a 503?",
        "What is the number of responses with status code 503 in the access logs?",
        "how many 503s?",
        "Please report the total count of HTTP 503 (Service Unavailable) responses in the access logs.",
        "how often did the web servers send back a 503, all access logs combined?",
        "Number of requests that got Service Unavailable (503)?",
        "503 responses, total across every access log: how many?",
        "Tell me how many times clients were answered with status 503.",
    ),
    "logs.top_5xx": (
        "Which 3 endpoints (request paths, ignoring query strings) had the most 5xx responses? "
        "List them from most to fewest.",
        "Give the top-3 request paths by number of server errors (status 500-599), highest first. "
        "Ignore query strings.",
        "Rank the request paths by how many responses had a status from 500 to 599, and give the three "
        "highest in order (ignore query strings).",
        "Which three endpoints returned the most server errors? Most first.",
        "top 3 endpoints by 5xx, in order?",
        "Please list, in descending order, the three URL paths (without query strings) with the highest "
        "count of 5xx status codes.",
        "which 3 paths blew up with 5xx the most? biggest first, ignore ?query parts",
        "Where do the server-side errors (HTTP 5xx) concentrate? Name the three worst paths, worst first.",
    ),
    "logs.logins": (
        "How many distinct users logged in successfully?",
        "Counting each user once, how many different users had a successful login?",
        "How many unique users managed to log in (failed attempts do not count)?",
        "How many separate users logged in at least once? Failed logins do not count.",
        "number of distinct users with a successful login?",
        "Please determine how many unique user accounts authenticated successfully at least once.",
        "how many different people actually got logged in? (don't count failures)",
        "Count the users who signed in successfully, each user once.",
        "users who logged in OK, distinct count?",
        "Excluding failed attempts, how many individual accounts had a successful sign-in?",
    ),
    # ---------------------------------------------------------------- oolong (labelled records)
    "oolong.count": (
        "How many {noun}s are labelled {x}?",
        "Count the {noun}s whose label is {x}.",
        "{x} {noun}s: how many?",
        "Please report the number of {noun}s assigned the category {x}.",
        "how many {noun}s got tagged {x}?",
        "What is the total count of {noun}s in the {x} category?",
        "Out of all the {noun}s, how many carry the label {x}?",
        "number of {x} {noun}s?",
    ),
    "oolong.top_in_group": (
        "Among {who}, which label is the most common?",
        "What is the most frequent {noun} category for {who}? Answer with one category.",
        "most common label for {who}?",
        "Please identify the label that occurs most often among {noun}s from {who}.",
        "for {who}, what's the top {noun} category?",
        "Which category do most {noun}s from {who} fall into?",
        "Looking only at {who}, which label appears on the most {noun}s?",
        "{who}: most frequent label?",
    ),
    "oolong.compare": (
        "Are there more {noun}s labelled {a} or labelled {b}? Answer {a}, {b}, or same.",
        "Which category occurs more often: {a} or {b}? Reply with one of: {a}, {b}, same (if tied).",
        "{a} vs {b}: which label has more {noun}s? ({a}, {b} or same)",
        "Please state whether the label {a} or the label {b} is assigned to more {noun}s, or whether they are "
        "tied (answer {a}, {b} or same).",
        "more {a} {noun}s or more {b} ones? say same if it's a tie",
        "Which is more common among the {noun}s, category {a} or category {b}? Answer {a}, {b}, or same.",
        "Do {a} {noun}s outnumber {b} {noun}s? Reply {a}, {b}, or same.",
        "Compare the counts of {noun}s labelled {a} and {b}: which is larger ({a}, {b}, or same)?",
    ),
    "oolong.users_at_least": (
        "How many users have at least {k} {noun}s labelled {x}?",
        "Count the users with {k} or more {noun}s in the {x} category.",
        "users with >= {k} {x} {noun}s?",
        "Please determine the number of users who have {k} or more {noun}s with the label {x}.",
        "how many people filed {k}+ {noun}s tagged {x}?",
        "Counting per user, how many users reach at least {k} {noun}s labelled {x}?",
        "How many distinct users account for {k} or more {x} {noun}s each?",
        "number of users with at least {k} {noun}s in category {x}?",
    ),
    # ---------------------------------------------------------------- systemd journal
    "journal.failed_k": (
        "Which services failed exactly {k_word}? Count failures across all hosts.",
        "which services failed {k_word}?",
        "List the services that hit {k_failures} in total across all hosts.",
        "Which systemd units exited with a non-zero status exactly {k_word}, all hosts combined?",
        "services that went down {k_word}?",
        "Please identify the services whose units failed exactly {k_word}, summed over every host.",
        "which services errored out {k_word} in total?",
        "Across all the machines, which services crashed exactly {k_word}?",
    ),
    # ---------------------------------------------------------------- classic syslog with repeats
    "syslog.attempts_from": (
        "How many failed SSH password attempts came from {ip}?",
        "Count the failed password logins from {ip}, including repeated messages.",
        "failed ssh logins from {ip}?",
        "Please report the total number of failed password authentications originating from {ip}.",
        "how many times did {ip} get the password wrong?",
        "How often was a login from {ip} rejected for a bad password?",
        "What is the number of unsuccessful SSH password attempts by {ip}?",
        "{ip} brute-forcing us? how many failed password tries did it make?",
    ),
    "syslog.top_ip": (
        "Which IP address made the most failed SSH password attempts?",
        "What IP address is behind the largest number of rejected SSH password logins?",
        "top source IP of failed ssh passwords?",
        "Please identify the remote address responsible for the highest count of failed password authentications.",
        "who's hammering sshd the hardest? give the IP with the most failed passwords",
        "Which client IP had its SSH password rejected most often?",
        "Counting every failed password attempt, which IP comes first?",
        "From which address did the most bad-password SSH logins come?",
    ),
    # ---------------------------------------------------------------- JSON lines with nested fields
    "jsonl.top_error": (
        "Which error type occurs most often in the error records of the {service} service?",
        "For service {service}, what is the most common error.type?",
        "most frequent error type for {service}?",
        "Please identify the exception type that the {service} service reports most frequently.",
        "what does {service} blow up with most often? (error type)",
        "Among the {service} service's failures, which error type is the most common?",
        "Which kind of error hits {service} the most? Give the error type.",
        "{service}: top error type?",
    ),
    # ---------------------------------------------------------------- a CI run's pytest log
    "pytest.failed": (
        "Which tests failed in this CI run?",
        "List the names of the failing tests.",
        "failed tests?",
        "Please enumerate the test functions that did not pass in this pytest run (failures only).",
        "what broke in CI? just the failing test names",
        "Which test functions failed? Skipped and expected failures (xfail) do not count.",
        "Give the failing tests from this log, by function name.",
        "which tests went red?",
    ),
    "pytest.summary": (
        "Summarize this CI run: what failed and why?",
        "Which tests failed in this run, and what error did each one hit?",
        "why is CI red?",
        "Please provide a summary of the test failures in this log, naming each failing test and its error.",
        "CI's broken, what failed and what's the error?",
        "For each failing test, give its name and the exception it raised.",
        "tl;dr of this test run: failures and their causes?",
        "What went wrong in this pytest run? Name the failing tests and the errors behind them.",
    ),
    # ---------------------------------------------------------------- a service log that ends in a crash
    "crash.cause": (
        "why did it crash?",
        "What caused the service to crash at the end of this log?",
        "crash cause?",
        "Please determine the root cause of the service's final failure in this log.",
        "the service died, what killed it?",
        "Why did the process stop at the end? Give the cause.",
        "What made the service go down?",
        "Explain, in one sentence, why the service terminated.",
    ),
    # ---------------------------------------------------------------- semantic (classes no record states)
    # Every wording names the labels with their meanings (see _PREAMBLE and the others above the table).
    "semantic.count": (
        _PREAMBLE + "How many of the questions are {x} questions?",
        _LINES + "Count the {x} questions.",
        _TERSE + "Number of {x} questions?",
        "Please determine how many of the user questions in the input belong to the category {x}" + _FORMAL,
        _CASUAL + "how many are {x}?",
        _SORT + "How many queries land in {x}?",
        "What is the tally of {x} entries" + _CLASSED,
        _CATEGORIES + "In total, how many lines are {x} questions?",
    ),
    "semantic.most": (
        _PREAMBLE + "Which label is the most common? Answer with one label.",
        _LINES + "Which of these labels occurs most often?",
        _TERSE + "Most frequent label?",
        "Please identify the category assigned to the greatest number of questions in the input" + _FORMAL,
        _CASUAL + "which kind shows up the most?",
        _SORT + "Which type dominates? Give one type.",
        "Which class has the most entries" + _CLASSED,
        _CATEGORIES + "Which category accounts for the largest number of lines? One word.",
    ),
    "semantic.least": (
        _PREAMBLE + "Which label is the least common? Answer with one label.",
        _LINES + "Which of these labels occurs least often?",
        _TERSE + "Least frequent label?",
        "Please identify the category assigned to the smallest number of questions in the input" + _FORMAL,
        _CASUAL + "which kind is the rarest?",
        _SORT + "Which type turns up the fewest times? Give one type.",
        "Which class has the fewest entries" + _CLASSED,
        _CATEGORIES + "Which category accounts for the smallest number of lines? One word.",
    ),
    "semantic.compare": (
        _PREAMBLE + "Are there more {a} questions or more {b} questions? Answer {a} or {b}.",
        _LINES + "Which is more common, {a} or {b}?",
        _TERSE + "{a} vs {b}: which has more questions?",
        "Please state whether the category {a} or the category {b} is assigned to more of the questions" + _FORMAL,
        _CASUAL + "more {a} ones or more {b} ones?",
        _SORT + "Do {a} queries outnumber {b} queries? Reply {a} or {b}.",
        "Which class has more entries, {a} or {b}" + _CLASSED,
        _CATEGORIES + "Compare the number of {a} lines with the number of {b} lines and name the larger category.",
    ),
    "semantic.user_count": (
        _PREAMBLE + "How many questions from user {user} are {x} questions?",
        _LINES + "Count the {x} questions asked by user {user}.",
        _TERSE + "User {user}: number of {x} questions?",
        "Please determine how many of the questions submitted by user {user} belong to the category {x}" + _FORMAL,
        _CASUAL + "how many of user {user}'s are {x}?",
        _SORT + "Of the queries from user {user}, how many land in {x}?",
        "What is the tally of {x} entries by user {user}" + _CLASSED,
        _CATEGORIES + "Looking only at lines from user {user}, how many are {x} questions?",
    ),
    "semantic.date_count": (
        _PREAMBLE + "How many questions dated from {first} to {last} (inclusive) are {x} questions?",
        _LINES + "Count the {x} questions dated between {first} and {last}, both days included.",
        _TERSE + "{x} questions from {first} through {last}: how many?",
        "Please determine how many of the questions dated {first} to {last} inclusive belong to the category {x}"
        + _FORMAL,
        _CASUAL + "between {first} and {last} (counting both days), how many were {x}?",
        _SORT + "Of the queries dated {first} to {last}, inclusive, how many land in {x}?",
        "What is the tally of {x} entries dated on or after {first} and on or before {last}" + _CLASSED,
        _CATEGORIES + "Looking only at lines dated {first} through {last}, how many are {x} questions?",
    ),
}


# The first SEEN[qtype] wordings of a type are the ones the benchmark asked before wordings were split:
# tuning has already seen them, so they always stay in the tune half.
SEEN = {
    **dict.fromkeys(("needle.magic", "needle.access", "needle.config", "needle.event", "needle.contact"), 2),
    "logs.fatal": 4,
    "logs.errors_after": 3,
    "logs.status": 4,
    "logs.top_5xx": 3,
    "logs.logins": 4,
    **dict.fromkeys(("oolong.count", "oolong.top_in_group", "oolong.compare", "oolong.users_at_least"), 2),
    # The semantic family asked one wording per type (after its preamble) on its branch before the port.
    **dict.fromkeys(
        (f"semantic.{kind}" for kind in ("count", "most", "least", "compare", "user_count", "date_count")), 1
    ),
}


@dataclass(frozen=True)
class Wording:
    """One wording of one question type: its id ("logs.fatal/3"), its group, and its template."""

    qtype: str
    number: int
    template: str

    @property
    def id(self) -> str:
        return f"{self.qtype}/{self.number}"

    @property
    def group(self) -> str:
        return "heldout" if self.number in heldout_numbers(self.qtype) else "tune"

    def render(self, slots: Slots) -> str:
        return self.template.format(**slots)


def heldout_numbers(qtype: str) -> frozenset[int]:
    """The held-out half of a type's wordings: a shuffle of the unseen ones, seeded only by SPLIT_SEED and the type."""
    total = len(WORDINGS[qtype])
    numbers = list(range(SEEN.get(qtype, 0), total))
    random.Random(f"{SPLIT_SEED}:{qtype}").shuffle(numbers)
    return frozenset(numbers[: total // 2])


def wordings(qtype: str, selection: str = "all") -> list[Wording]:
    """A type's wordings in the selection: "all", "tune" or "heldout"."""
    if selection not in SELECTIONS:
        raise ValueError(f"unknown wording selection {selection!r}: choose from {', '.join(SELECTIONS)}")
    every = [Wording(qtype, i, text) for i, text in enumerate(WORDINGS[qtype])]
    return every if selection == "all" else [w for w in every if w.group == selection]


def pick(qtype: str, selection: str, rng: random.Random) -> Wording:
    """One wording of the type from the selection, drawn with the caller's own generator."""
    return rng.choice(wordings(qtype, selection))
