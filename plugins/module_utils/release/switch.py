# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Step 2 of a deploy on a host: before_switch hooks, host-level config, switch ``current``, restart.

The backup was taken by the stage step of the same deploy, before any hook
(:func:`.stage.backup_of_this_deploy`); a switch without one refuses before running a hook.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..approval.atomic_file import write_atomic
from .backup import BackupError, read_index
from .layout import Layout, LayoutError, current_release, locked, read_marker, switch_current
from .ledger import DEPLOYING, GOOD, append_entry, latest_states, read_ledger
from .service import ServiceDefinition, is_active, restart, unit_differs
from .stage import ReleaseIdentity, StageError, backup_of_this_deploy, run_hooks


@dataclass(frozen=True)
class SwitchRequest:
    base_dir: str
    identity: ReleaseIdentity
    config_files: list[dict[str, Any]] = field(default_factory=list)
    config_mode: int = 0o640
    before_switch: list[str] = field(default_factory=list)


def _absolute_configs(request: SwitchRequest) -> list[dict[str, Any]]:
    return [item for item in request.config_files if os.path.isabs(item["dest"])]


def _config_differs(item: dict[str, Any]) -> bool:
    try:
        with open(item["dest"], encoding="utf-8") as handle:
            return handle.read() != item["content"]
    except FileNotFoundError:
        return True


def _write_config(item: dict[str, Any], mode: int) -> None:
    os.makedirs(os.path.dirname(item["dest"]), exist_ok=True)
    write_atomic(item["dest"], item["content"], int(item.get("mode") or mode))


def _stage_backup(layout: Layout, release_id: str) -> dict[str, Any]:
    """The index of the backup the stage step took for this deploy; refuses when there is none."""
    if not backup_of_this_deploy(read_ledger(layout.ledger), release_id):
        raise StageError(
            f"no backup was taken for {release_id} before its hooks: run release_stage first in the same deploy "
            "(it backs up backup_paths and the absolute config files before any hook); nothing was changed"
        )
    try:
        return read_index(layout.backup(release_id))
    except BackupError as exc:
        raise StageError(f"{exc}; nothing was changed") from None


def switch_release(request: SwitchRequest, check_mode: bool = False) -> dict[str, Any]:
    layout = Layout(request.base_dir)
    identity = request.identity
    marker = read_marker(layout, identity.release_id)
    if marker is None:
        if check_mode:
            return {"changed": True, "switched": True, "restarted": True, "previous": None, "msg": f"would switch to {identity.release_id} once staged"}
        raise StageError(f"release {identity.release_id} is not staged on this host")
    service = ServiceDefinition.from_dict(marker.get("service") or {"type": "none"})
    configs = _absolute_configs(request)
    changed_configs = [item["dest"] for item in configs if _config_differs(item)]
    entries = read_ledger(layout.ledger)
    current = current_release(layout)
    state = latest_states(entries).get(identity.release_id)
    switching = current != identity.release_id
    unfinished = state is None or state.state != GOOD
    needs_restart = switching or unfinished or bool(changed_configs) or unit_differs(service) or not is_active(service, layout.run)
    result: dict[str, Any] = {
        "changed": switching or bool(changed_configs) or needs_restart,
        "previous": current,
        "switched": switching,
        "restarted": needs_restart and service.type != "none",
        "configs_written": changed_configs,
        "backup_dir": layout.backup(identity.release_id) if switching else None,
    }
    if check_mode or not result["changed"]:
        done = f"{identity.release_id} is current and running"
        result["msg"] = f"{'would switch' if switching else 'stays on'} {identity.release_id}" if check_mode else done
        return result
    with locked(layout):
        if switching:
            index = _stage_backup(layout, identity.release_id)
            unsaved = sorted({item["dest"] for item in configs} - {item["path"] for item in index["paths"]})
            if unsaved:
                raise StageError(f"the backup of {identity.release_id} does not hold {', '.join(unsaved)}: give release_stage the same config_files")
            run_hooks(request.before_switch, layout.release(identity.release_id), "before_switch")
        for item in configs:
            if item["dest"] in changed_configs:
                _write_config(item, request.config_mode)
        if switching:
            previous = switch_current(layout, identity.release_id)
            note = f"current switched from {previous or 'none'}"
            append_entry(layout.ledger, identity.entry(DEPLOYING, "switch", note, previous=previous or "", backup=bool(index["paths"])))
        if needs_restart:
            try:
                restart(service, layout.run, layout.current)
            except Exception as exc:
                raise LayoutError(f"switched to {identity.release_id} but the restart failed: {exc}") from None
    result["msg"] = f"switched to {identity.release_id} (was {current or 'none'})" if switching else f"restarted {identity.release_id}"
    return result
