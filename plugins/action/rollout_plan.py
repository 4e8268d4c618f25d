# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validate the rollout plan, cut the play's hosts into batches and find where this run starts, on the controller only."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.opsgate.release.plugins.module_utils.approval.errors import ApprovalError, MissingLibraryError
from ansible_collections.opsgate.release.plugins.module_utils.approval.trust_root import load_trust_root
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.host_approval import ApprovalRefused, require_host_approval
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.batches import batches_fingerprint, plan_batches
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.failure_budget import allowed_failures
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.plan import ROLLOUT_VAR, RolloutPlanError, validate_rollout
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.state import (
    RolloutStateError,
    pinned_state_store,
    read_state,
    start_point,
    state_location,
    store_problem,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import StoreError

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "rollout": {"type": "dict", "required": True},
    "hosts": {"type": "list", "elements": "str"},
    "app": {"type": "str", "required": True},
    "env": {"type": "str", "required": True},
    "release_id": {"type": "str", "required": True},
    "token_id": {"type": "str", "default": ""},
    "approval": {"type": "dict"},
    "resume": {"type": "bool", "default": False},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        # The play's hosts after --limit by default: a magic variable, so -e cannot replace it.
        hosts = args["hosts"] if args["hosts"] else list(task_vars.get("ansible_play_hosts_all", []))
        try:
            plan = validate_rollout(args["rollout"], ROLLOUT_VAR)
            batches = plan_batches(hosts, plan.steps)
        except RolloutPlanError as exc:
            result.update(failed=True, changed=False, error_path=exc.path, msg=f"invalid rollout plan: {exc}")
            return result
        fingerprint = batches_fingerprint(batches)
        token_id = args["token_id"]
        if args["approval"] is not None:
            # The token id of this run's verified approval, from its receipt: a variable cannot name another token.
            try:
                token_id = self._receipt_token_id(args["approval"], batches[0].hosts[0], task_vars)
            except ApprovalRefused as exc:
                result.update(failed=True, changed=False, approval_error=exc.code, msg=str(exc))
                return result
            except MissingLibraryError as exc:
                result.update(failed=True, changed=False, msg=exc.message)
                return result
        if not token_id:
            result.update(failed=True, changed=False, msg="rollout_plan needs token_id or approval (the run's approval scope)")
            return result
        root = None
        try:
            # In the store the pinned trust root names (shared by every controller with PostgreSQL): extra vars cannot move it.
            root = load_trust_root()
            with pinned_state_store(root) as store, store.transaction() as tx:
                where = state_location(store.settings.location, args["app"], args["env"])
                existing = read_state(tx, args["app"], args["env"], store.settings.location)
            start = start_point(existing, args["release_id"], token_id, fingerprint, args["resume"])
        except ApprovalError as exc:
            result.update(failed=True, changed=False, msg=f"rollout state unavailable [{exc.code}]: {exc.message}")
            return result
        except StoreError as exc:
            result.update(failed=True, changed=False, state_store_error=True, msg=store_problem(exc, root))
            return result
        except RolloutStateError as exc:
            result.update(failed=True, changed=False, msg=f"rollout refused: {exc}")
            return result
        fleet = sum(len(batch.hosts) for batch in batches)
        switched = list(existing.hosts_switched) if args["resume"] and existing is not None else []
        result.update(
            changed=False,
            batches=[batch.as_dict() for batch in batches],
            batches_fingerprint=fingerprint,
            batches_total=len(batches),
            token_id=token_id,
            start_batch=start,
            hosts_switched=switched,
            state_location=where,
            health={
                "interval": plan.health.interval,
                "consecutive_successes": plan.health.consecutive_successes,
                "failure_limit": plan.health.failure_limit,
                "timeout": plan.health.timeout,
            },
            failure_budget=plan.failure_budget.describe(),
            allowed_failures=allowed_failures(plan.failure_budget, fleet),
            msg=(
                f"{fleet} host(s) in {len(batches)} batch(es) ({', '.join(str(len(b.hosts)) for b in batches)}); "
                + (f"resuming at batch {start + 1}" if args["resume"] else "starting at batch 1")
                + f"; failure budget {plan.failure_budget.describe()} = {allowed_failures(plan.failure_budget, fleet)} host(s)"
            ),
        )
        return result

    def _receipt_token_id(self, scope: dict[str, Any], host: str, task_vars: dict[str, Any]) -> str:
        approval = require_host_approval(scope, host, task_vars, self._templar.template, bool(self._task.check_mode))
        return approval["token_id"]
