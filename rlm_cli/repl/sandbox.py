"""Confine the REPL child, which runs model-written and therefore untrusted code.

Security model. `apply()` runs in the child before any model code. On Linux, with the sandbox enabled,
it enforces: resource limits (address space, CPU seconds, file size, no core dumps, a process/thread
cap); no_new_privs; when started as root, a switch to a private unprivileged uid (all capabilities
gone, except CAP_DAC_READ_SEARCH when the Python installation or workdir is unreachable without it,
and then Landlock alone decides what is readable); Landlock: read-only access to the Python
installation, system libraries and `read_paths`, read-write access to `write_paths` only, no TCP
bind/connect, no signals or abstract sockets outside the sandbox, no programs to run but Python's;
a seccomp filter: no new sockets
(so no UDP, raw or netlink either), no io_uring, namespaces, bpf, perf, userfaultfd or
open_by_handle_at; and death with the parent. Not enforced: the child may burn CPU up to its limit
(per process, times the process cap), fill its workdir file by file up to the size limit each, stat
paths it cannot open, and use any fd it inherited (its socket to the parent, by design); the
parent must treat everything in the workdir as hostile. The parent, for its part, makes itself
non-dumpable (`shield_parent`), so even a child of its own uid cannot read its environment. `enabled=False`
(--no-sandbox) keeps only the resource limits and the parent-death signal.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
import stat
import struct
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from rlm_cli.errors import SandboxError

_GiB = 1 << 30
# A private sandbox uid is _UID_BASE + parent pid * _SLOTS + the workdir's slot: above systemd's
# container ranges and below 2**31 for any pid_max, unique among live sandboxes, so everything running
# under one uid belongs to one REPL child (its own process budget, and reap() kills no neighbour).
# A slot is held from the workdir's first use until release_ids(): never shared by two live REPLs.
# With every slot taken, a REPL runs as nobody, which reap() never kills by uid.
_UID_BASE = 2_000_000_000
_SLOTS = 32
_slot_of: dict[str, int] = {}
_slots_lock = threading.Lock()
_NOBODY = 65534
# All of rlm_cli, not just repl/: the child imports inputs/ too.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# prctl options and capabilities (linux/prctl.h, linux/capability.h).
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_KEEPCAPS = 8
_PR_SET_SECCOMP = 22
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2
_CAP_VERSION_3 = 0x20080522
_CAP_DAC_READ_SEARCH = 2

# Landlock (linux/landlock.h); the syscall numbers are the same on every architecture we support.
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_MAKE_CHAR = 1 << 6
_FS_MAKE_SOCK = 1 << 9
_FS_MAKE_FIFO = 1 << 10
_FS_MAKE_BLOCK = 1 << 11
_FS_MAKE_SYM = 1 << 12
_FS_REFER = 1 << 13
_FS_TRUNCATE = 1 << 14
_FS_IOCTL_DEV = 1 << 15
_FS_ABI1 = (1 << 13) - 1
_FS_FILE_ONLY = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_NET_BIND_TCP = 1 << 0
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_SCOPE_SIGNAL = 1 << 1

# Paths beyond the Python installation that CPython and the dynamic loader read while importing.
_SYSTEM_READ = (
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/usr/share/zoneinfo",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
)

# seccomp, per machine: (AUDIT_ARCH, denied syscalls, clone, x32 bit). Denied, in order: socket, unshare,
# setns, io_uring_setup, io_uring_enter, io_uring_register, bpf, perf_event_open, userfaultfd,
# open_by_handle_at.
_SECCOMP_ARCH: dict[str, tuple[int, tuple[int, ...], int, int | None]] = {
    "x86_64": (0xC000003E, (41, 272, 308, 425, 426, 427, 321, 298, 323, 304), 56, 0x40000000),
    "aarch64": (0xC00000B7, (198, 97, 268, 425, 426, 427, 280, 241, 282, 265), 220, None),
}
_SYS_CLONE3 = 435
_CLONE_NEW_ANY = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000


@dataclass
class SandboxPolicy:
    """What the REPL child may use; plain fields so it crosses the pipe as JSON (`dataclasses.asdict`)."""

    enabled: bool = True
    memory_bytes: int | None = 2 * _GiB
    cpu_seconds: int | None = 600
    max_processes: int | None = 64
    file_size_bytes: int | None = _GiB
    read_paths: list[str] = field(default_factory=list)
    write_paths: list[str] = field(default_factory=list)
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_input(cls, corpus_chars: int, workdir: str, **overrides: Any) -> SandboxPolicy:
        """Defaults scaled to the input: the child holds the corpus several times over while slicing it."""
        ids = _sandbox_ids(workdir) if overrides.get("enabled", True) else None
        values: dict[str, Any] = {
            # 8x: a str with one wide character costs 4 bytes a character, and slicing makes copies.
            "memory_bytes": max(2 * _GiB, 8 * corpus_chars + _GiB),
            "cpu_seconds": 600 + corpus_chars // 500_000,
            "file_size_bytes": max(_GiB, 2 * corpus_chars),
            "write_paths": [os.path.abspath(workdir)],
            "uid": None if ids is None else ids[0],
            "gid": None if ids is None else ids[1],
        }
        values.update(overrides)
        return cls(**values)


def _sandbox_ids(workdir: str) -> tuple[int, int] | None:
    """The uid/gid a root parent's child drops to; None when the parent isn't root (nothing to drop)."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return None
    key = os.path.realpath(workdir)
    with _slots_lock:
        slot = _slot_of.get(key)
        if slot is None:
            free = sorted(set(range(_SLOTS)) - set(_slot_of.values()))
            slot = _slot_of[key] = free[0] if free else -1  # -1: nobody, decided once for both callers
    if slot < 0:
        return _NOBODY, _NOBODY
    private = _UID_BASE + os.getpid() * _SLOTS + slot
    if _id_mapped("/proc/self/uid_map", private) and _id_mapped("/proc/self/gid_map", private):
        return private, private
    return _NOBODY, _NOBODY


