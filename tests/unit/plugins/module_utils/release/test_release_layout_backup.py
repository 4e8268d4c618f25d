# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The atomic switch and backup/restore on a real temporary directory."""

from __future__ import annotations

import os
import threading

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.release.backup import BackupError, create_backup, restore_backup
from ansible_collections.opsgate.release.plugins.module_utils.release.layout import (
    MARKER,
    Layout,
    LayoutError,
    check_release_id,
    current_release,
    ensure_layout,
    locked,
    switch_current,
)


def _release(layout: Layout, release_id: str) -> None:
    os.makedirs(layout.release(release_id))
    with open(os.path.join(layout.release(release_id), MARKER), "w") as handle:
        handle.write("{}")


def test_switch_points_current_at_the_release_and_returns_the_previous(tmp_path):
    layout = Layout(str(tmp_path))
    ensure_layout(layout)
    _release(layout, "r1")
    _release(layout, "r2")
    assert switch_current(layout, "r1") is None
    assert switch_current(layout, "r2") == "r1"
    assert os.readlink(layout.current) == os.path.join("releases", "r2")
    assert current_release(layout) == "r2"
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".current.tmp")]


def test_switch_refuses_an_incomplete_release(tmp_path):
    layout = Layout(str(tmp_path))
    ensure_layout(layout)
    os.makedirs(layout.release("half"))
    with pytest.raises(LayoutError, match="release half is not complete"):
        switch_current(layout, "half")
    assert current_release(layout) is None


def test_readers_never_see_a_missing_current_during_switches(tmp_path):
    layout = Layout(str(tmp_path))
    ensure_layout(layout)
    _release(layout, "a")
    _release(layout, "b")
    switch_current(layout, "a")
    misses: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                os.readlink(layout.current)
            except FileNotFoundError:
                misses.append("missing")

    reader = threading.Thread(target=read)
    reader.start()
    for number in range(300):
        switch_current(layout, "b" if number % 2 == 0 else "a")
    stop.set()
    reader.join()
    assert misses == []


def test_current_that_is_a_directory_is_refused(tmp_path):
    layout = Layout(str(tmp_path))
    os.makedirs(layout.current)
    with pytest.raises(LayoutError, match="is not a symlink"):
        current_release(layout)


@pytest.mark.parametrize("bad", ["../etc", "", ".hidden", "a/b", "x" * 200])
def test_release_ids_that_could_escape_are_refused(bad):
    with pytest.raises(LayoutError, match="release_id must be"):
        check_release_id(bad)


def test_lock_refuses_a_second_holder(tmp_path):
    layout = Layout(str(tmp_path))
    ensure_layout(layout)
    with locked(layout), pytest.raises(LayoutError, match="another run holds"), locked(layout):
        pass


def test_backup_then_restore_gives_back_files_dirs_links_and_absence(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "state.db").write_bytes(b"v1 state")
    (data / "link").symlink_to("sub/state.db")
    config = tmp_path / "app.conf"
    config.write_text("greeting=v1\n")
    absent = tmp_path / "not-yet"
    backup_dir = str(tmp_path / "backup")
    index = create_backup([str(data), str(config), str(absent)], backup_dir)
    assert [item["present"] for item in index["paths"]] == [True, True, False]

    (data / "sub" / "state.db").write_bytes(b"v2 state, migrated")
    (data / "sub" / "new.db").write_bytes(b"new")
    config.write_text("greeting=v2\n")
    absent.write_text("created by v2")

    assert sorted(restore_backup(backup_dir, check_only=True)) == sorted([str(data), str(config), str(absent)])
    assert config.read_text() == "greeting=v2\n"  # check_only changed nothing

    restored = restore_backup(backup_dir)
    assert sorted(restored) == sorted([str(data), str(config), str(absent)])
    assert (data / "sub" / "state.db").read_bytes() == b"v1 state"
    assert not (data / "sub" / "new.db").exists()
    assert os.readlink(data / "link") == "sub/state.db"
    assert config.read_text() == "greeting=v1\n"
    assert not absent.exists()
    assert restore_backup(backup_dir) == []


def test_restore_refuses_a_tampered_backup(tmp_path):
    config = tmp_path / "app.conf"
    config.write_text("original\n")
    backup_dir = tmp_path / "backup"
    create_backup([str(config)], str(backup_dir))
    (backup_dir / "data" / "0").write_text("tampered\n")
    config.write_text("changed\n")
    with pytest.raises(BackupError, match=r"has sha256 [0-9a-f]{64}, the backup recorded"):
        restore_backup(str(backup_dir))
    assert config.read_text() == "changed\n"


def test_backup_paths_must_be_absolute(tmp_path):
    with pytest.raises(BackupError, match="must be absolute, got 'relative'"):
        create_backup(["relative"], str(tmp_path / "b"))
