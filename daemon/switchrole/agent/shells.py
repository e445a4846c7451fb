"""Which shells hold which sessions, so the agent refreshes only what someone still uses.

A shell is remembered as (pid, start time): a pid alone could be reused by an unrelated
process after the shell exits. The start time must be one no clock step can move. psutil's
``create_time()`` adds a boot time that it derives from the wall clock on every call (psutil
#2526, #2541), so after NTP steps the clock a live shell would look like a new process. On
Linux we read the start time in clock ticks since boot from ``/proc/PID/stat`` and compare it
exactly; elsewhere psutil's value is compared with a tolerance.

With ``eval "$(switchrole env x)"`` the client's parent may be the subshell of the command
substitution, so we climb to the interactive shell above it. The agent only ever looks at
these processes; it never signals them.
"""

from __future__ import annotations

import os

import psutil

PROC = "/proc"
# Only where the start time comes from psutil's wall-clock arithmetic: a step smaller than this
# keeps a shell; a new process under a reused pid starts later than that (pids wrap slowly).
TOLERANCE = 2.0


class Unknowable(Exception):
    """The process cannot be checked right now (out of file descriptors)."""


# Linux: start times in clock ticks since boot, from /proc. Checked once: every comparison of
# two ShellRefs (each registration is a set lookup) depends on it.
TICKS = os.path.exists(f"{PROC}/self/stat")


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name; None if there is no such process."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as f:
            raw = f.read(4096)
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    except OSError as exc:
        raise Unknowable(exc.strerror) from None
    # The command name is in parentheses and may hold spaces or ')': split after the last one.
    return raw.rpartition(b")")[2].split()


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) from /proc/PID/stat; None if there is no such process."""
    fields = _stat_fields(pid)
    try:
        return None if fields is None else (fields[0].decode("ascii"), int(fields[19]))
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


def parent_of(pid: int) -> int:
    """The parent pid of ``pid`` (Linux), or 0 when it cannot be told."""
    try:
        fields = _stat_fields(pid)
        return int(fields[1]) if fields is not None else 0
    except (Unknowable, IndexError, ValueError):
        return 0


def start_of(pid: int) -> float | None:
    """The start time that identifies ``pid`` (clock ticks on Linux), or None if it is gone."""
    if TICKS:
        stat = _stat(pid)
        return None if stat is None or stat[0] == "Z" else float(stat[1])
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(proc.create_time())
    except psutil.Error:
        return None
    except OSError as exc:
        raise Unknowable(exc.strerror) from None


def same_start(a: float, b: float) -> bool:
    return a == b if TICKS else abs(a - b) <= TOLERANCE


class ShellRef:
    """A live shell as (pid, start time, name). Equal refs name the same process; on systems
    without /proc the start times of equal refs may differ by up to ``TOLERANCE``."""

    __slots__ = ("name", "pid", "started")

    def __init__(self, pid: int, started: float, name: str) -> None:
        self.pid = pid
        self.started = started
        self.name = name

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ShellRef):
            return NotImplemented
        return self.pid == other.pid and same_start(self.started, other.started)

    def __hash__(self) -> int:
        return hash(self.pid)

    def __repr__(self) -> str:
        return f"ShellRef(pid={self.pid}, started={self.started}, name={self.name!r})"

    def alive(self) -> bool:
        try:
            started = start_of(self.pid)
        except Unknowable:
            # Cannot tell (out of file descriptors): keep the shell; forgetting a live one
            # would revoke its endpoint token and stop its renewals for good.
            return True
        return started is not None and same_start(started, self.started)


def _is_subshell(proc: psutil.Process, parent: psutil.Process) -> bool:
    # A command-substitution subshell is a fork: same executable and command line as its parent.
    try:
        return proc.exe() == parent.exe() and proc.cmdline() == parent.cmdline()
    except psutil.Error:
        return False


_known: dict[tuple[int, float], ShellRef] = {}
MAX_KNOWN = 4096


def identify(pid: int) -> ShellRef | None:
    """The shell for ``pid`` if it is one of our user's processes, climbing out of subshells.

    A shell asks again and again: once identified, a (pid, start time) costs one cheap check."""
    try:
        started = start_of(pid)
    except Unknowable:
        return None
    if started is None:
        return None
    key = (pid, started)
    known = _known.get(key)
    if known is not None and known.alive():
        return known
    ref = _identify(pid)
    if ref is not None:
        if len(_known) >= MAX_KNOWN:
            _known.clear()
        _known[key] = ref
    return ref


def _identify(pid: int) -> ShellRef | None:
    try:
        proc = psutil.Process(pid)
        if proc.uids().real != os.getuid():
            return None
        for _ in range(8):
            parent = proc.parent()
            if parent is None or parent.uids().real != os.getuid() or not _is_subshell(proc, parent):
                break
            proc = parent
        started = start_of(proc.pid)
        return None if started is None else ShellRef(proc.pid, started, proc.name())
    except (psutil.Error, OSError, Unknowable):
        return None
