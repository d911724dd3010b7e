"""Saved traces: every event of a run as JSON lines, so a run can be replayed, listed and debugged later."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from rlm_cli.engine.events import Event, event_from_dict
from rlm_cli.errors import ConfigError, InputError, UsageError
from rlm_cli.redaction import REDACTED, redact_text

# Keys whose values are credentials; "max_tokens" or "input_tokens" must not match.
_SECRET_KEY_SUFFIXES = ("api_key", "apikey", "_key", "secret", "password", "passwd", "_token")
_SECRET_KEY_NAMES = {"key", "token", "authorization"}
_SHORT = 80
_TAIL_CHUNK = 64 * 1024


def traces_dir() -> Path:
    """Where traces live; RLM_TRACE_DIR lets tests and CI keep them out of the user's data dir."""
    override = os.environ.get("RLM_TRACE_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("rlm")) / "traces"


def new_run_id() -> str:
    """A UTC timestamp plus random suffix, so names sort by start time and never collide."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()


def _is_secret_key(name: str) -> bool:
    name = name.lower().replace("-", "_")
    return name in _SECRET_KEY_NAMES or name.endswith(_SECRET_KEY_SUFFIXES)


def redact(value: Any) -> Any:
    """Drop credentials from anything headed for disk: secret-named keys, known keys and key-shaped strings."""
    if isinstance(value, dict):
        return {k: (REDACTED if value[k] and _is_secret_key(str(k)) else redact(value[k])) for k in value}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class TraceWriter:
    """Appends each event as one flushed JSON line, so even a killed run leaves a usable trace."""

    def __init__(
        self, run_id: str, extra_path: str | None = None, keep: int = 100, max_bytes: int = 200_000_000
    ) -> None:
        self.run_id = run_id
        self.keep = keep
        self.max_bytes = max_bytes
        self.path = traces_dir() / f"{run_id}.jsonl"
        # Set when a write fails; the run goes on without a trace and the CLI may warn.
        self.write_error: str | None = None
        self._lock = threading.Lock()
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # errors="replace": a lone surrogate in a model reply must not stop the trace.
            self._files: list[IO[str]] = [self.path.open("w", encoding="utf-8", errors="replace")]
        except OSError as e:
            raise ConfigError(
                f"cannot write traces to {self.path.parent}: {e.strerror or e}; "
                "set RLM_TRACE_DIR to a writable directory"
            ) from e
        if extra_path is not None:
            try:
                self._files.append(Path(extra_path).expanduser().open("w", encoding="utf-8", errors="replace"))
            except OSError as e:
                self._files[0].close()
                self.path.unlink()  # an empty trace would only clutter `rlm trace list`
                raise UsageError(f"cannot write trace file {extra_path}: {e.strerror or e}") from e

    def __call__(self, event: Event) -> None:
        line = json.dumps(redact(event.to_dict()), ensure_ascii=False, default=str) + "\n"
        with self._lock:
            if self._closed or self.write_error is not None:
                return
            try:
                for f in self._files:
                    f.write(line)
                    f.flush()
            except OSError as e:
                self.write_error = f"trace not fully written: {e.strerror or e}"

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for f in self._files:
                try:
                    f.close()
                except OSError as e:
                    self.write_error = self.write_error or f"trace not fully written: {e.strerror or e}"
        _apply_retention(self.path, self.keep, self.max_bytes)


def _apply_retention(current: Path, keep: int, max_bytes: int) -> None:
    """Delete the oldest traces beyond `keep` files or `max_bytes` in all; the current one always stays."""
    sized = []
    for p in current.parent.glob("*.jsonl"):
        try:
            st = p.stat()
        except OSError:
            continue
        sized.append((st.st_mtime, p, st.st_size))
    sized.sort(key=lambda item: item[0], reverse=True)
    kept = 1
    total = next((size for _, p, size in sized if p == current), 0)
    full = False
    for _, p, size in sized:
        if p == current:
            continue
        if not full and kept < keep and total + size <= max_bytes:
            kept += 1
            total += size
            continue
        full = True
        with contextlib.suppress(OSError):
            p.unlink()


@dataclass
class TraceInfo:
    run_id: str
    path: Path
    started: datetime
    question: str
    status: str  # a RunFinished status, or "incomplete" when the run never finished
    answer: str
    size_bytes: int


def _shorten(text: str | None, limit: int = _SHORT) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _last_run_finished(f: IO[bytes], size: int) -> dict[str, Any] | None:
    """The root run_finished near the end of the file, reading only the tail (traces can be large)."""
    chunk = _TAIL_CHUNK
    while True:
        start = max(0, size - chunk)
        f.seek(start)
        lines = f.read(size - start).split(b"\n")
        if start > 0:
            lines = lines[1:]  # the first piece is a partial line
        complete = [line for line in lines if line.strip()]
        if complete or start == 0:
            break
        chunk *= 4
    for line in reversed(complete):
        if b'"run_finished"' in line:
            data = _parse(line)
            if data and data.get("type") == "run_finished" and not data.get("depth"):
                return data
    return None


def _read_info(path: Path) -> TraceInfo:
    st = path.stat()
    with path.open("rb") as f:
        first = _parse(f.readline()) or {}
        finished = _last_run_finished(f, st.st_size)
    started_t = first.get("t") if first.get("type") == "run_started" else None
    if not isinstance(started_t, int | float):
        started_t = st.st_mtime
    return TraceInfo(
        run_id=path.stem,
        path=path,
        started=datetime.fromtimestamp(started_t).astimezone(),
        question=_shorten(first.get("question")),
        status=str(finished.get("status", "incomplete")) if finished else "incomplete",
        answer=_shorten(finished.get("answer")) if finished else "",
        size_bytes=st.st_size,
    )


def list_traces() -> list[TraceInfo]:
    """Saved traces, newest first; unreadable or truncated files still appear, as far as they can be read."""
    infos = []
    directory = traces_dir()
    if not directory.is_dir():
        return []
    for p in directory.glob("*.jsonl"):
        try:
            infos.append(_read_info(p))
        except OSError:
            continue
    infos.sort(key=lambda i: (i.started, i.run_id), reverse=True)
    return infos


def resolve_trace(ref: str) -> Path:
    """Turn what the user typed ("last", a run id, a unique prefix, or a .jsonl path) into a trace file."""
    ref = ref.strip()
    if not ref:
        raise UsageError("give a trace: 'last', a run id, or a unique prefix of one")
    as_path = Path(ref).expanduser()
    if (os.sep in ref or ref.endswith(".jsonl")) and as_path.is_file():
        return as_path
    directory = traces_dir()
    if ref == "last":
        traces = list_traces()
        if not traces:
            raise InputError(f"no saved traces in {directory}")
        return traces[0].path
    ref = ref.removesuffix(".jsonl")
    names = sorted(p.stem for p in directory.glob("*.jsonl")) if directory.is_dir() else []
    if ref in names:
        return directory / f"{ref}.jsonl"
    matches = [n for n in names if n.startswith(ref)]
    if not matches:
        raise InputError(f"no trace matches '{ref}' in {directory}; see 'rlm trace list'")
    if len(matches) > 1:
        shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise UsageError(f"'{ref}' matches {len(matches)} traces ({shown}); give more of the run id")
    return directory / f"{matches[0]}.jsonl"


def load_events(path: Path) -> list[Event]:
    """Rebuild a run's events for replay; corrupt lines (a killed run) and unknown types are skipped."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read trace {path}: {e.strerror or e}") from e
    events = []
    for line in raw.splitlines():
        data = _parse(line)
        event = event_from_dict(data) if data else None
        if event is not None:
            events.append(event)
    return events
