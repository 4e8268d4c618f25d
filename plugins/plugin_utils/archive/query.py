# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter archive records: by change, app, host, status and start date."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from .record import RUN_STATUSES


class QueryError(ValueError):
    """A filter value that makes no sense; the message names the option and the value."""


def parse_day(option: str, value: str | None) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise QueryError(f"{option}: expected a date YYYY-MM-DD, got {value!r}") from None


@dataclass(frozen=True)
class RunFilter:
    change: str | None = None
    app: str | None = None
    host: str | None = None
    status: str | None = None
    since: date | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in RUN_STATUSES:
            raise QueryError(f"--status: expected one of {', '.join(RUN_STATUSES)}, got {self.status!r}")
        if self.since and self.until and self.since > self.until:
            raise QueryError(f"--since {self.since} is after --until {self.until}")

    def matches(self, record: Mapping[str, Any]) -> bool:
        if self.change is not None and record.get("change_id") != self.change:
            return False
        if self.app is not None and record.get("app") != self.app:
            return False
        if self.host is not None and self.host not in (record.get("hosts") or {}):
            return False
        if self.status is not None and record.get("status") != self.status:
            return False
        started = parse_day("started", str(record.get("started") or ""))
        if self.since is not None and (started is None or started < self.since):
            return False
        # --until is inclusive: the whole day counts.
        return not (self.until is not None and (started is None or started > self.until))


def select(records: Iterable[Mapping[str, Any]], run_filter: RunFilter) -> list[Mapping[str, Any]]:
    return [record for record in records if run_filter.matches(record)]


def unratified_emergencies(records: Iterable[Mapping[str, Any]], now: str) -> list[dict[str, Any]]:
    """Emergency runs (approval kind emergency, token consumed) that no ratification record names, oldest first.

    ``now`` is a UTC timestamp in the archive's format; an entry past its ``ratify_by`` is ``overdue``.
    """
    ratified: set[str] = set()
    emergencies: dict[str, Mapping[str, Any]] = {}
    for record in records:
        ratifies = record.get("ratifies")
        if record.get("kind") == "ratification" and isinstance(ratifies, Mapping) and ratifies.get("token_id"):
            ratified.add(str(ratifies["token_id"]))
            continue
        approval = record.get("approval")
        if isinstance(approval, Mapping) and approval.get("kind") == "emergency" and approval.get("consumed") and approval.get("token_id"):
            # A resumed run has a second record: the first is when the emergency ran.
            emergencies.setdefault(str(approval["token_id"]), record)
    waiting = []
    for token_id, record in emergencies.items():
        if token_id in ratified:
            continue
        approval = record["approval"]
        deadline = approval.get("ratify_by")
        waiting.append(
            {
                "token_id": token_id,
                "run_id": record.get("run_id"),
                "ran_at": record.get("started"),
                "app": record.get("app"),
                "env": record.get("env"),
                "change_id": approval.get("change_id") or record.get("change_id"),
                "incident_id": approval.get("incident_id"),
                "ratify_by": deadline,
                "overdue": bool(deadline) and str(deadline) < now,
            }
        )
    return sorted(waiting, key=lambda item: str(item["ran_at"]))


def run_kind(record: Mapping[str, Any]) -> str:
    """What the run was, from the playbook's file name: preflight, deploy, gray_release, rollback or other."""
    if record.get("kind") == "ratification":
        return "ratification"
    name = str(record.get("playbook") or "").rsplit("/", 1)[-1].removesuffix(".yml").removesuffix(".yaml")
    return name or "unknown"
