"""Which shells hold which sessions, so the agent refreshes only what someone still uses.

A shell is remembered as (pid, start time): a pid alone could be reused by an unrelated
process after the shell exits. With ``eval "$(switchrole env x)"`` the client's parent may be
the subshell of the command substitution, so we climb to the interactive shell above it.
The agent only ever looks at these processes; it never signals them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil

SHELL_NAMES = frozenset(
    {"bash", "zsh", "fish", "sh", "dash", "ksh", "mksh", "tcsh", "csh", "elvish", "nu", "xonsh"}
)


@dataclass(frozen=True)
class ShellRef:
    pid: int
    started: float
    name: str

    def alive(self) -> bool:
        try:
            proc = psutil.Process(self.pid)
            return proc.create_time() == self.started and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False
        except OSError:
            # Cannot tell (out of file descriptors): keep the shell; forgetting a live one
            # would revoke its endpoint token and stop its renewals for good.
            return True


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
        key = (pid, psutil.Process(pid).create_time())
    except (psutil.Error, ValueError, OSError):
        return None
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
        return ShellRef(proc.pid, proc.create_time(), proc.name())
    except (psutil.Error, OSError):
        return None
