# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every check a token must pass, in one function shared by the Ansible gate and the approvers' CLI."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import errors
from .canonical import approval_signature_payload
from .claims import ACTIONS, KIND_EMERGENCY, KIND_RATIFICATION, Claims, format_timestamp, validate_claims, validate_hosts
from .envelope import Envelope, decode_token, token_digest
from .freezes import freezes_at, freezes_overlapping
from .host_classes import check_host_classes, class_of_host
from .identity import identity_key, shown
from .keys import verify_signature
from .policy import REQUESTER_ROLE, Approver, Policy
from .working_days import working_days_between

if TYPE_CHECKING:
    from .ledger_records import UnusedCheck

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHOWN_HOSTS = 10


@dataclass(frozen=True)
class RunScope:
    """What this run is about to do; each field must equal the token's claim."""

    action: str
    app: str
    version: str
    artifact_sha256: str
    env: str
    hosts: tuple[str, ...]
    system: str | None = None
    system_class: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "app": self.app,
            "version": self.version,
            "artifact_sha256": self.artifact_sha256,
            "env": self.env,
            "hosts": list(self.hosts),
        }


def run_scope(
    action: Any,
    app: Any,
    version: Any,
    artifact_sha256: Any,
    env: Any,
    hosts: Any,
    system: Any = None,
    system_class: Any = None,
) -> RunScope:
    """Build a RunScope from task arguments or CLI options, naming the bad field."""
    if action not in ACTIONS:
        raise errors.ApprovalError(errors.SCOPE_INVALID, f"run action must be one of {', '.join(ACTIONS)}, got {action!r}")
    for name, value in (("app", app), ("version", version), ("env", env)):
        if not isinstance(value, str) or not value.strip():
            raise errors.ApprovalError(errors.SCOPE_INVALID, f"run {name} must be a non-empty string, got {value!r}")
    if not isinstance(artifact_sha256, str) or not _SHA256.fullmatch(artifact_sha256.lower()):
        raise errors.ApprovalError(errors.SCOPE_INVALID, f"run artifact_sha256 must be 64 hex characters, got {artifact_sha256!r}")
    host_names = validate_hosts(list(hosts) if isinstance(hosts, list | tuple | set | frozenset) else hosts, "run hosts", errors.SCOPE_INVALID)
    return RunScope(
        action=action,
        app=app,
        version=str(version),
        artifact_sha256=artifact_sha256.lower(),
        env=env,
        hosts=tuple(sorted(set(host_names))),
        system=system or None,
        system_class=system_class or None,
    )


@dataclass(frozen=True)
class Signer:
    keyid: str
    owner: str
    role: str
    # The signer's own time, as signed (the signer's clock: docs/approvals.md, "Signer times and the lead time").
    signed_at: datetime


@dataclass(frozen=True)
class VerifiedApproval:
    """A token that passed every check. Holds no token text and no signature bytes."""

    claims: Claims
    digest: str
    signers: tuple[Signer, ...]
    requester: Signer
    lead_working_days: int
    verified_at: datetime
    # What the lead time was counted from: plan_filed_at, or the first signature minus plan_filed_slack_hours if later.
    lead_counted_from: datetime

    @property
    def token_id(self) -> str:
        return self.claims.token_id

    def summary(self) -> dict[str, Any]:
        """Safe to print, log and archive."""
        claims = self.claims
        return {
            "token_id": claims.token_id,
            "token_sha256": self.digest,
            "change_id": claims.change_id,
            "system": claims.system,
            "system_class": claims.system_class,
            "action": claims.action,
            "app": claims.app,
            "version": claims.version,
            "artifact_sha256": claims.artifact_sha256,
            "env": claims.env,
            "hosts": list(claims.hosts),
            "requested_by": claims.requested_by,
            "not_before": format_timestamp(claims.not_before),
            "not_after": format_timestamp(claims.not_after),
            "plan_filed_at": format_timestamp(claims.plan_filed_at),
            "requested_at": format_timestamp(claims.requested_at),
            "lead_working_days": self.lead_working_days,
            "lead_counted_from": format_timestamp(self.lead_counted_from),
            "reports": dict(claims.reports),
            "signers": [{"keyid": s.keyid, "owner": s.owner, "role": s.role, "signed_at": format_timestamp(s.signed_at)} for s in self.signers],
            "requester": {"keyid": self.requester.keyid, "owner": self.requester.owner, "signed_at": format_timestamp(self.requester.signed_at)},
            "signer_roles": sorted({s.role for s in self.signers}),
            "verified_at": format_timestamp(self.verified_at),
            "kind": claims.kind,
            "incident_id": claims.incident_id,
            "ratifies": claims.ratifies,
            "change_sha256": claims.change_sha256,
        }


