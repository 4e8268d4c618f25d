# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real keys, a real policy and real signed tokens for the approval tests."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ansible_collections.opsgate.release.plugins.plugin_utils.approval.canonical import signing_payload
from ansible_collections.opsgate.release.plugins.plugin_utils.approval.claims import format_timestamp
from ansible_collections.opsgate.release.plugins.plugin_utils.approval.envelope import SignatureEntry, encode_token
from ansible_collections.opsgate.release.plugins.plugin_utils.approval.keys import keyid_of, public_key_text
from ansible_collections.opsgate.release.plugins.plugin_utils.approval.policy import Policy, parse_policy
from ansible_collections.opsgate.release.plugins.plugin_utils.approval.verification import RunScope, run_scope

CORE_ROLES = ("business_head", "it_head", "risk_compliance", "ops_director")
# Friday 2025-03-07 13:00 UTC; the plan was filed on Monday 2025-03-03: Tue, Wed, Thu lie in between.
NOW = datetime(2025, 3, 7, 13, 0, tzinfo=UTC)
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
    """Four approvers (one per core role) plus a second IT head, and a policy that knows all five."""

    def __init__(self, ledger_dir: str = "/nonexistent/ledger") -> None:
        self.approvers = {
            "alice": Approver("alice", "business_head"),
            "bob": Approver("bob", "it_head"),
            "carol": Approver("carol", "risk_compliance"),
            "dave": Approver("dave", "ops_director"),
            "frank": Approver("frank", "it_head"),
        }
        self.ledger_dir = ledger_dir

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
            "ledger_dir": self.ledger_dir,
        }
        raw.update(overrides)
        return raw

    def policy(self, **overrides: Any) -> Policy:
        return parse_policy(self.policy_raw(**overrides))

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
        return claims

    def sign(self, claims: dict[str, Any], owners: tuple[str, ...] = ("alice", "bob", "carol", "dave")) -> str:
        payload = signing_payload(claims)
        entries = [SignatureEntry(self.approvers[o].keyid, self.approvers[o].key.sign(payload)) for o in owners]
        return encode_token(copy.deepcopy(claims), entries)

    def token(self, owners: tuple[str, ...] = ("alice", "bob", "carol", "dave"), **claim_overrides: Any) -> str:
        return self.sign(self.claims(**claim_overrides), owners)

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
