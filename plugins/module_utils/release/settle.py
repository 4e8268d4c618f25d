# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The end of a deploy or rollback on a host: mark it good (and apply retention), or revert it."""

from __future__ import annotations

import os
import shutil
from typing import Any

from .backup import restore_backup
from .layout import Layout, LayoutError, current_release, locked, present_releases, read_marker, switch_current
from .ledger import FAILED, GOOD, ROLLED_BACK, LedgerEntry, append_entry, last_entry, latest_states, read_ledger
from .retention import plan_retention
from .rollback_target import NoRollbackTarget, select_target
from .service import ServiceDefinition, restart
from .stage import ReleaseIdentity, backup_of_this_deploy


def commit_release(base_dir: str, identity: ReleaseIdentity, event: str, keep_good: int, message: str = "", check_mode: bool = False) -> dict[str, Any]:
    """Record a release as good after its health check passed; remove what retention allows."""
    layout = Layout(base_dir)
    entries = read_ledger(layout.ledger)
    state = latest_states(entries).get(identity.release_id)
    current = current_release(layout)
    if current != identity.release_id and check_mode:
        # In check mode nothing was switched, so the release cannot be current yet.
        return {"changed": True, "release_id": identity.release_id, "state": GOOD, "removed": [], "kept": [], "unknown": [], "msg": "would record good"}
    if current != identity.release_id:
        raise LayoutError(f"cannot mark {identity.release_id} good: current is {current or 'none'}")
    record = state is None or state.state != GOOD or (event == "rollback" and state.event != "rollback")
    result: dict[str, Any] = {"changed": record, "release_id": identity.release_id, "state": GOOD}
    future = [*entries, identity.entry(GOOD, event, message)] if record else entries
    plan = plan_retention(future, present_releases(layout), current, keep_good)
    result.update(removed=list(plan.remove), kept=list(plan.keep), unknown=list(plan.unknown))
    if plan.remove:
        result["changed"] = True
    if check_mode:
        return result
    with locked(layout):
        if record:
            append_entry(layout.ledger, identity.entry(GOOD, event, message))
        for release_id in plan.remove:
            shutil.rmtree(layout.release(release_id), ignore_errors=True)
            shutil.rmtree(layout.backup(release_id), ignore_errors=True)
            append_entry(layout.ledger, _cleanup_entry(latest_states(future)[release_id], identity))
    return result


def _cleanup_entry(last: LedgerEntry, identity: ReleaseIdentity) -> LedgerEntry:
    """Retention keeps the release's state and says its directory is gone."""
    return identity.entry(last.state, "cleanup", "directory removed by retention", release_id=last.release_id)


def _restart_release(layout: Layout, release_id: str) -> None:
    marker = read_marker(layout, release_id) or {}
    restart(ServiceDefinition.from_dict(marker.get("service") or {"type": "none"}), layout.run, layout.current)


def _backup_for_return_to(entries: list[LedgerEntry], layout: Layout, target: str) -> str | None:
    """The backup taken when ``target`` was last left: the state of the listed paths while it ran."""
    for entry in reversed(entries):
        if entry.event == "switch" and entry.previous == target:
            path = layout.backup(entry.release_id)
            return path if os.path.isdir(path) else None
    return None


def fail_release(base_dir: str, identity: ReleaseIdentity, message: str, check_mode: bool = False) -> dict[str, Any]:
    """A deploy failed: switch back to the release that was current before, restore the backup, restart, mark failed.

    The backup was taken before any hook, so it is restored whenever this deploy took one: after
    the switch, and also when it failed before the switch (a before_switch hook) with ``current``
    left as it was.
    """
    layout = Layout(base_dir)
    entries = read_ledger(layout.ledger)
    current = current_release(layout)
    state = latest_states(entries).get(identity.release_id)
    result: dict[str, Any] = {"changed": False, "release_id": identity.release_id, "state": FAILED, "reverted_to": None, "restored": []}
    switched = last_entry(entries, identity.release_id, "switch")
    back_to = switched.previous if switched is not None and current == identity.release_id else None
    went_live = current == identity.release_id
    restore = went_live or backup_of_this_deploy(entries, identity.release_id)
    if current == identity.release_id and not back_to:
        # The very first deploy failed: there is nothing to go back to; stop it and drop the link.
        result.update(changed=True, reverted_to=None)
    elif back_to:
        result.update(changed=True, reverted_to=back_to)
    if state is None or state.state != FAILED:
        result["changed"] = True
    if check_mode or not result["changed"]:
        return result
    with locked(layout):
        backup = layout.backup(identity.release_id)
        if restore and os.path.isdir(backup):
            result["restored"] = restore_backup(backup)
        if went_live:
            if back_to:
                switch_current(layout, back_to)
                _restart_release(layout, back_to)
            else:
                marker = read_marker(layout, identity.release_id) or {}
                service = ServiceDefinition.from_dict(marker.get("service") or {"type": "none"})
                _stop(service, layout)
                os.unlink(layout.current)
        note = message + (f"; switched back to {back_to}" if back_to else "")
        note += f"; backup restored: {', '.join(result['restored'])}" if result["restored"] else ""
        append_entry(layout.ledger, identity.entry(FAILED, "revert", note, previous=back_to or ""))
    return result


