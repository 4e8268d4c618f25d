# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.batches import batches_fingerprint, plan_batches
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.failure_budget import allowed_failures, judge_failures
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.plan import FailureBudget, RolloutPlanError, validate_rollout

SIX = [f"app{number}" for number in range(1, 7)]


def _batches(hosts: list[str], steps: list[dict[str, Any]]) -> list[list[str]]:
    return [list(batch.hosts) for batch in plan_batches(hosts, validate_rollout({"steps": steps}).steps)]


def test_six_hosts_one_half_all() -> None:
    assert _batches(SIX, [{"hosts": 1}, {"hosts": "50%"}, {"hosts": "100%"}]) == [["app1"], ["app2", "app3"], ["app4", "app5", "app6"]]


def test_one_host_makes_one_batch_and_keeps_every_gate() -> None:
    steps = [{"hosts": 1}, {"pause": {"seconds": 1}}, {"hosts": "50%"}, {"approval": {"reason": "check"}}, {"hosts": "100%"}]
    batches = plan_batches(["only"], validate_rollout({"steps": steps}).steps)
    assert [list(b.hosts) for b in batches] == [["only"]]
    assert [gate.kind for gate in batches[0].gates] == ["pause", "approval"]


def test_percentages_round_up_so_no_batch_is_empty() -> None:
    # 25% of 6 = 1.5 -> 2; 50% -> 3; 75% = 4.5 -> 5.
    assert _batches(SIX, [{"hosts": "25%"}, {"hosts": "50%"}, {"hosts": "75%"}, {"hosts": "100%"}]) == [
        ["app1", "app2"],
        ["app3"],
        ["app4", "app5"],
        ["app6"],
    ]


def test_target_adding_no_host_makes_no_batch_and_moves_its_gates() -> None:
    steps = [{"hosts": 1}, {"hosts": "10%"}, {"pause": {"seconds": 7}}, {"hosts": "100%"}]
    batches = plan_batches(SIX, validate_rollout({"steps": steps}).steps)
    assert [list(b.hosts) for b in batches] == [["app1"], SIX[1:]]
    assert [b.number for b in batches] == [1, 2]
    assert batches[0].gates[0].pause_seconds == 7
    assert all(batch.hosts for batch in batches)


def test_count_larger_than_fleet_is_capped() -> None:
    assert _batches(["a", "b"], [{"hosts": 5}, {"hosts": "100%"}]) == [["a", "b"]]


def test_order_is_the_play_order_and_duplicates_drop() -> None:
    hosts = ["web3", "web1", "web3", "web2"]
    assert _batches(hosts, [{"hosts": 1}, {"hosts": "100%"}]) == [["web3"], ["web1", "web2"]]


def test_batches_cover_every_host_exactly_once_for_many_fleets() -> None:
    steps = [{"hosts": 1}, {"hosts": "10%"}, {"hosts": "33%"}, {"hosts": "50%"}, {"hosts": "100%"}]
    for size in range(1, 60):
        hosts = [f"h{n:02d}" for n in range(size)]
        batches = _batches(hosts, steps)
        flat = [host for batch in batches for host in batch]
        assert flat == hosts, size
        assert batches[0] == ["h00"]
        assert all(batch for batch in batches)


def test_empty_fleet_is_refused() -> None:
    with pytest.raises(RolloutPlanError, match="no hosts to release to"):
        plan_batches([], validate_rollout({"steps": [{"hosts": "100%"}]}).steps)


def test_batches_serialise_with_their_gates() -> None:
    steps = [
        {"hosts": 1},
        {"analysis": {"url": "http://lb/m", "metrics": [{"name": "err", "key": "errors", "failure": "> 0"}]}},
        {"hosts": "100%"},
    ]
    first = plan_batches(SIX, validate_rollout({"steps": steps}).steps)[0].as_dict()
    assert first["hosts"] == ["app1"] and first["target"] == "1" and first["cumulative"] == 1
    gate = first["gates"][0]
    assert gate["kind"] == "analysis" and gate["metrics"][0]["failure"] == "> 0" and gate["metrics"][0]["success"] is None