def _hosts_list(hosts: Iterable[str]) -> str:
    items = [shown(host) for host in sorted(hosts)]
    if not items:
        return "none"
    text = ", ".join(items[:_SHOWN_HOSTS])
    return text if len(items) <= _SHOWN_HOSTS else f"{text} and {len(items) - _SHOWN_HOSTS} more"


def _check_keys(envelope: Envelope, policy: Policy) -> list[Approver]:
    if not envelope.signatures:
        raise errors.ApprovalError(errors.NO_SIGNATURES, "the token carries no signatures: nobody has approved it yet")
    approvers: list[Approver] = []
    for entry in envelope.signatures:
        retired = policy.retired_keys.get(entry.keyid)
        if retired is not None:
            when = f" on {retired.retired_on.isoformat()}" if retired.retired_on else ""
            why = f" ({shown(retired.reason)})" if retired.reason else ""
            raise errors.ApprovalError(
                errors.KEY_RETIRED,
                f"key {entry.keyid} of {shown(retired.owner)} was removed from the policy{when}{why}: "
                "its signature no longer counts, have the change signed again",
            )
        approver = policy.approvers.get(entry.keyid)
        if approver is None:
            raise errors.ApprovalError(errors.KEY_UNKNOWN, f"key {entry.keyid} is not an approver key of the approval policy (version {policy.version})")
        approvers.append(approver)
    return approvers


def _check_signatures(envelope: Envelope, approvers: list[Approver]) -> None:
    # Each signature covers the claims and its own signed_at (canonical.approval_signature_payload).
    failed = [
        (approver, entry.signed_at)
        for approver, entry in zip(approvers, envelope.signatures, strict=True)
        if not verify_signature(approver.public_key, entry.sig, approval_signature_payload(envelope.claims, str(entry.signed_at)))
    ]
    if not failed:
        return
    if len(failed) == len(approvers) and len(approvers) > 1:
        raise errors.ApprovalError(
            errors.CLAIMS_TAMPERED,
            f"none of the {len(approvers)} signatures matches the claims: the claims were changed after signing",
        )
    first, signed_at = failed[0]
    raise errors.ApprovalError(
        errors.SIGNATURE_INVALID,
        f"signature of key {first.keyid} ({first.owner}, {first.role}) does not verify over the claims and its signed_at {signed_at} "
        f"({len(failed)} of {len(approvers)} invalid)",
    )


def _signer(approver: Approver) -> str:
    return f"{approver.keyid} ({approver.owner}, {approver.role})"


def _check_signer_times(claims: Claims, envelope: Envelope, signers: list[Approver], policy: Policy, now: datetime) -> list[tuple[datetime, Approver]]:
    """Each signature's signed_at against the plan, the request and now; returns (signed_at, signer), earliest first.

    Each time is its signer's clock, covered by that signer's signature; requested_at is the requester's.
    """
    leeway = timedelta(seconds=policy.clock_leeway_seconds)
    plan, requested = claims.plan_filed_at, claims.requested_at
    # decode_token checked each signed_at's format (claims.parse_timestamp); fromisoformat reads the Z.
    timed = sorted(
        ((datetime.fromisoformat(str(entry.signed_at)), signer) for entry, signer in zip(envelope.signatures, signers, strict=True)),
        # On a tie (same second) the requester's comes first: the request precedes its approvals.
        key=lambda item: (item[0], item[1].role != REQUESTER_ROLE, item[1].keyid),
    )
    for moment, signer in timed:
        if moment < plan:
            raise errors.ApprovalError(
                errors.SIGNED_BEFORE_PLAN,
                f"signature of {_signer(signer)} at {format_timestamp(moment)} precedes plan_filed_at {format_timestamp(plan)}: "
                "nobody signs a change before its plan is filed",
            )
    if requested < plan:
        raise errors.ApprovalError(
            errors.SIGNED_BEFORE_PLAN,
            f"requested_at {format_timestamp(requested)} precedes plan_filed_at {format_timestamp(plan)}: "
            f"{shown(claims.requested_by)} made the request before the plan it asks for was filed",
        )
    for moment, signer in timed:
        if signer.role != REQUESTER_ROLE and moment < requested - leeway:
            raise errors.ApprovalError(
                errors.SIGNED_BEFORE_REQUEST,
                f"signature of {_signer(signer)} at {format_timestamp(moment)} precedes requested_at {format_timestamp(requested)} "
                f"(leeway {policy.clock_leeway_seconds} s): nobody approves a request before it exists",
            )
    for moment, signer in timed:
        if moment > now + leeway:
            raise errors.ApprovalError(
                errors.SIGNATURE_IN_FUTURE,
                f"signature of {_signer(signer)} at {format_timestamp(moment)} is later than now {format_timestamp(now)} "
                f"(leeway {policy.clock_leeway_seconds} s): a signature cannot come from the future; check that signer's clock",
            )
    return timed


