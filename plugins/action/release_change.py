# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the run's change document on the controller (module_utils/approval/change_document.py)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import build_change, change_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_summary import summary_lines
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import ACTIONS

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "action": {"type": "str", "required": True, "choices": list(ACTIONS)},
    "app": {"type": "str", "required": True},
    "version": {"type": "str", "required": True},
    "artifact_sha256": {"type": "str", "required": True},
    "change_id": {"type": "str", "required": True},
    "env": {"type": "str", "required": True},
    "inputs_var": {"type": "str", "required": True},
    "rollout": {"type": "raw"},
    "out": {"type": "path"},
}


def _write(path: str, document: dict[str, Any]) -> None:
    directory = os.path.dirname(os.path.abspath(path)) or "."
    handle, temporary = tempfile.mkstemp(prefix=".change.", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=2, sort_keys=True)
            stream.write("\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class ActionModule(ActionBase):
    """One document for the play's hosts (after --limit): each host's step inputs and the address it is reached at."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        hostvars = task_vars.get("hostvars") or {}
        hosts: dict[str, dict[str, Any]] = {}
        for name in task_vars.get("ansible_play_hosts_all") or []:
            variables = hostvars.get(name) or {}
            inputs = variables.get(args["inputs_var"])
            if not isinstance(inputs, dict):
                result.update(failed=True, msg=f"{name}: the release step inputs ({args['inputs_var']}) were not computed for this host")
                return result
            address = variables.get("ansible_host", name)
            hosts[str(name)] = {"address": self._templar.template(address), "inputs": self._templar.template(inputs)}
        try:
            document = build_change(
                action=args["action"],
                app=args["app"],
                version=args["version"],
                artifact_sha256=args["artifact_sha256"],
                change_id=args["change_id"],
                env=args["env"],
                hosts=hosts,
                rollout=args["rollout"] or None,
            )
            digest = change_digest(document)
        except errors.ApprovalError as exc:
            result.update(failed=True, msg=f"change document [{exc.code}]: {exc.message}")
            return result
        if args["out"] and not self._task.check_mode:
            _write(args["out"], document)
        result.update(changed=False, change=document, change_sha256=digest, summary=summary_lines(document))
        return result
