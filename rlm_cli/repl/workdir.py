"""The REPL's temp dirs: named for the run that owns them, locked while in use, swept once that run is dead.

A run killed by SIGKILL (or a power cut) cannot clean up after itself, so the next run removes the
`rlm-repl-<pid>-*` dirs whose owner is gone. A dir is removed only when all of these hold: its name
has that shape, it is a real directory (not a symlink), it belongs to this user (or, for a root
parent, to a sandbox uid), its pid is not running, and no process holds its lock. The lock covers
a pid reused or hidden in another pid namespace that shares the temp dir.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import stat
import tempfile
import threading

from rlm_cli.repl.sandbox import is_sandbox_uid

PREFIX = "rlm-repl-"
_NAME = re.compile(rf"{PREFIX}(\d+)-[A-Za-z0-9_]+")
_swept = False
_sweep_lock = threading.Lock()


def create() -> tuple[str, int]:
    """A fresh temp dir and an fd that holds its lock until `remove`; stale dirs are swept first, once a process."""
    global _swept
    with _sweep_lock:
        if not _swept:
            _swept = True
            sweep_stale(tempfile.gettempdir())
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return path, fd


def remove(path: str, fd: int) -> None:
    """Delete the dir, then let its lock go."""
    shutil.rmtree(path, ignore_errors=True)
    os.close(fd)


def sweep_stale(root: str) -> list[str]:
    """Remove the REPL dirs under `root` left by runs that died; returns the paths removed."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        match = _NAME.fullmatch(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and _ours(st.st_uid) and _unlocked_remove(entry.path):
            removed.append(entry.path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or no pid at all: not ours to judge
    return True


def _ours(uid: int) -> bool:
    """This user's dir; a root parent hands its dirs to a sandbox uid (repl.sandbox), so those count too."""
    return uid == os.geteuid() or (os.geteuid() == 0 and is_sandbox_uid(uid))


def _unlocked_remove(path: str) -> bool:
    """Remove `path` if no live process holds its lock; the lock is held meanwhile, so no run can start in it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        shutil.rmtree(path, ignore_errors=True)
        return not os.path.lexists(path)
    finally:
        os.close(fd)
