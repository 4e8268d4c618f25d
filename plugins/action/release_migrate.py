# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""release_migrate: approval receipt and the change's migrations first; then the step files, read and checked here,
sent as content to the database host (the task's delegate_to, which must be database.run_on)."""

from __future__ import annotations

from typing import Any

from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.host_approval import ApprovalRefused
from ansible_collections.opsgate.release.plugins.plugin_utils.release_actions.host_change_action import HostChangeAction
from ansible_collections.opsgate.release.plugins.plugin_utils.release_actions.migration_files import (
    MigrationFilesRefused,
    read_steps,
    refuse_host_side_keys,
)


def _app_host_vars(task_vars: dict[str, Any]) -> dict[str, Any]:
    """Delegated, the task's variables carry the database host's address; the approval is the play host's
    (inventory_hostname), whose entry of the change is checked at its own address."""
    host = task_vars.get("inventory_hostname")
    own = (task_vars.get("hostvars") or {}).get(host) or {}
    adjusted = dict(task_vars)
    if "ansible_host" in own:
        adjusted["ansible_host"] = own["ansible_host"]
    else:
        adjusted.pop("ansible_host", None)
    return adjusted


class ActionModule(HostChangeAction):
    def _approve(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        try:
            refuse_host_side_keys(self._task.args.get("steps"))
        except MigrationFilesRefused as exc:
            raise ApprovalRefused(exc.code, exc.message) from None
        return super()._approve(_app_host_vars(task_vars))

    def _before_module(self, module_args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        database = module_args.get("database") or {}
        target = self._task.delegate_to or task_vars.get("inventory_hostname")
        if target != database.get("run_on"):
            # The host that verifies (and is approved to run) the migrations is run_on; anywhere else they would run unchecked.
            raise MigrationFilesRefused(
                "RELEASE_MIGRATION_HOST_MISMATCH",
                f"the task runs on {target}, the migrations on database.run_on {database.get('run_on')}: set delegate_to to it; nothing was sent",
            )
        module_args["steps"] = read_steps(module_args.get("steps") or [], self._loader.get_basedir())
        return module_args

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            result = super().run(tmp, task_vars)
        except MigrationFilesRefused as exc:
            result = {"failed": True, "changed": False, "migration_error": exc.code, "msg": f"release_migrate refused: {exc.message}"}
        # The role registers this task with failed_when: false (its caller undoes the rollout), which turns failed into
        # false in the registered result; this field still says whether the phase failed or was refused.
        result["migration_failed"] = bool(result.get("failed"))
        return result