def _check_signers(claims: Claims, signers: list[Approver]) -> tuple[Approver, list[Approver]]:
    """Split the requester's signature from the approvers'; one person counts once, and never on both sides."""
    requesters = [signer for signer in signers if signer.role == REQUESTER_ROLE]
    approvers = [signer for signer in signers if signer.role != REQUESTER_ROLE]
    if not requesters:
        raise errors.ApprovalError(
            errors.REQUESTER_UNPROVEN,
            f"no signature of a {REQUESTER_ROLE} key: requested_by {shown(claims.requested_by)} "
            "must sign the request with their own key (opsgate-approval request --key)",
        )
    if len(requesters) > 1:
        raise errors.ApprovalError(errors.REQUESTER_UNPROVEN, f"{len(requesters)} {REQUESTER_ROLE} keys signed: one person requests a change")
    requester = requesters[0]
    if requester.person != identity_key(claims.requested_by):
        raise errors.ApprovalError(
            errors.REQUESTER_UNPROVEN,
            f"requested_by is {shown(claims.requested_by)} but the {REQUESTER_ROLE} signature is by {requester.owner} (key {requester.keyid})",
        )
    by_person: dict[str, Approver] = {}
    for approver in approvers:
        other = by_person.get(approver.person)
        if other is not None:
            raise errors.ApprovalError(
                errors.OWNER_DUPLICATE,
                f"{approver.owner} signed with two keys, {other.keyid} ({other.role}) and {approver.keyid} ({approver.role}): one person counts once",
            )
        by_person[approver.person] = approver
    if requester.person in by_person:
        approver = by_person[requester.person]
        raise errors.ApprovalError(
            errors.REQUESTER_SIGNED,
            f"the requester {shown(claims.requested_by)} signed as {approver.role} (key {approver.keyid}): a requester may not approve their own change",
        )
    return requester, approvers


def _required_roles(claims: Claims, policy: Policy) -> tuple[dict[str, int], int, str]:
    """The roles that must sign, the lead time in working days, and what the rule is called in messages."""
    system_class = policy.classes.get(claims.system_class)
    if system_class is None:
        raise errors.ApprovalError(
            errors.CLASS_UNKNOWN, f"system_class {claims.system_class!r} is not in opsgate_approval_policy.classes ({', '.join(sorted(policy.classes))})"
        )
    if claims.kind == KIND_EMERGENCY:
        if policy.emergency is None:
            raise errors.ApprovalError(
                errors.EMERGENCY_NOT_ALLOWED,
                f"the token is an emergency change (incident {shown(claims.incident_id)}) but approval policy version {policy.version} "
                "has no emergency section: this policy allows no emergency change",
            )
        return policy.emergency.roles, 0, f"emergency changes to {claims.system_class}"
    if claims.kind == KIND_RATIFICATION:
        # After the fact: the normal quorum, and no lead time, since the change already happened.
        return system_class.roles, 0, f"ratifying changes to {claims.system_class}"
    if claims.action == "rollback" and system_class.rollback is not None:
        # The hosts roll back only to the approved release if their ledger records it good (release_revert).
        rule = system_class.rollback
        return rule.roles, rule.min_lead_working_days, f"rollbacks of {claims.system_class} systems to a release recorded good"
    return system_class.roles, system_class.min_lead_working_days, f"changes to {claims.system_class} systems"


