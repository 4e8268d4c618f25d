# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import copy
from typing import Any

import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.plan import RolloutPlanError, validate_rollout

GOOD: dict[str, Any] = {
    "steps": [
        {"hosts": 1},
        {"pause": {"seconds": 5}},
        {
            "analysis": {
                "url": "http://lb:8080/metrics",
                "metrics": [{"name": "error_rate", "jmespath": "errors.rate", "success": "<= 0.01", "failure": "> 0.05"}],
                "count": 2,
            }
        },
        {"hosts": "50%"},
        {"approval": {"reason": "look at the dashboards"}},
        {"hosts": "100%"},
    ],
    "health": {"interval": 2, "consecutive_successes": 3, "failure_limit": 1, "timeout": 60},
    "failure_budget": "20%",
}


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    plan = copy.deepcopy(GOOD)
    target: Any = plan
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return plan


def test_good_plan_is_read_into_typed_steps() -> None:
    plan = validate_rollout(GOOD)
    assert [step.kind for step in plan.steps] == ["hosts", "pause", "analysis", "hosts", "approval", "hosts"]
    assert plan.steps[0].hosts is not None and plan.steps[0].hosts.count == 1
    assert plan.steps[3].hosts is not None and plan.steps[3].hosts.percent == 50
    analysis = plan.steps[2].analysis
    assert analysis is not None and analysis.count == 2 and analysis.metrics[0].success is not None
    assert analysis.metrics[0].success.holds(0.01) and not analysis.metrics[0].success.holds(0.02)
    assert plan.health.consecutive_successes == 3 and plan.health.timeout == 60
    assert plan.failure_budget.percent == 20 and plan.failure_budget.count is None


def test_defaults_fill_health_and_budget() -> None:
    plan = validate_rollout({"steps": [{"hosts": "100%"}]})
    assert plan.health.interval == 5 and plan.health.failure_limit == 3
    assert plan.failure_budget.count == 0


