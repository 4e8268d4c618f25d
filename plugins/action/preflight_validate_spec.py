# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validate every target host's readiness spec on the controller, before any host is contacted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.vars import load_extra_vars

from ansible_collections.opsgate.release.plugins.module_utils.approval.errors import MissingLibraryError as ApprovalMissingLibraryError
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.readiness_policy import decision_from_inputs
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.facts_request import facts_request
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.libraries import MissingLibraryError
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.readiness_gate import internal_extra_vars
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.spec_schema import SpecError, validate_specs
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.task_inputs import read_specs, spec_from_extra_vars

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "hosts": {"type": "list", "elements": "str"},
    # Readiness as a precondition of a change run: the hosts are the play's, and the signed policy decides whether they are checked.
    "readiness_gate": {"type": "bool", "default": False},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        result["changed"] = False
        extra_var_names = set(load_extra_vars(self._loader))
        problem = spec_from_extra_vars(extra_var_names) or (internal_extra_vars(extra_var_names) if args["readiness_gate"] else None)
        if problem:
            return {**result, "failed": True, "msg": problem, "errors": [problem]}
        if args["readiness_gate"]:
            # The play's hosts after --limit: a magic variable, which -e cannot replace.
            args["hosts"] = list(task_vars.get("ansible_play_hosts_all") or [])
            try:
                decision = decision_from_inputs(task_vars, self._templar.template, datetime.now(UTC))
            except ApprovalMissingLibraryError as exc:
                raise AnsibleActionFail(exc.message) from None
            result["readiness"] = decision.as_dict()
            result["readiness_required"] = decision.required
            if not decision.required:
                return {**result, "specs": {}, "requests": {}, "msg": decision.reason}
        if not args["hosts"]:
            return {**result, "failed": True, "msg": "no target hosts: the host pattern matched nothing", "errors": ["hosts: empty"]}
        specs = read_specs(args["hosts"], task_vars["hostvars"], self._templar.template)
        try:
            normalised = validate_specs(specs)
            requests = {host: facts_request(spec) for host, spec in normalised.items()}
        except SpecError as exc:
            return {**result, "failed": True, "msg": str(exc), "errors": exc.errors}
        except MissingLibraryError as exc:
            raise AnsibleActionFail(exc.message) from None
        result["specs"] = normalised
        result["requests"] = requests
        result["msg"] = f"readiness spec valid for {len(normalised)} host(s)"
        return result