def test_fingerprint_follows_the_host_split() -> None:
    steps = validate_rollout({"steps": [{"hosts": 1}, {"hosts": "100%"}]}).steps
    same = batches_fingerprint(plan_batches(SIX, steps))
    assert same == batches_fingerprint(plan_batches(list(SIX), steps))
    assert same != batches_fingerprint(plan_batches(SIX[:5], steps))
    assert same != batches_fingerprint(plan_batches(list(reversed(SIX)), steps))


@pytest.mark.parametrize(
    ("budget", "fleet", "allowed"),
    [
        (FailureBudget(count=0), 6, 0),
        (FailureBudget(count=2), 6, 2),
        (FailureBudget(count=9), 6, 6),
        (FailureBudget(percent=10), 6, 0),
        (FailureBudget(percent=20), 6, 1),
        (FailureBudget(percent=50), 7, 3),
        (FailureBudget(percent=100), 4, 4),
        (FailureBudget(percent=5), 20, 1),
    ],
)
def test_allowed_failures_rounds_down(budget: FailureBudget, fleet: int, allowed: int) -> None:
    assert allowed_failures(budget, fleet) == allowed


def test_budget_verdict_counts_distinct_hosts() -> None:
    within = judge_failures(FailureBudget(count=1), 6, ["app4", "app4"])
    assert not within.exceeded and within.describe() == "1 failed host(s) (app4), budget 1: within budget"
    over = judge_failures(FailureBudget(percent=20), 6, ["app4", "app5"])
    assert over.exceeded and over.allowed == 1 and "exceeded" in over.describe()
    assert not judge_failures(FailureBudget(count=0), 6, []).exceeded
    assert judge_failures(FailureBudget(count=0), 6, ["app1"]).exceeded


def test_set_weight_is_a_gate_of_the_batch_it_follows() -> None:
    steps = [{"hosts": 1}, {"setWeight": 10}, {"pause": {"seconds": 60}}, {"hosts": "50%"}, {"setWeight": 50}, {"hosts": "100%"}]
    batches = [batch.as_dict() for batch in plan_batches(SIX, validate_rollout({"steps": steps}).steps)]
    assert batches[0]["gates"] == [{"kind": "weight", "step": 1, "percent": 10}, {"kind": "pause", "step": 2, "seconds": 60}]
    assert batches[1]["gates"] == [{"kind": "weight", "step": 4, "percent": 50}]
    assert batches[2]["gates"] == []


def test_set_weight_after_the_whole_fleet_is_switched_is_refused() -> None:
    # Valid as a plan, but 2 hosts are the whole of this fleet: no traffic is left to split.
    steps = validate_rollout({"steps": [{"hosts": 2}, {"setWeight": 30}, {"hosts": "100%"}]}).steps
    with pytest.raises(RolloutPlanError) as caught:
        plan_batches(["a", "b"], steps)
    assert caught.value.path == "steps[1].setWeight"
    assert "all 2 hosts" in str(caught.value)


def test_fingerprint_follows_the_weights_and_is_unchanged_without_them() -> None:
    plain = validate_rollout({"steps": [{"hosts": 1}, {"hosts": "100%"}]}).steps
    ten = validate_rollout({"steps": [{"hosts": 1}, {"setWeight": 10}, {"hosts": "100%"}]}).steps
    twenty = validate_rollout({"steps": [{"hosts": 1}, {"setWeight": 20}, {"hosts": "100%"}]}).steps
    # The fingerprint a paused rollout stored before setWeight existed: the host lists alone.
    assert batches_fingerprint(plan_batches(SIX, plain)) == "e2edcdddc2f0c713f4112247b89bc7c33b2cfe22491836b2e1daa61fe0660e59"
    fingerprints = {batches_fingerprint(plan_batches(SIX, steps)) for steps in (plain, ten, twenty)}
    assert len(fingerprints) == 3
