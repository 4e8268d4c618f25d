# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a rollback goes: the last good release before ``current`` in the ledger's history."""

from __future__ import annotations

from dataclasses import dataclass

from .ledger import GOOD, LedgerEntry, deploy_order, latest_states


class NoRollbackTarget(Exception):
    """There is nothing to roll back to; the message says why, for the operator."""


@dataclass(frozen=True)
class RollbackTarget:
    release_id: str
    version: str
    artifact_sha256: str
    named: bool


def previous_good(entries: list[LedgerEntry], current: str | None) -> str | None:
    """The newest release that is good now and was deployed before ``current``.

    When ``current`` never became good by a deploy (failed, unknown), the newest good
    release other than ``current`` is the answer.
    """
    states = latest_states(entries)
    order = deploy_order(entries)
    candidates = order[: order.index(current)] if current in order else order
    for release_id in reversed(candidates):
        if release_id != current and states[release_id].state == GOOD:
            return release_id
    return None


def select_target(entries: list[LedgerEntry], current: str | None, present: list[str], requested: str | None = None) -> RollbackTarget:
    """The rollback target, or NoRollbackTarget saying why there is none."""
    states = latest_states(entries)
    if current is None:
        raise NoRollbackTarget("no current release on this host: nothing was deployed, so there is nothing to roll back")
    if requested:
        if requested == current:
            raise NoRollbackTarget(f"release {requested} is already current")
        entry = states.get(requested)
        if entry is None:
            raise NoRollbackTarget(f"release {requested} is not in the ledger of this host")
        if entry.state != GOOD:
            raise NoRollbackTarget(f"release {requested} is {entry.state} in the ledger; only a good release can be a rollback target")
        release_id = requested
    else:
        found = previous_good(entries, current)
        if found is None:
            good = [rid for rid, e in states.items() if e.state == GOOD]
            raise NoRollbackTarget(
                f"no good release before {current} in the ledger (good releases: {', '.join(good) or 'none'}); a host with a single release cannot roll back"
            )
        release_id = found
    if release_id not in present:
        raise NoRollbackTarget(f"release {release_id} is good in the ledger but its directory is gone (removed by retention?)")
    version = next((e.version for e in reversed(entries) if e.release_id == release_id and e.version), "")
    digest = next((e.artifact_sha256 for e in reversed(entries) if e.release_id == release_id and e.artifact_sha256), "")
    return RollbackTarget(release_id=release_id, version=version, artifact_sha256=digest, named=bool(requested))
