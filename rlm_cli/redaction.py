"""Keep credentials out of everything rlm writes: stderr, stdout, `--json`, traces and `--trace-file`.

Servers echo keys back in their error text and model code may print one it found in a file, so
every key value this run knows, `Authorization`-style headers and the key shapes of the common
providers are replaced before text leaves the process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping

REDACTED = "[redacted]"
# Shorter values are words, not keys: redacting them would garble ordinary text.
MIN_SECRET_CHARS = 8
# Environment variables whose values are credentials, whether or not this run sends them anywhere.
_SECRET_ENV_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD", "_PASSWD", "_CREDENTIALS")

# Credential shapes of the common providers, found anywhere inside a string (a prompt may quote a .env file).
_SHAPES = (
    r"sk-[A-Za-z0-9_\-]{20,}"
    r"|AIza[0-9A-Za-z_\-]{35}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|hf_[A-Za-z0-9]{30,}"
    r"|gsk_[A-Za-z0-9]{40,}"
    r"|xox[abpr]-[A-Za-z0-9\-]{10,}"
    r"|AKIA[0-9A-Z]{16}"
)
# "Authorization: Bearer X", "x-api-key: X", "api_key=X", as headers, JSON or query strings.
_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-api-key|api[-_]?key)(['\"]?\s*[:=]\s*['\"]?)"
    r"((?:bearer|basic|token)\s+)?[^\s'\",;&]+"
)

_lock = threading.Lock()
_known: set[str] = set()
_values: re.Pattern[str] = re.compile(_SHAPES)


def register(values: Iterable[str | None]) -> None:
    """Remember key values to redact from now on (every configured key, every key the run may send)."""
    global _values
    fresh = {v for v in values if v and len(v) >= MIN_SECRET_CHARS} - _known
    if not fresh:
        return
    with _lock:
        _known.update(fresh)
        # Longest first, so a key that contains another is replaced whole.
        literal = "|".join(re.escape(v) for v in sorted(_known, key=len, reverse=True))
        _values = re.compile(f"{literal}|{_SHAPES}")


def register_env(env: Mapping[str, str]) -> None:
    """Register the credential-named variables of an environment (OPENAI_API_KEY, GITHUB_TOKEN, ...)."""
    register(value for name, value in env.items() if name.upper().endswith(_SECRET_ENV_SUFFIXES))


def redact_text(text: str) -> str:
    """`text` with every known key, header credential and key-shaped string replaced by [redacted]."""
    text = _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}{REDACTED}", text)
    return _values.sub(REDACTED, text)


def forget_all() -> None:
    """Drop every registered value; for tests, which share one process."""
    global _values
    with _lock:
        _known.clear()
        _values = re.compile(_SHAPES)
