# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Custom rules: a JMESPath expression over ``opsgate_host`` compared with an expected value."""

from __future__ import annotations

import json
import re
from typing import Any

from ..check_result import CheckResult, compare, errored
from ..libraries import jmespath, require_jmespath


def _matches(op: str, actual: Any, expected: Any) -> bool:
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op == "in":
        return actual in expected
    if op == "contains":
        return isinstance(actual, list | str | dict) and expected in actual
    if op == "regex":
        return actual is not None and re.search(str(expected), str(actual)) is not None
    if op == "truthy":
        return bool(actual)
    if isinstance(actual, bool) or not isinstance(actual, int | float):
        return False
    return actual >= expected if op == "ge" else actual <= expected


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def run(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    for rule in spec.get("custom", []):
        check_id = f"custom.{rule['id']}"
        op = rule["op"]
        expected = "truthy" if op == "truthy" else f"{op} {_show(rule.get('expected'))}"
        remediation = rule.get("remediation", "")
        require_jmespath()
        try:
            actual = jmespath.search(rule["query"], facts)
        except jmespath.exceptions.JMESPathError as exc:
            results.append(errored(check_id, expected, f"required {rule['query']} {expected}, found an evaluation error: {exc}", remediation))
            continue
        try:
            ok = _matches(op, actual, rule.get("expected"))
        except TypeError:
            ok = False
        required = f"{rule['description']}: {rule['query']} {expected}" if rule.get("description") else f"{rule['query']} {expected}"
        results.append(compare(check_id, ok, expected, actual, required, _show(actual), remediation))
    return results