def release_ids(workdir: str) -> None:
    """Free the workdir's slot once its REPL child and everything it started are dead."""
    with _slots_lock:
        _slot_of.pop(os.path.realpath(workdir), None)


def is_sandbox_uid(uid: int) -> bool:
    """A uid this parent's sandbox may hand a workdir to (a private one, or the shared fallback)."""
    return uid >= _UID_BASE or uid == _NOBODY


def _id_mapped(map_path: str, ident: int) -> bool:
    """A user namespace (rootless containers) may map only a small id range; setresuid fails outside it."""
    with open(map_path) as f:
        for line in f:
            inside, _outside, count = (int(x) for x in line.split())
            if inside <= ident < inside + count:
                return True
    return False


def child_env(workdir: str) -> dict[str, str]:
    """Build the child's environment from nothing, so no key, token or proxy setting can reach model code."""
    env = {k: v for k, v in os.environ.items() if k in ("LANG", "LANGUAGE", "TZ") or k.startswith("LC_")}
    env.update(
        {
            "PATH": "/usr/bin:/bin",
            "HOME": workdir,
            "TMPDIR": workdir,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONIOENCODING": "utf-8",
            # The workdir is writable by model code and survives restarts: never import from it.
            "PYTHONNOUSERSITE": "1",
            "PYTHONSAFEPATH": "1",
        }
    )
    return env


def prepare_workdir(workdir: str) -> None:
    """Hand the workdir to the sandbox uid, since the child stops being root before it writes there.

    The files already in it (the input) become read-only and, under a root parent, stay root's: model
    code cannot overwrite by accident what a restarted child must load again.
    """
    os.chmod(workdir, 0o700)
    for root, _dirs, files in os.walk(workdir):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o444)
    ids = _sandbox_ids(workdir)
    if ids is not None:
        os.chown(workdir, *ids)


def reap(policy: SandboxPolicy) -> bool:
    """Kill every process of this REPL child's private uid, including ones that left its process group.

    Returns False, killing nothing, when there is no private uid (parent not root, or a shared fallback).
    """
    if policy.uid is None or policy.uid < _UID_BASE or os.geteuid() != 0:
        return False
    import subprocess  # parent-only; the child never pays for it at startup

    # kill(-1) from inside the uid reaches exactly its processes and is atomic against forking.
    subprocess.run(
        ["/bin/sh", "-c", "kill -KILL -1"],
        user=policy.uid,
        group=policy.gid,
        extra_groups=[],
        env={},
        cwd="/",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        timeout=10,
    )
    return True


