# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The four release steps as plain functions: their arguments, the host-side verification, the change.

The release modules are thin shells over ``run_step``; on a host whose deploy account may only run
the release agent through sudo (host_agent.py) the agent calls the same ``run_step`` from a
root-owned copy of this package. Nothing here imports Ansible.
"""

from __future__ import annotations

from typing import Any

from .arguments import IDENTITY_SPEC, identity_from, mode_of
from .artifact import ArtifactError
from .backup import BackupError
from .host_guard import StepRefused, verify_step
from .layout import LayoutError
from .ledger import LedgerError
from .rollback_target import NoRollbackTarget
from .service import ServiceError
from .settle import commit_release, fail_release, release_report, rollback_release
from .stage import Ownership, StageError, StageRequest, stage_release
from .switch import SwitchRequest, switch_release

ARTIFACT_OPTIONS: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "sha256": {"type": "str", "required": True},
    "dest": {"type": "str", "default": "."},
    "unpack": {"type": "bool", "default": True},
    "local_path": {"type": "path"},
    "src": {"type": "path"},
}
CONFIG_OPTIONS: dict[str, dict[str, Any]] = {
    "dest": {"type": "str", "required": True},
    "content": {"type": "str", "required": True, "no_log": True},
    "mode": {"type": "raw"},
}

STEP_SPECS: dict[str, dict[str, dict[str, Any]]] = {
    "release_stage": {
        **IDENTITY_SPEC,
        "artifacts": {"type": "list", "elements": "dict", "required": True, "options": ARTIFACT_OPTIONS},
        "config_files": {"type": "list", "elements": "dict", "default": [], "options": CONFIG_OPTIONS},
        "shared_paths": {"type": "list", "elements": "str", "default": []},
        "owner": {"type": "str", "default": ""},
        "group": {"type": "str", "default": ""},
        "dir_mode": {"type": "raw", "default": "0755"},
        "file_mode": {"type": "raw"},
        "config_mode": {"type": "raw", "default": "0640"},
        "service": {"type": "dict", "default": {}},
        "health": {"type": "dict", "default": {}},
        "after_stage": {"type": "list", "elements": "str", "default": []},
        "backup_paths": {"type": "list", "elements": "str", "default": []},
    },
    "release_switch": {
        **IDENTITY_SPEC,
        "config_files": {"type": "list", "elements": "dict", "default": [], "options": CONFIG_OPTIONS},
        "config_mode": {"type": "raw", "default": "0640"},
        "before_switch": {"type": "list", "elements": "str", "default": []},
    },
    "release_commit": {
        **IDENTITY_SPEC,
        "event": {"type": "str", "choices": ["deploy", "rollback"], "default": "deploy"},
        "keep_releases": {"type": "int", "default": 3},
        "note": {"type": "str", "default": ""},
    },
    "release_revert": {
        **IDENTITY_SPEC,
        "mode": {"type": "str", "choices": ["failed", "rollback"], "required": True},
        "target_release_id": {"type": "str", "default": ""},
        "note": {"type": "str", "default": ""},
    },
    "release_info": {"base_dir": {"type": "path", "required": True}, "target_release_id": {"type": "str", "default": ""}},
}
# Steps that change nothing: no approval needed (the ledger is history, not a secret).
READ_ONLY_STEPS = frozenset({"release_info"})


class StepFailed(Exception):
    """A step that could not be applied (or was refused): the message and the result fields that go with it."""

    def __init__(self, msg: str, **fields: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.fields = fields


def _stage(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    request = StageRequest(
        base_dir=params["base_dir"],
        identity=identity_from(params),
        artifacts=params["artifacts"],
        config_files=params["config_files"],
        shared_paths=params["shared_paths"],
        ownership=Ownership(
            owner=params["owner"],
            group=params["group"],
            dir_mode=mode_of(params["dir_mode"], 0o755),
            file_mode=mode_of(params["file_mode"], 0) or None,
            config_mode=mode_of(params["config_mode"], 0o640),
        ),
        service=params["service"],
        health=params["health"],
        after_stage=params["after_stage"],
        backup_paths=params["backup_paths"],
    )
    try:
        return stage_release(request, check_mode=check_mode)
    except (StageError, LayoutError, LedgerError, ArtifactError, BackupError, OSError) as exc:
        raise StepFailed(f"stage of {params['release_id']} failed: {exc}", release_id=params["release_id"]) from None


def _switch(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    request = SwitchRequest(
        base_dir=params["base_dir"],
        identity=identity_from(params),
        config_files=[{**item, "mode": mode_of(item.get("mode"), 0) or None} for item in params["config_files"]],
        config_mode=mode_of(params["config_mode"], 0o640),
        before_switch=params["before_switch"],
    )
    try:
        return switch_release(request, check_mode=check_mode)
    except (StageError, LayoutError, LedgerError, BackupError, ServiceError, OSError) as exc:
        raise StepFailed(f"switch to {params['release_id']} failed: {exc}", release_id=params["release_id"]) from None


def _commit(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    try:
        return commit_release(params["base_dir"], identity_from(params), params["event"], params["keep_releases"], params["note"], check_mode=check_mode)
    except (LayoutError, LedgerError, ValueError, OSError) as exc:
        raise StepFailed(f"commit of {params['release_id']} failed: {exc}") from None


def _revert(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    identity = identity_from(params)
    try:
        if params["mode"] == "failed":
            return fail_release(params["base_dir"], identity, params["note"] or "deploy failed", check_mode=check_mode)
        return rollback_release(params["base_dir"], identity, params["target_release_id"] or None, params["note"], check_mode=check_mode)
    except NoRollbackTarget as exc:
        raise StepFailed(f"nothing to roll back to: {exc}", refused=True) from None
    except (LayoutError, LedgerError, BackupError, ServiceError, OSError) as exc:
        raise StepFailed(f"{params['mode']} revert failed: {exc}") from None


def _info(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    try:
        return {"changed": False, **release_report(params["base_dir"], params["target_release_id"] or None)}
    except (LayoutError, LedgerError, OSError) as exc:
        raise StepFailed(f"cannot read releases in {params['base_dir']}: {exc}") from None


_APPLY = {"release_info": _info, "release_stage": _stage, "release_switch": _switch, "release_commit": _commit, "release_revert": _revert}


def run_step(step: str, params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """Verify the step on this host (where a root is pinned), then apply it; raises StepFailed."""
    if step in READ_ONLY_STEPS:
        return _APPLY[step](params, check_mode)
    try:
        host_check = verify_step(step, params, check_mode)
    except StepRefused as exc:
        raise StepFailed(exc.msg, **exc.fields) from None
    return {**_APPLY[step](params, check_mode), **host_check}
