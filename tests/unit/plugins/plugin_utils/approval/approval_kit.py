# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real keys, a real policy and real signed tokens for the approval tests."""

from __future__ import annotations

import copy
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ansible_collections.opsgate.release.plugins.module_utils.approval.canonical import approval_signature_payload
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import format_timestamp, parse_timestamp
from ansible_collections.opsgate.release.plugins.module_utils.approval.envelope import SignatureEntry, encode_token, token_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.errors import ApprovalError
from ansible_collections.opsgate.release.plugins.module_utils.approval.keys import keyid_of, public_key_text
from ansible_collections.opsgate.release.plugins.module_utils.approval.ledger_records import RunOwner
from ansible_collections.opsgate.release.plugins.module_utils.approval.policy import POLICY_KIND, POLICY_TYPE, Policy, parse_policy
from ansible_collections.opsgate.release.plugins.module_utils.approval.signed_document import encode_document, sign_document
from ansible_collections.opsgate.release.plugins.module_utils.approval.trust_root import ROOT_KIND, ROOT_TYPE
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import RunScope, run_scope
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.token_ledger import TokenLedger

CORE_ROLES = ("business_head", "it_head", "risk_compliance", "ops_director")
# Friday 2025-03-07 13:00 UTC; the plan was filed on Monday 2025-03-03: Tue, Wed, Thu lie in between.
NOW = datetime(2025, 3, 7, 13, 0, tzinfo=UTC)
# Unless a test says otherwise the request is made when the plan is filed (requested_at = plan_filed_at),
# the requester signs it then and each approver an hour later: the lead time counts from plan_filed_at.
APPROVER_DELAY = timedelta(hours=1)
_FALLBACK_SIGNED_AT = "2025-03-03T01:00:00Z"
ARTIFACT = "3f" * 32


@dataclass
class Approver:
    owner: str
    role: str
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def keyid(self) -> str:
        return keyid_of(self.key.public_key())

    def policy_entry(self) -> dict[str, str]:
        return {"keyid": self.keyid, "owner": self.owner, "role": self.role, "public_key": public_key_text(self.key.public_key())}


