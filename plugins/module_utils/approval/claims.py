# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The claims an approval binds: which change, which artifact, which hosts, when."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import errors
from .identity import check_host_name, check_person_name, shown

ACTIONS = ("deploy", "gray_release", "rollback")
# normal: the class's roles and lead time. emergency: the policy's emergency roles, no lead time, an
# incident id; it must be ratified afterwards. ratification: a normal quorum's approval, after the
# fact, of one emergency token; it changes no host.
KIND_NORMAL, KIND_EMERGENCY, KIND_RATIFICATION = "normal", "emergency", "ratification"
KINDS = (KIND_NORMAL, KIND_EMERGENCY, KIND_RATIFICATION)
CLAIM_KEYS = (
    "token_id",
    "change_id",
    "system",
    "system_class",
    "action",
    "app",
    "version",
    "artifact_sha256",
    "env",
    "hosts",
    "plan_filed_at",
    "not_before",
    "not_after",
    "requested_by",
    "requested_at",
    "reports",
)
# Absent means a normal change, so tokens from before emergencies existed keep their meaning.
# change_sha256 binds the change document (change_document.py); the policy decides whether it is required.
OPTIONAL_CLAIM_KEYS = ("kind", "incident_id", "ratifies", "change_sha256")
REPORT_KEYS = ("test", "acceptance")
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_TOKEN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{7,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MAX_TEXT = 256
# A sane range: outside it, date arithmetic overflows or the value is a typing error.
_FIRST_YEAR, _LAST_YEAR = 2000, 2199


@dataclass(frozen=True)
class Claims:
    token_id: str
    change_id: str
    system: str
    system_class: str
    action: str
    app: str
    version: str
    artifact_sha256: str
    env: str
    hosts: tuple[str, ...]
    plan_filed_at: datetime
    not_before: datetime
    not_after: datetime
    requested_by: str
    # When opsgate-approval request made the request: the requester's clock, signed with their key.
    requested_at: datetime
    reports: dict[str, str]
    kind: str = KIND_NORMAL
    incident_id: str | None = None
    ratifies: str | None = None
    change_sha256: str | None = None


def new_token_id() -> str:
    return "apv-" + secrets.token_hex(8)


def format_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamp must carry a time zone")
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(value: Any, path: str, code: str = errors.CLAIMS_INVALID) -> datetime:
    """ISO-8601 UTC with seconds and a ``Z``: one spelling per instant, so signed bytes are stable."""
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise errors.ApprovalError(code, f"{path} must be an ISO-8601 UTC timestamp like 2025-03-14T18:00:00Z, got {value!r}")
    if not _FIRST_YEAR <= int(value[:4]) <= _LAST_YEAR:
        raise errors.ApprovalError(code, f"{path} year {value[:4]} is outside {_FIRST_YEAR}-{_LAST_YEAR}: {value!r}")
    try:
        return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise errors.ApprovalError(code, f"{path} is not a real date and time: {value!r}") from None


def _text(claims: dict[str, Any], key: str) -> str:
    value = claims[key]
    if not isinstance(value, str) or not value.strip() or value != value.strip() or len(value) > _MAX_TEXT or not value.isprintable():
        raise errors.ApprovalError(
            errors.CLAIMS_INVALID,
            f"claims.{key} must be a non-empty printable string without surrounding spaces (max {_MAX_TEXT}), got {shown(value)}",
        )
    return value


def validate_hosts(value: Any, path: str, code: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise errors.ApprovalError(code, f"{path} must be a non-empty list of host names, got {value!r}")
    for index, host in enumerate(value):
        check_host_name(host, f"{path}[{index}]", code)
    return tuple(value)


def _kind_claims(claims: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """An emergency names its incident; a ratification names the emergency token; a normal change neither."""
    kind = claims.get("kind", KIND_NORMAL)
    if kind not in KINDS:
        raise errors.ApprovalError(errors.CLAIMS_INVALID, f"claims.kind must be one of {', '.join(KINDS)}, got {shown(kind)}")
    incident_id = _text(claims, "incident_id") if "incident_id" in claims else None
    ratifies = claims.get("ratifies")
    if ratifies is not None and (not isinstance(ratifies, str) or not _TOKEN_ID.fullmatch(ratifies)):
        raise errors.ApprovalError(errors.CLAIMS_INVALID, f"claims.ratifies must be the token id of an emergency approval, got {shown(ratifies)}")
    if kind == KIND_EMERGENCY and incident_id is None:
        raise errors.ApprovalError(errors.CLAIMS_INVALID, "claims.incident_id is required for an emergency change: name the incident it answers")
    if kind == KIND_RATIFICATION and ratifies is None:
        raise errors.ApprovalError(errors.CLAIMS_INVALID, "claims.ratifies is required for a ratification: the token id of the emergency it approves")
    if kind != KIND_RATIFICATION and ratifies is not None:
        raise errors.ApprovalError(errors.CLAIMS_INVALID, f"claims.ratifies is only for kind ratification, this token is kind {kind}")
    if kind == KIND_NORMAL and incident_id is not None:
        raise errors.ApprovalError(errors.CLAIMS_INVALID, "claims.incident_id is only for emergency changes and their ratifications")
    return kind, incident_id, ratifies


def validate_claims(claims: dict[str, Any]) -> Claims:
    """Check the shape of every claim; the error names the claim (key path) and the value."""
    missing = [key for key in CLAIM_KEYS if key not in claims]
    if missing:
        raise errors.ApprovalError(errors.CLAIMS_INVALID, f"claims lack {', '.join(missing)}")
    unknown = sorted(set(claims) - set(CLAIM_KEYS) - set(OPTIONAL_CLAIM_KEYS))
    if unknown:
        raise errors.ApprovalError(errors.CLAIMS_INVALID, f"claims have unknown keys {', '.join(unknown)}")
    token_id = claims["token_id"]
    if not isinstance(token_id, str) or not _TOKEN_ID.fullmatch(token_id):
        raise errors.ApprovalError(errors.CLAIMS_INVALID, f"claims.token_id must be 8-64 characters of [A-Za-z0-9._-], got {token_id!r}")
    action = claims["action"]
    if action not in ACTIONS:
        raise errors.ApprovalError(errors.CLAIMS_INVALID, f"claims.action must be one of {', '.join(ACTIONS)}, got {action!r}")
    digest = claims["artifact_sha256"]
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise errors.ApprovalError(errors.CLAIMS_INVALID, f"claims.artifact_sha256 must be 64 lowercase hex characters, got {digest!r}")
    hosts = validate_hosts(claims["hosts"], "claims.hosts", errors.CLAIMS_INVALID)
    if list(hosts) != sorted(set(hosts)):
        raise errors.ApprovalError(errors.CLAIMS_INVALID, "claims.hosts must be sorted and without duplicates")
    reports = claims["reports"]
    if not isinstance(reports, dict) or set(reports) != set(REPORT_KEYS):
        keys = sorted(reports) if isinstance(reports, dict) else type(reports).__name__
        raise errors.ApprovalError(errors.CLAIMS_INVALID, f"claims.reports must have exactly the keys test and acceptance (Art. 18), got {keys}")
    for key in REPORT_KEYS:
        ref = reports[key]
        if not isinstance(ref, str) or not ref.strip():
            raise errors.ApprovalError(errors.CLAIMS_INVALID, f"claims.reports.{key} must name the {key} report, got {ref!r}")
    kind, incident_id, ratifies = _kind_claims(claims)
    change_sha256 = claims.get("change_sha256")
    if change_sha256 is not None and (not isinstance(change_sha256, str) or not _SHA256.fullmatch(change_sha256)):
        raise errors.ApprovalError(errors.CLAIMS_INVALID, f"claims.change_sha256 must be 64 lowercase hex characters, got {change_sha256!r}")
    return Claims(
        change_sha256=change_sha256,
        kind=kind,
        incident_id=incident_id,
        ratifies=ratifies,
        token_id=token_id,
        change_id=_text(claims, "change_id"),
        system=_text(claims, "system"),
        system_class=_text(claims, "system_class"),
        action=action,
        app=_text(claims, "app"),
        version=_text(claims, "version"),
        artifact_sha256=digest,
        env=_text(claims, "env"),
        hosts=hosts,
        plan_filed_at=parse_timestamp(claims["plan_filed_at"], "claims.plan_filed_at"),
        not_before=parse_timestamp(claims["not_before"], "claims.not_before"),
        not_after=parse_timestamp(claims["not_after"], "claims.not_after"),
        requested_at=parse_timestamp(claims["requested_at"], "claims.requested_at"),
        requested_by=check_person_name(claims["requested_by"], "claims.requested_by", errors.CLAIMS_INVALID),
        reports={key: reports[key] for key in REPORT_KEYS},
    )
