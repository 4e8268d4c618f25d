# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The approval policy: who may approve, which roles each system class needs, lead time, window.

The policy is a signed document (signed_document.py) of kind ``policy``: the threshold of the
pinned trust root's administrators must sign it, it carries a version that may only grow on a
controller (the token ledger in the state store keeps the highest seen) and an expiry. Where the file comes
from does not matter; who signed it does.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import errors
from .change_document import DOCUMENT_KINDS
from .claims import parse_timestamp
from .freezes import Freeze, parse_freezes
from .host_classes import HostClass, parse_host_classes
from .identity import check_person_name, identity_key
from .keys import key_entry
from .signed_document import parse_document

try:
    from ..schema.engine import Field, Issues, Schema, SchemaIssue, collect, join
except ImportError:  # bin/opsgate-approval and the release agent import this package as plain "approval", next to "schema"
    from schema.engine import Field, Issues, Schema, SchemaIssue, collect, join  # type: ignore[no-redef]

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
_DOCUMENT_KEYS = {"_type", "version", "expires"}
# Whether a deploy, gray release or rollback of a class runs the target hosts' readiness checks first
# (docs/approvals.md): only the signed policy may let a class skip them, never a variable.
READINESS_REQUIRED = "required"
READINESS_SKIP = "skip"
READINESS_CHOICES = (READINESS_REQUIRED, READINESS_SKIP)
DEFAULT_EMERGENCY_WINDOW_HOURS = 4
DEFAULT_RATIFY_WITHIN_WORKING_DAYS = 2
# Art. 22(2): how long the operations archive keeps its entries; opsgate-archive prune removes nothing younger.
DEFAULT_ARCHIVE_RETENTION_YEARS = 10
MAX_ARCHIVE_RETENTION_YEARS = 100
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
_KEYID = re.compile(r"[0-9a-f]{32}")
# A refusal written by a check in code: "policy.approvers[2].public_key: not an Ed25519 public key ...".
_REFUSAL = re.compile(r"(?P<path>[^\s:]+): (?P<message>.*)", re.S)


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
    archive_retention_years: int = DEFAULT_ARCHIVE_RETENTION_YEARS
    # The document kinds a change of each class must hand over (its change document's documents); a class not named needs none.
    required_documents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # The signed document's bytes, as read: what the controller sends a host to verify against its own root.
    document: bytes = field(default=b"", compare=False, repr=False)


def _fail(path: str, message: str) -> errors.ApprovalError:
    return errors.ApprovalError(errors.POLICY_INVALID, f"{path}: {message}")


def _invalid(issues: list[SchemaIssue]) -> errors.ApprovalError:
    """One refusal listing every problem, one ``path: message (got VALUE)`` line each."""
    return errors.ApprovalError(errors.POLICY_INVALID, "\n".join(str(issue) for issue in issues))


def _add_refusal(issues: Issues, path: str, exc: errors.ApprovalError) -> None:
    """The refusal of a check written as code (keys, person names, freezes, host classes) as one more issue."""
    text = exc.message
    match = _REFUSAL.match(text)
    if match is not None and match.group("path").startswith(path):
        issues.add(match.group("path"), match.group("message"))
    elif text.startswith(path + " "):
        issues.add(path, text[len(path) + 1 :])
    else:
        issues.add(path, text)


def _as_date(value: Any) -> date | None:
    # YAML turns an unquoted 2025-10-01 into a date already; a quoted one stays a string.
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _date_problem(value: Any) -> str | None:
    return None if _as_date(value) is not None else "must be a date YYYY-MM-DD"


def _zone(name: Any) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if isinstance(name, str) else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _zone_problem(name: str) -> str | None:
    return None if _zone(name) is not None else "must be an IANA time zone like Asia/Shanghai"


def _readiness_problem(value: Any) -> str | None:
    if isinstance(value, str) and value in READINESS_CHOICES:
        return None
    return f"must be {READINESS_REQUIRED} (the default: readiness checks before the first change) or {READINESS_SKIP}"


