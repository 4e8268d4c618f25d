# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record where a gray release stands in the state store, judge batches against the failure budget and analyses.

Every event reads, computes and writes the rollout's state in one write transaction of the store the pinned
trust root names. A store that cannot be opened, read or written fails the task, naming the store (never a
password): at the start no host has been touched yet, after a batch the gray_release role undoes the rollout.
"""

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
    RolloutState,
    RolloutStateError,
    begin_state,
    pinned_state_store,
    read_state,
    record_batch,
    state_location,
    store_problem,
    with_plan,
    with_rolled_back,
    with_status,
    with_weights,
    write_state,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import StoreError
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import Store

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "event": {"type": "str", "required": True, "choices": ["start", "batch", "analysis", "status", "weights"]},
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
    # None: keep the weights the state holds; {} forgets them (restored).
    "lb_weights_before": {"type": "dict"},
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
        root = None
        try:
            # The store the pinned trust root names: no variable can point the state elsewhere.
            root = load_trust_root()
            with pinned_state_store(root) as store:
                result.update(self._record(store, args))
        except ApprovalError as exc:
            result.update(failed=True, changed=False, msg=f"rollout state unavailable [{exc.code}]: {exc.message}")
        except StoreError as exc:
            result.update(failed=True, changed=False, state_store_error=True, msg=store_problem(exc, root))
        except RolloutStateError as exc:
            result.update(failed=True, changed=False, msg=f"rollout state refused: {exc}")
        return result

    def _record(self, store: Store, args: dict[str, Any]) -> dict[str, Any]:
        location = store.settings.location
        where = state_location(location, args["app"], args["env"])
        out: dict[str, Any] = {"state_location": where}
        # Check mode changes nothing on the hosts, so the state must not claim progress either.
        write = not self._task.check_mode
        # Read, decide and write in one transaction under the store's writer lock: a killed controller leaves the
        # previous state or the new one, and no other controller's write slips in between.
        with store.transaction(write=write) as tx:
            existing = read_state(tx, args["app"], args["env"], location)
            state = self._next_state(existing, args, where, out)
            if write:
                write_state(tx, state)
        out.update(changed=write, state=state.as_dict(), msg=state.last_progress if args["event"] == "batch" else state.message)
        return out

    def _next_state(self, existing: RolloutState | None, args: dict[str, Any], where: str, out: dict[str, Any]) -> RolloutState:
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
            return with_weights(with_plan(state, args["batches"], args["allowed_failures"]), args["lb_weights_before"])
        if existing is None:
            raise RolloutStateError(f"no rollout state in {where}; event {args['event']} needs a started rollout")
        if args["release_id"] and existing.release_id != args["release_id"]:
            raise RolloutStateError(f"the state in {where} is for release {existing.release_id}, not {args['release_id']}")
        if args["event"] == "weights":
            if args["lb_weights_before"] is None:
                raise RolloutStateError("event weights needs lb_weights_before ({} when the weights were restored)")
            return with_weights(existing, args["lb_weights_before"])
        if args["event"] == "batch":
            allowed = args["allowed_failures"]
            if allowed is None:
                allowed = existing.allowed_failures or 0
            number = existing.batches_done + 1
            state, verdict = record_batch(existing, args["batch_hosts"], args["failed_hosts"], allowed, args["host_results"])
            progress = progress_line(state, number, args["batch_hosts"], args["failed_hosts"], verdict.exceeded)
            state = with_weights(replace(state, last_progress=progress), args["lb_weights_before"])
            out.update(budget_exceeded=verdict.exceeded, budget=verdict.describe(), progress=progress)
            return state
        if not args["status"]:
            raise RolloutStateError("event status needs status")
        state = with_status(with_rolled_back(existing, args["rolled_back_hosts"]), args["status"], args["message"] or args["status"])
        state = with_weights(state, args["lb_weights_before"])
        out["summary"] = summary_table(state)
        return state


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