def _check_roles(claims: Claims, approvers: list[Approver], policy: Policy) -> int:
    roles, lead, rule = _required_roles(claims, policy)
    counts: dict[str, int] = {}
    for approver in approvers:
        counts[approver.role] = counts.get(approver.role, 0) + 1
    for role, needed in sorted(roles.items()):
        have = counts.get(role, 0)
        if have == 0:
            raise errors.ApprovalError(
                errors.ROLE_MISSING,
                f"role {role} must approve {rule} but has not signed (signed: {', '.join(sorted(counts)) or 'none'})",
            )
        if have < needed:
            raise errors.ApprovalError(errors.THRESHOLD_NOT_MET, f"role {role} needs {needed} signatures for {rule}, has {have}")
    return lead


def _check_window(claims: Claims, policy: Policy, now: datetime | None, grace: timedelta = timedelta(0)) -> None:
    if claims.not_after <= claims.not_before:
        raise errors.ApprovalError(
            errors.WINDOW_INVALID, f"not_after {format_timestamp(claims.not_after)} is not after not_before {format_timestamp(claims.not_before)}"
        )
    length = claims.not_after - claims.not_before
    limit, limit_name = float(policy.max_window_hours), "max_window_hours"
    if claims.kind == KIND_EMERGENCY and policy.emergency is not None:
        limit, limit_name = float(policy.emergency.max_window_hours), "emergency.max_window_hours"
    if length > timedelta(hours=limit):
        raise errors.ApprovalError(errors.WINDOW_TOO_LONG, f"window {length.total_seconds() / 3600:g} h is longer than {limit_name} {limit:g}")
    if now is None:
        return
    leeway = timedelta(seconds=policy.clock_leeway_seconds)
    if now < claims.not_before - leeway:
        raise errors.ApprovalError(
            errors.NOT_YET_VALID,
            f"the window opens at {format_timestamp(claims.not_before)}, now is {format_timestamp(now)} (leeway {policy.clock_leeway_seconds} s)",
        )
    if now > claims.not_after + leeway + grace:
        extra = f", host grace {grace.total_seconds() / 3600:g} h" if grace else ""
        raise errors.ApprovalError(
            errors.EXPIRED,
            f"the window closed at {format_timestamp(claims.not_after)}, now is {format_timestamp(now)} (leeway {policy.clock_leeway_seconds} s{extra})",
        )


def _check_lead_time(claims: Claims, policy: Policy, required: int, first: tuple[datetime, Approver]) -> tuple[int, datetime]:
    """The working days from filing to installation, and the time they were counted from.

    They count from plan_filed_at, or from the first signature minus plan_filed_slack_hours when that
    is later: a plan_filed_at typed further back than that does not lengthen the lead time.
    """
    filed = claims.plan_filed_at.astimezone(policy.timezone).date()
    install = claims.not_before.astimezone(policy.timezone).date()
    if claims.plan_filed_at > claims.not_before:
        raise errors.ApprovalError(
            errors.LEAD_TIME_TOO_SHORT,
            f"plan_filed_at {format_timestamp(claims.plan_filed_at)} is after not_before {format_timestamp(claims.not_before)}",
        )
    lead = working_days_between(filed, install, policy.holidays, policy.working_weekends)
    if lead < required:
        raise errors.ApprovalError(
            errors.LEAD_TIME_TOO_SHORT,
            f"plan filed {filed.isoformat()} for installation {install.isoformat()} leaves {lead} working days in between "
            f"({policy.timezone.key}, weekends and holidays excluded), {claims.system_class} needs {required}",
        )
    first_at, first_signer = first
    slack = policy.plan_filed_slack_hours
    counted_from = max(claims.plan_filed_at, first_at - timedelta(hours=slack))
    if counted_from == claims.plan_filed_at:
        return lead, counted_from
    counted_date = counted_from.astimezone(policy.timezone).date()
    counted = working_days_between(counted_date, install, policy.holidays, policy.working_weekends)
    if counted < required:
        raise errors.ApprovalError(
            errors.LEAD_TIME_TOO_SHORT,
            f"plan_filed_at {format_timestamp(claims.plan_filed_at)} is more than {slack} h (plan_filed_slack_hours) before the first signature, "
            f"by {_signer(first_signer)} at {format_timestamp(first_at)}; counted from {format_timestamp(counted_from)} ({counted_date.isoformat()}) "
            f"the lead time to installation {install.isoformat()} is {counted} working days ({policy.timezone.key}, weekends and holidays excluded), "
            f"{claims.system_class} needs {required}",
        )
    return counted, counted_from


