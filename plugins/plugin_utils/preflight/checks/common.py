# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Formatting and comparison shared by the check families."""

from __future__ import annotations

import re
from typing import Any

from ..check_result import CheckResult, errored

GIB = 1024**3


def gib(value: float) -> str:
    """``64 GiB``, ``62.8 GiB``: one decimal only when it matters."""
    text = f"{value / GIB:.1f}"
    return (text[:-2] if text.endswith(".0") else text) + " GiB"


def num(value: float) -> str:
    return f"{value:g}"


def version_tuple(text: Any) -> tuple[int, ...]:
    """Leading numeric parts of a version: ``6.18.44-fc-v669`` -> (6, 18, 44)."""
    match = re.match(r"\d+(?:\.\d+)*", str(text).strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def version_at_least(actual: Any, minimum: str) -> bool:
    have, need = version_tuple(actual), version_tuple(minimum)
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) >= need + (0,) * (width - len(need))


def missing(check_id: str, expected: Any, what: str, remediation: str = "") -> CheckResult:
    """The host did not report a value the check needs: an error, not a failure (we do not know)."""
    return errored(
        check_id, expected, f"required {expected}, found no data: the host did not report {what}", remediation or f"check the host_facts errors for {what}"
    )


def listing(items: list[str], limit: int = 6) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")
