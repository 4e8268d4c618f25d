# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The approval policy: who may approve, which roles each system class needs, lead time, window.

The policy is a signed document (signed_document.py) of kind ``policy``: the threshold of the
pinned trust root's administrators must sign it, it carries a version that may only grow on a
controller (consumption_ledger.py keeps the highest seen) and an expiry. Where the file comes
from does not matter; who signed it does.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import errors
from .claims import parse_timestamp
from .freezes import Freeze, parse_freezes
from .host_classes import HostClass, parse_host_classes
from .identity import check_person_name, identity_key
from .keys import key_entry
from .signed_document import parse_document

if TYPE_CHECKING:
    from .trust_root import TrustRoot

POLICY_VAR = "opsgate_approval_policy"
POLICY_FILE_VAR = "opsgate_approval_policy_file"
POLICY_KIND = "policy"
POLICY_TYPE = "opsgate.release/approval-policy"
REQUESTER_ROLE = "requester"
DEFAULT_MIN_LEAD_WORKING_DAYS = 3
DEFAULT_MAX_WINDOW_HOURS = 24
DEFAULT_CLOCK_LEEWAY_SECONDS = 300
# The lead time counts from no earlier than the first signature minus this many hours (docs/approvals.md).
DEFAULT_PLAN_FILED_SLACK_HOURS = 24
DEFAULT_HOST_GRACE_HOURS = 12
MAX_PLAN_FILED_SLACK_HOURS = 366 * 24
_TOP_KEYS = {
    "approvers",
    "change_document",
    "host_grace_hours",
    "retired_keys",
    "classes",
    "min_lead_working_days",
    "holidays",
    "working_weekends",
    "timezone",
    "max_window_hours",
    "clock_leeway_seconds",
    "plan_filed_slack_hours",
    "freezes",
    "emergency",
    "host_classes",
}
_DOCUMENT_KEYS = {"_type", "version", "expires"}
_APPROVER_KEYS = {"keyid", "owner", "role", "public_key"}
_RETIRED_KEYS = {"keyid", "owner", "role", "retired_on", "reason"}
_CLASS_KEYS = {"roles", "min_lead_working_days", "description", "rollback", "readiness"}
# Whether a deploy, gray release or rollback of a class runs the target hosts' readiness checks first
# (docs/approvals.md): only the signed policy may let a class skip them, never a variable.
READINESS_REQUIRED = "required"
READINESS_SKIP = "skip"
READINESS_CHOICES = (READINESS_REQUIRED, READINESS_SKIP)
_ROLLBACK_KEYS = {"roles", "min_lead_working_days"}
_EMERGENCY_KEYS = {"roles", "max_window_hours", "allowed_during_freeze", "ratify_within_working_days", "description"}
DEFAULT_EMERGENCY_WINDOW_HOURS = 4
DEFAULT_RATIFY_WITHIN_WORKING_DAYS = 2
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
_KEYID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Approver:
    keyid: str
    owner: str
    role: str
    public_key: Ed25519PublicKey

    @property
    def person(self) -> str:
        """The owner as people are compared (NFKC, case folded)."""
        return identity_key(self.owner)


@dataclass(frozen=True)
class RetiredKey:
    keyid: str
    owner: str
    retired_on: date | None
    reason: str


@dataclass(frozen=True)
class RollbackRule:
    """A rollback returns to a release the host ledgers record as good (the hosts refuse any other),
    so a class may let it through with fewer roles and a shorter lead time."""

    roles: dict[str, int]
    min_lead_working_days: int


@dataclass(frozen=True)
class SystemClass:
    name: str
    roles: dict[str, int]
    min_lead_working_days: int
    rollback: RollbackRule | None = None
    readiness: str = READINESS_REQUIRED


