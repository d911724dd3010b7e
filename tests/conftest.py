"""Shared fixtures: the engine in process against a scripted model, and for the CLI end to end, a scripted
LLM server, a dead endpoint, and a hermetic way to run `rlm`."""

from __future__ import annotations

import copy
import io
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fakellm import FakeLLM, cut_at_stop, usage_for

from rlm_cli.engine import events as ev
from rlm_cli.engine.budget import Limits
from rlm_cli.engine.loop import RLM, EngineConfig, Outcome, Run, corpus_from_text
from rlm_cli.engine.model import Completion, ModelSpec
from rlm_cli.errors import ModelError
from rlm_cli.guidance import factory as guidance_factory
from rlm_cli.inputs.bundle import write_bundle
from rlm_cli.inputs.corpus import Corpus, CorpusOptions, load_corpus
from rlm_cli.repl.process import ReplConfig, ReplProcess
from rlm_cli.repl.sandbox import SandboxPolicy

# Set before any test module imports litellm, which otherwise tries to download its cost map.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

_SCRUBBED_SUFFIXES = ("_API_KEY", "_API_BASE", "_BASE_URL")


# Code for the REPL that finds its socket to the parent the way hostile code would, and writes raw frames.
FORGE = """
import os, stat, struct, json, sys
def channel():
    for name in os.listdir('/proc/self/fd'):
        try:
            if stat.S_ISSOCK(os.fstat(int(name)).st_mode):
                return int(name)
        except OSError:  # the fd listdir itself used, closed by now
            pass
fd = channel()
def raw(body):
    os.write(fd, struct.pack('>I', len(body)) + body)
def frame(message):
    raw(json.dumps(message).encode())
"""


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A fresh scripted server per test, so scripts and recorded requests never leak between tests."""
    server = FakeLLM()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def dead_url() -> Iterator[str]:
    """An endpoint that refuses connections: the port stays bound (never listening) so nothing can take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        sock.close()


def hermetic_env(root: Path, **extra: str) -> dict[str, str]:
    """Environment for CLI subprocesses with no real keys or endpoints and every user dir under root."""
    home = root / "home"
    dirs = {
        "HOME": home,
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_CACHE_HOME": home / ".cache",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("RLM_") and not name.endswith(_SCRUBBED_SUFFIXES)
    }
    env |= {name: str(path) for name, path in dirs.items()}
    return env | {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "NO_COLOR": "1"} | extra


@pytest.fixture
def rlm_env(tmp_path: Path) -> dict[str, str]:
    """hermetic_env for one test, with a placeholder OpenAI key."""
    return hermetic_env(tmp_path, OPENAI_API_KEY="sk-test")


