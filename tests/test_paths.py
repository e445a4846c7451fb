"""The runtime dir's file helpers: private, atomic writes whatever the umask, and no litter."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from switchrole import paths


def test_write_private_is_0600_under_umask_000_and_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("old")
    target.chmod(0o644)
    old_umask = os.umask(0)
    try:
        paths.write_private(str(target), "new\n")
    finally:
        os.umask(old_umask)
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_a_failed_write_private_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("x")  # os.replace cannot put a file over a non-empty dir
    with pytest.raises(OSError):
        paths.write_private(str(target), "text")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_empty_directory_removes_files_and_tolerates_a_missing_dir(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("1")
    (tmp_path / "b").write_text("2")
    paths.empty_directory(str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    paths.empty_directory(str(tmp_path / "missing"))
