# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller files a manifest binds by digest besides its artifacts: migration steps, their downs, the verify suite.

Each path is made absolute (a relative one is relative to the playbook directory, as an artifact's ``src``)
and each file is read (up to the size its step reads later) and hashed before any host is contacted. Every problem is reported, each naming
the key path, the file, the digest the manifest gives and the one found.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from ansible_collections.opsgate.release.plugins.plugin_utils.controller_file import ControllerFileUnreadable, controller_path, read_controller_file
from ansible_collections.opsgate.release.plugins.plugin_utils.release_actions.migration_files import MAX_SQL_BYTES
from ansible_collections.opsgate.release.plugins.plugin_utils.release_manifest.manifest import MANIFEST_VAR
from ansible_collections.opsgate.release.plugins.plugin_utils.release_verify.approved_suite import MAX_SUITE_BYTES


class BoundFileError(Exception):
    """Every missing or changed file, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _check(entry: dict[str, Any], key: str, path: str, base_dir: str, max_bytes: int, problems: list[str]) -> None:
    """Make ``entry[key]`` absolute and compare the file's sha256 with ``entry['sha256']``."""
    location = controller_path(entry[key], base_dir)
    if not os.path.isfile(location):
        entry[key] = location
        problems.append(f"{path}.{key}: {location} is not a file on the controller")
        return
    try:
        read = read_controller_file(location, base_dir, max_bytes)
    except ControllerFileUnreadable as exc:
        entry[key] = exc.path
        problems.append(f"{path}.{key}: {exc.reason}")
        return
    entry[key] = read.path
    if read.sha256 != entry["sha256"]:
        problems.append(f"{path}.sha256: {read.path} has sha256 {read.sha256}, the manifest says {entry['sha256']}")


def resolve_bound_files(manifest: dict[str, Any], base_dir: str, path: str = MANIFEST_VAR) -> dict[str, Any]:
    """A copy of the validated manifest with every migration file, down file and the suite absolute and verified; or BoundFileError."""
    result = copy.deepcopy(manifest)
    problems: list[str] = []
    migrations = result.get("migrations") or {}
    for index, step in enumerate(migrations.get("steps") or []):
        step_path = f"{path}.migrations.steps[{index}]"
        _check(step, "file", step_path, base_dir, MAX_SQL_BYTES, problems)
        if step.get("down"):
            _check(step["down"], "file", f"{step_path}.down", base_dir, MAX_SQL_BYTES, problems)
    if result.get("verify"):
        _check(result["verify"], "suite", f"{path}.verify", base_dir, MAX_SUITE_BYTES, problems)
    if problems:
        raise BoundFileError(problems)
    return result
