"""A `switchrole` first on PATH that records each start before running the real one: how the
tests see which prompts start a process."""

from __future__ import annotations

import os
from pathlib import Path

from support.world import SWITCHROLE


def counting_wrapper(directory: Path, real: str, counter: Path) -> Path:
    """A `switchrole` that records each start in ``counter`` and then runs the real one."""
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / "switchrole"
    wrapper.write_text(f'#!/bin/sh\nprintf \'%s\\n\' "$*" >> "{counter}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    counter.touch()
    return wrapper


def starts(counter: Path) -> list[str]:
    """The arguments of each start the wrapper recorded, in order."""
    return counter.read_text().splitlines() if counter.exists() else []


def path_with(first: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` with ``first`` ahead of everything else on PATH."""
    return {**env, "PATH": f"{first}{os.pathsep}{env['PATH']}"}


def counted(env: dict[str, str], directory: Path) -> tuple[dict[str, str], Path]:
    """``env`` with a counting `switchrole` (in ``directory``/bin) first on PATH, and the file
    (``directory``/starts) that records its starts."""
    counter = directory / "starts"
    counting_wrapper(directory / "bin", SWITCHROLE, counter)
    return path_with(directory / "bin", env), counter