def _stop(service: ServiceDefinition, layout: Layout) -> None:
    from .service import _stop_command_mode, _systemctl

    if service.type == "systemd":
        _systemctl("stop", f"{service.name}.service")
    elif service.type == "command":
        _stop_command_mode(service, layout.run, layout.current)


def rollback_release(base_dir: str, identity: ReleaseIdentity, target: str | None, message: str = "", check_mode: bool = False) -> dict[str, Any]:
    """Go back to ``target`` (or the last good release before current): restore the backup, switch, restart.

    ``identity`` names the rollback's change and token; the release left is marked
    rolled_back. The caller runs the health check and then commits the target.
    """
    layout = Layout(base_dir)
    entries = read_ledger(layout.ledger)
    current = current_release(layout)
    chosen = select_target(entries, current, present_releases(layout), target)
    # The approval names a version and artifact: the host goes back to that good release or nowhere.
    if (chosen.version, chosen.artifact_sha256) != (identity.version, identity.artifact_sha256):
        raise NoRollbackTarget(
            f"the rollback target here is {chosen.release_id} (version {chosen.version}, sha256 {chosen.artifact_sha256}), "
            f"the approval is for version {identity.version} (sha256 {identity.artifact_sha256})"
        )
    backup = _backup_for_return_to(entries, layout, chosen.release_id)
    result: dict[str, Any] = {
        "changed": True,
        "from_release": current,
        "release_id": chosen.release_id,
        "version": chosen.version,
        "artifact_sha256": chosen.artifact_sha256,
        "backup_dir": backup,
        "restored": restore_backup(backup, check_only=True) if backup else [],
    }
    if check_mode:
        return result
    with locked(layout):
        if backup:
            result["restored"] = restore_backup(backup)
        switch_current(layout, chosen.release_id)
        append_entry(
            layout.ledger,
            identity.entry(ROLLED_BACK, "rollback", message or f"rolled back to {chosen.release_id}", previous=chosen.release_id, release_id=current),
        )
        _restart_release(layout, chosen.release_id)
    return result


def release_report(base_dir: str, requested_target: str | None = None) -> dict[str, Any]:
    """Everything a reader (or the rollback role) needs to know about a host's releases; reads only."""
    from .ledger import interrupted_releases
    from .rollback_target import NoRollbackTarget

    layout = Layout(base_dir)
    entries = read_ledger(layout.ledger)
    current = current_release(layout) if os.path.isdir(base_dir) else None
    present = present_releases(layout)
    states = latest_states(entries)
    releases = [
        {
            "release_id": release_id,
            "state": entry.state,
            "version": _version_of(entries, release_id),
            "change_id": entry.change_id,
            "present": release_id in present,
            "current": release_id == current,
        }
        for release_id, entry in states.items()
    ]
    report: dict[str, Any] = {
        "base_dir": base_dir,
        "current": current,
        "current_state": states[current].state if current in states else None,
        "current_marker": read_marker(layout, current) if current else None,
        "releases": releases,
        "present": present,
        "interrupted": interrupted_releases(entries),
        "ledger": [entry.as_dict() for entry in entries],
        "rollback_target": None,
        "rollback_refusal": None,
        "rolled_back_from": _rolled_back_from(entries, current),
    }
    try:
        chosen = select_target(entries, current, present, requested_target)
        report["rollback_target"] = {
            "release_id": chosen.release_id,
            "version": chosen.version or _version_of(entries, chosen.release_id),
            "artifact_sha256": chosen.artifact_sha256 or _digest_of(entries, chosen.release_id),
            "marker": read_marker(layout, chosen.release_id),
        }
    except NoRollbackTarget as exc:
        report["rollback_refusal"] = str(exc)
    return report


def _rolled_back_from(entries: list[LedgerEntry], current: str | None) -> str | None:
    """The release the last rollback to ``current`` left, while ``current`` is good by that rollback; else None.

    What a later rollback run to the same release reads, when this host is back already: the release whose database
    migrations are still to be put back (a restore that failed, or a rollback that left the database alone).
    """
    if not current:
        return None
    last = next((entry for entry in reversed(entries) if entry.release_id == current and entry.event != "cleanup"), None)
    if last is None or last.state != GOOD or last.event != "rollback":
        return None
    left = next((entry for entry in reversed(entries) if entry.state == ROLLED_BACK and entry.event == "rollback" and entry.previous == current), None)
    return left.release_id if left else None


def _version_of(entries: list[LedgerEntry], release_id: str) -> str:
    return next((e.version for e in reversed(entries) if e.release_id == release_id and e.version), "")


def _digest_of(entries: list[LedgerEntry], release_id: str) -> str:
    return next((e.artifact_sha256 for e in reversed(entries) if e.release_id == release_id and e.artifact_sha256), "")
