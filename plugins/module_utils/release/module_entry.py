# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The whole body of each release module (and release_info): parse the arguments, run the step here or through the agent.

release_switch may go on in the same call: hold the release to its health check (``then_health``) and, when that
passed, record it as good (``then_commit``). One module run instead of three saves the host two Python start-ups per
deploy; each step is still verified on the host as if it came alone (the commit by ``run_step("release_commit")``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from .arguments import IDENTITY_SPEC
from .health_gate import GATE_OPTIONS, hold_to_health
from .host_agent import call_agent, should_delegate
from .steps import STEP_SPECS, StepFailed, run_step

FOLLOW_UP_SPECS: dict[str, dict[str, dict[str, Any]]] = {
    "release_switch": {
        "then_health": {
            "type": "dict",
            "options": {
                "health": {"type": "dict", "required": True},
                "version": {"type": "str", "default": ""},
                "label": {"type": "str", "default": "the release"},
                "gate": {"type": "dict", "options": GATE_OPTIONS},
                "wait_for_start": {"type": "bool", "default": False},
            },
        },
        "then_commit": {"type": "dict", "options": {"keep_releases": {"type": "int", "default": 3}}},
    },
}

Step = Callable[[str, dict[str, Any], bool], dict[str, Any]]


def _commit_params(params: dict[str, Any], keep_releases: int) -> dict[str, Any]:
    """release_commit's arguments for the release just switched: its identity and host check, the deploy event."""
    commit = {key: params.get(key) for key in IDENTITY_SPEC if key in params}
    commit.update(event="deploy", keep_releases=keep_releases, note="")
    return commit


def _without_msg(fields: dict[str, Any]) -> dict[str, Any]:
    """Result fields for a StepFailed: its message replaces the switch's (or the commit's) own."""
    return {key: value for key, value in fields.items() if key != "msg"}


def switch_follow_ups(params: dict[str, Any], then: dict[str, Any], switched: dict[str, Any], run: Step, check_mode: bool) -> dict[str, Any]:
    """After a switch: the health check, then the commit, each only when asked and the one before passed.

    Raises StepFailed with ``failed_step`` (``health``, ``gate`` for a rollout plan's rule, ``commit``) and the switch's
    fields, so the caller's rescue knows what to put back.
    """
    result = dict(switched)
    health = then.get("then_health")
    if health and not check_mode:
        outcome = hold_to_health(
            health["health"], health["version"], health["label"], health["gate"], health["wait_for_start"], just_restarted=bool(switched.get("restarted"))
        )
        result["health"] = outcome.answer
        if not outcome.passed:
            failed_step = "gate" if outcome.answer.get("health_gate") == "rollout" else "health"
            raise StepFailed(outcome.msg, failed_step=failed_step, **_without_msg(result))
    commit = then.get("then_commit")
    result["committed"] = False
    if commit:
        if not health:
            raise StepFailed(
                "then_commit needs then_health: a release is recorded good only after its health check passed", failed_step="commit", **_without_msg(result)
            )
        try:
            committed = run("release_commit", _commit_params(params, commit["keep_releases"]), check_mode)
        except StepFailed as exc:
            raise StepFailed(exc.msg, failed_step="commit", **_without_msg({**result, **exc.fields})) from None
        result.update(committed=True, commit=committed, changed=bool(result.get("changed")) or bool(committed.get("changed")))
    return result


def step_runner() -> Step:
    """Where a step runs: through the agent when the module runs as the restricted deploy account, else here."""
    return call_agent if should_delegate() else run_step


def read_running_release(base_dir: str) -> dict[str, Any]:
    """The release the host runs under base_dir (id, version, ledger state), for the record of a run; reads only.

    Through the agent where the module runs as the restricted deploy account (the release directories are root's). An
    unreadable layout is said in ``error``, never raised: the caller asked for something else (host_facts' facts).
    """
    try:
        report = step_runner()("release_info", {"base_dir": base_dir, "target_release_id": ""}, True)
    except StepFailed as exc:
        return {"base_dir": base_dir, "current": None, "version": None, "state": None, "error": exc.msg}
    marker = report.get("current_marker")
    return {
        "base_dir": base_dir,
        "current": report.get("current"),
        "version": marker.get("version") if isinstance(marker, dict) else None,
        "state": report.get("current_state"),
        "error": None,
    }


def run_module(step: str) -> None:
    follow_ups = FOLLOW_UP_SPECS.get(step, {})
    module = AnsibleModule(argument_spec={**STEP_SPECS[step], **follow_ups}, supports_check_mode=True)
    params = {key: value for key, value in module.params.items() if key not in follow_ups}
    then = {key: module.params[key] for key in follow_ups}
    run = step_runner()
    try:
        result = run(step, params, module.check_mode)
        if any(then.values()):
            result = switch_follow_ups(params, then, result, run, module.check_mode)
    except StepFailed as exc:
        module.fail_json(msg=exc.msg, **exc.fields)
    module.exit_json(**result)
