# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The migration planner (module_utils/release/migration/plan.py): which steps run, are skipped or refused, and how a
release's migrations are undone, from the steps and the migrations table's rows alone."""

from __future__ import annotations

from ansible_collections.opsgate.release.plugins.module_utils.release.migration.database import AppliedStep
from ansible_collections.opsgate.release.plugins.module_utils.release.migration.plan import (
    BACKUP,
    DOWN,
    NONE,
    Step,
    application_order,
    plan_phase,
    plan_restore,
)

A, B, C, D = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)
STEPS = [
    Step("001_status", "expand", A, down_sha256=B),
    Step("002_drop_note", "contract", C),
    Step("003_priority", "expand", D, down_sha256=A),
]


def _row(step_id: str, sha256: str, release_id: str = "r2", app: str = "shop", phase: str = "expand") -> AppliedStep:
    return AppliedStep(app, step_id, phase, sha256, release_id)


def test_a_fresh_database_runs_every_step_of_the_phase_in_list_order() -> None:
    plan = plan_phase(STEPS, "expand", [], "shop")
    assert [step.id for step in plan.run] == ["001_status", "003_priority"]
    assert plan.skip == () and plan.refused == ()
    assert [step.id for step in plan_phase(STEPS, "contract", [], "shop").run] == ["002_drop_note"]


def test_an_applied_step_with_the_same_digest_is_skipped_whichever_release_applied_it() -> None:
    plan = plan_phase(STEPS, "expand", [_row("001_status", A, release_id="r1")], "shop")
    assert [step.id for step in plan.skip] == ["001_status"]
    assert [step.id for step in plan.run] == ["003_priority"]


def test_an_applied_step_with_another_digest_is_refused_naming_both_digests_and_the_release() -> None:
    plan = plan_phase(STEPS, "expand", [_row("003_priority", C, release_id="r1")], "shop")
    assert [refusal.step_id for refusal in plan.refused] == ["003_priority"]
    text = plan.refused[0].describe()
    assert C in text and D in text and "release r1" in text and "003_priority" in text


def test_rows_of_another_application_are_not_this_ones() -> None:
    plan = plan_phase(STEPS, "expand", [_row("003_priority", C, app="other")], "shop")
    assert plan.refused == ()
    assert [step.id for step in plan.run] == ["001_status", "003_priority"]


def test_nothing_applied_by_the_release_restores_nothing() -> None:
    assert plan_restore(STEPS, [], "shop", "r2").method == NONE
    # Applied by an earlier release: not this release's to undo.
    assert plan_restore(STEPS, [_row("001_status", A, release_id="r1")], "shop", "r2").method == NONE


def test_downs_when_every_applied_step_has_one_in_reverse_order_of_application() -> None:
    rows = [_row("001_status", A), _row("003_priority", D)]
    plan = plan_restore(STEPS, rows, "shop", "r2")
    assert (plan.method, plan.steps) == (DOWN, ("003_priority", "001_status"))


def test_one_applied_step_without_a_down_means_the_backup() -> None:
    rows = [_row("001_status", A), _row("002_drop_note", C, phase="contract")]
    plan = plan_restore(STEPS, rows, "shop", "r2")
    assert (plan.method, plan.steps) == (BACKUP, ("002_drop_note", "001_status"))


def test_a_down_is_not_trusted_for_content_other_than_what_was_applied() -> None:
    # The row says 001 was applied with C; the down the release ships is for A.
    plan = plan_restore(STEPS, [_row("001_status", C)], "shop", "r2")
    assert plan.method == BACKUP


def test_after_a_failed_contract_step_without_downs_the_backup_is_not_used_and_the_steps_are_kept() -> None:
    rows = [_row("001_status", A), _row("002_drop_note", C, phase="contract")]
    plan = plan_restore(STEPS, rows, "shop", "r2", phases=("contract",), backup_allowed=False)
    assert (plan.method, plan.steps, plan.kept) == (NONE, (), ("002_drop_note",))


def test_expand_steps_come_before_contract_steps_whatever_the_list_order() -> None:
    assert [step.id for step in application_order(STEPS)] == ["001_status", "003_priority", "002_drop_note"]


# No steps: a rollback of the hosts, whose controller has not the release's manifest (its down SQL is not on the host).


def test_a_restore_without_steps_undoes_the_releases_rows_from_the_backup_newest_first() -> None:
    rows = [_row("001_status", A, release_id="r1"), _row("001_x", A), _row("002_drop_note", C, phase="contract"), _row("003_y", D, app="other")]
    plan = plan_restore([], rows, "shop", "r2")
    assert (plan.method, plan.steps, plan.kept) == (BACKUP, ("002_drop_note", "001_x"), ())


def test_a_restore_without_steps_of_a_release_that_applied_nothing_restores_nothing() -> None:
    assert plan_restore([], [], "shop", "r2") == plan_restore([], [_row("001_status", A, release_id="r1")], "shop", "r2")
    assert plan_restore([], [], "shop", "r2").method == NONE
    assert plan_restore([], [_row("001_status", A, app="other")], "shop", "r2").method == NONE


def test_a_restore_without_steps_keeps_the_rows_where_the_backup_may_not_be_used() -> None:
    rows = [_row("001_x", A), _row("002_drop_note", C, phase="contract")]
    plan = plan_restore([], rows, "shop", "r2", phases=("contract",), backup_allowed=False)
    assert (plan.method, plan.steps, plan.kept) == (NONE, (), ("002_drop_note",))


def test_with_steps_the_restore_is_planned_from_them_as_before() -> None:
    # A deploy or gray release sends its steps: their downs are used when every applied step has one; a row the steps
    # do not name is not this release's to undo.
    rows = [_row("001_status", A), _row("003_priority", D), _row("009_elsewhere", C)]
    assert (plan_restore(STEPS, rows, "shop", "r2").method, plan_restore(STEPS, rows, "shop", "r2").steps) == (DOWN, ("003_priority", "001_status"))
