# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""release_switch: refuse unless this run's approval gate passed for the host, then run the module.

With ``then_commit`` the module also records the release as good, so the commit's own checks run here first, exactly
as release_commit's action plugin runs them: the approval compared as a ``release_commit`` step (its
``keep_releases`` against the signed change) and, when the signed change has a verify suite, this run's receipt
that it passed against the host (which cannot exist before the switch: such a change commits in its own step).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.host_approval import (
    ApprovalRefused,
    require_host_approval,
    require_host_verification,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.release_actions.host_change_action import HostChangeAction

_IDENTITY_ARGUMENTS = ("base_dir", "release_id", "app", "version", "artifact_sha256", "change_id")


class ActionModule(HostChangeAction):
    def _refuse_before_host(self, approval: dict[str, Any], task_vars: dict[str, Any]) -> None:
        then_commit = self._task.args.get("then_commit")
        if not then_commit:
            return
        if not isinstance(then_commit, dict):
            raise ApprovalRefused("RELEASE_ARGUMENT_INVALID", f"then_commit must be a mapping with keep_releases, got {type(then_commit).__name__}")
        if not self._task.args.get("then_health"):
            raise ApprovalRefused("RELEASE_ARGUMENT_INVALID", "then_commit needs then_health: a release is recorded good only after its health check passed")
        host = str(task_vars.get("inventory_hostname", ""))
        commit_arguments = {key: self._task.args[key] for key in _IDENTITY_ARGUMENTS if key in self._task.args}
        commit_arguments.update(event="deploy", keep_releases=then_commit.get("keep_releases", 3), note="")
        require_host_approval(
            self._task.args.get("approval") or {},
            host,
            task_vars,
            self._templar.template,
            bool(self._task.check_mode),
            step="release_commit",
            arguments=commit_arguments,
            change=self._task.args.get("change"),
        )
        require_host_verification(approval, host, task_vars, self._templar.template, bool(self._task.check_mode))
