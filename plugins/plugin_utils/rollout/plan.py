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

ROLLOUT_VAR = "opsgate_rollout"

_TOP = {"steps", "health", "failure_budget"}
_HEALTH = {"interval", "consecutive_successes", "failure_limit", "timeout"}
_ANALYSIS = {"url", "metrics", "interval", "count", "failure_limit", "inconclusive_limit", "timeout", "validate_certs"}
_METRIC = {"name", "jmespath", "key", "success", "failure"}
_STEP_KINDS = ("hosts", "pause", "analysis", "approval")
_PERCENT = re.compile(r"\s*(\d{1,3})\s*%\s*")
_CONDITION = re.compile(r"\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

DEFAULT_HEALTH = {"interval": 5, "consecutive_successes": 3, "failure_limit": 3, "timeout": 300}
DEFAULT_ANALYSIS = {"interval": 10, "count": 3, "failure_limit": 0, "inconclusive_limit": 0, "timeout": 10}


class RolloutPlanError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


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

    @property
    def kind(self) -> str:
        if self.hosts is not None:
            return "hosts"
        if self.pause_seconds is not None:
            return "pause"
        if self.analysis is not None:
            return "analysis"
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


def _mapping(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RolloutPlanError(path, f"must be a mapping, got {type(value).__name__} {value!r}")
    return value


def _unknown(value: dict[str, Any], allowed: set[str], path: str) -> None:
    extra = sorted(str(key) for key in set(value) - allowed)
    if extra:
        raise RolloutPlanError(f"{path}.{extra[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _integer(value: Any, path: str, minimum: int, maximum: int | None = None) -> int:
    # Inventory values often arrive as strings ("30"); booleans are never numbers.
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise RolloutPlanError(path, f"must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise RolloutPlanError(path, f"must be {bound}, got {value!r}")
    return value


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RolloutPlanError(path, f"must be a non-empty string, got {value!r}")
    return value.strip()


def _share(value: Any, path: str, minimum: int) -> tuple[int | None, int | None]:
    """A count (``2``) or a percentage (``"25%"``)."""
    if isinstance(value, str):
        match = _PERCENT.fullmatch(value)
        if match:
            percent = int(match.group(1))
            if percent < max(minimum, 0) or percent > 100:
                raise RolloutPlanError(path, f"percentage must be between {minimum}% and 100%, got {value!r}")
            return None, percent
        if not value.strip().isdigit():
            raise RolloutPlanError(path, f'must be a host count like 2 or a percentage like "25%", got {value!r}')
    try:
        return _integer(value, path, minimum), None
    except RolloutPlanError:
        raise RolloutPlanError(path, f'must be a host count >= {minimum} or a percentage like "25%", got {value!r}') from None


def _condition(value: Any, path: str) -> Condition:
    if isinstance(value, str):
        match = _CONDITION.fullmatch(value)
        if match:
            return Condition(match.group(1), float(match.group(2)))
    raise RolloutPlanError(path, f'must be a comparison like "<= 0.01" (operators <, <=, >, >=, ==, !=), got {value!r}')


def _metric(raw: Any, path: str) -> Metric:
    spec = _mapping(raw, path)
    _unknown(spec, _METRIC, path)
    if "name" not in spec:
        raise RolloutPlanError(f"{path}.name", "is required")
    name = _text(spec["name"], f"{path}.name")
    if not _NAME.fullmatch(name):
        raise RolloutPlanError(f"{path}.name", f"must be letters, digits, '.', '_' or '-', got {name!r}")
    if ("jmespath" in spec) == ("key" in spec):
        raise RolloutPlanError(path, f"metric {name!r} needs exactly one of jmespath or key, got {sorted(k for k in ('jmespath', 'key') if k in spec)}")
    jmespath_expression = _text(spec["jmespath"], f"{path}.jmespath") if "jmespath" in spec else None
    if jmespath_expression is not None:
        import jmespath  # controller-only dependency, imported where it is needed

        try:
            jmespath.compile(jmespath_expression)
        except jmespath.exceptions.JMESPathError as exc:
            raise RolloutPlanError(f"{path}.jmespath", f"is not a valid JMESPath expression {jmespath_expression!r}: {exc}") from None
    success = _condition(spec["success"], f"{path}.success") if "success" in spec else None
    failure = _condition(spec["failure"], f"{path}.failure") if "failure" in spec else None
    if success is None and failure is None:
        raise RolloutPlanError(path, f"metric {name!r} needs a success or a failure condition (or both)")
    return Metric(name, jmespath_expression, _text(spec["key"], f"{path}.key") if "key" in spec else None, success, failure)


def _analysis(raw: Any, path: str) -> Analysis:
    spec = _mapping(raw, path)
    _unknown(spec, _ANALYSIS, path)
    if "url" not in spec:
        raise RolloutPlanError(f"{path}.url", "is required")
    url = _text(spec["url"], f"{path}.url")
    if not url.startswith(("http://", "https://")):
        raise RolloutPlanError(f"{path}.url", f"must be an http:// or https:// URL, got {url!r}")
    metrics_raw = spec.get("metrics")
    if not isinstance(metrics_raw, list) or not metrics_raw:
        raise RolloutPlanError(f"{path}.metrics", f"must be a non-empty list of metrics, got {metrics_raw!r}")
    metrics = tuple(_metric(item, f"{path}.metrics[{number}]") for number, item in enumerate(metrics_raw))
    names = [metric.name for metric in metrics]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate is not None:
        raise RolloutPlanError(f"{path}.metrics", f"metric name {duplicate!r} appears twice")
    merged = {**DEFAULT_ANALYSIS, **{k: v for k, v in spec.items() if k in DEFAULT_ANALYSIS}}
    validate_certs = spec.get("validate_certs", True)
    if not isinstance(validate_certs, bool):
        raise RolloutPlanError(f"{path}.validate_certs", f"must be true or false, got {validate_certs!r}")
    return Analysis(
        url=url,
        metrics=metrics,
        interval=_integer(merged["interval"], f"{path}.interval", 0),
        count=_integer(merged["count"], f"{path}.count", 1),
        failure_limit=_integer(merged["failure_limit"], f"{path}.failure_limit", 0),
        inconclusive_limit=_integer(merged["inconclusive_limit"], f"{path}.inconclusive_limit", 0),
        timeout=_integer(merged["timeout"], f"{path}.timeout", 1),
        validate_certs=validate_certs,
    )


def _step(raw: Any, index: int, path: str) -> Step:
    spec = _mapping(raw, path)
    kinds = [key for key in spec if key in _STEP_KINDS]
    extra = sorted(str(key) for key in spec if key not in _STEP_KINDS)
    if extra:
        raise RolloutPlanError(f"{path}.{extra[0]}", f"unknown step kind (allowed: {', '.join(_STEP_KINDS)})")
    if len(kinds) != 1:
        raise RolloutPlanError(path, f"a step has exactly one of {', '.join(_STEP_KINDS)}, got {sorted(kinds) or 'none'}")
    kind = kinds[0]
    value = spec[kind]
    if kind == "hosts":
        count, percent = _share(value, f"{path}.hosts", 1)
        return Step(index, hosts=HostTarget(count, percent))
    if kind == "pause":
        pause = _mapping(value, f"{path}.pause")
        _unknown(pause, {"seconds"}, f"{path}.pause")
        if "seconds" not in pause:
            # An open-ended pause would prompt; AWX has no terminal. An approval step is the resumable stop.
            raise RolloutPlanError(f"{path}.pause.seconds", "is required: pauses never wait for input; use an approval step to stop until someone decides")
        return Step(index, pause_seconds=_integer(pause["seconds"], f"{path}.pause.seconds", 0, 86400))
    if kind == "analysis":
        return Step(index, analysis=_analysis(value, f"{path}.analysis"))
    approval = _mapping(value, f"{path}.approval")
    _unknown(approval, {"reason"}, f"{path}.approval")
    if "reason" not in approval:
        raise RolloutPlanError(f"{path}.approval.reason", "is required: say what the approver should look at")
    return Step(index, approval_reason=_text(approval["reason"], f"{path}.approval.reason"))


def _health(raw: Any, path: str) -> HealthSettings:
    spec = _mapping({} if raw is None else raw, path)
    _unknown(spec, _HEALTH, path)
    merged = {**DEFAULT_HEALTH, **spec}
    health = HealthSettings(
        interval=_integer(merged["interval"], f"{path}.interval", 1),
        consecutive_successes=_integer(merged["consecutive_successes"], f"{path}.consecutive_successes", 1),
        failure_limit=_integer(merged["failure_limit"], f"{path}.failure_limit", 0),
        timeout=_integer(merged["timeout"], f"{path}.timeout", 1),
    )
    needed = health.interval * (health.consecutive_successes - 1)
    if health.timeout < needed:
        raise RolloutPlanError(
            f"{path}.timeout",
            f"{health.timeout}s cannot fit {health.consecutive_successes} consecutive successes {health.interval}s apart (needs >= {needed}s)",
        )
    return health


def _budget(raw: Any, path: str) -> FailureBudget:
    count, percent = _share(0 if raw is None else raw, path, 0)
    return FailureBudget(count, percent)


def validate_rollout(raw: Any, path: str = ROLLOUT_VAR) -> RolloutPlan:
    """Validate the plan; the first error found names its key path and value."""
    spec = _mapping(raw, path)
    _unknown(spec, _TOP, path)
    steps_raw = spec.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise RolloutPlanError(f"{path}.steps", f"must be a non-empty list of steps, got {steps_raw!r}")
    steps = tuple(_step(item, number, f"{path}.steps[{number}]") for number, item in enumerate(steps_raw))
    host_steps = [step for step in steps if step.hosts is not None]
    if not host_steps:
        raise RolloutPlanError(f"{path}.steps", "has no hosts step: nothing would be deployed")
    if steps[0].hosts is None:
        raise RolloutPlanError(f"{path}.steps[0]", f"must be a hosts step (the canary), got a {steps[0].kind} step")
    last = host_steps[-1]
    if not (last.hosts is not None):  # validated plans never get here
        raise ValueError("internal: unvalidated rollout plan (last.hosts is not None)")
    if last.hosts.percent != 100:
        raise RolloutPlanError(
            f"{path}.steps[{last.index}].hosts", f'the last hosts step must be "100%" so every host is released, got {last.hosts.describe()!r}'
        )
    for previous, current in itertools.pairwise(host_steps):
        if not (previous.hosts is not None and current.hosts is not None):  # validated plans never get here
            raise ValueError("internal: unvalidated rollout plan (previous.hosts is not None and current.hosts is not None)")
        # Comparable only when both are counts or both are percentages; mixed ones are checked per fleet in plan_batches.
        same_kind = (previous.hosts.count is None) == (current.hosts.count is None)
        earlier = previous.hosts.count if previous.hosts.count is not None else previous.hosts.percent
        later = current.hosts.count if current.hosts.count is not None else current.hosts.percent
        if same_kind and earlier is not None and later is not None and later <= earlier:
            raise RolloutPlanError(
                f"{path}.steps[{current.index}].hosts",
                f"targets are cumulative and must grow: {current.hosts.describe()!r} after {previous.hosts.describe()!r}",
            )
    return RolloutPlan(
        steps=steps, health=_health(spec.get("health"), f"{path}.health"), failure_budget=_budget(spec.get("failure_budget"), f"{path}.failure_budget")
    )
