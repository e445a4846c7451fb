"""Fixtures for the shell-integration tests: interactive shells that are always ended."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The helpers next to this file; pytest's importlib mode does not put this directory on the path.
sys.path.insert(0, str(Path(__file__).parent))

from shell_pty import PtyShell


@pytest.fixture
def pty_shell(tmp_path: Path) -> Iterator[Callable[..., PtyShell]]:
    """Start interactive shells: ``pty_shell("zsh", env, prompt="indicator")``."""
    started: list[PtyShell] = []

    def start(shell: str, env: dict[str, str], prompt: str = "status") -> PtyShell:
        sh = PtyShell(shell, env, tmp_path / f"pty{len(started)}", prompt)
        started.append(sh)
        return sh

    yield start
    for sh in started:
        sh.close()
