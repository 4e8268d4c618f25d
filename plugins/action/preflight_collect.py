# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""preflight_collect: ask one host for what its readiness spec needs, and keep the answer where only this run reads it.

The request is made here from the host's spec (never from the task or a variable), the host answers in one
``host_facts`` run (facts, hostname resolution, endpoint probes), and the answer goes into this controller
process's state store receipts. The readiness gate (preflight_evaluate with readiness_gate) evaluates those, so a
wrapper playbook's set_fact, a registered variable or ``facts_var`` cannot make a host look ready.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.opsgate.release.plugins.module_utils.approval.errors import ApprovalError
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.receipt import controller_identity, write_readiness_facts
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.token_ledger import policy_and_ledger
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.facts_request import facts_request
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.libraries import MissingLibraryError
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.readiness_gate import spec_sha256
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.spec_schema import SpecError, validate_specs
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.task_inputs import collected_record, read_specs

# What decides which machine answers: the task may not set them to something else than the inventory does.
_CONNECTION_VARIABLES = ("ansible_host", "ansible_port", "ansible_connection", "ansible_ssh_host", "ansible_ssh_port")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def _reached_elsewhere(self) -> str | None:
        """Why this task would ask another machine than the inventory's host: delegate_to, or connection variables set on
        the task, its blocks or its role (a play's or the inventory's apply to the release steps as well, and the signed
        change binds each host's address)."""
        if self._task.delegate_to:
            return f"the task is delegated to {self._task.delegate_to}"
        set_here = self._task.get_vars()
        for name in _CONNECTION_VARIABLES:
            if name in set_here:
                return f"{name} is set for this task ({set_here[name]!r})"
        return None

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        result["changed"] = False
        unknown = sorted(set(self._task.args) - {"release_base_dir"})
        if unknown:
            return {
                **result,
                "failed": True,
                "msg": f"preflight_collect takes only release_base_dir (the host's spec decides what it asks), got {', '.join(unknown)}",
            }
        release_base_dir = self._task.args.get("release_base_dir") or ""
        if not isinstance(release_base_dir, str) or (release_base_dir and not release_base_dir.startswith("/")):
            return {**result, "failed": True, "msg": f"preflight_collect: release_base_dir must be an absolute path, got {release_base_dir!r}"}
        host = str(task_vars.get("inventory_hostname", ""))
        elsewhere = self._reached_elsewhere()
        if elsewhere:
            return {**result, "failed": True, "msg": f"readiness facts of {host} refused: {elsewhere}; the host must answer for itself"}
        try:
            spec = validate_specs(read_specs([host], task_vars["hostvars"], self._templar.template))[host]
        except SpecError as exc:
            return {**result, "failed": True, "msg": str(exc), "errors": exc.errors}
        except MissingLibraryError as exc:
            raise AnsibleActionFail(exc.message) from None
        request = facts_request(spec)
        # The running release rides along for the run's record (the archive's release before): one module run per host.
        module_args = {
            **request["host_facts"],
            "resolve_hostname": request["resolve_hostname"],
            "endpoints": request["endpoints"],
            "release_base_dir": release_base_dir,
        }
        try:
            answer = self._execute_module(module_name="opsgate.release.host_facts", module_args=module_args, task_vars=task_vars)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        record = collected_record(answer, spec_sha256(spec))
        try:
            with policy_and_ledger(task_vars, self._templar.template) as (_policy, ledger):
                write_readiness_facts(ledger.store, controller_identity(), host, record)
        except ApprovalError as exc:
            # Nothing to evaluate from: the gate would refuse this run anyway (no signed policy or no state store).
            return {**result, "failed": True, "msg": f"readiness facts of {host} cannot be kept for the readiness gate [{exc.code}]: {exc.message}"}
        probes = record["probes"]
        reached = sum(1 for probe in probes.values() if probe.get("reachable"))
        result.update(
            collected=record["facts"] is not None,
            error=record["error"],
            gather_subset=request["host_facts"]["gather_subset"],
            probes=probes,
            running_release=answer.get("running_release"),
            msg=record["error"] or f"{len(request['host_facts']['gather_subset'])} subset(s), {reached}/{len(probes)} endpoint(s) reached",
        )
        return result
