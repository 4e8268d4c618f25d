# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""From cumulative host targets to batches: canary first, the play's host order, never an empty batch."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .plan import RolloutPlanError, Step


@dataclass(frozen=True)
class Batch:
    """Hosts switched together, then the gates (setWeight, pause, analysis, approval) run before the next batch."""

    number: int
    hosts: tuple[str, ...]
    target: str
    cumulative: int
    gates: tuple[Step, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "hosts": list(self.hosts),
            "target": self.target,
            "cumulative": self.cumulative,
            "gates": [_gate_dict(step) for step in self.gates],
        }


def _gate_dict(step: Step) -> dict[str, Any]:
    if step.weight_percent is not None:
        # The role sets the load balancer so the hosts switched so far get this share, until the next batch starts.
        return {"kind": "weight", "step": step.index, "percent": step.weight_percent}
    if step.pause_seconds is not None:
        return {"kind": "pause", "step": step.index, "seconds": step.pause_seconds}
    if step.approval_reason is not None:
        return {"kind": "approval", "step": step.index, "reason": step.approval_reason}
    analysis = step.analysis
    if not (analysis is not None):  # validated plans never get here
        raise ValueError("internal: unvalidated rollout plan (analysis is not None)")
    return {
        "kind": "analysis",
        "step": step.index,
        "url": analysis.url,
        "interval": analysis.interval,
        "count": analysis.count,
        "failure_limit": analysis.failure_limit,
        "inconclusive_limit": analysis.inconclusive_limit,
        "timeout": analysis.timeout,
        "validate_certs": analysis.validate_certs,
        "metrics": [
            {
                "name": metric.name,
                "jmespath": metric.jmespath,
                "key": metric.key,
                "success": metric.success.describe() if metric.success else None,
                "failure": metric.failure.describe() if metric.failure else None,
            }
            for metric in analysis.metrics
        ],
    }


def _unique_hosts(hosts: Sequence[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for host in hosts:
        if not isinstance(host, str) or not host:
            raise RolloutPlanError("hosts", f"every host must be a non-empty name, got {host!r}")
        seen.setdefault(host, None)
    return tuple(seen)


def plan_batches(hosts: Sequence[str], steps: Sequence[Step]) -> list[Batch]:
    """Cut ``hosts`` (in the order given, duplicates dropped) into batches at each hosts step's cumulative target.

    A target that adds no host for this fleet (``"10%"`` of 6 after ``1``) makes no batch; the gates
    after it join the previous batch's gates, so no pause, analysis or approval is lost.
    """
    fleet = _unique_hosts(hosts)
    if not fleet:
        raise RolloutPlanError("hosts", "no hosts to release to (empty play after --limit?)")
    batches: list[Batch] = []
    done = 0
    for step in steps:
        if step.hosts is not None:
            reach = step.hosts.hosts_for(len(fleet))
            if reach > done:
                batches.append(Batch(len(batches) + 1, fleet[done:reach], step.hosts.describe(), reach, ()))
                done = reach
        elif batches:
            last = batches[-1]
            batches[-1] = Batch(last.number, last.hosts, last.target, last.cumulative, (*last.gates, step))
        else:
            raise RolloutPlanError(f"steps[{step.index}]", f"a {step.kind} step before the first hosts step has nothing to gate")
    if done != len(fleet):
        raise RolloutPlanError("steps", f'the hosts steps reach {done} of {len(fleet)} hosts; the last one must be "100%"')
    # A count target can reach the whole fleet before the "100%" step; a weight after it would split traffic no batch follows.
    for step in batches[-1].gates:
        if step.weight_percent is not None:
            raise RolloutPlanError(
                f"steps[{step.index}].setWeight",
                f"follows the batch that switches all {len(fleet)} hosts (target {batches[-1].target}): no traffic is left to split",
            )
    return batches


def batches_fingerprint(batches: Sequence[Batch]) -> str:
    """Identifies the host split and the traffic weights: a resumed rollout must cut the fleet and shift traffic exactly as the paused one did.

    Plans without setWeight keep the fingerprint they had before setWeight existed, so a paused rollout still resumes.
    """
    weights = [[step.weight_percent for step in batch.gates if step.weight_percent is not None] for batch in batches]
    split: list[Any] = [list(batch.hosts) for batch in batches]
    if any(weights):
        split = [{"hosts": hosts, "weights": percents} for hosts, percents in zip(split, weights, strict=True)]
    body = json.dumps(split, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