@dataclass(frozen=True)
class EmergencyRule:
    """Who may approve a change that cannot wait, for how long, and how soon a normal quorum must ratify it."""

    roles: dict[str, int]
    max_window_hours: int
    allowed_during_freeze: bool
    ratify_within_working_days: int


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
    plan_filed_slack_hours: int = DEFAULT_PLAN_FILED_SLACK_HOURS
    version: int = 0
    expires: datetime | None = None
    sha256: str = ""
    max_document_bytes: int = 1024 * 1024
    freezes: tuple[Freeze, ...] = ()
    # None: the policy allows no emergency change.
    emergency: EmergencyRule | None = None
    # Empty: the policy maps no host to a class; the token's class is what its roles are checked against.
    host_classes: tuple[HostClass, ...] = ()
    # required: a token must bind the change document (change_sha256), or the gate refuses it before consuming it.
    change_document: str = "required"
    # How long after a token's window a host still accepts steps of a run that started inside it (host-side check).
    host_grace_hours: int = DEFAULT_HOST_GRACE_HOURS
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # The signed document's bytes, as read: what the controller sends a host to verify against its own root.
    document: bytes = field(default=b"", compare=False, repr=False)


def _choice(value: Any, path: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _fail(path, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


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


def _slack_hours(value: Any, path: str) -> int:
    # Bounded: a slack of years would make the rule meaningless (and overflow date arithmetic).
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PLAN_FILED_SLACK_HOURS:
        raise _fail(path, f"must be an integer from 0 to {MAX_PLAN_FILED_SLACK_HOURS} (hours), got {value!r}")
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
        computed, public_key = key_entry(item, item_path, approvers, errors.POLICY_INVALID)
        owner = check_person_name(item["owner"], f"{item_path}.owner", errors.POLICY_INVALID)
        approvers[computed] = Approver(computed, owner, _name(item["role"], f"{item_path}.role"), public_key)
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
        thresholds = _roles(spec.get("roles"), f"{class_path}.roles")
        lead = spec.get("min_lead_working_days", default_lead)
        class_lead = _integer(lead, f"{class_path}.min_lead_working_days", 0)
        classes[name] = SystemClass(
            name,
            thresholds,
            class_lead,
            _rollback_rule(spec.get("rollback"), f"{class_path}.rollback", class_lead),
            _readiness(spec.get("readiness", READINESS_REQUIRED), f"{class_path}.readiness"),
        )
    return classes


def _readiness(value: Any, path: str) -> str:
    if value not in READINESS_CHOICES:
        raise _fail(path, f"must be {READINESS_REQUIRED} (the default: readiness checks before the first change) or {READINESS_SKIP}, got {value!r}")
    return value


def _roles(value: Any, path: str) -> dict[str, int]:
    if not isinstance(value, dict) or not value:
        raise _fail(path, f"must map at least one role to its threshold, got {value!r}")
    thresholds = {_name(role, f"{path}.{role}"): _integer(count, f"{path}.{role}", 1) for role, count in value.items()}
    if REQUESTER_ROLE in thresholds:
        raise _fail(f"{path}.{REQUESTER_ROLE}", "the requester proves who asked; the role cannot approve")
    return thresholds


def _roles_section(value: Any, path: str, allowed: set[str], shape: str, roles_are: str) -> dict[str, Any] | None:
    """An optional mapping of ``allowed`` keys that must name ``roles``; None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail(path, f"must be a mapping with {shape}, got {type(value).__name__}")
    _unknown(value, allowed, path)
    if "roles" not in value:
        raise _fail(path, f"lacks roles: {roles_are}")
    return value


def _rollback_rule(raw: Any, path: str, class_lead: int) -> RollbackRule | None:
    value = _roles_section(raw, path, _ROLLBACK_KEYS, "roles and min_lead_working_days", "the roles that approve a rollback to a release recorded good")
    if value is None:
        return None
    # A shorter lead time must be written down; without it the class's lead time holds.
    lead = _integer(value.get("min_lead_working_days", class_lead), f"{path}.min_lead_working_days", 0)
    return RollbackRule(_roles(value["roles"], f"{path}.roles"), lead)


def _emergency(raw: Any, path: str) -> EmergencyRule | None:
    value = _roles_section(raw, path, _EMERGENCY_KEYS, "roles", "the roles that approve an emergency change (e.g. it_head and ops_director)")
    if value is None:
        return None
    during_freeze = value.get("allowed_during_freeze", False)
    if not isinstance(during_freeze, bool):
        raise _fail(f"{path}.allowed_during_freeze", f"must be true or false, got {during_freeze!r}")
    return EmergencyRule(
        roles=_roles(value["roles"], f"{path}.roles"),
        max_window_hours=_integer(value.get("max_window_hours", DEFAULT_EMERGENCY_WINDOW_HOURS), f"{path}.max_window_hours", 1),
        allowed_during_freeze=during_freeze,
        ratify_within_working_days=_integer(
            value.get("ratify_within_working_days", DEFAULT_RATIFY_WITHIN_WORKING_DAYS), f"{path}.ratify_within_working_days", 0
        ),
    )


def parse_policy(raw: Any, ledger_dir: str, path: str = "policy") -> Policy:
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
    window = _integer(raw.get("max_window_hours", DEFAULT_MAX_WINDOW_HOURS), f"{path}.max_window_hours", 1)
    people: dict[str, str] = {}
    for approver in approvers.values():
        if people.setdefault(approver.person, approver.owner) != approver.owner:
            raise _fail(f"{path}.approvers", f"owners {people[approver.person]!r} and {approver.owner!r} are one person; spell them the same")
    classes = _classes(raw["classes"], f"{path}.classes", min_lead)
    return Policy(
        approvers=approvers,
        retired_keys=retired,
        classes=classes,
        holidays=_dates(raw.get("holidays"), f"{path}.holidays"),
        working_weekends=_dates(raw.get("working_weekends"), f"{path}.working_weekends"),
        timezone=timezone,
        max_window_hours=float(window),
        clock_leeway_seconds=_integer(raw.get("clock_leeway_seconds", DEFAULT_CLOCK_LEEWAY_SECONDS), f"{path}.clock_leeway_seconds", 0),
        plan_filed_slack_hours=_slack_hours(raw.get("plan_filed_slack_hours", DEFAULT_PLAN_FILED_SLACK_HOURS), f"{path}.plan_filed_slack_hours"),
        ledger_dir=ledger_dir,
        min_lead_working_days=min_lead,
        freezes=parse_freezes(raw.get("freezes"), f"{path}.freezes", timezone, classes),
        emergency=_emergency(raw.get("emergency"), f"{path}.emergency"),
        host_classes=parse_host_classes(raw.get("host_classes"), f"{path}.host_classes", classes),
        change_document=_choice(raw.get("change_document", "required"), f"{path}.change_document", ("required", "optional")),
        host_grace_hours=_integer(raw.get("host_grace_hours", DEFAULT_HOST_GRACE_HOURS), f"{path}.host_grace_hours", 0),
        source=raw,
    )


def load_policy_document(data: bytes, root: TrustRoot, now: datetime, source: str) -> Policy:
    """Parse the signed policy file; refuse it unless the root's threshold signed it and it has not expired."""
    from .trust_root import people_who_signed

    what = f"approval policy {source}"
    try:
        document = parse_document(data, what, errors.POLICY_INVALID, max_bytes=root.max_document_bytes, unsigned_code=errors.POLICY_UNSIGNED)
    except errors.ApprovalError as exc:
        if exc.code == errors.POLICY_UNSIGNED:
            raise errors.ApprovalError(errors.POLICY_UNSIGNED, f"{what} is not a signed policy document: {exc.message}") from None
        raise
    signed = document.signed
    if signed.get("_type") != POLICY_TYPE:
        raise _fail(f"{what}._type", f"must be {POLICY_TYPE!r}, got {signed.get('_type')!r}")
    people = people_who_signed(POLICY_KIND, document, root.admins)
    if len(people) < root.threshold:
        raise errors.ApprovalError(
            errors.POLICY_UNTRUSTED,
            f"{what} is signed by {len(people)} policy administrators of trust root version {root.version}, which needs {root.threshold}: "
            "only a policy the administrators signed is used",
        )
    version = _integer(signed.get("version"), f"{what}.version", 1)
    expires = parse_timestamp(signed.get("expires"), f"{what}.expires", errors.POLICY_INVALID)
    if expires <= now:
        raise errors.ApprovalError(errors.POLICY_EXPIRED, f"{what} version {version} expired at {signed['expires']}: the administrators sign a new version")
    body = {key: value for key, value in signed.items() if key not in _DOCUMENT_KEYS}
    if "ledger_dir" in body:
        raise _fail(f"{what}.ledger_dir", "the ledger location comes from the pinned trust root, not from the policy")
    policy = parse_policy(body, root.ledger_dir, path="policy")
    return dataclasses.replace(
        policy, version=version, expires=expires, sha256=document.sha256, max_document_bytes=root.max_document_bytes, source=signed, document=bytes(data)
    )
