# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Evaluate every host's facts against its spec on the controller, write the fleet reports, return the verdict."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.vars import load_extra_vars

from ansible_collections.opsgate.release.plugins.module_utils.approval.envelope import token_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.errors import ApprovalError
from ansible_collections.opsgate.release.plugins.module_utils.approval.errors import MissingLibraryError as ApprovalMissingLibraryError
from ansible_collections.opsgate.release.plugins.module_utils.approval.task_inputs import token_from_inputs
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.readiness_policy import decision_from_inputs
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.receipt import (
    controller_identity,
    read_readiness_facts,
    write_readiness_receipt,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.token_ledger import policy_and_ledger
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.evaluation import evaluate_fleet
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.libraries import MissingLibraryError
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.readiness_gate import internal_extra_vars, readiness_record, refusal, spec_sha256
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.reports import summary_table, write_reports
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.spec_schema import SpecError, validate_specs
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.task_inputs import (
    host_input,
    host_input_from_collected,
    read_specs,
    spec_from_extra_vars,
)

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "hosts": {"type": "list", "elements": "str"},
    "facts_var": {"type": "str", "default": "__preflight_host_facts"},
    "probes_var": {"type": "str", "default": "__preflight_probes"},
    "resolve_var": {"type": "str", "default": "__preflight_resolve"},
    "report_dir": {"type": "path", "default": "reports"},
    "fail_mode": {"type": "str", "default": "hosts", "choices": ["hosts", "run"]},
    # Readiness as a precondition of a change run: the play's hosts, the signed policy's decision, the run fails if one is not ready.
    "readiness_gate": {"type": "bool", "default": False},
}


def _record_readiness(task_vars: dict[str, Any], template: Any, hosts: list[str], reason: str) -> None:
    """The receipt the approval gate requires: this process checked readiness for these hosts and this token."""
    try:
        with policy_and_ledger(task_vars, template) as (_policy, ledger):
            token = token_from_inputs({}, task_vars, template)
            write_readiness_receipt(ledger.store, controller_identity(), token_digest(token), hosts, reason)
    except ApprovalError:
        return  # no policy, token or state store: the approval gate refuses the run and says why


_VARIABLE_OPTIONS = ("facts_var", "probes_var", "resolve_var")


def _collected_inputs(task_vars: dict[str, Any], template: Any, hosts: list[str], specs: dict[str, Any]) -> dict[str, Any]:
    """The readiness gate's inputs: what each host answered to preflight_collect in this process, never a variable."""
    try:
        with policy_and_ledger(task_vars, template) as (_policy, ledger):
            collected = read_readiness_facts(ledger.store, controller_identity(), hosts)
    except ApprovalError as exc:
        # No signed policy or state store: nothing can be read, every host is not ready (the gate would refuse too).
        unreadable = {"failed": True, "msg": f"the readiness facts cannot be read [{exc.code}]: {exc.message}"}
        return {host: host_input(host, specs[host], unreadable) for host in hosts}
    return {host: host_input_from_collected(host, specs[host], collected[host], spec_sha256(specs[host])) for host in hosts}


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
            return {**result, "failed": True, "msg": problem}
        decision: dict[str, Any] = {}
        given = [name for name in _VARIABLE_OPTIONS if name in self._task.args]
        if args["readiness_gate"] and given:
            return {
                **result,
                "failed": True,
                "msg": "facts_var, probes_var and resolve_var are not options of the readiness gate: it evaluates only what the hosts "
                f"answered to opsgate.release.preflight_collect in this run (given: {', '.join(given)})",
            }
        if args["readiness_gate"]:
            # Decided again here, from the signed policy and the token, never from what an earlier task registered.
            args["hosts"] = list(task_vars.get("ansible_play_hosts_all") or [])
            try:
                decision = decision_from_inputs(task_vars, self._templar.template, datetime.now(UTC)).as_dict()
            except ApprovalMissingLibraryError as exc:
                raise AnsibleActionFail(exc.message) from None
            if not decision["required"]:
                record = readiness_record(decision, None, {}, None)
                _record_readiness(task_vars, self._templar.template, args["hosts"], decision["reason"])
                return {**result, "ready": True, "not_ready": [], "readiness": record, "msg": decision["reason"]}
        if not args["hosts"]:
            return {**result, "failed": True, "msg": "no target hosts: the host pattern matched nothing"}
        hostvars = task_vars["hostvars"]
        # Validated again here: this task may run without the validation play (e.g. from another playbook).
        try:
            specs = validate_specs(read_specs(args["hosts"], hostvars, self._templar.template))
        except SpecError as exc:
            return {**result, "failed": True, "msg": str(exc), "errors": exc.errors}
        except MissingLibraryError as exc:
            raise AnsibleActionFail(exc.message) from None

        def registered(host: str, name: str) -> Any:
            # Registered results are data, not templates: read them as they are.
            variables = hostvars.raw_get(host) if hasattr(hostvars, "raw_get") else hostvars[host]
            return variables.get(name)

        if args["readiness_gate"]:
            inputs = _collected_inputs(task_vars, self._templar.template, args["hosts"], specs)
        else:
            inputs = {
                host: host_input(
                    host, specs[host], registered(host, args["facts_var"]), registered(host, args["probes_var"]), registered(host, args["resolve_var"])
                )
                for host in args["hosts"]
            }
        try:
            verdict = evaluate_fleet(inputs)
        except MissingLibraryError as exc:
            raise AnsibleActionFail(exc.message) from None
        report_dir = os.path.abspath(args["report_dir"])
        paths = write_reports(verdict, report_dir)
        table = summary_table(verdict)
        summary = verdict.summary()
        result.update(
            ready=verdict.ready,
            hosts={host: {"ready": v.ready} for host, v in verdict.hosts.items()},
            not_ready=verdict.not_ready(),
            summary=summary,
            summary_table=table,
            reports=paths,
            report_dir=report_dir,
            msg=f"{summary['hosts_ready']}/{summary['hosts']} hosts ready; reports in {report_dir}",
        )
        if args["readiness_gate"]:
            result["readiness"] = readiness_record(decision, verdict, specs, report_dir)
            if not verdict.ready:
                result["failed"] = True
                result["msg"] = f"{refusal(verdict)}\nreports in {report_dir}"
            else:
                _record_readiness(task_vars, self._templar.template, args["hosts"], "every target host is ready")
            return result
        if not verdict.ready and args["fail_mode"] == "run":
            result["failed"] = True
            result["msg"] = f"preflight failed: not ready: {', '.join(verdict.not_ready())}; reports in {report_dir}\n{table}"
        return result
