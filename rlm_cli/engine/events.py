"""Events the engine emits; renderers and the trace writer consume them, so the engine never renders."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    depth: int = 0
    t: float = field(default_factory=time.time)

    @property
    def type(self) -> str:
        return _NAME_BY_CLASS[type(self)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **dataclasses.asdict(self)}


@dataclass
class RunStarted(Event):
    run_id: str = ""
    question: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    corpus: dict[str, Any] = field(default_factory=dict)


@dataclass
class TurnStarted(Event):
    iteration: int = 0
    max_iterations: int = 0


@dataclass
class ModelReply(Event):
    """One root-model call at some depth; `usage` is the running total for the whole run."""

    iteration: int = 0
    model: str = ""
    text: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass
class CodeStarted(Event):
    """A block is about to run; its sub-calls' events come before its CodeExecuted."""

    iteration: int = 0
    index: int = 0
    code: str = ""


@dataclass
class CodeExecuted(Event):
    iteration: int = 0
    index: int = 0
    code: str = ""
    output: str = ""
    cut_chars: int = 0
    elapsed_s: float = 0.0
    state_lost: bool = False


@dataclass
class BatchStarted(Event):
    batch_id: int = 0
    size: int = 0


@dataclass
class SubcallFinished(Event):
    batch_id: int = 0
    index: int = 0
    model: str = ""
    prompt: str = ""
    response: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    recursive: bool = False
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchFinished(Event):
    batch_id: int = 0
    size: int = 0
    failed: int = 0
    elapsed_s: float = 0.0


@dataclass
class Notice(Event):
    """Something the user should know: a nudge sent to the model, a warning, a restarted REPL."""

    kind: str = "info"
    message: str = ""


@dataclass
class RunFinished(Event):
    run_id: str = ""
    status: str = "ok"  # ok | budget_exhausted | error | interrupted
    answer: str | None = None
    final: bool = False
    iterations: int = 0
    subcalls: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    cost_usd: float | None = None
    elapsed_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    error: dict[str, str] | None = None


_CLASSES = [
    RunStarted,
    TurnStarted,
    ModelReply,
    CodeStarted,
    CodeExecuted,
    BatchStarted,
    SubcallFinished,
    BatchFinished,
    Notice,
    RunFinished,
]
_NAME_BY_CLASS: dict[type, str] = {
    cls: "".join("_" + c.lower() if c.isupper() else c for c in cls.__name__).lstrip("_") for cls in _CLASSES
}
_CLASS_BY_NAME = {name: cls for cls, name in _NAME_BY_CLASS.items()}


def event_from_dict(data: dict[str, Any]) -> Event | None:
    """Rebuild an event from a trace line; unknown types (from a newer version) are skipped."""
    cls = _CLASS_BY_NAME.get(data.get("type", ""))
    if cls is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
