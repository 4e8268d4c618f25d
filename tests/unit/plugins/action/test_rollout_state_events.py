# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the gray_release role records per event: start or resume, a batch against the failure budget, an analysis verdict."""

from __future__ import annotations

from typing import Any

import pytest
from ledger_kit import BACKENDS, settings_for

from ansible_collections.opsgate.release.plugins.action.rollout_state import _judge
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.state import (
    DONE,
    PAUSED_FOR_APPROVAL,
    RUNNING,
    RolloutStateError,
    begin_state,
    read_state,
    record_batch,
    with_status,
    write_state,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import open_store

RELEASE = "2.0.0-CHG-7-0123456789ab"


def _fresh(total: int = 3) -> Any:
    return begin_state(None, "shop", "prod", RELEASE, "tok-7", "fp", total, resume=False)


def test_a_fresh_start_is_running_with_nothing_switched() -> None:
    state = _fresh()
    assert (state.status, state.batches_done, state.hosts_switched, state.release_id) == (RUNNING, 0, (), RELEASE)


def test_a_start_is_refused_while_another_rollout_is_paused() -> None:
    paused = with_status(_fresh(), PAUSED_FOR_APPROVAL, "wait")
    with pytest.raises(RolloutStateError, match="resume it with opsgate_rollout_resume"):
        begin_state(paused, "shop", "prod", "3.0.0-x", "tok-8", "fp", 3, resume=False)


def test_resume_keeps_progress_and_runs_again() -> None:
    state, _budget = record_batch(_fresh(), ["app1"], [], 0)
    paused = with_status(state, PAUSED_FOR_APPROVAL, "wait")
    resumed = begin_state(paused, "shop", "prod", RELEASE, "tok-7", "fp", 3, resume=True)
    assert (resumed.status, resumed.batches_done, resumed.hosts_switched) == (RUNNING, 1, ("app1",))
    assert "resumed at batch 2 of 3" in resumed.message


@pytest.mark.parametrize(
    ("token", "fingerprint", "needle"),
    [("tok-other", "fp", "same token"), ("tok-7", "fp-other", "batches differ")],
)
def test_resume_with_another_token_or_split_is_refused(token: str, fingerprint: str, needle: str) -> None:
    paused = with_status(_fresh(), PAUSED_FOR_APPROVAL, "wait")
    with pytest.raises(RolloutStateError, match=needle):
        begin_state(paused, "shop", "prod", RELEASE, token, fingerprint, 3, resume=True)


def test_resume_of_a_finished_rollout_is_refused() -> None:
    done = with_status(_fresh(), DONE, "done")
    with pytest.raises(RolloutStateError, match="only a running or paused rollout"):
        begin_state(done, "shop", "prod", RELEASE, "tok-7", "fp", 3, resume=True)


def test_a_failure_within_the_budget_finishes_the_batch_without_the_failed_host() -> None:
    state, verdict = record_batch(_fresh(), ["app2", "app3"], ["app3"], 1)
    assert not verdict.exceeded
    assert (state.batches_done, state.hosts_switched, state.failed_hosts) == (1, ("app2",), ("app3",))


def test_failures_add_up_over_batches_until_the_budget_is_exceeded() -> None:
    state, first = record_batch(_fresh(), ["app1"], ["app1"], 1)
    state, second = record_batch(state, ["app2", "app3"], ["app3"], 1)
    assert not first.exceeded and second.exceeded
    # The batch is not done, but its healthy host joins the hosts the abort must roll back.
    assert (state.batches_done, state.hosts_switched, state.failed_hosts) == (1, ("app2",), ("app1", "app3"))
    assert "2 failed host(s) (app1, app3), budget 1: exceeded" in state.message


def test_a_failed_host_outside_the_batch_is_an_error() -> None:
    with pytest.raises(RolloutStateError, match="not in the batch"):
        record_batch(_fresh(), ["app2"], ["app9"], 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_recorded_state_survives_a_write_and_read(backend: str, request: pytest.FixtureRequest, tmp_path: Any) -> None:
    state, _budget = record_batch(_fresh(), ["app1"], [], 0)
    settings = settings_for(backend, request, str(tmp_path / "ledger"))
    with open_store(settings) as store, store.transaction(write=True) as tx:
        write_state(tx, state)
    # Another connection (another controller, with PostgreSQL) reads the same state.
    with open_store(settings) as store, store.transaction() as tx:
        assert read_state(tx, "shop", "prod") == state


PLAN: dict[str, Any] = {
    "steps": [
        {"hosts": 1},
        {"analysis": {"url": "http://lb/metrics", "count": 2, "metrics": [{"name": "errors", "key": "errors", "success": "<= 1", "failure": "> 5"}]}},
        {"hosts": "100%"},
    ]
}


@pytest.mark.parametrize(
    ("bodies", "verdict"),
    [
        ([{"errors": 0}, {"errors": 1}], "success"),
        ([{"errors": 0}, {"errors": 9}], "failure"),
        ([{"errors": 0}, {"errors": 3}], "inconclusive"),
        ([{"errors": 0}, None], "inconclusive"),
        ([{"errors": 0}], "running"),
    ],
)
def test_the_analysis_event_judges_the_polled_bodies(bodies: list[Any], verdict: str) -> None:
    result = _judge({"rollout": PLAN, "step": 1, "measurements": bodies})
    assert result["verdict"] == verdict, result
    assert len(result["measurements"]) == len(bodies)


def test_the_analysis_event_refuses_a_step_that_is_no_analysis() -> None:
    result = _judge({"rollout": PLAN, "step": 0, "measurements": []})
    assert result["failed"] and "not the index of an analysis step" in result["msg"]