class ApprovalKit:
    """Four approvers (one per core role), a second IT head and the requester erin, in a policy that knows all six;
    two policy administrators whose trust root (threshold 2) signs that policy."""

    def __init__(self, ledger_dir: str = "/nonexistent/ledger", state_store: dict[str, Any] | None = None, class_readiness: str | None = None) -> None:
        self.approvers = {
            "alice": Approver("alice", "business_head"),
            "bob": Approver("bob", "it_head"),
            "carol": Approver("carol", "risk_compliance"),
            "dave": Approver("dave", "ops_director"),
            "frank": Approver("frank", "it_head"),
            "erin": Approver("erin", "requester"),
        }
        self.admins = {"root-ann": Approver("root-ann", "policy_admin"), "root-ben": Approver("root-ben", "policy_admin")}
        self.ledger_dir = ledger_dir
        # The trust root's state_store; None: the default, SQLite in ledger_dir.
        self.state_store = state_store
        # Every class's readiness in the signed policy (None: the policy's default, required). "skip" for kits whose
        # playbooks call the gate themselves to test something else than readiness (test_readiness_playbook.py tests that).
        self.class_readiness = class_readiness

    def policy_raw(self, **overrides: Any) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "approvers": [approver.policy_entry() for approver in self.approvers.values()],
            "classes": {
                "core_business": {"roles": dict.fromkeys(CORE_ROLES, 1)},
                "customer_service": {"roles": {"it_head": 1, "ops_director": 1}},
                "decision_support": {"roles": {"ops_director": 1}, "min_lead_working_days": 1},
            },
            "min_lead_working_days": 3,
            "holidays": [],
            "max_window_hours": 12,
            "clock_leeway_seconds": 60,
            # The kit's tokens bind no change document unless a test asks (test_hostile_change.py, test_host_check.py).
            "change_document": "optional",
        }
        if self.class_readiness is not None:
            for entry in raw["classes"].values():
                entry["readiness"] = self.class_readiness
        raw.update(overrides)
        return raw

    def policy(self, **overrides: Any) -> Policy:
        return parse_policy(self.policy_raw(**overrides), self.ledger_dir)

    def root_signed(self, **overrides: Any) -> dict[str, Any]:
        signed: dict[str, Any] = {
            "_type": ROOT_TYPE,
            "version": 1,
            "admins": [{"keyid": a.keyid, "owner": a.owner, "public_key": public_key_text(a.key.public_key())} for a in self.admins.values()],
            "threshold": 2,
            "ledger_dir": self.ledger_dir,
            "max_document_bytes": 1024 * 1024,
        }
        if self.state_store is not None:
            signed["state_store"] = self.state_store
        signed.update(overrides)
        return signed

    def sign_document(self, kind: str, signed: dict[str, Any], signers: tuple[Approver, ...]) -> bytes:
        entries = [SignatureEntry(s.keyid, sign_document(kind, signed, s.key)) for s in signers]
        return encode_document(signed, entries)

    def root_document(self, signers: tuple[str, ...] = ("root-ann", "root-ben"), **overrides: Any) -> bytes:
        return self.sign_document(ROOT_KIND, self.root_signed(**overrides), tuple(self.admins[name] for name in signers))

    def policy_document(self, version: int = 1, expires: str = "2199-01-01T00:00:00Z", signers: tuple[Approver, ...] | None = None, **overrides: Any) -> bytes:
        signed = {**self.policy_raw(**overrides), "_type": POLICY_TYPE, "version": version, "expires": expires}
        return self.sign_document(POLICY_KIND, signed, signers if signers is not None else tuple(self.admins.values()))

    def install(self, directory: Path, **policy_overrides: Any) -> Path:
        """Pin this kit's root at directory/trust/root.json with the signed policy beside it; returns the root's path."""
        trust = directory / "trust"
        trust.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(directory, 0o755)
        root = trust / "root.json"
        root.write_bytes(self.root_document())
        (trust / "policy.json").write_bytes(self.policy_document(**policy_overrides))
        for path in (root, trust / "policy.json"):
            path.chmod(0o644)
        return root

    @staticmethod
    def claims(**overrides: Any) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "token_id": "apv-0123456789abcdef",
            "change_id": "CHG-2025-0117",
            "system": "accounts",
            "system_class": "core_business",
            "action": "deploy",
            "app": "accounts-api",
            "version": "1.4.2",
            "artifact_sha256": ARTIFACT,
            "env": "prod",
            "hosts": ["web1", "web2", "web3"],
            "plan_filed_at": "2025-03-03T01:00:00Z",
            "not_before": "2025-03-07T12:00:00Z",
            "not_after": "2025-03-07T20:00:00Z",
            "requested_by": "erin",
            "reports": {"test": "TR-2025-031", "acceptance": "UAT-2025-017"},
        }
        claims.update(overrides)
        claims.setdefault("requested_at", claims["plan_filed_at"])
        return claims

    def signed_at(self, claims: dict[str, Any], owner: str) -> str:
        """The default signer time: the requester at requested_at, each approver an hour later."""
        try:
            requested = parse_timestamp(claims.get("requested_at"), "requested_at")
        except ApprovalError:
            requested = parse_timestamp(_FALLBACK_SIGNED_AT, "fallback")
        return format_timestamp(requested if self.approvers[owner].role == "requester" else requested + APPROVER_DELAY)

    def sign(
        self,
        claims: dict[str, Any],
        owners: tuple[str, ...] = ("alice", "bob", "carol", "dave"),
        requester: str | None = "erin",
        signed_at: Mapping[str, str] | None = None,
    ) -> str:
        """Each signer signs the claims with their own signed_at: ``signed_at`` maps an owner to a timestamp, others get the default."""
        signers = [*owners, requester] if requester else list(owners)
        entries = []
        for owner in signers:
            approver = self.approvers[owner]
            when = (signed_at or {}).get(owner) or self.signed_at(claims, owner)
            entries.append(SignatureEntry(approver.keyid, approver.key.sign(approval_signature_payload(claims, when)), when))
        return encode_token(copy.deepcopy(claims), entries)

    def token(
        self,
        owners: tuple[str, ...] = ("alice", "bob", "carol", "dave"),
        requester: str | None = "erin",
        signed_at: Mapping[str, str] | None = None,
        **claim_overrides: Any,
    ) -> str:
        return self.sign(self.claims(**claim_overrides), owners, requester, signed_at)

    @staticmethod
    def scope(**overrides: Any) -> RunScope:
        values: dict[str, Any] = {
            "action": "deploy",
            "app": "accounts-api",
            "version": "1.4.2",
            "artifact_sha256": ARTIFACT,
            "env": "prod",
            "hosts": ["web3", "web1", "web2"],
        }
        values.update(overrides)
        return run_scope(**values)


def live_claims(hosts: list[str], **overrides: Any) -> dict[str, Any]:
    """Claims whose window is open now, filed two weeks ago: for runs that use the real clock."""
    now = datetime.now(UTC).replace(microsecond=0)
    values = ApprovalKit.claims(
        hosts=sorted(hosts),
        plan_filed_at=format_timestamp(now - timedelta(days=14)),
        not_before=format_timestamp(now - timedelta(hours=1)),
        not_after=format_timestamp(now + timedelta(hours=2)),
    )
    values.update(overrides)
    return values


def consume(ledger: TokenLedger, token: str, run_id: str, fingerprint: str = "", owner: RunOwner | None = None, now: datetime = NOW) -> None:
    """Consume the kit's standard token (web1-3, accounts-api in prod) as run ``run_id`` of a process that has ended."""
    ledger.consume(
        "apv-0123456789abcdef",
        token_digest(token),
        "CHG-2025-0117",
        run_id,
        now,
        fingerprint=fingerprint,
        app="accounts-api",
        env="prod",
        hosts=("web1", "web2", "web3"),
        owner=owner or RunOwner(socket.gethostname(), 999_999_999, "gone"),
    )