def _not_empty(what: str) -> Any:
    def problem(value: Any) -> str | None:
        return None if value else f"must {what}"

    return problem


def _roles_field(doc: str) -> Field:
    return Field(
        "mapping",
        required=True,
        doc=doc,
        hint="a mapping of each role to its threshold",
        key_pattern=_NAME.pattern,
        key_hint=_NAME_HINT,
        values=Field("int", minimum=1),
        check=_not_empty("map at least one role to its threshold"),
    )


def _roles_rules(section: dict[str, Any], path: str, issues: Issues) -> None:
    if REQUESTER_ROLE in section["roles"]:
        issues.add(join(join(path, "roles"), REQUESTER_ROLE), "the requester proves who asked; the role cannot approve", section["roles"][REQUESTER_ROLE])


def _approver_rules(approver: dict[str, Any], path: str, issues: Issues) -> None:
    """The key loads (a point of the curve, not small-order) and its id matches; the owner names one person unambiguously."""
    try:
        key_entry(approver, path, (), errors.POLICY_INVALID)
    except errors.ApprovalError as exc:
        _add_refusal(issues, path, exc)
    try:
        check_person_name(approver["owner"], f"{path}.owner", errors.POLICY_INVALID)
    except errors.ApprovalError as exc:
        _add_refusal(issues, f"{path}.owner", exc)


def _policy_rules(policy: dict[str, Any], path: str, issues: Issues) -> None:
    """Rules across sections: each key once, one spelling per person, no key both active and retired, freezes, host classes."""
    keyids: set[str] = set()
    people: dict[str, str] = {}
    for index, approver in enumerate(policy["approvers"]):
        if approver["keyid"] in keyids:
            issues.add(f"{path}.approvers[{index}]", f"keyid {approver['keyid']} is listed twice")
        keyids.add(approver["keyid"])
        owner = approver["owner"]
        if people.setdefault(identity_key(owner), owner) != owner:
            issues.add(f"{path}.approvers", f"owners {people[identity_key(owner)]!r} and {owner!r} are one person; spell them the same")
    for retired in policy["retired_keys"]:
        if retired["keyid"] in keyids:
            issues.add(f"{path}.retired_keys", f"keyid {retired['keyid']} is both active and retired")
    try:
        parse_freezes(policy.get("freezes"), f"{path}.freezes", policy["timezone"], policy["classes"])
    except errors.ApprovalError as exc:
        _add_refusal(issues, f"{path}.freezes", exc)
    try:
        parse_host_classes(policy.get("host_classes"), f"{path}.host_classes", policy["classes"])
    except errors.ApprovalError as exc:
        _add_refusal(issues, f"{path}.host_classes", exc)
    for name in policy.get("required_documents") or {}:
        # A class spelled wrong would require nothing of the class meant: refuse it.
        if name not in policy["classes"]:
            issues.add(f"{path}.required_documents.{name}", f"is not a class of the policy (classes: {', '.join(sorted(policy['classes']))})", name)


