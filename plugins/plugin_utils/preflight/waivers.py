# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Waivers (InSpec style): a check id (or fnmatch pattern) on hosts matching a pattern, with a reason and an expiry.

A waiver turns a ``fail`` or ``warn`` into ``waived``. An expired waiver is ignored and reported as expired. A waiver
never hides an ``error`` (the evidence is missing, not accepted) nor a check in ``NEVER_WAIVABLE``.
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
from typing import Any

from .check_result import FAIL, WAIVED, WARN, CheckResult
from .spec_schema import NEVER_WAIVABLE


@dataclasses.dataclass
class WaiverOutcome:
    """What the waivers did on one host: which applied, which had expired, which matched nothing."""

    applied: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    expired: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    unused: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def _public(waiver: dict[str, Any]) -> dict[str, Any]:
    return {k: waiver[k] for k in ("check", "hosts", "reason", "expires", "approved_by") if k in waiver}


def waiver_matches(waiver: dict[str, Any], check_id: str, host: str) -> bool:
    return fnmatch.fnmatchcase(check_id, waiver["check"]) and fnmatch.fnmatchcase(host, waiver.get("hosts", "*"))


def is_expired(waiver: dict[str, Any], today: datetime.date) -> bool:
    """A waiver is valid through the whole day of its ``expires`` date."""
    return datetime.date.fromisoformat(str(waiver["expires"])) < today


def apply_waivers(host: str, results: list[CheckResult], waivers: list[dict[str, Any]], today: datetime.date) -> WaiverOutcome:
    """Mark waived results in place; return what happened for the report."""
    outcome = WaiverOutcome()
    used: set[int] = set()
    for result in results:
        if result.status not in (FAIL, WARN):
            continue
        for index, waiver in enumerate(waivers):
            if not waiver_matches(waiver, result.id, host):
                continue
            used.add(index)
            if result.id in NEVER_WAIVABLE:
                result.message += f" (waiver {waiver['check']!r} not applied: this check can never be waived)"
                continue
            if is_expired(waiver, today):
                result.waiver = {**_public(waiver), "expired": True}
                result.message += f" (waiver expired on {waiver['expires']}, not applied)"
                outcome.expired.append({"check": result.id, **_public(waiver)})
                continue
            result.status = WAIVED
            result.waiver = {**_public(waiver), "expired": False}
            outcome.applied.append({"check": result.id, **_public(waiver)})
            break
    outcome.unused = [_public(w) for i, w in enumerate(waivers) if i not in used and fnmatch.fnmatchcase(host, w.get("hosts", "*"))]
    return outcome
