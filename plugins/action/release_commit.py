# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""release_commit: refuse unless this run's approval gate passed for the host and, when the signed change has a verify
suite (deploy, gray release), the suite passed against the host in this run; then run the module."""

from __future__ import annotations

from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.host_approval import require_host_verification
from ansible_collections.opsgate.release.plugins.plugin_utils.release_actions.host_change_action import HostChangeAction


class ActionModule(HostChangeAction):
    """The suite is the verified change document's ``verify`` (the document whose digest the token signs, as
    require_host_approval checked it), never the task's ``change`` or another argument.

    Its proof is this controller process's verification receipt (approval_run/receipt.py), which only a passed
    ``release_verify`` writes: a wrapper playbook without it, ``--start-at-task``/``--skip-tags`` past it, a failed
    suite or an earlier run's verification leave the release unrecorded and the host untouched, with
    ``verify_error: RELEASE_VERIFY_NOT_RUN``: a failed gate, not a refused approval, so the deploy role's rescue still
    puts the host back.
    """

    def _refuse_before_host(self, approval: dict[str, Any], task_vars: dict[str, Any]) -> None:
        host = str(task_vars.get("inventory_hostname", ""))
        require_host_verification(approval, host, task_vars, self._templar.template, bool(self._task.check_mode))

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        if result.get("approval_error") == errors.VERIFY_NOT_RUN:
            result["verify_error"] = result.pop("approval_error")
        return result
