# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which release directories to delete: decided from the ledger, never from file times."""

from __future__ import annotations

from dataclasses import dataclass

from .ledger import DEPLOYING, FAILED, GOOD, ROLLED_BACK, LedgerEntry, deploy_order, latest_states
from .rollback_target import previous_good


@dataclass(frozen=True)
class RetentionPlan:
    keep: tuple[str, ...]
    remove: tuple[str, ...]
    unknown: tuple[str, ...]


def plan_retention(entries: list[LedgerEntry], present: list[str], current: str | None, keep_good: int) -> RetentionPlan:
    """Keep the newest ``keep_good`` good releases, ``current`` and the previous good one.

    Failed, rolled-back and unfinished releases are removed, as are good ones beyond the
    limit. A directory the ledger does not know is left alone and reported.
    """
    if keep_good < 1:
        raise ValueError(f"keep_good must be at least 1, got {keep_good}")
    states = latest_states(entries)
    order = [release_id for release_id in deploy_order(entries) if states[release_id].state == GOOD]
    protected = set(order[-keep_good:])
    if current:
        protected.add(current)
        previous = previous_good(entries, current)
        if previous:
            protected.add(previous)
    keep: list[str] = []
    remove: list[str] = []
    unknown: list[str] = []
    for release_id in present:
        if release_id in protected:
            keep.append(release_id)
        elif release_id not in states:
            unknown.append(release_id)
        elif states[release_id].state in (GOOD, FAILED, ROLLED_BACK, DEPLOYING):
            remove.append(release_id)
    return RetentionPlan(tuple(keep), tuple(remove), tuple(unknown))
