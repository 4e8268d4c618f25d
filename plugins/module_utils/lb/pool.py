# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every load balancer driver shares: the verbs, the server record and the error.

A server record is ``{"admin": "ready"|"drain"|"maint", "weight": int, "sessions": int|None,
"status": str}``; a driver returns ``servers`` (after the call) and ``before`` (before it) as
``{name: record}`` for the hosts it acted on, and ``changed``.
"""

from __future__ import annotations

import copy
from typing import Any

STATES = ("drained", "disabled", "enabled", "weights", "read")


class PoolError(Exception):
    """A failure of the load balancer, its text already naming it; ``result`` carries before/servers when known."""

    def __init__(self, msg: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.result = result or {}


def check_request(
    label: str, pool: list[str], hosts: list[str], state: str, weights: dict[str, Any] | None, min_weight: int, max_weight: int
) -> dict[str, int]:
    """Validate hosts/state/weights against the pool before anything changes; returns the weights as integers."""
    if state not in STATES:
        raise PoolError("{}: state must be one of {}, got {!r}".format(label, ", ".join(STATES), state))
    unknown = [name for name in hosts if name not in pool]
    if unknown:
        raise PoolError("{}: not in the pool: {} (pool: {})".format(label, ", ".join(unknown), ", ".join(pool) or "empty"))
    wanted: dict[str, int] = {}
    if state != "weights":
        if weights:
            raise PoolError(f"{label}: weights is only used with state weights")
        return wanted
    if not weights:
        raise PoolError(f"{label}: state weights needs weights ({{host: weight}})")
    for name, value in weights.items():
        if name not in hosts:
            raise PoolError(f"{label}: weights names {name}, which is not in hosts")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise PoolError(f"{label}: weight of {name} must be an integer, got {value!r}") from None
        if isinstance(value, bool) or str(number) != str(value).strip() or not min_weight <= number <= max_weight:
            raise PoolError(f"{label}: weight of {name} must be an integer {min_weight}..{max_weight}, got {value!r}")
        wanted[name] = number
    missing = [name for name in hosts if name not in wanted]
    if missing:
        raise PoolError("{}: state weights needs a weight for every host; missing: {}".format(label, ", ".join(missing)))
    return wanted


def select(servers: dict[str, dict[str, Any]], hosts: list[str]) -> dict[str, dict[str, Any]]:
    """The records of ``hosts`` (all servers when ``hosts`` is empty), deep-copied."""
    names = hosts or list(servers)
    return {name: copy.deepcopy(servers[name]) for name in names}
