# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``opsgate_rollout``: the gray-release plan in Argo Rollouts' step vocabulary, validated before any host is touched.

Every error names the key path (``opsgate_rollout.steps[2].analysis.metrics[0].success``) and the value found.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.schema.engine import Field, Issues, Schema, SchemaError, SchemaIssue, collect

ROLLOUT_VAR = "opsgate_rollout"

_STEP_KINDS = ("hosts", "pause", "analysis", "approval", "setWeight")
_PERCENT = re.compile(r"\s*(\d{1,3})\s*%\s*")
_CONDITION = re.compile(r"\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

DEFAULT_HEALTH = {"interval": 5, "consecutive_successes": 3, "failure_limit": 3, "timeout": 300}
DEFAULT_ANALYSIS = {"interval": 10, "count": 3, "failure_limit": 0, "inconclusive_limit": 0, "timeout": 10}


class RolloutPlanError(SchemaError):
    """Every problem of a plan, one per line; ``path`` is the first one's key path."""

    def __init__(self, path: str | list[SchemaIssue], message: str = "") -> None:
        super().__init__([SchemaIssue(path, message)] if isinstance(path, str) else path)


@dataclass(frozen=True)
class HostTarget:
    """Cumulative share of the fleet switched once this step ends: a host count or a percentage."""

    count: int | None = None
    percent: int | None = None

    def hosts_for(self, fleet_size: int) -> int:
        if self.count is not None:
            return min(self.count, fleet_size)
        if not (self.percent is not None):  # validated plans never get here
            raise ValueError("internal: unvalidated rollout plan (self.percent is not None)")
        # Rounded up, so "25%" of 6 hosts is 2, never 1.5 or an empty batch.
        return min(fleet_size, -(-self.percent * fleet_size // 100))

    def describe(self) -> str:
        return str(self.count) if self.count is not None else f"{self.percent}%"


@dataclass(frozen=True)
class Condition:
    operator: str
    threshold: float

    def holds(self, value: float) -> bool:
        return {
            "<=": value <= self.threshold,
            "<": value < self.threshold,
            ">=": value >= self.threshold,
            ">": value > self.threshold,
            "==": value == self.threshold,
            "!=": value != self.threshold,
        }[self.operator]

    def describe(self) -> str:
        return f"{self.operator} {self.threshold:g}"


@dataclass(frozen=True)
class Metric:
    name: str
    jmespath: str | None
    key: str | None
    success: Condition | None
    failure: Condition | None


@dataclass(frozen=True)
class Analysis:
    url: str
    metrics: tuple[Metric, ...]
    interval: int
    count: int
    failure_limit: int
    inconclusive_limit: int
    timeout: int
    validate_certs: bool


@dataclass(frozen=True)
class Step:
    """One plan step; exactly one of the fields is set."""

    index: int
    hosts: HostTarget | None = None
    pause_seconds: int | None = None
    analysis: Analysis | None = None
    approval_reason: str | None = None
    # setWeight: the percent of traffic the hosts switched so far receive until the next batch starts.
    weight_percent: int | None = None

    @property
    def kind(self) -> str:
        if self.hosts is not None:
            return "hosts"
        if self.pause_seconds is not None:
            return "pause"
        if self.analysis is not None:
            return "analysis"
        if self.weight_percent is not None:
            return "setWeight"
        return "approval"


@dataclass(frozen=True)
class HealthSettings:
    interval: int
    consecutive_successes: int
    failure_limit: int
    timeout: int


@dataclass(frozen=True)
class FailureBudget:
    """Hosts that may fail (and are rolled back) without aborting the rollout: a count or a percentage of the fleet."""

    count: int | None = None
    percent: int | None = None

    def describe(self) -> str:
        return str(self.count) if self.count is not None else f"{self.percent}%"


@dataclass(frozen=True)
class RolloutPlan:
    steps: tuple[Step, ...]
    health: HealthSettings
    failure_budget: FailureBudget


def _share_problem(minimum: int) -> Any:
    """A count (``2``) or a percentage (``"25%"``); the text "2" is neither (one agreement on integers)."""

    def problem(value: Any) -> str | None:
        if isinstance(value, str) and _PERCENT.fullmatch(value):
            percent = int(value.strip().rstrip("%").strip())
            return None if max(minimum, 0) <= percent <= 100 else f"percentage must be between {minimum}% and 100%"
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            return None
        return f'must be a host count >= {minimum} or a percentage like "25%"'

    return problem


def _share(value: Any) -> tuple[int | None, int | None]:
    if isinstance(value, str):
        return None, int(value.strip().rstrip("%").strip())
    return value, None


def _condition(value: str) -> Condition:
    match = _CONDITION.fullmatch(value)
    if match is None:  # the field's pattern matched already
        raise ValueError(f"internal: unvalidated condition {value!r}")
    return Condition(match.group(1), float(match.group(2)))


def _jmespath_problem(expression: str) -> str | None:
    import jmespath  # controller-only dependency, imported where it is needed

    try:
        jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        return f"is not a valid JMESPath expression: {str(exc).splitlines()[0]}"
    return None


def _metric_rules(metric: dict[str, Any], path: str, issues: Issues) -> None:
    sources = sorted(key for key in ("jmespath", "key") if key in metric)
    if len(sources) != 1:
        issues.add(path, f"metric {metric['name']!r} needs exactly one of jmespath or key", sources)
    if "success" not in metric and "failure" not in metric:
        issues.add(path, f"metric {metric['name']!r} needs a success or a failure condition (or both)")


def _duplicate_metric(metrics: list[dict[str, Any]]) -> str | None:
    names = [metric["name"] for metric in metrics]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    return None if duplicate is None else f"metric name {duplicate!r} appears twice"


def _health_rules(health: dict[str, Any], path: str, issues: Issues) -> None:
    needed = health["interval"] * (health["consecutive_successes"] - 1)
    if health["timeout"] < needed:
        issues.add(
            f"{path}.timeout",
            f"{health['timeout']}s cannot fit {health['consecutive_successes']} consecutive successes {health['interval']}s apart (needs >= {needed}s)",
        )


def _one_kind(step: dict[str, Any], path: str, issues: Issues) -> None:
    if len(step) != 1:
        issues.add(path, f"a step has exactly one of {', '.join(_STEP_KINDS)}", sorted(step) or "none")


_CONDITION_FIELD = Field("str", pattern=_CONDITION.pattern, hint='a comparison like "<= 0.01" (operators <, <=, >, >=, ==, !=)', normalize=_condition)
_METRIC = Schema(
    {
        "name": Field("str", required=True, strip=True, pattern=_NAME.pattern, hint="letters, digits, '.', '_' or '-'"),
        "jmespath": Field("str", strip=True, check=_jmespath_problem),
        "key": Field("str", strip=True),
        "success": _CONDITION_FIELD,
        "failure": _CONDITION_FIELD,
    },
    checks=(_metric_rules,),
)
_ANALYSIS = Schema(
    {
        "url": Field("str", required=True, strip=True, pattern=r"https?://.*", hint="an http:// or https:// URL"),
        "metrics": Field(
            "list",
            required=True,
            doc="a non-empty list of metrics",
            min_items=1,
            hint="a non-empty list of metrics",
            item=Field("mapping", schema=_METRIC),
            check=_duplicate_metric,
        ),
        "interval": Field("int", minimum=0, default=DEFAULT_ANALYSIS["interval"]),
        "count": Field("int", minimum=1, default=DEFAULT_ANALYSIS["count"]),
        "failure_limit": Field("int", minimum=0, default=DEFAULT_ANALYSIS["failure_limit"]),
        "inconclusive_limit": Field("int", minimum=0, default=DEFAULT_ANALYSIS["inconclusive_limit"]),
        "timeout": Field("int", minimum=1, default=DEFAULT_ANALYSIS["timeout"]),
        "validate_certs": Field("bool", default=True),
    }
)
_STEP = Schema(
    {
        "hosts": Field("any", check=_share_problem(1)),
        "pause": Field(
            "mapping",
            schema=Schema(
                {
                    # An open-ended pause would prompt; AWX has no terminal. An approval step is the resumable stop.
                    "seconds": Field(
                        "int",
                        required=True,
                        minimum=0,
                        maximum=86400,
                        doc="pauses never wait for input; use an approval step to stop until someone decides",
                    )
                }
            ),
        ),
        "analysis": Field("mapping", schema=_ANALYSIS),
        "approval": Field("mapping", schema=Schema({"reason": Field("str", required=True, strip=True, doc="say what the approver should look at")})),
        "setWeight": Field("int", minimum=1, maximum=99),
    },
    unknown_message="unknown step kind",
    checks=(_one_kind,),
)
_HEALTH = Schema(
    {key: Field("int", minimum=0 if key == "failure_limit" else 1, default=value) for key, value in DEFAULT_HEALTH.items()}, checks=(_health_rules,)
)
_PLAN = Schema(
    {
        "steps": Field(
            "list", required=True, doc="a non-empty list of steps", min_items=1, hint="a non-empty list of steps", item=Field("mapping", schema=_STEP)
        ),
        "health": Field("mapping", schema=_HEALTH, default=dict),
        "failure_budget": Field("any", default=0, check=_share_problem(0)),
    },
    # `health:` with nothing after it is the default health settings.
    none_is_missing=True,
)


def _step(spec: dict[str, Any], index: int) -> Step:
    if "hosts" in spec:
        count, percent = _share(spec["hosts"])
        return Step(index, hosts=HostTarget(count, percent))
    if "pause" in spec:
        return Step(index, pause_seconds=spec["pause"]["seconds"])
    if "setWeight" in spec:
        return Step(index, weight_percent=spec["setWeight"])
    if "analysis" in spec:
        analysis = spec["analysis"]
        metrics = tuple(
            Metric(metric["name"], metric.get("jmespath"), metric.get("key"), metric.get("success"), metric.get("failure")) for metric in analysis["metrics"]
        )
        return Step(index, analysis=Analysis(metrics=metrics, **{key: value for key, value in analysis.items() if key != "metrics"}))
    return Step(index, approval_reason=spec["approval"]["reason"])


def _order_rules(steps: tuple[Step, ...], path: str, issues: Issues) -> None:
    """Rules across steps: a canary first, cumulative targets that grow to "100%", weights between hosts steps."""
    host_steps = [step for step in steps if step.hosts is not None]
    if not host_steps:
        issues.add(f"{path}.steps", "has no hosts step: nothing would be deployed")
        return
    if steps[0].hosts is None:
        issues.add(f"{path}.steps[0]", f"must be a hosts step (the canary), got a {steps[0].kind} step")
    last = host_steps[-1]
    if not (last.hosts is not None):  # validated plans never get here
        raise ValueError("internal: unvalidated rollout plan (last.hosts is not None)")
    if last.hosts.percent != 100:
        issues.add(f"{path}.steps[{last.index}].hosts", 'the last hosts step must be "100%" so every host is released', last.hosts.describe())
    for previous, current in itertools.pairwise(host_steps):
        if not (previous.hosts is not None and current.hosts is not None):  # validated plans never get here
            raise ValueError("internal: unvalidated rollout plan (previous.hosts is not None and current.hosts is not None)")
        # Comparable only when both are counts or both are percentages; mixed ones are checked per fleet in plan_batches.
        same_kind = (previous.hosts.count is None) == (current.hosts.count is None)
        earlier = previous.hosts.count if previous.hosts.count is not None else previous.hosts.percent
        later = current.hosts.count if current.hosts.count is not None else current.hosts.percent
        if same_kind and earlier is not None and later is not None and later <= earlier:
            issues.add(
                f"{path}.steps[{current.index}].hosts",
                f"targets are cumulative and must grow: {current.hosts.describe()!r} after {previous.hosts.describe()!r}",
            )
    for step in steps:
        if step.weight_percent is None:
            continue
        if step.index < host_steps[0].index:
            issues.add(
                f"{path}.steps[{step.index}].setWeight",
                "must follow a hosts step: it sets the share of traffic the hosts switched so far receive, and none are switched yet",
                step.weight_percent,
            )
        elif step.index > last.index:
            issues.add(
                f"{path}.steps[{step.index}].setWeight",
                f"must come before the last hosts step (steps[{last.index}]): once every host is switched, all traffic goes to the new release",
                step.weight_percent,
            )


def validate_rollout(raw: Any, path: str = ROLLOUT_VAR) -> RolloutPlan:
    """Validate the plan; ``RolloutPlanError`` lists every error with its key path and value."""
    plan, found = collect(_PLAN, raw, path)
    issues = Issues(found)
    steps_raw = plan.get("steps") if plan else None
    if steps_raw is None and isinstance(raw, dict) and isinstance(raw.get("steps"), list):
        # Some other key is wrong; the steps that are valid still get their order checked.
        steps_raw = collect(_PLAN.fields["steps"], raw["steps"], f"{path}.steps")[0]
    if steps_raw:
        _order_rules(tuple(_step(spec, index) for index, spec in enumerate(steps_raw)), path, issues)
    if issues:
        raise RolloutPlanError(list(issues))
    steps = tuple(_step(spec, index) for index, spec in enumerate(plan["steps"]))
    health = HealthSettings(**plan["health"])
    budget_count, budget_percent = _share(plan["failure_budget"])
    return RolloutPlan(steps=steps, health=health, failure_budget=FailureBudget(budget_count, budget_percent))
