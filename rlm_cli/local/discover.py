"""Other local model servers already listening on their usual ports: Ollama and LM Studio.

Discovery only asks each for its list of models; rlm sends them nothing else unless the user picks one
with `-m openai/MODEL --api-base URL`, which `rlm local status` prints ready to copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.error import URLError
from urllib.request import ProxyHandler, build_opener

_DIRECT = build_opener(ProxyHandler({}))  # 127.0.0.1 never goes through an http_proxy


@dataclass(frozen=True)
class Known:
    label: str
    base: str  # where it listens
    models_path: str  # its own list of models
    api_path: str = "/v1"  # its OpenAI-compatible API


KNOWN = (
    Known("Ollama", "http://127.0.0.1:11434", "/api/tags"),
    Known("LM Studio", "http://127.0.0.1:1234", "/v1/models"),
)


@dataclass
class Found:
    known: Known
    models: list[str]

    @property
    def api_base(self) -> str:
        return self.known.base + self.known.api_path

    def usage(self) -> str:
        model = self.models[0] if self.models else "MODEL"
        return f"rlm ask -m openai/{model} --api-base {self.api_base} FILE QUESTION"


def discover(known: tuple[Known, ...] = KNOWN, timeout: float = 0.5) -> list[Found]:
    """The servers that answer; a closed port costs nothing, a silent one at most `timeout`."""
    found = []
    for server in known:
        try:
            with _DIRECT.open(server.base + server.models_path, timeout=timeout) as response:
                data = json.loads(response.read())
        except (URLError, OSError, ValueError):
            continue
        found.append(Found(server, _model_names(data)))
    return found


def _model_names(data: object) -> list[str]:
    """Ollama lists {"models": [{"name": ...}]}, OpenAI-style servers {"data": [{"id": ...}]}."""
    if not isinstance(data, dict):
        return []
    entries = data.get("models") or data.get("data") or []
    names = [entry.get("name") or entry.get("id") for entry in entries if isinstance(entry, dict)]
    return [name for name in names if isinstance(name, str)]
