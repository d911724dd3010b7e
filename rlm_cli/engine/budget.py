"""Budgets and usage shared by the whole tree of calls, so recursion cannot multiply the spend."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rlm_cli.engine.model import Completion
from rlm_cli.errors import BudgetExhausted


@dataclass
class Limits:
    max_iterations: int = 20
    max_subcalls: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None
    timeout: float | None = None


@dataclass
class _ModelUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    cost_usd: float | None = 0.0


@dataclass
class Budget:
    """Thread-safe accounting; `check()` raises BudgetExhausted once any shared limit is crossed."""

    limits: Limits
    started: float = field(default_factory=time.monotonic)
    subcalls: int = 0
    _by_model: dict[str, _ModelUsage] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cancelled: str | None = None

    @property
    def deadline(self) -> float | None:
        return None if self.limits.timeout is None else self.started + self.limits.timeout

    def remaining(self) -> float | None:
        deadline = self.deadline
        return None if deadline is None else deadline - time.monotonic()

    def cancel(self, reason: str) -> None:
        """Ask every thread of the run to stop at its next check (Ctrl-C, SIGTERM)."""
        self._cancelled = reason

    @property
    def cancelled(self) -> str | None:
        return self._cancelled

    def check(self) -> None:
        if self._cancelled:
            raise BudgetExhausted("cancelled", self._cancelled)
        limits = self.limits
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise BudgetExhausted("timeout", f"time budget of {limits.timeout:g}s exhausted")
        tokens = self.input_tokens + self.output_tokens
        if limits.max_tokens is not None and tokens >= limits.max_tokens:
            raise BudgetExhausted("tokens", f"token budget of {limits.max_tokens} exhausted ({tokens} used)")
        cost = self.cost_usd
        if limits.max_cost is not None and cost is not None and cost >= limits.max_cost:
            raise BudgetExhausted("cost", f"cost budget of ${limits.max_cost:g} exhausted (${cost:.4f} spent)")

    def reserve_subcall(self) -> None:
        """Count a sub-call before it is sent, so a concurrent batch cannot overshoot the limit."""
        self.check()
        with self._lock:
            if self.limits.max_subcalls is not None and self.subcalls >= self.limits.max_subcalls:
                raise BudgetExhausted("subcalls", f"sub-call budget of {self.limits.max_subcalls} exhausted")
            self.subcalls += 1

    def record(self, completion: Completion) -> None:
        with self._lock:
            usage = self._by_model.setdefault(completion.model, _ModelUsage())
            usage.input_tokens += completion.input_tokens
            usage.output_tokens += completion.output_tokens
            usage.calls += 1
            if completion.cost_usd is None or usage.cost_usd is None:
                usage.cost_usd = None
            else:
                usage.cost_usd += completion.cost_usd

    @property
    def input_tokens(self) -> int:
        return sum(u.input_tokens for u in list(self._by_model.values()))

    @property
    def output_tokens(self) -> int:
        return sum(u.output_tokens for u in list(self._by_model.values()))

    @property
    def cost_usd(self) -> float | None:
        """Total USD, or None when any model used has no known price."""
        costs = [u.cost_usd for u in list(self._by_model.values())]
        if any(c is None for c in costs):
            return None
        return float(sum(c for c in costs if c is not None))

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            by_model = {
                name: {
                    "input_tokens": u.input_tokens,
                    "output_tokens": u.output_tokens,
                    "calls": u.calls,
                    "cost_usd": u.cost_usd,
                }
                for name, u in self._by_model.items()
            }
        return {
            "input_tokens": sum(m["input_tokens"] for m in by_model.values()),
            "output_tokens": sum(m["output_tokens"] for m in by_model.values()),
            "cost_usd": self.cost_usd,
            "by_model": by_model,
            "subcalls": self.subcalls,
            "elapsed_s": round(self.elapsed(), 3),
        }


# Each live REPL process holds a sandbox uid slot (repl.sandbox: 32 a run, one for the root's REPL).
MAX_CHILD_REPLS = 31


class ChildCaps:
    """How many child RLMs (each with its own REPL process) may run at once, and in all.

    Past a cap a recursive sub-call becomes a plain model call instead of waiting: a child waiting for
    a slot its own parent holds would never get one.
    """

    def __init__(self, at_once: int, total: int) -> None:
        self.at_once = min(max(at_once, 1), MAX_CHILD_REPLS)
        self.total = total
        self.running = 0
        self.started = 0
        self._lock = threading.Lock()

    def reserve(self) -> str | None:
        """None when a child may start (the caller must release() it), else why not, as a warning."""
        with self._lock:
            if self.started >= self.total:
                return f"{self.total} recursive sub-calls made (max_recursive_calls): later ones are plain model calls"
            if self.running >= self.at_once:
                return (
                    f"{self.at_once} child RLMs already running (max_child_repls): "
                    "more sub-calls at once run as plain model calls"
                )
            self.running += 1
            self.started += 1
            return None

    def release(self) -> None:
        with self._lock:
            self.running -= 1
