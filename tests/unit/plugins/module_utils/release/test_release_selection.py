# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Retention and rollback target: both read the ledger, never file times."""

from __future__ import annotations

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.release.retention import plan_retention
from ansible_collections.opsgate.release.plugins.module_utils.release.rollback_target import NoRollbackTarget, previous_good, select_target

from .release_fixtures import deployed, entry


def test_retention_keeps_the_newest_good_releases():
    entries = deployed("r1", "r2", "r3", "r4")
    plan = plan_retention(entries, ["r1", "r2", "r3", "r4"], current="r4", keep_good=2)
    assert set(plan.keep) == {"r3", "r4"}
    assert set(plan.remove) == {"r1", "r2"}


def test_retention_never_removes_current_nor_the_previous_good_even_with_keep_one():
    entries = deployed("r1", "r2", "r3")
    plan = plan_retention(entries, ["r1", "r2", "r3"], current="r3", keep_good=1)
    assert set(plan.keep) == {"r2", "r3"}
    assert plan.remove == ("r1",)


def test_retention_protects_current_after_a_rollback_to_an_old_release():
    entries = [*deployed("r1", "r2", "r3", "r4"), entry("r4", "rolled_back", "rollback"), entry("r1", "good", "rollback")]
    plan = plan_retention(entries, ["r1", "r2", "r3", "r4"], current="r1", keep_good=1)
    assert "r1" in plan.keep
    assert "r4" in plan.remove
    assert "r3" in plan.keep  # the newest good one


def test_failed_rolled_back_and_unfinished_releases_are_removed_unknown_are_left():
    entries = [*deployed("r1", "r2"), entry("bad", "failed", "revert"), entry("half", "deploying", "stage"), entry("r2", "good", "deploy")]
    entries += [entry("gone", "rolled_back", "rollback")]
    plan = plan_retention(entries, ["bad", "gone", "half", "r1", "r2", "stranger"], current="r2", keep_good=5)
    assert set(plan.remove) == {"bad", "gone", "half"}
    assert plan.unknown == ("stranger",)
    assert set(plan.keep) == {"r1", "r2"}


def test_retention_refuses_keep_zero():
    with pytest.raises(ValueError, match="keep_good must be at least 1, got 0"):
        plan_retention([], [], None, 0)


def test_rollback_target_is_the_last_good_before_current_by_ledger_order():
    # r3 is newer by name and would win by mtime in some layouts; the ledger says r2 came before r4.
    entries = [*deployed("r3", "r2", "r4")]
    target = select_target(entries, "r4", ["r2", "r3", "r4"])
    assert target.release_id == "r2"
    assert target.named is False


def test_failed_release_is_never_a_target():
    entries = [*deployed("r1", "r2"), entry("r3", "deploying", "stage"), entry("r3", "failed", "revert")]
    assert select_target(entries, "r2", ["r1", "r2", "r3"]).release_id == "r1"
    with pytest.raises(NoRollbackTarget, match="release r3 is failed in the ledger"):
        select_target(entries, "r2", ["r1", "r2", "r3"], requested="r3")


def test_two_rollbacks_in_a_row_walk_back_through_history():
    entries = deployed("r1", "r2", "r3")
    first = select_target(entries, "r3", ["r1", "r2", "r3"])
    assert first.release_id == "r2"
    entries += [entry("r3", "rolled_back", "rollback", previous="r2"), entry("r2", "good", "rollback")]
    second = select_target(entries, "r2", ["r1", "r2", "r3"])
    assert second.release_id == "r1"
    entries += [entry("r2", "rolled_back", "rollback", previous="r1"), entry("r1", "good", "rollback")]
    with pytest.raises(NoRollbackTarget, match="no good release before r1"):
        select_target(entries, "r1", ["r1", "r2", "r3"])


def test_single_release_refuses_clearly():
    with pytest.raises(NoRollbackTarget, match="a host with a single release cannot roll back"):
        select_target(deployed("r1"), "r1", ["r1"])


def test_no_current_refuses():
    with pytest.raises(NoRollbackTarget, match="no current release"):
        select_target([], None, [])


def test_target_whose_directory_is_gone_refuses():
    with pytest.raises(NoRollbackTarget, match="its directory is gone"):
        select_target(deployed("r1", "r2"), "r2", ["r2"])


def test_named_target_must_differ_from_current_and_exist():
    entries = deployed("r1", "r2", "r3")
    assert select_target(entries, "r3", ["r1", "r2", "r3"], requested="r1").release_id == "r1"
    with pytest.raises(NoRollbackTarget, match="already current"):
        select_target(entries, "r3", ["r1", "r2", "r3"], requested="r3")
    with pytest.raises(NoRollbackTarget, match="not in the ledger"):
        select_target(entries, "r3", ["r1", "r2", "r3"], requested="r9")


def test_previous_good_when_current_never_became_good():
    entries = [*deployed("r1", "r2"), entry("r3", "deploying", "switch")]
    assert previous_good(entries, "r3") == "r2"