def freeze_applies(claims: Claims, policy: Policy) -> bool:
    """A ratification changes no host; an emergency passes a freeze only where the policy says so."""
    if claims.kind == KIND_RATIFICATION:
        return False
    return not (claims.kind == KIND_EMERGENCY and policy.emergency is not None and policy.emergency.allowed_during_freeze)


def _check_not_frozen(claims: Claims, policy: Policy, now: datetime) -> None:
    if not freeze_applies(claims, policy):
        return
    frozen = freezes_at(policy.freezes, now, claims.system, claims.system_class)
    if frozen:
        raise errors.ApprovalError(
            errors.FROZEN, f"{frozen[0].describe()}; now is {format_timestamp(now)}: no change to {claims.system} ({claims.system_class}) runs until it ends"
        )


def check_freeze_window(claims: Claims, policy: Policy) -> None:
    """Refuse a window that overlaps a freeze covering this change: checked before a token is consumed."""
    if not freeze_applies(claims, policy):
        return
    overlapping = freezes_overlapping(policy.freezes, claims.not_before, claims.not_after, claims.system, claims.system_class)
    if overlapping:
        names = "; ".join(freeze.describe() for freeze in overlapping)
        raise errors.ApprovalError(
            errors.FROZEN,
            f"the window {format_timestamp(claims.not_before)} to {format_timestamp(claims.not_after)} overlaps {names}; "
            "have the change approved for a window outside it",
        )


def check_scope(claims: Claims, scope: RunScope) -> None:
    """Each scope claim must equal the run; the error code names the field that differs."""
    pairs = (
        ("action", errors.ACTION_MISMATCH, claims.action, scope.action),
        ("app", errors.APP_MISMATCH, claims.app, scope.app),
        ("version", errors.VERSION_MISMATCH, claims.version, scope.version),
        ("artifact_sha256", errors.DIGEST_MISMATCH, claims.artifact_sha256, scope.artifact_sha256),
        ("env", errors.ENV_MISMATCH, claims.env, scope.env),
    )
    for name, code, approved, running in pairs:
        if approved != running:
            raise errors.ApprovalError(code, f"{name} differs: the token approves '{shown(approved)}', this run has '{shown(running)}'")
    if scope.system is not None and scope.system != claims.system:
        raise errors.ApprovalError(errors.SYSTEM_MISMATCH, f"system differs: the token approves '{shown(claims.system)}', this run has '{shown(scope.system)}'")
    if scope.system_class is not None and scope.system_class != claims.system_class:
        raise errors.ApprovalError(
            errors.SYSTEM_CLASS_MISMATCH, f"system_class differs: the token approves '{shown(claims.system_class)}', this run has '{shown(scope.system_class)}'"
        )
    approved_hosts, run_hosts = set(claims.hosts), set(scope.hosts)
    if approved_hosts != run_hosts:
        raise errors.ApprovalError(
            errors.HOSTS_MISMATCH,
            f"host set differs (check --limit): the run targets {len(run_hosts)} hosts, the token approves {len(approved_hosts)}; "
            f"not approved: {_hosts_list(run_hosts - approved_hosts)}; approved but not targeted: {_hosts_list(approved_hosts - run_hosts)}",
        )


def _document_kinds(change: Any) -> set[str]:
    """The kinds of the documents a change document hands over; none for anything that is not one."""
    documents = change.get("documents") if isinstance(change, Mapping) else None
    if not isinstance(documents, (list, tuple)):
        return set()
    return {str(item.get("kind")) for item in documents if isinstance(item, Mapping)}


