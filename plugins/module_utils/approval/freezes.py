# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Change freezes (month-end, quarter-end, Spring Festival, audits): windows in which no change runs.

A freeze lives in the signed policy: a name, a start and an end in a time zone (the policy's unless
it names its own), a reason, and the classes or systems it covers (none named: every change).
A token whose window overlaps a freeze that covers its change is refused before it is consumed;
an unfinished run that resumes is refused while a freeze that covers it is in force.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import errors

_KEYS = {"name", "start", "end", "timezone", "reason", "classes", "systems"}
_LOCAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Freeze:
    name: str
    start: datetime
    end: datetime
    zone: str
    reason: str
    classes: frozenset[str]
    systems: frozenset[str]

    def covers(self, system: str, system_class: str) -> bool:
        if not self.classes and not self.systems:
            return True
        return system_class in self.classes or system in self.systems

    def describe(self) -> str:
        zone = ZoneInfo(self.zone)
        span = f"{self.start.astimezone(zone):%Y-%m-%d %H:%M} to {self.end.astimezone(zone):%Y-%m-%d %H:%M} {self.zone}"
        scope = ", ".join(sorted(self.classes | self.systems)) or "every change"
        return f"freeze {self.name} ({span}; {scope}): {self.reason}"


def _fail(path: str, message: str) -> errors.ApprovalError:
    return errors.ApprovalError(errors.POLICY_INVALID, f"{path}: {message}")


def _moment(value: Any, zone: ZoneInfo, path: str) -> datetime:
    """``YYYY-MM-DDTHH:MM`` in the freeze's time zone: how people write a freeze in a change calendar."""
    if not isinstance(value, str) or not _LOCAL.fullmatch(value):
        raise _fail(path, f"must be a local time YYYY-MM-DDTHH:MM, got {value!r}")
    try:
        local = datetime.strptime(value, "%Y-%m-%dT%H:%M")
    except ValueError:
        raise _fail(path, f"is not a real date and time: {value!r}") from None
    if not 2000 <= local.year <= 2199:
        raise _fail(path, f"year {local.year} is outside 2000-2199")
    return local.replace(tzinfo=zone).astimezone(UTC)


def _names(value: Any, path: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(item, str) and _NAME.fullmatch(item) for item in value):
        raise _fail(path, f"must be a list of names, got {value!r}")
    return frozenset(value)


def parse_freezes(value: Any, path: str, default_zone: ZoneInfo, known_classes: Iterable[str]) -> tuple[Freeze, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(path, f"must be a list of freezes, got {type(value).__name__}")
    classes = set(known_classes)
    freezes: list[Freeze] = []
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise _fail(item_path, f"must be a mapping with name, start, end, reason, got {type(item).__name__}")
        unknown = sorted(set(item) - _KEYS)
        missing = sorted({"name", "start", "end", "reason"} - set(item))
        if unknown or missing:
            raise _fail(item_path, f"unknown keys {unknown}, missing keys {missing}")
        name = item["name"]
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise _fail(f"{item_path}.name", f"must be a name of letters, digits and ._-, got {name!r}")
        if any(freeze.name == name for freeze in freezes):
            raise _fail(f"{item_path}.name", f"{name!r} is used twice")
        zone_name = item.get("timezone", default_zone.key)
        try:
            zone = ZoneInfo(zone_name) if isinstance(zone_name, str) else None
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is None:
            raise _fail(f"{item_path}.timezone", f"must be an IANA time zone like Asia/Shanghai, got {zone_name!r}")
        start, end = _moment(item["start"], zone, f"{item_path}.start"), _moment(item["end"], zone, f"{item_path}.end")
        if end <= start:
            raise _fail(f"{item_path}.end", f"{item['end']} is not after start {item['start']}")
        reason = item["reason"]
        if not isinstance(reason, str) or not reason.strip() or not reason.isprintable():
            raise _fail(f"{item_path}.reason", f"must say why (printable text), got {reason!r}")
        covered = _names(item.get("classes"), f"{item_path}.classes")
        strangers = sorted(covered - classes)
        if strangers:
            raise _fail(f"{item_path}.classes", f"{', '.join(strangers)} is not a class of the policy ({', '.join(sorted(classes))})")
        freezes.append(Freeze(name, start, end, zone.key, reason, covered, _names(item.get("systems"), f"{item_path}.systems")))
    return tuple(freezes)


def freezes_overlapping(freezes: Iterable[Freeze], start: datetime, end: datetime, system: str, system_class: str) -> list[Freeze]:
    """The freezes covering this change that share any instant with [start, end)."""
    return [freeze for freeze in freezes if freeze.covers(system, system_class) and start < freeze.end and freeze.start < end]


def freezes_at(freezes: Iterable[Freeze], moment: datetime, system: str, system_class: str) -> list[Freeze]:
    """The freezes covering this change that are in force at ``moment`` (start included, end excluded)."""
    return [freeze for freeze in freezes if freeze.covers(system, system_class) and freeze.start <= moment < freeze.end]
