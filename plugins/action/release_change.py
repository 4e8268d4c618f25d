# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the run's change document on the controller (module_utils/approval/change_document.py)."""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.atomic_file import write_atomic
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import change_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_summary import (
    running_document,
    running_entry,
    running_path,
    summary_lines,
)
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import ACTIONS
from ansible_collections.opsgate.release.plugins.module_utils.schema.engine import collect
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.change_inputs import change_from_hostvars
from ansible_collections.opsgate.release.plugins.plugin_utils.release_manifest.manifest import DATABASE_SCHEMA

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "action": {"type": "str", "required": True, "choices": list(ACTIONS)},
    "app": {"type": "str", "required": True},
    "version": {"type": "str", "required": True},
    "artifact_sha256": {"type": "str", "required": True},
    "change_id": {"type": "str", "required": True},
    "env": {"type": "str", "required": True},
    "inputs_var": {"type": "str", "required": True},
    "rollout": {"type": "raw"},
    # The release's (release_manifest's release.migrations / .verify / .documents): bound as digests and ids.
    "migrations": {"type": "dict"},
    "verify": {"type": "dict"},
    "documents": {"type": "list", "elements": "dict"},
    "out": {"type": "path"},
    # The registered release_info result of each host: what runs now, shown to the approvers, never signed.
    "running_var": {"type": "str"},
}


def _rollback_database(migrations: dict[str, Any] | None) -> dict[str, Any] | None:
    """A rollback's migrations name the database as the inventory has it (rollback_database): checked and completed with
    the manifest's defaults, so the approvers sign the same database a deploy of the release named."""
    if not migrations or "restore_release_id" not in migrations:
        return migrations
    database, issues = collect(DATABASE_SCHEMA, migrations.get("database"), "rollback_database")
    if issues:
        raise errors.ApprovalError(errors.CHANGE_INVALID, "; ".join(str(issue) for issue in issues))
    return {**migrations, "database": database}


def _write(path: str, document: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(document, indent=2, sort_keys=True) + "\n", 0o644)


def _running(task_vars: dict[str, Any], document: dict[str, Any], running_var: str) -> dict[str, Any]:
    hostvars = task_vars.get("hostvars") or {}
    return running_document(document, {name: running_entry((hostvars.get(name) or {}).get(running_var)) for name in document["hosts"]})


def _write_running(path: str, running: dict[str, Any] | None) -> None:
    sidecar = running_path(path)
    if running is not None:
        _write(sidecar, running)
    elif os.path.lexists(sidecar):
        # One left by an earlier plan would describe another change (the CLI refuses it by its digest anyway).
        os.unlink(sidecar)


class ActionModule(ActionBase):
    """One document for the play's hosts (after --limit): each host's step inputs and the address it is reached at."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            args["migrations"] = _rollback_database(args["migrations"])
            document = change_from_hostvars(task_vars, self._templar.template, args["inputs_var"], args, args["rollout"])
            digest = change_digest(document)
        except errors.ApprovalError as exc:
            result.update(failed=True, msg=f"change document [{exc.code}]: {exc.message}")
            return result
        running = _running(task_vars, document, args["running_var"]) if args["running_var"] else None
        if args["out"] and not self._task.check_mode:
            # Next to FILE, not in it: the document's sha256 is what the token signs.
            _write(args["out"], document)
            _write_running(args["out"], running)
        result.update(changed=False, change=document, change_sha256=digest, summary=summary_lines(document, running))
        return result
