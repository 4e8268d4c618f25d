# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Readiness as a precondition of deploy, gray_release and rollback: what refuses a run and what the archive keeps.

The verdict is the preflight engine's (evaluation.py); this module only words the refusal and the record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.internal_variables import INTERNAL_NAMES

from .check_result import BLOCKER, ERROR, FAIL, WAIVED
from .evaluation import FleetVerdict

# Variables the readiness tasks register or read: an extra var (-e) of that name would outrank them.
INTERNAL_PREFIX = "__preflight_"


def internal_extra_vars(extra_var_names: Iterable[str]) -> str | None:
    """An error when ``-e`` sets a variable the readiness tasks register: it could stand in for the hosts' answers."""
    named = sorted(name for name in extra_var_names if name.startswith(INTERNAL_PREFIX) or name in INTERNAL_NAMES)
    if named:
        return f"readiness refused: {', '.join(named)} set by extra vars (-e); the readiness checks read only what the hosts answered in this run"
    return None


def spec_sha256(spec: Any) -> str:
    """Digest of a normalised spec, so the record says which spec each host was held to."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def blocking_checks(verdict: FleetVerdict, host: str) -> list[str]:
    """``<check id>: <message>`` of each blocker check that failed on the host (waived checks are not among them)."""
    return [f"{check.id}: {check.message}" for check in verdict.hosts[host].checks if check.status in (FAIL, ERROR) and check.severity == BLOCKER]


def refusal(verdict: FleetVerdict) -> str:
    """One line per host that is not ready, naming the failed checks."""
    lines = [f"readiness refused: {len(verdict.not_ready())} of {len(verdict.hosts)} target host(s) not ready; no host was changed and the token was not used"]
    lines += [f"{host}: {'; '.join(blocking_checks(verdict, host))}" for host in verdict.not_ready()]
    return "\n".join(lines)


def readiness_record(decision: Mapping[str, Any], verdict: FleetVerdict | None, specs: Mapping[str, Any], report_dir: str | None) -> dict[str, Any]:
    """What the archive record keeps about the readiness of a change run."""
    record: dict[str, Any] = {
        "required": bool(decision.get("required", True)),
        "system_class": decision.get("system_class"),
        "reason": decision.get("reason"),
        "checked": verdict is not None,
    }
    if verdict is None:
        record.update(ready=None, hosts_ready=[], not_ready={}, specs={})
        return record
    record.update(
        ready=verdict.ready,
        hosts_ready=sorted(host for host, item in verdict.hosts.items() if item.ready),
        not_ready={host: blocking_checks(verdict, host) for host in verdict.not_ready()},
        waived={host: sorted(check.id for check in item.checks if check.status == WAIVED) for host, item in verdict.hosts.items()},
        specs={host: {"system_class": specs[host].get("system_class"), "sha256": spec_sha256(specs[host])} for host in sorted(specs)},
        report_dir=report_dir,
    )
    return record