# Each bad plan: (plan, key path the error must name, a fragment of the message that names the value or rule).
BAD_PLANS: list[tuple[str, Any, str, str]] = [
    ("not a mapping", ["steps"], "opsgate_rollout", "must be a mapping (got ['steps'])"),
    ("unknown top key", {**GOOD, "stepz": []}, "opsgate_rollout.stepz", "unknown key"),
    ("steps missing", {"health": {}}, "opsgate_rollout.steps", "non-empty list"),
    ("steps empty", _with(["steps"], []), "opsgate_rollout.steps", "non-empty list"),
    ("step not a mapping", _with(["steps", 1], "pause"), "opsgate_rollout.steps[1]", "must be a mapping (got 'pause')"),
    ("unknown step kind", _with(["steps", 1], {"setCanaryScale": 20}), "opsgate_rollout.steps[1].setCanaryScale", "unknown step kind"),
    ("two kinds in a step", _with(["steps", 1], {"pause": {"seconds": 1}, "hosts": 2}), "opsgate_rollout.steps[1]", "exactly one of"),
    ("zero hosts", _with(["steps", 0], {"hosts": 0}), "opsgate_rollout.steps[0].hosts", "got 0"),
    ("negative hosts", _with(["steps", 0], {"hosts": -2}), "opsgate_rollout.steps[0].hosts", "got -2"),
    ("hosts as bool", _with(["steps", 0], {"hosts": True}), "opsgate_rollout.steps[0].hosts", "got True"),
    ("percent over 100", _with(["steps", 3], {"hosts": "150%"}), "opsgate_rollout.steps[3].hosts", "'150%'"),
    ("percent zero", _with(["steps", 3], {"hosts": "0%"}), "opsgate_rollout.steps[3].hosts", "'0%'"),
    ("hosts word", _with(["steps", 3], {"hosts": "half"}), "opsgate_rollout.steps[3].hosts", "'half'"),
    ("last not 100%", _with(["steps", 5], {"hosts": "90%"}), "opsgate_rollout.steps[5].hosts", 'must be "100%"'),
    ("last a count", _with(["steps", 5], {"hosts": 6}), "opsgate_rollout.steps[5].hosts", "got '6'"),
    ("targets shrink", _with(["steps", 3], {"hosts": 1}), "opsgate_rollout.steps[3].hosts", "must grow: '1' after '1'"),
    ("first is a pause", {"steps": [{"pause": {"seconds": 1}}, {"hosts": "100%"}]}, "opsgate_rollout.steps[0]", "got a pause step"),
    ("no hosts step", {"steps": [{"approval": {"reason": "x"}}]}, "opsgate_rollout.steps", "no hosts step"),
    ("pause without seconds", _with(["steps", 1], {"pause": {}}), "opsgate_rollout.steps[1].pause.seconds", "never wait for input"),
    ("pause seconds text", _with(["steps", 1], {"pause": {"seconds": "soon"}}), "opsgate_rollout.steps[1].pause.seconds", "'soon'"),
    ("pause too long", _with(["steps", 1], {"pause": {"seconds": 90000}}), "opsgate_rollout.steps[1].pause.seconds", "90000"),
    ("pause unknown key", _with(["steps", 1], {"pause": {"duration": "1m"}}), "opsgate_rollout.steps[1].pause.duration", "unknown key"),
    ("approval no reason", _with(["steps", 4], {"approval": {}}), "opsgate_rollout.steps[4].approval.reason", "is required"),
    ("approval blank reason", _with(["steps", 4], {"approval": {"reason": "  "}}), "opsgate_rollout.steps[4].approval.reason", "non-empty"),
    ("analysis no url", _with(["steps", 2, "analysis", "url"], None), "opsgate_rollout.steps[2].analysis.url", "None"),
    ("analysis ftp url", _with(["steps", 2, "analysis", "url"], "ftp://x/m"), "opsgate_rollout.steps[2].analysis.url", "'ftp://x/m'"),
    ("analysis no metrics", _with(["steps", 2, "analysis", "metrics"], []), "opsgate_rollout.steps[2].analysis.metrics", "non-empty list"),
    (
        "metric without name",
        _with(["steps", 2, "analysis", "metrics", 0], {"key": "rate", "success": "< 1"}),
        "opsgate_rollout.steps[2].analysis.metrics[0].name",
        "is required",
    ),
    (
        "metric with both jmespath and key",
        _with(["steps", 2, "analysis", "metrics", 0], {"name": "r", "key": "rate", "jmespath": "rate", "success": "< 1"}),
        "opsgate_rollout.steps[2].analysis.metrics[0]",
        "exactly one of jmespath or key",
    ),
    (
        "metric bad jmespath",
        _with(["steps", 2, "analysis", "metrics", 0], {"name": "r", "jmespath": "errors[", "success": "< 1"}),
        "opsgate_rollout.steps[2].analysis.metrics[0].jmespath",
        "'errors['",
    ),
    (
        "metric bad condition",
        _with(["steps", 2, "analysis", "metrics", 0], {"name": "r", "key": "rate", "success": "about 0.01"}),
        "opsgate_rollout.steps[2].analysis.metrics[0].success",
        "'about 0.01'",
    ),
    (
        "metric failure not a string",
        _with(["steps", 2, "analysis", "metrics", 0], {"name": "r", "key": "rate", "failure": 0.05}),
        "opsgate_rollout.steps[2].analysis.metrics[0].failure",
        "0.05",
    ),
    (
        "metric without conditions",
        _with(["steps", 2, "analysis", "metrics", 0], {"name": "r", "key": "rate"}),
        "opsgate_rollout.steps[2].analysis.metrics[0]",
        "needs a success or a failure condition",
    ),
    (
        "duplicate metric names",
        _with(["steps", 2, "analysis", "metrics"], [{"name": "r", "key": "a", "success": "< 1"}, {"name": "r", "key": "b", "success": "< 1"}]),
        "opsgate_rollout.steps[2].analysis.metrics",
        "'r' appears twice",
    ),
    ("analysis count zero", _with(["steps", 2, "analysis", "count"], 0), "opsgate_rollout.steps[2].analysis.count", "got 0"),
    ("analysis unknown key", _with(["steps", 2, "analysis", "query"], "x"), "opsgate_rollout.steps[2].analysis.query", "unknown key"),
    ("analysis validate_certs", _with(["steps", 2, "analysis", "validate_certs"], "no"), "opsgate_rollout.steps[2].analysis.validate_certs", "'no'"),
    ("health not a mapping", _with(["health"], 5), "opsgate_rollout.health", "must be a mapping (got 5)"),
    ("health unknown key", _with(["health", "retries"], 3), "opsgate_rollout.health.retries", "unknown key"),
    ("health interval zero", _with(["health", "interval"], 0), "opsgate_rollout.health.interval", "got 0"),
    ("health successes zero", _with(["health", "consecutive_successes"], 0), "opsgate_rollout.health.consecutive_successes", "got 0"),
    ("health failure_limit negative", _with(["health", "failure_limit"], -1), "opsgate_rollout.health.failure_limit", "got -1"),
    ("health timeout too short", _with(["health", "timeout"], 3), "opsgate_rollout.health.timeout", "3s cannot fit 3 consecutive successes"),
    ("budget negative", _with(["failure_budget"], -1), "opsgate_rollout.failure_budget", "got -1"),
    ("budget word", _with(["failure_budget"], "some"), "opsgate_rollout.failure_budget", "'some'"),
    ("budget over 100%", _with(["failure_budget"], "120%"), "opsgate_rollout.failure_budget", "'120%'"),
]