@pytest.fixture
def run_rlm(tmp_path: Path, rlm_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs the installed `rlm` entry point in tmp_path; env_extra values of None unset a variable."""
    entry_point = Path(sys.executable).parent / "rlm"

    def run(
        *args: str,
        input: str | None = None,
        env_extra: dict[str, str | None] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        env = dict(rlm_env)
        for name, value in (env_extra or {}).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return subprocess.run(
            [str(entry_point), *args],
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            env=env,
            cwd=tmp_path,
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    return run


# --- the engine in process -------------------------------------------------------------------------
# Engine tests run `RLM.solve` in this process against ScriptedModel, an in-memory ModelClient, while the
# REPL stays a real child process: a test costs the REPL's start (well under a second), not an `rlm`
# start with its litellm import (seconds). CLI end-to-end tests use run_rlm and FakeLLM instead.

ScriptedReply = str | Callable[["ModelRequest"], str]


def fence(code: str, lang: str = "repl") -> str:
    """A reply that is one code block."""
    return f"```{lang}\n{code.strip()}\n```"


def model_args(fake: FakeLLM, *extra: str) -> list[str]:
    """`rlm ask` flags for a root and a sub-model served by the scripted HTTP server."""
    return ["--model", "openai/root", "--sub-model", "openai/sub", "--api-base", fake.url, *extra]


@dataclass
class ModelRequest:
    """One model call as the client received it."""

    model: str
    messages: list[dict[str, str]]
    temperature: float | None
    stop: list[str] | None

    @property
    def last_user(self) -> str:
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")


@dataclass
class _Rule:
    match: str
    reply: str | Callable[[str], str]
    delay: float


class ScriptedModel:
    """A ModelClient in memory, scripted like FakeLLM: replies in order per model, then rules; requests kept.

    Token counts are characters / 4, as FakeLLM's; `price` gives a model a cost per call (default: unknown).
    """

    def __init__(self) -> None:
        self._scripts: dict[str, deque[ScriptedReply]] = defaultdict(deque)
        self._rules: dict[str, list[_Rule]] = defaultdict(list)
        self._failures: dict[str, int] = defaultdict(int)
        self._prices: dict[str, float] = {}
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = defaultdict(int)
        self._peak: dict[str, int] = defaultdict(int)
        self.requests: list[ModelRequest] = []

    def script(self, model: str, *replies: ScriptedReply) -> None:
        self._scripts[model].extend(replies)

    def rule(self, model: str, match: str, reply: str | Callable[[str], str], delay: float = 0.0) -> None:
        """Once the script is spent: the first rule whose regex `match` finds the last user message replies."""
        self._rules[model].append(_Rule(match, reply, delay))

    def fail(self, model: str, times: int = 1) -> None:
        """The next `times` calls to `model` fail as a non-transient model error would."""
        self._failures[model] += times

    def price(self, model: str, usd_per_call: float) -> None:
        self._prices[model] = usd_per_call

    def peak_concurrency_for(self, model: str) -> int:
        return self._peak[model]

    def complete(
        self,
        spec: ModelSpec,
        messages: list[dict[str, str]],
        *,
        stop: list[str] | None = None,
        deadline: float | None = None,
        on_retry: Any = None,
    ) -> Completion:
        request = ModelRequest(spec.model, copy.deepcopy(messages), spec.temperature, stop)
        with self._lock:
            self.requests.append(request)
            failing = self._failures[spec.model] > 0
            self._failures[spec.model] -= failing
            queue = self._scripts[spec.model]
            scripted = queue.popleft() if queue and not failing else None
            self._in_flight[spec.model] += 1
            self._peak[spec.model] = max(self._peak[spec.model], self._in_flight[spec.model])
        try:
            text = self._reply(request, scripted, failing)
        finally:
            with self._lock:
                self._in_flight[spec.model] -= 1
        text = cut_at_stop(text, stop)
        usage = usage_for(messages, text)
        cost = self._prices.get(spec.model)
        return Completion(text, spec.model, usage["prompt_tokens"], usage["completion_tokens"], cost, 0.0)

    def _reply(self, request: ModelRequest, scripted: ScriptedReply | None, failing: bool) -> str:
        if failing:
            raise ModelError(f"{request.model}: injected failure")
        if scripted is not None:
            return scripted(request) if callable(scripted) else scripted
        text = request.last_user
        for rule in self._rules[request.model]:
            if re.search(rule.match, text):
                time.sleep(rule.delay)
                return rule.reply(text) if callable(rule.reply) else rule.reply
        raise ModelError(
            f"{request.model}: no scripted reply left and no rule matched; last user message: {text[:200]!r}"
        )


E = TypeVar("E", bound=ev.Event)


@dataclass
class Solved:
    """What one in-process run gave: the outcome, every event in order, the model requests it made, and its input."""

    outcome: Outcome
    events: list[ev.Event]
    requests: list[ModelRequest]
    corpus: Corpus | None = None  # the input the run was given, as the engine left it

    @property
    def answer(self) -> str | None:
        return self.outcome.answer

    def requests_to(self, model: str) -> list[ModelRequest]:
        return [r for r in self.requests if r.model == model]

    @property
    def roots(self) -> list[ModelRequest]:
        """The root model's requests: roots[i].last_user is what the model read before its reply i + 1."""
        return self.requests_to("root")

    def of_type(self, cls: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, cls)]

    def notices(self, kind: str | None = None) -> list[str]:
        return [e.message for e in self.of_type(ev.Notice) if kind is None or e.kind == kind]

    def noticed(self, text: str) -> bool:
        """Whether a notice (what the live view and the trace show) holds `text`."""
        return any(text in message for message in self.notices())


