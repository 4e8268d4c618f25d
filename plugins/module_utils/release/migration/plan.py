# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a migration phase does, decided from the release's steps and the migrations table alone (no database here).

A step is identified by its id for the whole life of the database: once applied with a digest, the
same id with the same digest is skipped (a repeated or resumed run, or a later release that ships the
same file), and with another digest refused, since the database already holds the other content.
Undoing a release touches only the rows that release wrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .database import AppliedStep

PHASES = ("expand", "contract")
DOWN = "down"
BACKUP = "backup"
NONE = "none"


@dataclass(frozen=True)
class Step:
    id: str
    phase: str
    sha256: str
    down_sha256: str = ""


@dataclass(frozen=True)
class Refusal:
    step_id: str
    applied_sha256: str
    new_sha256: str
    applied_by: str

    def describe(self) -> str:
        return (
            f"step {self.step_id} was applied with sha256 {self.applied_sha256} by release {self.applied_by}; this release has sha256 {self.new_sha256} for it"
        )


@dataclass(frozen=True)
class PhasePlan:
    run: tuple[Step, ...]
    skip: tuple[Step, ...]
    refused: tuple[Refusal, ...]


@dataclass(frozen=True)
class RestorePlan:
    """``steps`` are undone in this order (``down``); ``kept`` stay applied (``none`` where the backup may not be used)."""

    method: str
    steps: tuple[str, ...]
    kept: tuple[str, ...] = ()


def _rows_of(rows: Iterable[AppliedStep], app: str) -> dict[str, AppliedStep]:
    return {row.step_id: row for row in rows if row.app == app}


def plan_phase(steps: Sequence[Step], phase: str, rows: Iterable[AppliedStep], app: str) -> PhasePlan:
    """The steps of ``phase`` in list order: to run, to skip (already applied, same digest), refused (other digest)."""
    applied = _rows_of(rows, app)
    run: list[Step] = []
    skip: list[Step] = []
    refused: list[Refusal] = []
    for step in steps:
        if step.phase != phase:
            continue
        row = applied.get(step.id)
        if row is None:
            run.append(step)
        elif row.sha256 == step.sha256:
            skip.append(step)
        else:
            refused.append(Refusal(step.id, row.sha256, step.sha256, row.release_id))
    return PhasePlan(tuple(run), tuple(skip), tuple(refused))


def application_order(steps: Sequence[Step]) -> list[Step]:
    """Expand before contract, list order within a phase: the order the steps are applied in."""
    ordered = sorted(enumerate(steps), key=lambda item: (PHASES.index(item[1].phase), item[0]))
    return [step for _index, step in ordered]


def plan_restore(
    steps: Sequence[Step], rows: Iterable[AppliedStep], app: str, release_id: str, phases: Sequence[str] = PHASES, backup_allowed: bool = True
) -> RestorePlan:
    """How to undo what ``release_id`` applied of ``steps`` in ``phases``.

    ``down`` when every such step has a down-migration for exactly the content that was applied (the row's digest
    is the step's), run in reverse order of application; else ``backup``, or, where the backup may not be used
    (it predates steps the running release needs), ``none`` with the applied steps ``kept``. Nothing applied: ``none``.

    No ``steps`` (a rollback of the hosts, whose controller has the release's manifest no more): what ``release_id``
    applied is read from its rows alone, and with no down-migration on the host it is undone from the ``backup``.
    """
    applied = _rows_of(rows, app)
    if not steps:
        return _restore_from_rows([row for row in applied.values() if row.release_id == release_id and row.phase in phases], backup_allowed)
    mine = [step for step in application_order(steps) if step.phase in phases and getattr(applied.get(step.id), "release_id", None) == release_id]
    if not mine:
        return RestorePlan(NONE, ())
    undone = tuple(step.id for step in reversed(mine))
    if all(step.down_sha256 and applied[step.id].sha256 == step.sha256 for step in mine):
        return RestorePlan(DOWN, undone)
    if backup_allowed:
        return RestorePlan(BACKUP, undone)
    return RestorePlan(NONE, (), kept=tuple(step.id for step in mine))


def _restore_from_rows(mine: Sequence[AppliedStep], backup_allowed: bool) -> RestorePlan:
    """The rows of the release, oldest first (the table's order): undone newest first, from the backup."""
    if not mine:
        return RestorePlan(NONE, ())
    if backup_allowed:
        return RestorePlan(BACKUP, tuple(row.step_id for row in reversed(mine)))
    return RestorePlan(NONE, (), kept=tuple(row.step_id for row in mine))
