# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Refuse to go on with a host unless the approval gate passed in this ansible-playbook run for this token, scope and host."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import ACTIONS
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.host_approval import ApprovalRefused, require_host_approval

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "action": {"type": "str", "required": True, "choices": list(ACTIONS)},
    "app": {"type": "str", "required": True},
    "version": {"type": "str", "required": True},
    "artifact_sha256": {"type": "str", "required": True},
    "env": {"type": "str", "required": True},
    "system": {"type": "str"},
    "system_class": {"type": "str"},
    "token": {"type": "str", "no_log": True},
    "token_file": {"type": "path"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host = str(task_vars.get("inventory_hostname", ""))
        scope = {key: args[key] for key in ("action", "app", "version", "artifact_sha256", "env", "system", "system_class")}
        try:
            # The same check the release steps make, in one place (plugin_utils/approval_run/host_approval.py).
            approval = require_host_approval(scope, host, task_vars, self._templar.template, check_mode=bool(self._task.check_mode), token_args=args)
        except ApprovalRefused as exc:
            result.update(failed=True, changed=False, approval_error=exc.code, msg=str(exc))
            return result
        except errors.MissingLibraryError as exc:
            raise AnsibleActionFail(exc.message) from None
        result.update(
            changed=False,
            token_id=approval["token_id"],
            token_sha256=approval["token_sha256"],
            change_id=approval["change_id"],
            msg=f"{host} is covered by approval {approval['token_id']} (change {approval['change_id']}) verified in this run",
        )
        return result