def shield_parent() -> None:
    """Make the calling (parent) process non-dumpable, so its /proc files turn root's.

    Without Landlock and without root to switch uids, the child shares the parent's uid and could
    otherwise read /proc/<parent>/environ, API keys included, or the parent's memory.
    """
    if sys.platform == "linux":
        _prctl(_PR_SET_DUMPABLE, 0)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when unavailable (not Linux, too old, or disabled at boot)."""
    if sys.platform != "linux":
        return 0
    try:
        return _syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    except OSError:
        return 0


def apply(policy: SandboxPolicy) -> list[str]:
    """Confine the calling process for good; call once, single-threaded, before running model code."""
    warnings: list[str] = []
    linux = sys.platform == "linux"
    if linux:
        _require_single_thread()
    ppid = os.getppid()
    _set_limits(policy, linux, warnings)
    if not linux:
        warnings.append(f"no sandbox on {sys.platform}: only resource limits apply")
        return warnings
    try:
        if policy.enabled:
            _confine(policy, warnings)
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid switch, which clears it
    except OSError as exc:
        raise SandboxError(f"cannot confine the REPL process: {exc}") from exc
    if os.getppid() != ppid:
        raise SandboxError("the parent exited while the REPL process was starting")
    return warnings


def _confine(policy: SandboxPolicy, warnings: list[str]) -> None:
    """The privileged part: ruleset fds are opened while still root, the uid switch comes before lock-in."""
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    abi = landlock_abi()
    system = _system_read_paths()  # listed while still root: a dropped uid may not even see them
    ruleset = _landlock_ruleset(abi, policy, system) if abi else None
    try:
        if policy.uid is not None and os.geteuid() == 0:
            _drop_root(policy, system)
        if ruleset is not None:
            _syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0)
    finally:
        if ruleset is not None:
            os.close(ruleset)
    if ruleset is None:
        warnings.append(
            "Landlock unavailable (kernel too old, disabled, or not Linux): "
            "files and TCP are not confined, resource limits still apply"
        )
    seccomp = _install_seccomp()
    if not seccomp:
        warnings.append(f"no syscall filter for {os.uname().machine}: new sockets are not blocked")
    if 0 < abi < 4 and not seccomp:
        warnings.append(f"Landlock ABI {abi} cannot block TCP: network is not confined")
    if 0 < abi < 6 and policy.uid is None:
        warnings.append(f"Landlock ABI {abi} cannot scope signals: the child may signal your other processes")


def _require_single_thread() -> None:
    """Landlock, capabilities and no_new_privs apply per thread; a second thread would stay unconfined."""
    with open("/proc/self/status") as f:
        threads = next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
    if threads != 1:
        raise SandboxError(f"the sandbox must be applied before any thread starts ({threads} running)")


def _set_limits(policy: SandboxPolicy, linux: bool, warnings: list[str]) -> None:
    """Resource limits go first and apply even with --no-sandbox: they are cheap and stop accidents too."""
    nproc = None
    if policy.max_processes is not None and linux:
        # RLIMIT_NPROC counts every task of the (future) real uid, not just ours: leave room for the rest.
        uid = policy.uid if policy.enabled and policy.uid is not None and os.geteuid() == 0 else os.getuid()
        nproc = _count_tasks(uid) + policy.max_processes
    elif policy.max_processes is not None:
        warnings.append("the process limit is not enforced off Linux")
    limits = [
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_AS, policy.memory_bytes, 0),
        (resource.RLIMIT_CPU, policy.cpu_seconds, 1),  # SIGXCPU at the soft limit, SIGKILL a second later
        (resource.RLIMIT_FSIZE, policy.file_size_bytes, 0),
        (resource.RLIMIT_NPROC, nproc, 0),
    ]
    for which, value, grace in limits:
        if value is None:
            continue
        _soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard - grace)
        try:
            resource.setrlimit(which, (value, value + grace))
        except (ValueError, OSError) as exc:
            if linux:
                raise SandboxError(f"cannot set resource limit {which}: {exc}") from exc
            warnings.append(f"resource limit {which} not applied: {exc}")


def _count_tasks(uid: int) -> int:
    """Tasks (threads included) whose real uid is `uid`, as the kernel counts them for RLIMIT_NPROC."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                status = f.read()
            if int(status.split("\nUid:", 1)[1].split(None, 1)[0]) == uid:
                total += int(status.split("\nThreads:", 1)[1].split(None, 1)[0])
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
    return total


