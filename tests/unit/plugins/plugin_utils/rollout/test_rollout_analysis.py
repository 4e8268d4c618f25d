# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.analysis import (
    FAILURE,
    INCONCLUSIVE,
    RUNNING,
    SUCCESS,
    judge_analysis,
    judge_measurement,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.plan import Analysis, validate_rollout


def _analysis(metrics: list[dict[str, Any]], **settings: Any) -> Analysis:
    plan = validate_rollout({"steps": [{"hosts": 1}, {"analysis": {"url": "http://lb/metrics", "metrics": metrics, **settings}}, {"hosts": "100%"}]})
    analysis = plan.steps[1].analysis
    assert analysis is not None
    return analysis


BOTH = [{"name": "error_rate", "jmespath": "http.error_rate", "success": "<= 0.01", "failure": "> 0.05"}]


@pytest.mark.parametrize(
    ("body", "verdict"),
    [
        ({"http": {"error_rate": 0.0}}, SUCCESS),
        ({"http": {"error_rate": 0.01}}, SUCCESS),
        ({"http": {"error_rate": 0.03}}, INCONCLUSIVE),
        ({"http": {"error_rate": 0.05}}, INCONCLUSIVE),
        ({"http": {"error_rate": 0.0501}}, FAILURE),
        ({"http": {"error_rate": "0.2"}}, FAILURE),
        ({"http": {}}, INCONCLUSIVE),
        ({"http": {"error_rate": "n/a"}}, INCONCLUSIVE),
        ({"http": {"error_rate": True}}, INCONCLUSIVE),
        ("not json at all", INCONCLUSIVE),
    ],
)
def test_measurement_with_both_conditions(body: Any, verdict: str) -> None:
    assert judge_measurement(_analysis(BOTH).metrics, body).verdict == verdict


def test_only_success_condition_fails_when_missed() -> None:
    metrics = _analysis([{"name": "p99", "key": "latency.p99_ms", "success": "< 250"}]).metrics
    assert judge_measurement(metrics, {"latency": {"p99_ms": 120}}).verdict == SUCCESS
    missed = judge_measurement(metrics, {"latency": {"p99_ms": 400}})
    assert missed.verdict == FAILURE and "p99=400 misses success condition < 250" in missed.metrics[0].reason


def test_only_failure_condition_succeeds_when_not_met() -> None:
    metrics = _analysis([{"name": "errors", "key": "errors_5xx", "failure": ">= 1"}]).metrics
    assert judge_measurement(metrics, {"errors_5xx": 0}).verdict == SUCCESS
    assert judge_measurement(metrics, {"errors_5xx": 3}).verdict == FAILURE


def test_dotted_key_found_literally_first() -> None:
    metrics = _analysis([{"name": "r", "key": "a.b", "success": "== 1"}]).metrics
    assert judge_measurement(metrics, {"a.b": 1, "a": {"b": 2}}).verdict == SUCCESS
    assert judge_measurement(metrics, {"a": {"b": 1}}).verdict == SUCCESS


def test_one_failing_metric_fails_the_measurement() -> None:
    metrics = _analysis([*BOTH, {"name": "p99", "key": "p99", "success": "< 250"}]).metrics
    measurement = judge_measurement(metrics, {"http": {"error_rate": 0.0}, "p99": 900})
    assert measurement.verdict == FAILURE
    assert [m.verdict for m in measurement.metrics] == [SUCCESS, FAILURE]


def _run(analysis: Analysis, rates: list[float | None]) -> str:
    bodies = [{"http": {} if rate is None else {"error_rate": rate}} for rate in rates]
    return judge_analysis(analysis, [judge_measurement(analysis.metrics, body) for body in bodies]).verdict


def test_analysis_verdict_over_measurements() -> None:
    strict = _analysis(BOTH, count=3)
    assert _run(strict, [0.0, 0.0]) == RUNNING
    assert _run(strict, [0.0, 0.0, 0.0]) == SUCCESS
    assert _run(strict, [0.0, 0.2]) == FAILURE
    assert _run(strict, [0.0, 0.03]) == INCONCLUSIVE
    assert _run(strict, [None]) == INCONCLUSIVE
    tolerant = _analysis(BOTH, count=4, failure_limit=1, inconclusive_limit=1)
    assert _run(tolerant, [0.2, 0.03, 0.0, 0.0]) == SUCCESS
    assert _run(tolerant, [0.2, 0.0, 0.3]) == FAILURE
    assert _run(tolerant, [0.03, 0.0, None]) == INCONCLUSIVE


def test_failure_reason_names_metric_value_and_threshold() -> None:
    analysis = _analysis(BOTH, count=1)
    verdict = judge_analysis(analysis, [judge_measurement(analysis.metrics, {"http": {"error_rate": 0.25}})])
    assert verdict.verdict == FAILURE
    assert "error_rate=0.25 meets failure condition > 0.05" in verdict.reason and "failure_limit 0" in verdict.reason