@pytest.mark.parametrize(("plan", "path", "fragment"), [case[1:] for case in BAD_PLANS], ids=[case[0] for case in BAD_PLANS])
def test_bad_plan_names_key_path_and_value(plan: Any, path: str, fragment: str) -> None:
    with pytest.raises(RolloutPlanError) as caught:
        validate_rollout(plan)
    assert caught.value.path == path
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f"{path}: ")


def test_every_bad_plan_has_its_own_message() -> None:
    messages = []
    for _case, plan, _path, _message in BAD_PLANS:
        with pytest.raises(RolloutPlanError) as caught:
            validate_rollout(plan)
        messages.append(str(caught.value))
    assert len(set(messages)) == len(messages)


@pytest.mark.parametrize(
    ("plan", "path"),
    [
        ({"steps": [{"hosts": "2"}, {"hosts": "100%"}]}, "opsgate_rollout.steps[0].hosts"),
        ({"steps": [{"hosts": 1}, {"pause": {"seconds": "30"}}, {"hosts": "100%"}]}, "opsgate_rollout.steps[1].pause.seconds"),
        ({"steps": [{"hosts": 1}, {"hosts": "100%"}], "failure_budget": "1"}, "opsgate_rollout.failure_budget"),
        ({"steps": [{"hosts": 1}, {"hosts": "100%"}], "health": {"interval": "30"}}, "opsgate_rollout.health.interval"),
    ],
)
def test_string_numbers_are_refused_with_the_path(plan: Any, path: str) -> None:
    # One agreement across every schema (issue 13): "30" is text, not an integer.
    with pytest.raises(RolloutPlanError) as caught:
        validate_rollout(plan)
    assert [issue.path for issue in caught.value.errors] == [path]
    assert "(got '" in str(caught.value)


def test_three_errors_are_reported_together() -> None:
    plan = _with(["steps", 1], {"pause": {"seconds": "30"}})
    plan["steps"][2]["analysis"]["metrics"][0]["success"] = "about 1"
    plan["health"] = {"interval": 0}
    with pytest.raises(RolloutPlanError) as caught:
        validate_rollout(plan)
    assert [issue.path for issue in caught.value.errors] == [
        "opsgate_rollout.steps[1].pause.seconds",
        "opsgate_rollout.steps[2].analysis.metrics[0].success",
        "opsgate_rollout.health.interval",
    ]
    assert caught.value.path == "opsgate_rollout.steps[1].pause.seconds"
    assert len(str(caught.value).splitlines()) == 3


def test_set_weight_follows_a_hosts_step() -> None:
    plan = validate_rollout({"steps": [{"hosts": 1}, {"setWeight": 10}, {"pause": {"seconds": 60}}, {"hosts": "50%"}, {"setWeight": 50}, {"hosts": "100%"}]})
    weights = [(step.index, step.kind, step.weight_percent) for step in plan.steps if step.weight_percent is not None]
    assert weights == [(1, "setWeight", 10), (4, "setWeight", 50)]


@pytest.mark.parametrize(
    ("steps", "path", "fragment"),
    [
        ([{"setWeight": 10}, {"hosts": 1}, {"hosts": "100%"}], "opsgate_rollout.steps[0].setWeight", "must follow a hosts step"),
        ([{"hosts": 1}, {"hosts": "100%"}, {"setWeight": 10}], "opsgate_rollout.steps[2].setWeight", "must come before the last hosts step (steps[1])"),
        ([{"hosts": 1}, {"setWeight": 0}, {"hosts": "100%"}], "opsgate_rollout.steps[1].setWeight", "must be an integer from 1 to 99 (got 0)"),
        ([{"hosts": 1}, {"setWeight": 100}, {"hosts": "100%"}], "opsgate_rollout.steps[1].setWeight", "must be an integer from 1 to 99 (got 100)"),
        ([{"hosts": 1}, {"setWeight": "20"}, {"hosts": "100%"}], "opsgate_rollout.steps[1].setWeight", "must be an integer from 1 to 99 (got '20')"),
        ([{"hosts": 1}, {"setWeight": 20, "pause": {"seconds": 1}}, {"hosts": "100%"}], "opsgate_rollout.steps[1]", "exactly one of"),
    ],
)
def test_bad_set_weight_names_its_path(steps: list[Any], path: str, fragment: str) -> None:
    with pytest.raises(RolloutPlanError) as caught:
        validate_rollout({"steps": steps})
    assert path in [issue.path for issue in caught.value.errors]
    assert fragment in str(caught.value)
