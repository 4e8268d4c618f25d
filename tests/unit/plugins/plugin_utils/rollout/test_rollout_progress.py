# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a person reads during a gray release: the progress line per batch, the host table, the status view; and the host results behind them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ledger_kit import BACKENDS, settings_for

from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.progress import (
    describe_gate,
    next_step,
    progress_line,
    status_view,
    summary_table,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.state import (
    DONE,
    PAUSED_FOR_APPROVAL,
    ROLLED_BACK,
    PlannedGate,
    RolloutState,
    RolloutStateError,
    begin_state,
    read_state,
    record_batch,
    state_location,
    with_plan,
    with_rolled_back,
    with_status,
    write_state,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import open_store

RELEASE = "2.0.0-CHG-7-0123456789ab"
OLD = "1.9.0-CHG-6-ffffffffffff"
SLOTS = [f"slot{number}" for number in range(1, 12)]
# As rollout_plan returns them: 1 canary, 5, 5; a pause after batch 2, an approval after batch 1, an analysis after the last.
BATCHES: list[dict[str, Any]] = [
    {"number": 1, "hosts": SLOTS[:1], "target": "1", "cumulative": 1, "gates": [{"kind": "approval", "step": 1, "reason": "watch the canary"}]},
    {"number": 2, "hosts": SLOTS[1:6], "target": "50%", "cumulative": 6, "gates": [{"kind": "pause", "step": 3, "seconds": 30}]},
    {
        "number": 3,
        "hosts": SLOTS[6:],
        "target": "100%",
        "cumulative": 11,
        "gates": [
            {"kind": "analysis", "step": 5, "url": "http://m/", "count": 3, "interval": 10, "metrics": []},
            {"kind": "approval", "step": 6, "reason": "end"},
        ],
    },
]


def _started(allowed: int | None = 2) -> RolloutState:
    state = begin_state(None, "shop", "prod", RELEASE, "tok-7", "fp", len(BATCHES), resume=False)
    return with_plan(state, BATCHES, allowed)


def _result(gate: str, reason: str = "") -> dict[str, Any]:
    return {"from_release": OLD, "to_release": RELEASE, "gate": gate, "reason": reason}


def _batch(state: RolloutState, index: int, failed: list[str] | None = None, results: dict[str, Any] | None = None) -> tuple[RolloutState, str]:
    hosts = BATCHES[index]["hosts"]
    failed = failed or []
    given = results if results is not None else {host: _result("failed" if host in failed else "passed") for host in hosts}
    after, verdict = record_batch(state, hosts, failed, state.allowed_failures or 0, given)
    return after, progress_line(after, index + 1, hosts, failed, verdict.exceeded)


def test_progress_line_names_the_batch_the_hosts_the_budget_and_what_comes_next() -> None:
    state, first = _batch(_started(), 0)
    assert first == (
        "batch 1 of 3 done: switched 1 (slot1), healthy 1, failed 0, failure budget left 2 of 2; "
        "next: stop for approval (watch the canary), then batch 2 (5 hosts)"
    )
    state, second = _batch(state, 1)
    assert second == (
        "batch 2 of 3 done: switched 5 (slot2, slot3, slot4, ...), healthy 5, failed 0, failure budget left 2 of 2; next: pause 30 s, then batch 3 (5 hosts)"
    )


def test_the_last_batch_ends_with_its_steps_but_no_approval_stop() -> None:
    state, _line = _batch(_started(), 0)
    state, _line = _batch(state, 1)
    _state, last = _batch(state, 2, failed=["slot9"])
    assert last == (
        "batch 3 of 3 done: switched 4 (slot7, slot8, slot10, ...), healthy 4, failed 1 (slot9), failure budget left 1 of 2; "
        "next: analysis (3 measurement(s) every 10 s), then finish"
    )


def test_an_exceeded_budget_says_the_rollback_comes_next() -> None:
    state, _line = _batch(_started(allowed=0), 0)
    state, line = _batch(state, 1, failed=["slot3"])
    assert line == (
        "batch 2 of 3 failed: switched 4 (slot2, slot4, slot5, ...), healthy 4, failed 1 (slot3), failure budget exceeded (1 failed, 0 allowed); "
        "next: roll back the 5 hosts switched so far"
    )


def test_skipped_hosts_are_switched_but_not_healthy_and_without_a_plan_the_next_batch_is_a_number() -> None:
    state = begin_state(None, "shop", "prod", RELEASE, "tok-7", "fp", 2, resume=False)
    after, _verdict = record_batch(state, ["a", "b"], [], 1, {"b": {"gate": "skipped", "reason": "load balancer failed"}})
    assert progress_line(after, 1, ["a", "b"], []) == (
        "batch 1 of 2 done: switched 2 (a, b), healthy 1, failed 0, failure budget left 1 of 1; next: batch 2 of 2"
    )
    # No budget known (an older role): the line leaves it out.
    assert "budget" not in progress_line(replace(after, allowed_failures=None), 1, ["a", "b"], [])


@pytest.mark.parametrize(
    ("gate", "text"),
    [
        (PlannedGate("pause", 1, seconds=45), "pause 45 s"),
        (PlannedGate("weight", 2, percent=20), "weight 20% to the new release"),
        (PlannedGate("analysis", 3, count=5, interval=60), "analysis (5 measurement(s) every 60 s)"),
        (PlannedGate("approval", 4, reason="ask the SRE"), "stop for approval (ask the SRE)"),
    ],
)
def test_each_step_kind_in_words(gate: PlannedGate, text: str) -> None:
    assert describe_gate(gate) == text


def test_next_step_after_the_last_batch_without_steps_is_finish() -> None:
    state = with_plan(begin_state(None, "shop", "prod", RELEASE, "tok-7", "fp", 1, resume=False), [{"hosts": ["a"], "gates": []}], 0)
    assert next_step(state, 1) == "finish"


def test_summary_table_is_aligned_and_shows_unreached_hosts_and_rollbacks() -> None:
    state, _line = _batch(_started(), 0)
    state, _line = _batch(state, 1, failed=["slot4"], results={"slot4": {**_result("unreachable", "host slot4 unreachable (batch 2)")}})
    state = with_status(with_rolled_back(state, ["slot1", "slot2"]), ROLLED_BACK, "analysis failed")
    table = summary_table(state)
    assert table[0] == "HOST    OLD RELEASE               NEW RELEASE               GATE         ROLLED BACK"
    assert table[1] == f"slot1   {OLD}  {RELEASE}  passed       yes"
    # Given no result, a switched host still shows its new release; its old one is unknown.
    assert table[2] == f"slot2   -                         {RELEASE}  passed       yes"
    assert table[4] == f"slot4   {OLD}  {RELEASE}  unreachable  no"
    assert table[7] == "slot7   -                         -                         not reached  no"
    assert table[11] == "slot11  -                         -                         not reached  no"
    assert table[-1] == "11 hosts: 5 passed, 0 failed, 1 unreachable, 0 skipped, 5 not reached; 2 rolled back"
    # Every column starts where its header starts, on every row.
    starts = [table[0].index(title) for title in ("OLD RELEASE", "NEW RELEASE", "GATE", "ROLLED BACK")]
    for row in table[1:-1]:
        assert all(row[start - 2 : start] == "  " and row[start] != " " for start in starts), row


def test_summary_of_an_empty_fleet_has_the_header_and_zero_totals() -> None:
    state = begin_state(None, "shop", "prod", RELEASE, "tok-7", "fp", 0, resume=False)
    assert summary_table(state) == [
        "HOST  OLD RELEASE  NEW RELEASE  GATE  ROLLED BACK",
        "0 hosts: 0 passed, 0 failed, 0 unreachable, 0 skipped, 0 not reached; 0 rolled back",
    ]


def test_host_results_must_agree_with_the_failed_hosts() -> None:
    state = _started()
    with pytest.raises(RolloutStateError, match=r"host_results.slot1.gate is passed but the host is in failed_hosts"):
        record_batch(state, ["slot1"], ["slot1"], 2, {"slot1": _result("passed")})
    with pytest.raises(RolloutStateError, match=r"host_results.slot1.gate is failed but the host is not in failed_hosts"):
        record_batch(state, ["slot1"], [], 2, {"slot1": _result("failed")})
    with pytest.raises(RolloutStateError, match=r"names host\(s\) slot9 not in the batch"):
        record_batch(state, ["slot1"], [], 2, {"slot9": _result("passed")})
    with pytest.raises(RolloutStateError, match=r"unknown key\(s\) gates"):
        record_batch(state, ["slot1"], [], 2, {"slot1": {"gates": "passed"}})
    with pytest.raises(RolloutStateError, match="gate must be one of"):
        record_batch(state, ["slot1"], [], 2, {"slot1": {"gate": "ok"}})
    with pytest.raises(RolloutStateError, match="never switched"):
        with_rolled_back(state, ["slot1"])


def test_the_plan_must_match_the_batch_count() -> None:
    state = begin_state(None, "shop", "prod", RELEASE, "tok-7", "fp", 2, resume=False)
    with pytest.raises(RolloutStateError, match=r"batches lists 3 batch\(es\), the rollout has 2"):
        with_plan(state, BATCHES, 1)
    with pytest.raises(RolloutStateError, match="kind"):
        with_plan(state, [{"hosts": ["a"], "gates": [{"kind": "nap"}]}, {"hosts": ["b"]}], 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_version_2_round_trips_and_version_1_still_reads(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    state, line = _batch(_started(), 0)
    state = with_status(replace(state, last_progress=line), PAUSED_FOR_APPROVAL, "waiting for approval after batch 1 of 3")
    with open_store(settings_for(backend, request, str(tmp_path / "ledger"))) as store:
        with store.transaction(write=True) as tx:
            write_state(tx, state)
        with store.transaction() as tx:
            assert read_state(tx, "shop", "prod") == state
            stored = json.loads(tx.row("SELECT document FROM rollout_states")[0])
        assert stored["version"] == 2 and stored["host_results"]["slot1"]["from_release"] == OLD
        old = {key: stored[key] for key in stored if key not in ("plan", "allowed_failures", "host_results", "last_progress", "lb_weights_before")}
        with store.transaction(write=True) as tx:
            tx.execute("UPDATE rollout_states SET document = ?", (json.dumps({**old, "version": 1}),))
        with store.transaction() as tx:
            legacy = read_state(tx, "shop", "prod")
    assert legacy is not None and legacy.plan == () and legacy.host_results == {} and legacy.allowed_failures is None
    assert legacy.lb_weights_before == {}
    # A version 1 state's switched hosts still show, and can be marked rolled back.
    assert summary_table(with_rolled_back(legacy, ["slot1"]))[1] == f"slot1  -            {RELEASE}  passed  yes"


def test_status_view_shows_the_token_id_the_table_and_how_to_resume() -> None:
    state, line = _batch(_started(), 0)
    state = with_status(replace(state, last_progress=line), PAUSED_FOR_APPROVAL, "waiting for approval after batch 1 of 3")
    where = state_location("postgresql://opsgate@db:5432/opsgate", "shop", "prod")
    view = status_view(state, where)
    assert view[:4] == ["rollout shop / prod: paused_for_approval", f"release:  {RELEASE}", "token id: tok-7", "batch:    1 of 3 done"]
    assert f"last batch: {line}" in view
    assert any(text.startswith("to resume: get the approval, then run the same playbook with -e opsgate_rollout_resume=true") for text in view)
    assert view[-1] == "state:    postgresql://opsgate@db:5432/opsgate (rollout_states shop/prod)"
    done = status_view(with_status(state, DONE, "finished"), "/x")
    assert not any(text.startswith("to resume") for text in done)
