"""Tiny non-secret state files that let shell prompt hooks notice news without a process.

One file per session in ``<runtime dir>/state/``, one line: ``GENERATION EXPIRES_AT REFRESH_AT
STATE``, the state in wire.STATES' words. A prompt hook reads it with the shell's builtin
``read`` and calls switchrole only when the generation moved or the state is not ``fresh``.
Written atomically (rename) so a hook never reads half a line, and only when the line on disk
differs. No credential ever goes into these files.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .. import paths
from .sessions import Session


class StateFiles:
    def __init__(self, runtime_dir: str, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.directory = os.path.join(runtime_dir, "state")
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        # Files a previous agent left describe sessions this one does not hold: shells must see
        # them missing (and re-register) rather than unchanged.
        self.clear()

    def clear(self) -> None:
        paths.empty_directory(self.directory)

    def path(self, session: Session) -> str:
        return os.path.join(self.directory, session.sid)

    def write(self, session: Session) -> None:
        state = session.state(self.clock())
        line = f"{session.generation} {int(session.expiration)} {int(session.refresh_at())} {state}\n"
        path = self.path(session)
        if self._current(path) == line:
            return  # most requests change nothing: one small read, no write, no rename
        try:
            paths.write_private(path, line)
        except OSError:
            pass  # a missing state file only costs the shell one client call

    @staticmethod
    def _current(path: str) -> str | None:
        try:
            with open(path, encoding="ascii") as f:
                return f.read(256)
        except (OSError, ValueError):
            return None

    def remove(self, session: Session) -> None:
        try:
            os.unlink(self.path(session))
        except OSError:
            pass
