# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record where a gray release stands in the controller state file, judge batches against the failure budget and analyses."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.opsgate.release.plugins.module_utils.approval.errors import ApprovalError
from ansible_collections.opsgate.release.plugins.module_utils.approval.trust_root import load_trust_root
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.analysis import judge_analysis, judge_measurement
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.plan import ROLLOUT_VAR, RolloutPlanError, validate_rollout
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.progress import progress_line, summary_table
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.state import (
    STATUSES,
    RolloutStateError,
    begin_state,
    read_state,
    record_batch,
    state_path,
    with_plan,
    with_rolled_back,
    with_status,
    write_state,
)

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "event": {"type": "str", "required": True, "choices": ["start", "batch", "analysis", "status"]},
    "app": {"type": "str", "required": True},
    "env": {"type": "str", "required": True},
    "release_id": {"type": "str", "default": ""},
    "token_id": {"type": "str", "default": ""},
    "batches_fingerprint": {"type": "str", "default": ""},
    "batches_total": {"type": "int", "default": 0},
    "resume": {"type": "bool", "default": False},
    "batch_hosts": {"type": "list", "elements": "str", "default": []},
    "failed_hosts": {"type": "list", "elements": "str", "default": []},
    # None: the budget the start event stored (0 when none was).
    "allowed_failures": {"type": "int"},
    "batches": {"type": "list", "elements": "dict"},
    "host_results": {"type": "dict"},
    "rolled_back_hosts": {"type": "list", "elements": "str", "default": []},
    "rollout": {"type": "dict"},
    "step": {"type": "int"},
    "measurements": {"type": "list", "elements": "raw", "default": []},
    "status": {"type": "str", "choices": list(STATUSES)},
    "message": {"type": "str", "default": ""},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if args["event"] == "analysis":
            result.update(_judge(args))
            return result
        try:
            # Next to the token ledger, from the inventory's policy: extra vars cannot move it.
            ledger_dir = load_trust_root().ledger_dir
            path = state_path(ledger_dir, args["app"], args["env"])
            result.update(self._record(path, args))
        except ApprovalError as exc:
            result.update(failed=True, changed=False, msg=f"rollout state unavailable [{exc.code}]: {exc.message}")
        except RolloutStateError as exc:
            result.update(failed=True, changed=False, msg=f"rollout state refused: {exc}")
        return result

    def _record(self, path: str, args: dict[str, Any]) -> dict[str, Any]:
        existing = read_state(path)
        out: dict[str, Any] = {"state_path": path}
        if args["event"] == "start":
            for key in ("release_id", "token_id", "batches_fingerprint"):
                if not args[key]:
                    raise RolloutStateError(f"event start needs {key}")
            state = begin_state(
                existing,
                args["app"],
                args["env"],
                args["release_id"],
                args["token_id"],
                args["batches_fingerprint"],
                args["batches_total"],
                args["resume"],
            )
            state = with_plan(state, args["batches"], args["allowed_failures"])
        else:
            if existing is None:
                raise RolloutStateError(f"no rollout state at {path}; event {args['event']} needs a started rollout")
            if args["release_id"] and existing.release_id != args["release_id"]:
                raise RolloutStateError(f"the state at {path} is for release {existing.release_id}, not {args['release_id']}")
            if args["event"] == "batch":
                allowed = args["allowed_failures"]
                if allowed is None:
                    allowed = existing.allowed_failures or 0
                number = existing.batches_done + 1
                state, verdict = record_batch(existing, args["batch_hosts"], args["failed_hosts"], allowed, args["host_results"])
                progress = progress_line(state, number, args["batch_hosts"], args["failed_hosts"], verdict.exceeded)
                state = replace(state, last_progress=progress)
                out.update(budget_exceeded=verdict.exceeded, budget=verdict.describe(), progress=progress)
            else:
                if not args["status"]:
                    raise RolloutStateError("event status needs status")
                state = with_status(with_rolled_back(existing, args["rolled_back_hosts"]), args["status"], args["message"] or args["status"])
                out["summary"] = summary_table(state)
        # Check mode changes nothing on the hosts, so the state must not claim progress either.
        if not self._task.check_mode:
            write_state(path, state)
        out.update(changed=not self._task.check_mode, state=state.as_dict(), msg=state.last_progress if args["event"] == "batch" else state.message)
        return out


def _judge(args: dict[str, Any]) -> dict[str, Any]:
    try:
        plan = validate_rollout(args["rollout"] or {}, ROLLOUT_VAR)
    except RolloutPlanError as exc:
        return {"failed": True, "changed": False, "error_path": exc.path, "msg": f"invalid rollout plan: {exc}"}
    step = args["step"]
    if step is None or not 0 <= step < len(plan.steps) or plan.steps[step].analysis is None:
        return {"failed": True, "changed": False, "msg": f"step: {step!r} is not the index of an analysis step of {ROLLOUT_VAR}.steps"}
    analysis = plan.steps[step].analysis
    if analysis is None:  # checked above; keeps the type checker honest
        raise ValueError("internal: analysis step without analysis")
    measurements = [judge_measurement(analysis.metrics, body) for body in args["measurements"]]
    verdict = judge_analysis(analysis, measurements)
    return {
        "changed": False,
        "verdict": verdict.verdict,
        "reason": verdict.reason,
        "measurements": [{"verdict": m.verdict, "metrics": [asdict(r) for r in m.metrics]} for m in measurements],
        "msg": f"analysis step {step}: {verdict.verdict}: {verdict.reason}",
    }
