# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller's half of release_migrate: the SQL files of the steps, read here and sent as content.

Every step's file (and down file) is read and its sha256 compared with the step's before anything is sent:
a file swapped on the controller after the approval is refused here, with the step, the expected and the
actual digest. The database host checks the content it receives against the same digests again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.opsgate.release.plugins.plugin_utils.controller_file import ControllerFileUnreadable, read_controller_file

# Filled in here from the step files; a task that sets them is refused.
HOST_SIDE_KEYS = ("sql", "down_sql", "down_sha256")
# Migration files are SQL someone reviewed, not data loads.
MAX_SQL_BYTES = 16 * 1024 * 1024


class MigrationFilesRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def refuse_host_side_keys(steps: Any) -> None:
    """``sql``/``down_sql`` come from the files the approval binds, never from the task."""
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        given = sorted(key for key in HOST_SIDE_KEYS if isinstance(step, Mapping) and key in step)
        if given:
            raise MigrationFilesRefused(
                "RELEASE_HOST_CHECK_REFUSED",
                f"steps[{index}]: {', '.join(given)} are filled in by the action plugin from the step's file and its approved sha256; "
                "remove them from the task",
            )


def _read(path: str, base_dir: str, where: str, expected: str) -> str:
    try:
        read = read_controller_file(path, base_dir, MAX_SQL_BYTES)
    except ControllerFileUnreadable as exc:
        raise MigrationFilesRefused("RELEASE_MIGRATION_FILE_UNREADABLE", f"{where}: {exc.reason}; nothing was sent") from None
    if read.sha256 != str(expected or "").lower():
        raise MigrationFilesRefused(
            "RELEASE_MIGRATION_DIGEST_MISMATCH",
            f"{where}: {read.path} has sha256 {read.sha256}, the step (and the approved change) names {expected}: the file changed after the "
            "approval; nothing was sent to the database host",
        )
    try:
        return read.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MigrationFilesRefused("RELEASE_MIGRATION_FILE_UNREADABLE", f"{where}: {read.path} is not UTF-8 text ({exc.reason}); nothing was sent") from None


def read_steps(steps: Sequence[Mapping[str, Any]], base_dir: str) -> list[dict[str, Any]]:
    """The steps as the module takes them: id, phase, sha256, sql, down_sha256, down_sql (file paths stay here)."""
    sent = []
    for index, step in enumerate(steps):
        where = f"steps[{index}] ({step.get('id')})"
        item: dict[str, Any] = {"id": step.get("id"), "phase": step.get("phase"), "sha256": str(step.get("sha256") or "").lower()}
        if not step.get("file"):
            raise MigrationFilesRefused("RELEASE_MIGRATION_FILE_UNREADABLE", f"{where}: file is missing; nothing was sent")
        item["sql"] = _read(str(step["file"]), base_dir, where, item["sha256"])
        down = step.get("down")
        if down:
            if not isinstance(down, Mapping) or not down.get("file") or not down.get("sha256"):
                raise MigrationFilesRefused("RELEASE_MIGRATION_FILE_UNREADABLE", f"{where}.down must be a mapping with file and sha256; nothing was sent")
            item["down_sha256"] = str(down["sha256"]).lower()
            item["down_sql"] = _read(str(down["file"]), base_dir, f"{where}.down", item["down_sha256"])
        sent.append(item)
    return sent