_NAME_HINT = "a name of letters, digits and ._@-"
_DATES = Field("list", nullable=True, default=list, hint="a list of dates", item=Field("any", check=_date_problem, normalize=_as_date))
_APPROVER = Schema(
    {
        "keyid": Field("str", required=True, doc="the key id keygen printed", pattern=_KEYID.pattern, hint="32 lowercase hex characters"),
        "owner": Field("str", required=True, doc="the person who holds the key"),
        "role": Field("str", required=True, doc="the role the owner approves as", pattern=_NAME.pattern, hint=_NAME_HINT),
        "public_key": Field("str", required=True, doc="base64 of the raw 32 bytes, or PEM"),
    },
    checks=(_approver_rules,),
)
_RETIRED = Schema(
    {
        "keyid": Field("str", required=True, doc="the key id of the removed key", pattern=_KEYID.pattern, hint="32 lowercase hex characters"),
        "owner": Field("str", nullable=True, default="?"),
        "role": Field("str", nullable=True),
        "retired_on": Field("any", nullable=True, check=_date_problem, normalize=_as_date),
        "reason": Field("str", nullable=True, allow_empty=True, default=""),
    }
)
_ROLLBACK = Schema(
    {
        "roles": _roles_field("the roles that approve a rollback to a release recorded good"),
        # A shorter lead time must be written down; without it the class's lead time holds.
        "min_lead_working_days": Field("int", minimum=0),
    },
    checks=(_roles_rules,),
)
_CLASS = Schema(
    {
        "roles": _roles_field("map at least one role to its threshold"),
        # Without it, the policy's min_lead_working_days.
        "min_lead_working_days": Field("int", minimum=0),
        "description": Field("str", nullable=True, allow_empty=True),
        "rollback": Field("mapping", nullable=True, schema=_ROLLBACK, hint="a mapping with roles and min_lead_working_days"),
        "readiness": Field("any", default=READINESS_REQUIRED, check=_readiness_problem),
    },
    checks=(_roles_rules,),
)
_EMERGENCY = Schema(
    {
        "roles": _roles_field("the roles that approve an emergency change (e.g. it_head and ops_director)"),
        "max_window_hours": Field("int", minimum=1, default=DEFAULT_EMERGENCY_WINDOW_HOURS),
        "allowed_during_freeze": Field("bool", default=False),
        "ratify_within_working_days": Field("int", minimum=0, default=DEFAULT_RATIFY_WITHIN_WORKING_DAYS),
        "description": Field("str", nullable=True, allow_empty=True),
    },
    checks=(_roles_rules,),
)
_POLICY = Schema(
    {
        "approvers": Field(
            "list",
            required=True,
            doc="a non-empty list of approver keys",
            min_items=1,
            hint="a non-empty list of approver keys",
            item=Field("mapping", schema=_APPROVER, hint="a mapping with keyid, owner, role, public_key"),
        ),
        "change_document": Field("any", choices=("required", "optional"), default="required"),
        "host_grace_hours": Field("int", minimum=0, default=DEFAULT_HOST_GRACE_HOURS),
        "archive_retention_years": Field("int", minimum=1, maximum=MAX_ARCHIVE_RETENTION_YEARS, default=DEFAULT_ARCHIVE_RETENTION_YEARS),
        "retired_keys": Field("list", nullable=True, default=list, item=Field("mapping", schema=_RETIRED, hint="a mapping with at least keyid")),
        "classes": Field(
            "mapping",
            required=True,
            doc="map each system class to {roles: {role: threshold}}",
            hint="a mapping of each system class to {roles: {role: threshold}}",
            key_pattern=_NAME.pattern,
            key_hint=_NAME_HINT,
            values=Field("mapping", schema=_CLASS, hint="a mapping with roles"),
            check=_not_empty("map each system class to {roles: {role: threshold}}"),
        ),
        "min_lead_working_days": Field("int", minimum=0, default=DEFAULT_MIN_LEAD_WORKING_DAYS),
        "holidays": _DATES,
        "working_weekends": _DATES,
        # Always present: parse_policy writes the default UTC in, so it is checked (installed) like any other zone.
        "timezone": Field("str", hint="an IANA time zone like Asia/Shanghai", check=_zone_problem, normalize=ZoneInfo),
        "max_window_hours": Field("int", minimum=1, default=DEFAULT_MAX_WINDOW_HOURS),
        "clock_leeway_seconds": Field("int", minimum=0, default=DEFAULT_CLOCK_LEEWAY_SECONDS),
        # Bounded: a slack of years would make the rule meaningless (and overflow date arithmetic).
        "plan_filed_slack_hours": Field("int", minimum=0, maximum=MAX_PLAN_FILED_SLACK_HOURS, default=DEFAULT_PLAN_FILED_SLACK_HOURS),
        # Each freeze and host class is checked by freezes.py and host_classes.py (_policy_rules).
        "freezes": Field("list", nullable=True, hint="a list of freezes"),
        "emergency": Field("mapping", nullable=True, schema=_EMERGENCY, hint="a mapping with roles"),
        "host_classes": Field("list", nullable=True, min_items=1, hint="a non-empty list of {hosts: [patterns], class: <class>}"),
        "required_documents": Field(
            "mapping",
            nullable=True,
            default=dict,
            hint="a mapping of each system class to the document kinds its changes hand over",
            key_pattern=_NAME.pattern,
            key_hint=_NAME_HINT,
            values=Field(
                "list",
                hint=f"a list of document kinds ({', '.join(DOCUMENT_KINDS)})",
                item=Field("str", choices=DOCUMENT_KINDS),
                # In a fixed order, each once: the refusal names them in the same order every time.
                normalize=lambda kinds: tuple(sorted(set(kinds))),
            ),
        ),
    },
    checks=(_policy_rules,),
)


