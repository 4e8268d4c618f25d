# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``opsgate_approval_policy``: who may approve, which roles each system class needs, lead time, window."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import errors
from .keys import keyid_of, load_public_key

POLICY_VAR = "opsgate_approval_policy"
DEFAULT_MIN_LEAD_WORKING_DAYS = 3
DEFAULT_MAX_WINDOW_HOURS = 24
DEFAULT_CLOCK_LEEWAY_SECONDS = 300
_TOP_KEYS = {
    "approvers",
    "retired_keys",
    "classes",
    "min_lead_working_days",
    "holidays",
    "working_weekends",
    "timezone",
    "max_window_hours",
    "clock_leeway_seconds",
    "ledger_dir",
}
_APPROVER_KEYS = {"keyid", "owner", "role", "public_key"}
_RETIRED_KEYS = {"keyid", "owner", "role", "retired_on", "reason"}
_CLASS_KEYS = {"roles", "min_lead_working_days", "description"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
_KEYID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Approver:
    keyid: str
    owner: str
    role: str
    public_key: Ed25519PublicKey


@dataclass(frozen=True)
class RetiredKey:
    keyid: str
    owner: str
    retired_on: date | None
    reason: str


@dataclass(frozen=True)
class SystemClass:
    name: str
    roles: dict[str, int]
    min_lead_working_days: int


@dataclass(frozen=True)
class Policy:
    approvers: dict[str, Approver]
    retired_keys: dict[str, RetiredKey]
    classes: dict[str, SystemClass]
    holidays: frozenset[date]
    working_weekends: frozenset[date]
    timezone: ZoneInfo
    max_window_hours: float
    clock_leeway_seconds: int
    ledger_dir: str
    min_lead_working_days: int = DEFAULT_MIN_LEAD_WORKING_DAYS
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _fail(path: str, message: str) -> errors.ApprovalError:
    return errors.ApprovalError(errors.POLICY_INVALID, f"{path}: {message}")


def _name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise _fail(path, f"must be a name of letters, digits and ._@- , got {value!r}")
    return value


def _integer(value: Any, path: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(path, f"must be an integer >= {minimum}, got {value!r}")
    return value


def _date(value: Any, path: str) -> date:
    # YAML turns an unquoted 2025-10-01 into a date already; a quoted one stays a string.
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _fail(path, f"must be a date YYYY-MM-DD, got {value!r}")


def _dates(value: Any, path: str) -> frozenset[date]:
    if value is None:
        return frozenset()
    if not isinstance(value, list | tuple):
        raise _fail(path, f"must be a list of dates, got {type(value).__name__}")
    return frozenset(_date(item, f"{path}[{index}]") for index, item in enumerate(value))


def _unknown(mapping: dict[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(str(key) for key in set(mapping) - allowed)
    if unknown:
        raise _fail(path, f"unknown keys {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")


def _approvers(value: Any, path: str) -> dict[str, Approver]:
    if not isinstance(value, list) or not value:
        raise _fail(path, "must be a non-empty list of approver keys")
    approvers: dict[str, Approver] = {}
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise _fail(item_path, f"must be a mapping with keyid, owner, role, public_key, got {type(item).__name__}")
        _unknown(item, _APPROVER_KEYS, item_path)
        missing = sorted(_APPROVER_KEYS - set(item))
        if missing:
            raise _fail(item_path, f"lacks {', '.join(missing)}")
        try:
            public_key = load_public_key(item["public_key"])
        except ValueError as exc:
            raise _fail(f"{item_path}.public_key", f"not an Ed25519 public key (PEM or base64 raw): {exc}") from None
        computed = keyid_of(public_key)
        if item["keyid"] != computed:
            raise _fail(f"{item_path}.keyid", f"{item['keyid']!r} does not match its public key, whose keyid is {computed!r}")
        if computed in approvers:
            raise _fail(item_path, f"keyid {computed} is listed twice")
        approvers[computed] = Approver(computed, _name(item["owner"], f"{item_path}.owner"), _name(item["role"], f"{item_path}.role"), public_key)
    return approvers


def _retired(value: Any, path: str) -> dict[str, RetiredKey]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise _fail(path, f"must be a list, got {type(value).__name__}")
    retired: dict[str, RetiredKey] = {}
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict) or "keyid" not in item:
            raise _fail(item_path, "must be a mapping with at least keyid")
        _unknown(item, _RETIRED_KEYS, item_path)
        keyid = item["keyid"]
        if not isinstance(keyid, str) or not _KEYID.fullmatch(keyid):
            raise _fail(f"{item_path}.keyid", f"must be 32 lowercase hex characters, got {keyid!r}")
        retired_on = _date(item["retired_on"], f"{item_path}.retired_on") if item.get("retired_on") is not None else None
        retired[keyid] = RetiredKey(keyid, str(item.get("owner", "?")), retired_on, str(item.get("reason", "")))
    return retired


def _classes(value: Any, path: str, default_lead: int) -> dict[str, SystemClass]:
    if not isinstance(value, dict) or not value:
        raise _fail(path, "must map each system class to {roles: {role: threshold}}")
    classes: dict[str, SystemClass] = {}
    for name, spec in value.items():
        class_path = f"{path}.{name}"
        _name(name, class_path)
        if not isinstance(spec, dict):
            raise _fail(class_path, f"must be a mapping with roles, got {type(spec).__name__}")
        _unknown(spec, _CLASS_KEYS, class_path)
        roles = spec.get("roles")
        if not isinstance(roles, dict) or not roles:
            raise _fail(f"{class_path}.roles", f"must map at least one role to its threshold, got {roles!r}")
        thresholds = {_name(role, f"{class_path}.roles.{role}"): _integer(count, f"{class_path}.roles.{role}", 1) for role, count in roles.items()}
        lead = spec.get("min_lead_working_days", default_lead)
        classes[name] = SystemClass(name, thresholds, _integer(lead, f"{class_path}.min_lead_working_days", 0))
    return classes


def default_ledger_dir() -> str:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "opsgate", "approvals")


def parse_policy(raw: Any, path: str = POLICY_VAR) -> Policy:
    """Validate the policy; every error names its key path and the offending value."""
    if not isinstance(raw, dict):
        raise _fail(path, f"must be a mapping, got {type(raw).__name__}")
    _unknown(raw, _TOP_KEYS, path)
    for required in ("approvers", "classes"):
        if required not in raw:
            raise _fail(path, f"lacks {required}")
    min_lead = _integer(raw.get("min_lead_working_days", DEFAULT_MIN_LEAD_WORKING_DAYS), f"{path}.min_lead_working_days", 0)
    approvers = _approvers(raw["approvers"], f"{path}.approvers")
    retired = _retired(raw.get("retired_keys"), f"{path}.retired_keys")
    both = sorted(set(approvers) & set(retired))
    if both:
        raise _fail(f"{path}.retired_keys", f"keyid {both[0]} is both active and retired")
    tz_name = raw.get("timezone", "UTC")
    try:
        timezone = ZoneInfo(tz_name) if isinstance(tz_name, str) else None
    except (ZoneInfoNotFoundError, ValueError):
        timezone = None
    if timezone is None:
        raise _fail(f"{path}.timezone", f"must be an IANA time zone like Asia/Shanghai, got {tz_name!r}")
    window = raw.get("max_window_hours", DEFAULT_MAX_WINDOW_HOURS)
    if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
        raise _fail(f"{path}.max_window_hours", f"must be a number > 0, got {window!r}")
    ledger_dir = raw.get("ledger_dir") or default_ledger_dir()
    if not isinstance(ledger_dir, str):
        raise _fail(f"{path}.ledger_dir", f"must be a directory path, got {ledger_dir!r}")
    return Policy(
        approvers=approvers,
        retired_keys=retired,
        classes=_classes(raw["classes"], f"{path}.classes", min_lead),
        holidays=_dates(raw.get("holidays"), f"{path}.holidays"),
        working_weekends=_dates(raw.get("working_weekends"), f"{path}.working_weekends"),
        timezone=timezone,
        max_window_hours=float(window),
        clock_leeway_seconds=_integer(raw.get("clock_leeway_seconds", DEFAULT_CLOCK_LEEWAY_SECONDS), f"{path}.clock_leeway_seconds", 0),
        ledger_dir=os.path.expanduser(ledger_dir),
        min_lead_working_days=min_lead,
        source=raw,
    )
