# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run every check on every host, then severities, waivers and the verdict. Nothing stops at the first failure."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import fnmatch
from typing import Any

from .check_result import BLOCKER, ERROR, FAIL, STATUS_RANK, STATUSES, WARN, CheckResult, compare
from .checks import custom, environment, hardware, network, security
from .cross_host import cross_host_checks
from .facts_request import facts_request
from .spec_schema import NEVER_WAIVABLE
from .waivers import apply_waivers


@dataclasses.dataclass
class HostInput:
    """Everything the engine knows about one host: its spec, its facts (None if not collected) and its probes."""

    name: str
    spec: dict[str, Any]
    facts: dict[str, Any] | None
    facts_error: str | None = None
    probes: dict[str, dict[str, Any]] | None = None


@dataclasses.dataclass
class HostVerdict:
    name: str
    ready: bool
    checks: list[CheckResult]
    system_class: str | None = None
    expired_waivers: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    unused_waivers: list[dict[str, Any]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class FleetVerdict:
    hosts: dict[str, HostVerdict]
    generated_at: str

    @property
    def ready(self) -> bool:
        return all(v.ready for v in self.hosts.values())

    def not_ready(self) -> list[str]:
        return sorted(h for h, v in self.hosts.items() if not v.ready)

    def summary(self) -> dict[str, Any]:
        counts = collections.Counter(c.status for v in self.hosts.values() for c in v.checks)
        return {
            "ready": self.ready,
            "hosts": len(self.hosts),
            "hosts_ready": sum(1 for v in self.hosts.values() if v.ready),
            "hosts_not_ready": len(self.not_ready()),
            "not_ready": self.not_ready(),
            "checks": {status: counts.get(status, 0) for status in STATUSES},
            "expired_waivers": [{"host": v.name, **w} for v in self.hosts.values() for w in v.expired_waivers],
            "unused_waivers": [{"host": v.name, **w} for v in self.hosts.values() for w in v.unused_waivers],
            "system_classes": {h: v.system_class for h, v in sorted(self.hosts.items())},
            "generated_at": self.generated_at,
        }


def _facts_checks(host: HostInput) -> list[CheckResult]:
    if host.facts is None:
        reason = host.facts_error or "the host_facts call returned nothing"
        return [
            CheckResult(
                "facts.collected", FAIL, "host facts collected", None, f"required host facts, found none: {reason}", "make the host reachable and rerun"
            )
        ]
    results = [compare("facts.collected", True, "host facts collected", "collected", "host facts", "collected", "")]
    wanted = facts_request(host.spec)["host_facts"]["gather_subset"]
    absent = [s for s in wanted if host.facts.get(s) is None]
    results.append(
        compare(
            "facts.subsets",
            not absent,
            wanted,
            absent or "all",
            f"subsets {', '.join(wanted)}",
            f"missing {', '.join(absent)}" if absent else "all present",
            "check the host_facts errors and the module version on the host",
        )
    )
    return results


def host_checks(host: HostInput) -> list[CheckResult]:
    """The host's own checks (no cross-host ones), before severities and waivers."""
    results = _facts_checks(host)
    if host.facts is None:
        return results
    facts = host.facts
    results += hardware.run(host.spec, facts)
    results += environment.run(host.spec, facts)
    results += network.run(host.spec, facts, host.probes)
    results += security.run(host.spec, facts)
    results += custom.run(host.spec, facts)
    return results


def severity_for(check_id: str, overrides: dict[str, str]) -> str:
    """Exact id first, then the longest (most specific) matching fnmatch pattern; default blocker."""
    if check_id in NEVER_WAIVABLE:
        return BLOCKER
    if check_id in overrides:
        return overrides[check_id]
    matching = [p for p in overrides if fnmatch.fnmatchcase(check_id, p)]
    return overrides[max(matching, key=len)] if matching else BLOCKER


def _apply_severity(results: list[CheckResult], overrides: dict[str, str]) -> None:
    for result in results:
        result.severity = severity_for(result.id, overrides)
        if result.status == FAIL and result.severity != BLOCKER:
            result.status = WARN


def evaluate_fleet(hosts: dict[str, HostInput], today: datetime.date | None = None, now: datetime.datetime | None = None) -> FleetVerdict:
    """Evaluate every host, then the fleet checks, then severities and waivers; every check has run before any verdict."""
    now = now or datetime.datetime.now(datetime.UTC)
    today = today or now.date()
    per_host = {name: host_checks(host) for name, host in hosts.items()}
    with_facts = {name: host.facts for name, host in hosts.items() if host.facts is not None}
    fleet = cross_host_checks(with_facts, {name: hosts[name].spec for name in with_facts})
    verdicts: dict[str, HostVerdict] = {}
    for name, host in hosts.items():
        results = per_host[name] + fleet.get(name, [])
        _apply_severity(results, host.spec.get("severity", {}))
        outcome = apply_waivers(name, results, host.spec.get("waivers", []), today)
        results.sort(key=lambda r: (STATUS_RANK[r.status], r.id))
        ready = not any(r.status in (FAIL, ERROR) and r.severity == BLOCKER for r in results)
        verdicts[name] = HostVerdict(name, ready, results, host.spec.get("system_class"), outcome.expired, outcome.unused)
    return FleetVerdict(dict(sorted(verdicts.items())), now.replace(microsecond=0).isoformat())
