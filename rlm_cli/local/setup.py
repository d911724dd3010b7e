"""Get the model file into the cache, from the Hub, a URL or a local file; verified by sha256, resumed, repaired.

A download goes to `<file>.part` and resumes from it (an HTTP Range request) after a dropped connection,
in the same run or the next one. A file whose checksum is wrong is never kept: a broken part file is
downloaded again from the start, and a broken cached file is replaced.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from rlm_cli import __version__
from rlm_cli.errors import InputError, ModelError
from rlm_cli.local import DEFAULT_MODEL, LocalPaths, ModelFile

_CHUNK = 1 << 20
_RETRIES = 5  # dropped connections resumed in one run before giving up (the next run resumes too)
_BACKOFF = 0.5  # seconds before the first resume; doubles each time
_NETWORK_ERRORS = (URLError, http.client.HTTPException, ConnectionError, TimeoutError)

Say = Callable[[str], None]


class Meter(Protocol):
    """A progress display for bytes read or received."""

    def begin(self, label: str, total: int | None, done: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def end(self) -> None: ...


class SilentMeter:
    def begin(self, label: str, total: int | None, done: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def end(self) -> None:
        pass


class RichMeter:
    """A rich progress bar on stderr: bytes, speed and time left."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._task: int | None = None

    def begin(self, label: str, total: int | None, done: int) -> None:
        self.end()
        self._progress.start()
        self._task = self._progress.add_task(label, total=total, completed=done)

    def advance(self, count: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, count)

    def end(self) -> None:
        if self._task is not None:
            self._progress.stop()
            self._progress.remove_task(self._task)
            self._task = None


@dataclass
class SetupReport:
    path: Path
    action: str  # verified (already there) | downloaded | resumed | repaired | linked | copied
    source: str


def is_ready(paths: LocalPaths, spec: ModelFile = DEFAULT_MODEL) -> bool:
    """True when the model file is the one setup verified, without reading its gigabyte again."""
    target = paths.model(spec)
    try:
        stamp = json.loads(_stamp_path(target).read_text())
        stat = target.stat()
    except (OSError, ValueError):
        return False
    return stamp == _stamp(spec, stat)


def setup_model(
    paths: LocalPaths,
    spec: ModelFile = DEFAULT_MODEL,
    source: str | None = None,
    *,
    meter: Meter | None = None,
    say: Say = lambda _text: None,
    endpoint: str | None = None,
) -> SetupReport:
    """Make the cached model file present and verified; `source` is a path or URL, else the Hub.

    `endpoint` is the Hub's address (default: huggingface_hub's, which honours HF_ENDPOINT).
    """
    meter = meter or SilentMeter()
    target = paths.model(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    repaired = False
    if target.exists():
        if sha256_of(target, meter, "verifying") == spec.sha256:
            _write_stamp(target, spec)
            return SetupReport(target, "verified", str(target))
        say(f"{target} is broken (wrong sha256); replacing it")
        _stamp_path(target).unlink(missing_ok=True)
        target.unlink()
        repaired = True
    if source is None or source.startswith(("http://", "https://")):
        url = source or _hub_url(spec, endpoint)
        action = _download(url, target, spec, meter, say)
    else:
        url = str(Path(source).expanduser())
        action = _import_file(Path(url), target, spec, meter)
    _write_stamp(target, spec)
    return SetupReport(target, "repaired" if repaired else action, url)


def sha256_of(path: Path, meter: Meter, label: str) -> str:
    hasher = hashlib.sha256()
    _hash_into(hasher, path, meter, label)
    return hasher.hexdigest()


def _hash_into(hasher: hashlib._Hash, path: Path, meter: Meter, label: str) -> None:
    meter.begin(label, path.stat().st_size, 0)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
            meter.advance(len(chunk))
    meter.end()


def _hub_url(spec: ModelFile, endpoint: str | None) -> str:
    from huggingface_hub import hf_hub_url

    return hf_hub_url(spec.repo, spec.filename, endpoint=endpoint)


def _download(url: str, target: Path, spec: ModelFile, meter: Meter, say: Say) -> str:
    """Fetch url into target's .part file, resuming it; keep it only if its sha256 is right."""
    part = target.with_name(target.name + ".part")
    action = "resumed" if part.exists() and part.stat().st_size else "downloaded"
    failures = 0
    started_over = False
    while True:
        try:
            digest = _fetch_into(url, part, meter, spec.filename)
        except HTTPError as exc:
            meter.end()
            raise ModelError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
        except _NETWORK_ERRORS as exc:
            meter.end()
            failures += 1
            if failures > _RETRIES:
                raise ModelError(
                    f"download of {url} failed ({_reason(exc)}); run the same command again to resume it"
                ) from None
            say(f"download interrupted ({_reason(exc)}); resuming")
            time.sleep(min(_BACKOFF * 2 ** (failures - 1), 8.0))
            continue
        if digest == spec.sha256:
            part.replace(target)
            return action
        part.unlink()
        if started_over:
            raise ModelError(f"{url} is not {spec.filename}: its sha256 is {digest}, not {spec.sha256}")
        say("the downloaded file has the wrong sha256; downloading it again from the start")
        started_over, action = True, "repaired"


def _fetch_into(url: str, part: Path, meter: Meter, label: str) -> str:
    """Append what the server has past part's end (or everything); return the whole file's sha256."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"rlm-ask/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    hasher = hashlib.sha256()
    try:
        response = urlopen(Request(url, headers=headers), timeout=60)
    except HTTPError as exc:
        if exc.code == 416 and have:  # nothing past our end: the part file may already be whole
            _hash_into(hasher, part, meter, "verifying")
            return hasher.hexdigest()
        raise
    with response:
        if have and response.status == 206:
            _hash_into(hasher, part, meter, "verifying the partial file")
        else:
            have = 0  # the server ignored the range: start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        meter.begin(label, total, have)
        with open(part, "ab" if have else "wb") as out:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                hasher.update(chunk)
                meter.advance(len(chunk))
        meter.end()
    if total is not None and part.stat().st_size < total:
        raise ConnectionError(f"connection closed at {part.stat().st_size:,} of {total:,} bytes")
    return hasher.hexdigest()


def _import_file(source: Path, target: Path, spec: ModelFile, meter: Meter) -> str:
    """Link the user's file into the cache (or copy it across file systems); never change the original."""
    if not source.is_file():
        raise InputError(f"--gguf: no such file: {source}")
    staging = target.with_name(target.name + ".import")
    staging.unlink(missing_ok=True)
    try:
        os.link(source, staging)
        action = "linked"
        digest = sha256_of(staging, meter, "verifying")
    except OSError:
        action = "copied"
        digest = _copy_hashing(source, staging, meter)
    if digest != spec.sha256:
        staging.unlink()
        raise InputError(f"--gguf {source}: not {spec.filename}: its sha256 is {digest}, not {spec.sha256}")
    staging.replace(target)
    return action


def _copy_hashing(source: Path, destination: Path, meter: Meter) -> str:
    hasher = hashlib.sha256()
    meter.begin("copying", source.stat().st_size, 0)
    with open(source, "rb") as src, open(destination, "wb") as out:
        while chunk := src.read(_CHUNK):
            out.write(chunk)
            hasher.update(chunk)
            meter.advance(len(chunk))
    meter.end()
    return hasher.hexdigest()


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp(spec: ModelFile, stat: os.stat_result) -> dict[str, object]:
    return {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _write_stamp(target: Path, spec: ModelFile) -> None:
    _stamp_path(target).write_text(json.dumps(_stamp(spec, target.stat())))


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason) or type(exc).__name__
