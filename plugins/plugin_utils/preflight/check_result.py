# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one record every check produces, and the vocabulary of statuses and severities."""

from __future__ import annotations

import dataclasses
from typing import Any

PASS = "pass"
WARN = "warn"
FAIL = "fail"
WAIVED = "waived"
ERROR = "error"
STATUSES = (PASS, WARN, FAIL, WAIVED, ERROR)

# A failing check blocks readiness only at severity "blocker"; "warning" and "info" turn a failure into "warn".
BLOCKER = "blocker"
WARNING = "warning"
INFO = "info"
SEVERITIES = (BLOCKER, WARNING, INFO)

# Order used to sort checks and hosts "worst first" in every report.
STATUS_RANK = {ERROR: 0, FAIL: 1, WARN: 2, WAIVED: 3, PASS: 4}


@dataclasses.dataclass
class CheckResult:
    """Outcome of one check on one host."""

    id: str
    status: str
    expected: Any
    actual: Any
    message: str
    remediation: str = ""
    severity: str = BLOCKER
    waiver: dict[str, Any] | None = None

    def as_report(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "severity": self.severity,
            "expected": self.expected,
            "actual": self.actual,
            "message": self.message,
            "remediation": self.remediation,
        }
        if self.waiver is not None:
            record["waiver"] = self.waiver
        return record


def passed(check_id: str, expected: Any, actual: Any, message: str, remediation: str = "") -> CheckResult:
    return CheckResult(check_id, PASS, expected, actual, message, remediation)


def failed(check_id: str, expected: Any, actual: Any, message: str, remediation: str = "") -> CheckResult:
    return CheckResult(check_id, FAIL, expected, actual, message, remediation)


def errored(check_id: str, expected: Any, message: str, remediation: str = "") -> CheckResult:
    return CheckResult(check_id, ERROR, expected, None, message, remediation)


def compare(check_id: str, ok: bool, expected: Any, actual: Any, required: str, found: str, remediation: str) -> CheckResult:
    """Build a pass/fail result with the message every check uses: "required X, found Y"."""
    message = f"required {required}, found {found}"
    return CheckResult(check_id, PASS if ok else FAIL, expected, actual, message, remediation)
