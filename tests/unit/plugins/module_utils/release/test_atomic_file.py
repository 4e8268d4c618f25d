# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one atomic write: mode before content, nothing left behind on failure, old file intact until the rename."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.approval import atomic_file
from ansible_collections.opsgate.release.plugins.module_utils.approval.atomic_file import write_atomic


def test_text_and_bytes_land_with_the_mode_given(tmp_path: Path) -> None:
    write_atomic(str(tmp_path / "a.json"), "{}\n", 0o600)
    write_atomic(str(tmp_path / "b.bin"), b"\x00\x01", 0o644)
    assert (tmp_path / "a.json").read_text() == "{}\n" and stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o600
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01" and stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o644
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.json", "b.bin"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_file.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(str(target), "new", 0o644)
    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["state.json"]


def test_the_owner_is_set_when_given(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give a file to another owner")
    write_atomic(str(tmp_path / "root.json"), "x", 0o644, owner=(0, 0))
    info = (tmp_path / "root.json").stat()
    assert (info.st_uid, info.st_gid) == (0, 0)