def check_required_documents(claims: Claims, change: Any, policy: Policy) -> None:
    """Every document kind the signed policy's required_documents asks of a class of the token's hosts is in the change.

    Each host counts with its own class (host_classes; else the token's class). A rollback hands over no new release
    and a ratification changes no host: neither is held to it. The documents count only when the token binds the
    change document (change_sha256): otherwise nobody signed them.
    """
    if not policy.required_documents or claims.action == "rollback" or claims.kind == KIND_RATIFICATION:
        return
    required: dict[tuple[str, str], list[str]] = {}
    for host in sorted(claims.hosts):
        system_class = (class_of_host(host, policy.host_classes, policy.classes) if policy.host_classes else None) or claims.system_class
        for kind in policy.required_documents.get(system_class, ()):
            required.setdefault((system_class, kind), []).append(host)
    if not required:
        return
    if not claims.change_sha256:
        system_class, kind = next(iter(required))
        raise errors.ApprovalError(
            errors.CHANGE_NOT_BOUND,
            f"the approval policy requires a {kind} for changes to {system_class} hosts ({_hosts_list(required[(system_class, kind)])}), "
            f"and token {claims.token_id} binds no change document (no change_sha256), so no document was signed with it: request it with "
            "opsgate-approval request --change FILE",
        )
    present = _document_kinds(change)
    missing = [
        f"{kind} (required for {system_class} hosts: {_hosts_list(hosts)})" for (system_class, kind), hosts in sorted(required.items()) if kind not in present
    ]
    if missing:
        raise errors.ApprovalError(
            errors.DOCUMENT_MISSING,
            f"the change hands over no {'; no '.join(missing)}, which the approval policy (version {policy.version}) requires: "
            "list the document in opsgate_release.documents (kind, title, location, sha256) and have the change approved again",
        )


def verify_token(
    token: str,
    policy: Policy,
    now: datetime,
    scope: RunScope | None = None,
    ledger: UnusedCheck | None = None,
    window_grace: timedelta | None = timedelta(0),
) -> VerifiedApproval:
    """Run every check; return the verified approval or raise ApprovalError with the first unmet condition.

    ``scope`` None skips the scope checks (the CLI before the run is known); ``ledger`` None skips
    the replay check, which otherwise refuses any token consumed before. Consuming, and resuming
    an unfinished run, is a separate, atomic step of the controller's ledger (plugin_utils/approval_run/token_ledger.py).
    ``window_grace`` is how long after the window a host still accepts a step of a run started in it;
    None skips the window and freeze checks against ``now`` (a host undoing this token's own step).
    """
    envelope = decode_token(token, policy.max_document_bytes)
    claims = validate_claims(envelope.claims)
    signers = _check_keys(envelope, policy)
    _check_signatures(envelope, signers)
    requester, approvers = _check_signers(claims, signers)
    # The class the roles are counted for is the one the signed policy gives the token's hosts, not a variable's.
    check_host_classes(claims, policy.host_classes, policy.classes)
    required_lead = _check_roles(claims, approvers, policy)
    _check_window(claims, policy, None if window_grace is None else now, window_grace or timedelta(0))
    if window_grace is not None:
        _check_not_frozen(claims, policy, now)
    timed = _check_signer_times(claims, envelope, signers, policy, now)
    lead, counted_from = _check_lead_time(claims, policy, required_lead, timed[0])
    signed_at = {signer.keyid: moment for moment, signer in timed}
    if scope is not None:
        if claims.kind == KIND_RATIFICATION:
            raise errors.ApprovalError(
                errors.KIND_MISMATCH,
                f"token {claims.token_id} ratifies emergency {claims.ratifies} after the fact and changes no host: "
                "record it with opsgate-approval ratify, not with a playbook",
            )
        check_scope(claims, scope)
    digest = token_digest(token)
    if ledger is not None:
        ledger.check_unused(claims.token_id)
    return VerifiedApproval(
        claims=claims,
        digest=digest,
        signers=tuple(Signer(a.keyid, a.owner, a.role, signed_at[a.keyid]) for a in approvers),
        requester=Signer(requester.keyid, requester.owner, requester.role, signed_at[requester.keyid]),
        lead_working_days=lead,
        verified_at=now,
        lead_counted_from=counted_from,
    )
