# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller files a manifest binds by digest besides its artifacts: migration steps, their downs, the verify suite.

Each path is made absolute (a relative one is relative to the playbook directory, as an artifact's ``src``)
and each file is read and hashed before any host is contacted. Every problem is reported, each naming
the key path, the file, the digest the manifest gives and the one found.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.release.digest import file_sha256
from ansible_collections.opsgate.release.plugins.plugin_utils.release_manifest.manifest import MANIFEST_VAR


class BoundFileError(Exception):
    """Every missing or changed file, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _absolute(path: str, base_dir: str) -> str:
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(base_dir, path))


def _check(entry: dict[str, Any], key: str, path: str, base_dir: str, problems: list[str]) -> None:
    """Make ``entry[key]`` absolute and compare the file's sha256 with ``entry['sha256']``."""
    location = _absolute(entry[key], base_dir)
    entry[key] = location
    if not os.path.isfile(location):
        problems.append(f"{path}.{key}: {location} is not a file on the controller")
        return
    try:
        actual = file_sha256(location)
    except OSError as exc:
        problems.append(f"{path}.{key}: cannot read {location}: {exc.strerror or exc}")
        return
    if actual != entry["sha256"]:
        problems.append(f"{path}.sha256: {location} has sha256 {actual}, the manifest says {entry['sha256']}")


def resolve_bound_files(manifest: dict[str, Any], base_dir: str, path: str = MANIFEST_VAR) -> dict[str, Any]:
    """A copy of the validated manifest with every migration file, down file and the suite absolute and verified; or BoundFileError."""
    result = copy.deepcopy(manifest)
    problems: list[str] = []
    migrations = result.get("migrations") or {}
    for index, step in enumerate(migrations.get("steps") or []):
        step_path = f"{path}.migrations.steps[{index}]"
        _check(step, "file", step_path, base_dir, problems)
        if step.get("down"):
            _check(step["down"], "file", f"{step_path}.down", base_dir, problems)
    if result.get("verify"):
        _check(result["verify"], "suite", f"{path}.verify", base_dir, problems)
    if problems:
        raise BoundFileError(problems)
    return result
