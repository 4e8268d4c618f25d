# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Back up listed paths before a switch and restore them, both verified by sha256.

A backup directory holds ``index.json`` (every path: absent, file, dir, or link, with
the sha256 of each file) and ``data/<n>/`` copies. A path absent at backup time is
removed on restore, so a restore gives back exactly the earlier state.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from .digest import file_sha256

INDEX = "index.json"


class BackupError(Exception):
    pass


def _entries_of(path: str) -> list[dict[str, Any]]:
    """Every file, directory and link under ``path`` with its checksum, relative to it."""
    if os.path.islink(path):
        return [{"rel": ".", "type": "link", "target": os.readlink(path)}]
    if os.path.isfile(path):
        return [{"rel": ".", "type": "file", "sha256": file_sha256(path), "mode": os.stat(path).st_mode & 0o7777}]
    items: list[dict[str, Any]] = [{"rel": ".", "type": "dir", "mode": os.stat(path).st_mode & 0o7777}]
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(dirs + files):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, path)
            if os.path.islink(full):
                items.append({"rel": rel, "type": "link", "target": os.readlink(full)})
            elif os.path.isdir(full):
                items.append({"rel": rel, "type": "dir", "mode": os.stat(full).st_mode & 0o7777})
            elif os.path.isfile(full):
                items.append({"rel": rel, "type": "file", "sha256": file_sha256(full), "mode": os.stat(full).st_mode & 0o7777})
    return items


def create_backup(paths: list[str], destination: str) -> dict[str, Any]:
    """Copy each path into ``destination`` and write the index; returns the index."""
    for path in paths:
        if not os.path.isabs(path):
            raise BackupError(f"backup path must be absolute, got {path!r}")
    staging = destination + ".partial"
    if os.path.lexists(staging):
        shutil.rmtree(staging)
    os.makedirs(os.path.join(staging, "data"), mode=0o700)
    index: dict[str, Any] = {"paths": []}
    for number, path in enumerate(paths):
        copy = os.path.join(staging, "data", str(number))
        if not os.path.lexists(path):
            index["paths"].append({"path": path, "present": False})
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.copytree(path, copy, symlinks=True)
        elif os.path.islink(path):
            os.symlink(os.readlink(path), copy)
        else:
            shutil.copy2(path, copy)
        index["paths"].append({"path": path, "present": True, "entries": _entries_of(path)})
    _verify_copy(index, os.path.join(staging, "data"))
    with open(os.path.join(staging, INDEX), "w", encoding="utf-8") as handle:
        json.dump(index, handle, sort_keys=True, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    if os.path.lexists(destination):
        shutil.rmtree(destination)
    os.rename(staging, destination)
    return index


def _verify_copy(index: dict[str, Any], data_dir: str) -> None:
    for number, item in enumerate(index["paths"]):
        if item["present"]:
            _verify_tree(os.path.join(data_dir, str(number)), item["entries"], item["path"])


def _verify_tree(root: str, entries: list[dict[str, Any]], label: str) -> None:
    for entry in entries:
        if entry["type"] != "file":
            continue
        full = os.path.normpath(os.path.join(root, entry["rel"]))
        try:
            actual = file_sha256(full)
        except OSError as exc:
            raise BackupError(f"{label}: {entry['rel']} is missing from the copy ({exc.strerror})") from None
        if actual != entry["sha256"]:
            raise BackupError(f"{label}: {entry['rel']} has sha256 {actual}, the backup recorded {entry['sha256']}")


def read_index(destination: str) -> dict[str, Any]:
    try:
        with open(os.path.join(destination, INDEX), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise BackupError(f"cannot read backup index in {destination}: {exc}") from None


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def restore_backup(destination: str, check_only: bool = False) -> list[str]:
    """Put every backed-up path back as it was; return the paths that differed (and were restored)."""
    index = read_index(destination)
    data_dir = os.path.join(destination, "data")
    _verify_copy(index, data_dir)
    changed: list[str] = []
    for number, item in enumerate(index["paths"]):
        path = item["path"]
        if not item["present"]:
            if os.path.lexists(path):
                changed.append(path)
                if not check_only:
                    _remove(path)
            continue
        if os.path.lexists(path) and _entries_of(path) == item["entries"]:
            continue
        changed.append(path)
        if check_only:
            continue
        copy = os.path.join(data_dir, str(number))
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        temporary = os.path.join(parent, f".{os.path.basename(path)}.opsgate-restore")
        _remove(temporary)
        if os.path.islink(copy):
            os.symlink(os.readlink(copy), temporary)
        elif os.path.isdir(copy):
            shutil.copytree(copy, temporary, symlinks=True)
        else:
            shutil.copy2(copy, temporary)
        _verify_tree(temporary, item["entries"], path)
        if os.path.isdir(path) and not os.path.islink(path):
            _remove(path)
        os.replace(temporary, path)
    return changed
