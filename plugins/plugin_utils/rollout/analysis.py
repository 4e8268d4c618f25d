# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Analysis verdicts from metric values, with Argo Rollouts' semantics.

One measurement (one poll of the metrics endpoint) judges each metric:

- the failure condition holds → failure;
- the success condition holds → success;
- only a success condition is given and it does not hold → failure;
- only a failure condition is given and it does not hold → success;
- both are given and neither holds, or the value is missing or not a number → inconclusive.

Over ``count`` measurements the analysis fails once failures exceed ``failure_limit``, is
inconclusive once inconclusive measurements exceed ``inconclusive_limit`` (the rollout then
stops for an approval), and succeeds otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .plan import Analysis, Metric

SUCCESS = "success"
FAILURE = "failure"
INCONCLUSIVE = "inconclusive"
RUNNING = "running"
_MISSING = object()


@dataclass(frozen=True)
class MetricResult:
    name: str
    value: float | None
    verdict: str
    reason: str


@dataclass(frozen=True)
class Measurement:
    verdict: str
    metrics: tuple[MetricResult, ...]


@dataclass(frozen=True)
class AnalysisVerdict:
    verdict: str
    measurements: int
    failures: int
    inconclusive: int
    reason: str


def _lookup(metric: Metric, body: Any) -> Any:
    if metric.jmespath is not None:
        import jmespath

        return jmespath.search(metric.jmespath, body)
    value: Any = body
    if not (metric.key is not None):  # validated plans never get here
        raise ValueError("internal: unvalidated rollout plan (metric.key is not None)")
    # "a.b" walks nested objects; a key holding a dot itself is found first.
    if isinstance(value, Mapping) and metric.key in value:
        return value[metric.key]
    for part in metric.key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool) or raw is _MISSING or raw is None:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def judge_metric(metric: Metric, body: Any) -> MetricResult:
    raw = _lookup(metric, body)
    value = _number(raw)
    if value is None:
        found = "missing" if raw is _MISSING or raw is None else f"not a number: {raw!r}"
        return MetricResult(metric.name, None, INCONCLUSIVE, f"{metric.name} is {found}")
    if metric.failure is not None and metric.failure.holds(value):
        return MetricResult(metric.name, value, FAILURE, f"{metric.name}={value:g} meets failure condition {metric.failure.describe()}")
    if metric.success is not None and metric.success.holds(value):
        return MetricResult(metric.name, value, SUCCESS, f"{metric.name}={value:g} meets success condition {metric.success.describe()}")
    if metric.failure is None:
        if not (metric.success is not None):  # validated plans never get here
            raise ValueError("internal: unvalidated rollout plan (metric.success is not None)")
        return MetricResult(metric.name, value, FAILURE, f"{metric.name}={value:g} misses success condition {metric.success.describe()}")
    if metric.success is None:
        return MetricResult(metric.name, value, SUCCESS, f"{metric.name}={value:g} does not meet failure condition {metric.failure.describe()}")
    return MetricResult(
        metric.name,
        value,
        INCONCLUSIVE,
        f"{metric.name}={value:g} meets neither success {metric.success.describe()} nor failure {metric.failure.describe()}",
    )


def judge_measurement(metrics: Sequence[Metric], body: Any) -> Measurement:
    """One poll: failure if any metric fails, else inconclusive if any is, else success."""
    results = tuple(judge_metric(metric, body) for metric in metrics)
    verdicts = {result.verdict for result in results}
    verdict = FAILURE if FAILURE in verdicts else INCONCLUSIVE if INCONCLUSIVE in verdicts else SUCCESS
    return Measurement(verdict, results)


def judge_analysis(analysis: Analysis, measurements: Sequence[Measurement]) -> AnalysisVerdict:
    """The verdict so far; ``running`` while fewer than ``count`` measurements exist and no limit is crossed yet."""
    failures = [m for m in measurements if m.verdict == FAILURE]
    unsure = [m for m in measurements if m.verdict == INCONCLUSIVE]
    if len(failures) > analysis.failure_limit:
        reasons = "; ".join(r.reason for r in failures[-1].metrics if r.verdict == FAILURE)
        return AnalysisVerdict(
            FAILURE, len(measurements), len(failures), len(unsure), f"{len(failures)} failed measurement(s) > failure_limit {analysis.failure_limit}: {reasons}"
        )
    if len(unsure) > analysis.inconclusive_limit:
        reasons = "; ".join(r.reason for r in unsure[-1].metrics if r.verdict == INCONCLUSIVE)
        return AnalysisVerdict(
            INCONCLUSIVE,
            len(measurements),
            len(failures),
            len(unsure),
            f"{len(unsure)} inconclusive measurement(s) > inconclusive_limit {analysis.inconclusive_limit}: {reasons}",
        )
    if len(measurements) < analysis.count:
        return AnalysisVerdict(RUNNING, len(measurements), len(failures), len(unsure), f"{len(measurements)} of {analysis.count} measurements taken")
    return AnalysisVerdict(
        SUCCESS, len(measurements), len(failures), len(unsure), f"{len(measurements)} measurement(s), {len(failures)} failed, {len(unsure)} inconclusive"
    )