@pytest.fixture
def model() -> ScriptedModel:
    """The scripted model client of this test: script "root" (and "sub") replies before calling `solve`."""
    return ScriptedModel()


@pytest.fixture
def solve(model: ScriptedModel) -> Callable[..., Solved]:
    """Runs the engine in process: root model "root", sub-model "sub", and a real REPL child.

    The input is files (Paths), or one text given as a str (a document named app.log). `guidance` is the
    level, "small" by default as in the CLI; other keywords set EngineConfig fields, or Limits fields
    (max_iterations, max_subcalls, max_tokens, max_cost, timeout).
    """

    def run(question: str, *inputs: Path | str, guidance: str = "small", **settings: Any) -> Solved:
        limits = Limits(**{name: settings.pop(name) for name in list(settings) if name in _LIMITS})
        config = EngineConfig(
            root=settings.pop("root", ModelSpec("root", temperature=0.0)),  # the CLI's default temperature
            sub=ModelSpec("sub", temperature=0.0),
            limits=limits,
            guide=guidance_factory(guidance),
            guidance=guidance,
            **settings,
        )
        if len(inputs) == 1 and isinstance(inputs[0], str):
            corpus = corpus_from_text(inputs[0], "app.log")
        else:
            corpus = load_corpus([str(path) for path in inputs], CorpusOptions())
        events: list[ev.Event] = []
        first = len(model.requests)
        outcome = RLM(Run(config, model, events.append)).solve(question, corpus)
        return Solved(outcome, events, model.requests[first:], corpus)

    return run


_LIMITS = {f.name for f in fields(Limits)}


@pytest.fixture
def app_log(tmp_path: Path) -> tuple[Path, int]:
    """A 400-line application log, and how many of its lines hold ERROR."""
    lines = []
    for i in range(400):
        level = "ERROR" if i % 7 == 3 else ("WARN" if i % 5 == 0 else "INFO")
        lines.append(f"2026-11-01T10:{i // 60:02d}:{i % 60:02d} {level} svc-{i % 4} request {i} done")
    path = tmp_path / "app.log"
    path.write_text("\n".join(lines) + "\n")
    return path, sum("ERROR" in line for line in lines)


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def rlm_main(
    tmp_path: Path, rlm_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Ran]:
    """Runs `rlm` through cli.main() in this process, with run_rlm's environment and folder: the real
    parsing and error mapping, without a process start. stdin is a pipe holding `input` (empty by default)."""
    from rlm_cli import cli

    for name in set(os.environ) - set(rlm_env):
        monkeypatch.delenv(name)
    for name, value in rlm_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli.signal, "signal", lambda *_args: None)  # SIGPIPE's default would later kill pytest

    def run(*args: str, input: str = "") -> Ran:
        monkeypatch.setattr(sys, "argv", ["rlm", *args])
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(input.encode())))
        capsys.readouterr()
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return Ran(code if isinstance(code, int) else 1, out.out, out.err)

    return run


@pytest.fixture
def hostile_repl(tmp_path: Path) -> Iterator[ReplProcess]:
    """A sandboxed REPL over a tiny input, whose sub-calls echo their prompt, for code that attacks the parent."""

    def write_input(workdir: str) -> str:
        return write_bundle(corpus_from_text("alpha\nbeta\n"), workdir)

    proc = ReplProcess(
        write_input, ReplConfig(output_limit=2_000), lambda prompts, _m, _b: [f"re:{p}" for p in prompts]
    )
    proc.config.sandbox = SandboxPolicy.for_input(100, proc.workdir)
    proc.start()
    try:
        yield proc
    finally:
        proc.close()
