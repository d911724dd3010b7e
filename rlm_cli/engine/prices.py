"""Model prices and traits from the table litellm ships, read as JSON without importing litellm.

Importing litellm costs seconds; its price table is one JSON file inside the installed package, found
through the import system without running any of litellm's code. It is read once per process.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import threading
from dataclasses import dataclass
from typing import Any

TABLE_FILE = "model_prices_and_context_window_backup.json"

_table: dict[str, Any] | None = None
_lock = threading.Lock()


@dataclass(frozen=True)
class ModelInfo:
    """What the table says about one model: its provider, its prices per token, and whether it reasons."""

    provider: str | None
    input_cost: float | None
    output_cost: float | None
    cached_input_cost: float | None = None
    reasoning: bool = False

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float | None:
        """Dollars for one call; None when the table has no price for this model."""
        if self.input_cost is None or self.output_cost is None:
            return None
        cached = min(cached_tokens, input_tokens) if self.cached_input_cost is not None else 0
        fresh = input_tokens - cached
        return fresh * self.input_cost + cached * (self.cached_input_cost or 0.0) + output_tokens * self.output_cost


def table_path() -> str | None:
    """Where the installed litellm keeps its price table, found without importing litellm."""
    spec = importlib.util.find_spec("litellm")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = os.path.join(folder, TABLE_FILE)
        if os.path.isfile(path):
            return path
    return None


def _load() -> dict[str, Any]:
    global _table
    with _lock:
        if _table is None:
            path = table_path()
            try:
                with open(path or os.devnull, "rb") as handle:
                    data = json.loads(handle.read() or b"{}")
            except (OSError, ValueError):
                data = {}  # no table: every price is unknown, which the run reports once per model
            _table = data if isinstance(data, dict) else {}
    return _table


@functools.lru_cache(maxsize=64)
def lookup(model: str) -> ModelInfo | None:
    """The table's entry for `provider/name` or for the bare name under that provider, if any."""
    table = _load()
    provider, slash, name = model.partition("/")
    entry = table.get(model)
    if entry is None and slash:
        bare = table.get(name)
        # A bare entry is the provider's own model only if the table says so (gpt-4o is openai's, not groq's).
        entry = bare if isinstance(bare, dict) and bare.get("litellm_provider") == provider else None
    if not isinstance(entry, dict):
        return None
    return ModelInfo(
        provider=_text(entry.get("litellm_provider")),
        input_cost=_number(entry.get("input_cost_per_token")),
        output_cost=_number(entry.get("output_cost_per_token")),
        cached_input_cost=_number(entry.get("cache_read_input_token_cost")),
        reasoning=entry.get("supports_reasoning") is True,
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