def _drop_root(policy: SandboxPolicy, system: list[str]) -> None:
    """Become the sandbox uid, so RLIMIT_NPROC binds and the child loses root's powers and files."""
    uid = policy.uid if policy.uid is not None else _NOBODY
    gid = policy.gid if policy.gid is not None else uid
    for path in policy.write_paths:
        if os.stat(path).st_uid != uid:
            raise SandboxError(f"{path} does not belong to the sandbox uid: call prepare_workdir() on it first")
    _prctl(_PR_SET_KEEPCAPS, 1)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    # Effective capabilities are gone now; access() shows what plain file permissions allow this uid.
    needed = [(p, os.R_OK) for p in system + policy.read_paths]
    needed += [(p, os.R_OK | os.X_OK) for p in policy.write_paths]
    blind = not all(os.access(p, mode) for p, mode in needed)
    keep = 1 << _CAP_DAC_READ_SEARCH if blind else 0
    header = struct.pack("Ii", _CAP_VERSION_3, 0)
    data = struct.pack("6I", keep, keep, 0, 0, 0, 0)  # effective, permitted, inheritable x 2 words
    if _libc.capset(header, data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")
    _prctl(_PR_SET_KEEPCAPS, 0)


def _system_read_paths() -> list[str]:
    """What CPython needs to keep importing lazily: its installation, rlm_cli, loaded libraries' dirs."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, _PACKAGE_DIR, *_SYSTEM_READ}
    with open("/proc/self/maps") as f:
        for line in f:
            mapped = line.split(maxsplit=5)[-1].strip()
            if mapped.startswith("/") and ".so" in os.path.basename(mapped):
                paths.add(os.path.dirname(mapped))
    return sorted(p for p in paths if os.path.exists(p))


def _landlock_ruleset(abi: int, policy: SandboxPolicy, system: list[str]) -> int:
    """A ruleset that handles every right this ABI knows, so whatever no rule grants is denied."""
    handled = _FS_ABI1
    if abi >= 2:
        handled |= _FS_REFER
    if abi >= 3:
        handled |= _FS_TRUNCATE
    if abi >= 5:
        handled |= _FS_IOCTL_DEV
    net = _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0
    scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("QQQ", handled, net, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    fd = _syscall(_SYS_LANDLOCK_CREATE_RULESET, attr, size, 0)
    read = _FS_READ_FILE | _FS_READ_DIR
    write = handled & ~(
        _FS_EXECUTE | _FS_MAKE_CHAR | _FS_MAKE_BLOCK | _FS_MAKE_SYM | _FS_MAKE_SOCK | _FS_MAKE_FIFO | _FS_IOCTL_DEV
    )
    rules = [(p, read | _FS_EXECUTE, False) for p in system]
    rules.append(("/dev/null", _FS_READ_FILE | _FS_WRITE_FILE | _FS_TRUNCATE, False))
    rules.append((f"/proc/{os.getpid()}", read, False))
    rules += [(p, read, True) for p in policy.read_paths]
    rules += [(p, write, True) for p in policy.write_paths]
    try:
        for path, access, required in rules:
            _add_path_rule(fd, path, access & handled, required)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _add_path_rule(ruleset: int, path: str, access: int, required: bool) -> None:
    """Grant `access` beneath `path`; files take only file rights, or the kernel rejects the rule."""
    try:
        target = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError as exc:
        if required:
            raise SandboxError(f"sandbox path {path!r} cannot be opened: {exc.strerror}") from exc
        return
    try:
        if not stat.S_ISDIR(os.fstat(target).st_mode):
            access &= _FS_FILE_ONLY
        rule = struct.pack("=Qi", access, target)
        _syscall(_SYS_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, rule, 0)
    finally:
        os.close(target)


def _install_seccomp() -> bool:
    """Block what Landlock can't: UDP/raw/netlink sockets, io_uring, new namespaces. False on unknown arch."""
    spec = _SECCOMP_ARCH.get(os.uname().machine)
    if spec is None:
        return False
    arch, denied, clone, x32_bit = spec

    def insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("HBBI", code, jt, jf, k)

    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    eperm = _RET_ERRNO | errno.EPERM
    prog = [insn(ld, 4), insn(jeq, arch, jt=1), insn(ret, _RET_KILL_PROCESS), insn(ld, 0)]
    if x32_bit is not None:
        prog += [insn(jge, x32_bit, jf=1), insn(ret, eperm)]
    for nr in denied:
        prog += [insn(jeq, nr, jf=1), insn(ret, eperm)]
    # glibc falls back from clone3 (whose flags seccomp can't read) to clone, whose flags it can.
    prog += [insn(jeq, _SYS_CLONE3, jf=1), insn(ret, _RET_ERRNO | errno.ENOSYS)]
    prog += [insn(jeq, clone, jf=3), insn(ld, 16), insn(jset, _CLONE_NEW_ANY, jf=1), insn(ret, eperm)]
    prog.append(insn(ret, _RET_ALLOW))
    code = ctypes.create_string_buffer(b"".join(prog))
    fprog = struct.pack("HP", len(prog), ctypes.addressof(code))
    try:
        _prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, fprog)
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # kernel built without seccomp filters
            return False
        raise
    return True


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _arg(value: int | bytes | None) -> Any:
    return ctypes.c_char_p(value) if isinstance(value, bytes) else ctypes.c_long(value or 0)


def _syscall(nr: int, *args: int | bytes | None) -> int:
    result = _libc.syscall(ctypes.c_long(nr), *(_arg(a) for a in args))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(result)


def _prctl(option: int, arg2: int, arg3: int | bytes = 0) -> None:
    """prctl that raises: each call here is a protection we promised and must not skip silently."""
    if _libc.prctl(ctypes.c_int(option), _arg(arg2), _arg(arg3), ctypes.c_long(0), ctypes.c_long(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")
