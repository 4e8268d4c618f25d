# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet failure budget: how many hosts may fail (each rolled back) before the whole rollout is undone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .plan import FailureBudget


@dataclass(frozen=True)
class BudgetVerdict:
    allowed: int
    failed: tuple[str, ...]

    @property
    def exceeded(self) -> bool:
        return len(self.failed) > self.allowed

    def describe(self) -> str:
        state = "exceeded" if self.exceeded else "within budget"
        names = ", ".join(self.failed) or "none"
        return f"{len(self.failed)} failed host(s) ({names}), budget {self.allowed}: {state}"


def allowed_failures(budget: FailureBudget, fleet_size: int) -> int:
    """Rounded down: "10%" of 6 hosts allows 0 failures, never a fraction of a host more than asked."""
    if budget.count is not None:
        return min(budget.count, fleet_size)
    if not (budget.percent is not None):  # validated plans never get here
        raise ValueError("internal: unvalidated rollout plan (budget.percent is not None)")
    return budget.percent * fleet_size // 100


def judge_failures(budget: FailureBudget, fleet_size: int, failed_hosts: Iterable[str]) -> BudgetVerdict:
    failed = tuple(dict.fromkeys(failed_hosts))
    return BudgetVerdict(allowed=allowed_failures(budget, fleet_size), failed=failed)
