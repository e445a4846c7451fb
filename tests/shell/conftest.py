"""Fixtures for the shell-integration tests: interactive shells that are always ended."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

# The helpers next to this file; pytest's importlib mode does not put this directory on the path.
sys.path.insert(0, str(Path(__file__).parent))

from shell_pty import PtyShell


@pytest.fixture
def pty_shell(tmp_path: Path) -> Iterator[Callable[..., PtyShell]]:
    """Start interactive shells: ``pty_shell("zsh", env, prompt="indicator")``; ``rc_before``
    lines go into the rc file ahead of the init line (zsh's compinit, for completion), ``rc_after``
    lines after it; ``init=False`` leaves the init line out (a shell that is not set up)."""
    started: list[PtyShell] = []

    def start(
        shell: str,
        env: dict[str, str],
        prompt: str = "status",
        rc_before: Sequence[str] = (),
        init: bool = True,
        rc_after: Sequence[str] = (),
    ) -> PtyShell:
        sh = PtyShell(shell, env, tmp_path / f"pty{len(started)}", prompt, rc_before, init, rc_after)
        started.append(sh)
        return sh

    yield start
    for sh in started:
        sh.close()