def _system_class(name: str, spec: dict[str, Any], default_lead: int) -> SystemClass:
    lead = spec.get("min_lead_working_days", default_lead)
    rollback = spec.get("rollback")
    rule = None if rollback is None else RollbackRule(rollback["roles"], rollback.get("min_lead_working_days", lead))
    return SystemClass(name, spec["roles"], lead, rule, spec["readiness"])


def _emergency(spec: dict[str, Any] | None) -> EmergencyRule | None:
    if spec is None:
        return None
    return EmergencyRule(spec["roles"], spec["max_window_hours"], spec["allowed_during_freeze"], spec["ratify_within_working_days"])


def parse_policy(raw: Any, ledger_dir: str, path: str = "policy") -> Policy:
    """Validate the policy; one ``POLICY_INVALID`` lists every error, each with its key path and the offending value."""
    body = {"timezone": "UTC", **raw} if isinstance(raw, Mapping) and "timezone" not in raw else raw
    policy, issues = collect(_POLICY, body, path)
    if issues:
        raise _invalid(issues)
    approvers: dict[str, Approver] = {}
    for index, item in enumerate(policy["approvers"]):
        keyid, public_key = key_entry(item, f"{path}.approvers[{index}]", approvers, errors.POLICY_INVALID)
        approvers[keyid] = Approver(keyid, item["owner"], item["role"], public_key)
    retired = {item["keyid"]: RetiredKey(item["keyid"], item["owner"], item.get("retired_on"), item["reason"]) for item in policy["retired_keys"]}
    min_lead = policy["min_lead_working_days"]
    classes = {name: _system_class(name, spec, min_lead) for name, spec in policy["classes"].items()}
    timezone = policy["timezone"]
    return Policy(
        approvers=approvers,
        retired_keys=retired,
        classes=classes,
        holidays=frozenset(policy["holidays"]),
        working_weekends=frozenset(policy["working_weekends"]),
        timezone=timezone,
        max_window_hours=float(policy["max_window_hours"]),
        clock_leeway_seconds=policy["clock_leeway_seconds"],
        plan_filed_slack_hours=policy["plan_filed_slack_hours"],
        ledger_dir=ledger_dir,
        min_lead_working_days=min_lead,
        freezes=parse_freezes(policy.get("freezes"), f"{path}.freezes", timezone, classes),
        emergency=_emergency(policy.get("emergency")),
        host_classes=parse_host_classes(policy.get("host_classes"), f"{path}.host_classes", classes),
        change_document=policy["change_document"],
        host_grace_hours=policy["host_grace_hours"],
        archive_retention_years=policy["archive_retention_years"],
        required_documents=dict(policy["required_documents"]),
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
    version, found = collect(Field("int", minimum=1), signed.get("version"), f"{what}.version")
    if found:
        raise _invalid(found)
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
