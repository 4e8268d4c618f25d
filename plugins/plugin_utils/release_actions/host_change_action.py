# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Base of the release_* action plugins that change a host: approval receipt first, then the module."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.host_check import refuse_outside_rollback
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.host_approval import ApprovalRefused, require_host_approval
from ansible_collections.opsgate.release.plugins.plugin_utils.operator_identity import operator_identity

# Inputs only the action plugin fills in: what the host verifies itself. A task that sets them is refused.
HOST_CHECK_ARGUMENTS = ("host_token", "host_policy", "host_change")
_CONTROLLER_ARGUMENTS = ("approval", "change")


def _step_name(task: Any) -> str:
    return str(getattr(task, "resolved_action", None) or getattr(task, "action", "")).rsplit(".", 1)[-1]


class HostChangeAction(ActionBase):
    """Refuses before anything reaches the host unless this run's approval gate passed for it.

    The ``approval`` option is the run's scope; it is consumed here and never sent to the host.
    ``token_id`` and ``change_id`` for the ledger come from the verified token, not from variables;
    ``who`` from the controller process's operator identity (``plugin_utils/operator_identity.py``):
    a task that passes ``who`` is refused, so no variable names the operator.
    """

    _supports_check_mode = True
    _supports_async = False

    def _approve(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        host = str(task_vars.get("inventory_hostname", ""))
        scope = self._task.args.get("approval") or {}
        given = sorted(key for key in HOST_CHECK_ARGUMENTS if key in self._task.args)
        if given:
            raise ApprovalRefused(
                "RELEASE_HOST_CHECK_REFUSED",
                f"{', '.join(given)} are filled in by the action plugin from the verified token, policy and change; remove them from the task",
            )
        arguments = {key: value for key, value in self._task.args.items() if key not in _CONTROLLER_ARGUMENTS}
        return require_host_approval(
            scope,
            host,
            task_vars,
            self._templar.template,
            bool(self._task.check_mode),
            step=_step_name(self._task),
            arguments=arguments,
            change=self._task.args.get("change"),
        )

    def _module_args(self, approval: dict[str, Any]) -> dict[str, Any]:
        if "who" in self._task.args:
            raise ApprovalRefused(
                "RELEASE_WHO_REFUSED",
                "who is not a task argument: the action plugin records the controller's operator (the real uid's account, "
                "or the AWX launching user), never a variable; remove who from the task",
            )
        args = {key: value for key, value in self._task.args.items() if key not in _CONTROLLER_ARGUMENTS}
        try:
            refuse_outside_rollback(approval.get("action", ""), _step_name(self._task), args)
        except errors.ApprovalError as exc:
            raise ApprovalRefused(exc.code, exc.message) from None
        args["who"] = operator_identity().user
        args["token_id"] = approval["token_id"]
        if args.get("change_id") and args["change_id"] != approval["change_id"]:
            raise ApprovalRefused(
                "RELEASE_CHANGE_MISMATCH",
                f"the release belongs to change {args['change_id']}, the approval token {approval['token_id']} to change {approval['change_id']}",
            )
        args["change_id"] = approval["change_id"]
        args.update(approval.get("host_check") or {})
        return args

    def _refuse_before_host(self, approval: dict[str, Any], task_vars: dict[str, Any]) -> None:
        """Hook for subclasses: raise ApprovalRefused to refuse after the approval passed and before anything reaches the host."""

    def _before_module(self, module_args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        """Hook for subclasses (e.g. to transfer artifacts); returns the module arguments."""
        return module_args

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        try:
            approval = self._approve(task_vars)
        except ApprovalRefused as exc:
            result.update(failed=True, changed=False, approval_error=exc.code, msg=str(exc))
            return result
        except errors.MissingLibraryError as exc:
            # Fails closed like a refusal, naming the package to install.
            result.update(failed=True, changed=False, approval_error="APPROVAL_INTERNAL_ERROR", msg=exc.message)
            return result
        try:
            module_args = self._module_args(approval)
            self._refuse_before_host(approval, task_vars)
        except ApprovalRefused as exc:
            result.update(failed=True, changed=False, approval_error=exc.code, msg=str(exc))
            return result
        try:
            module_args = self._before_module(module_args, task_vars)
            result.update(self._execute_module(module_name=self._task.resolved_action, module_args=module_args, task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result["token_id"] = approval["token_id"]
        result["who"] = module_args["who"]
        result.pop("invocation", None)  # the module's arguments include the token the host verified
        return result
