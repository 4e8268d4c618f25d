# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Emergency changes: their own roles and window, no lead time, a freeze only where the policy allows,
and a ratification by the normal quorum before the next normal change of the application."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from approval_kit import NOW, ApprovalKit
from ledger_kit import ledger, ledger_settings, open_ledger

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.emergency import ratify_by
from ansible_collections.opsgate.release.plugins.module_utils.approval.envelope import token_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.ledger_records import RunOwner
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import check_freeze_window, verify_token
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.token_ledger import TokenLedger
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import StoreSettings

EMERGENCY = {"roles": {"it_head": 1, "ops_director": 1}, "max_window_hours": 4, "ratify_within_working_days": 2}
# Same day as NOW: an emergency has no lead time.
EMERGENCY_CLAIMS: dict[str, Any] = {
    "token_id": "apv-emergency-0001",
    "change_id": "CHG-2025-0999",
    "kind": "emergency",
    "incident_id": "INC-4711",
    "plan_filed_at": "2025-03-07T11:30:00Z",
    "not_before": "2025-03-07T12:00:00Z",
    "not_after": "2025-03-07T15:00:00Z",
}
__all__ = ["ledger", "ledger_settings"]  # the fixtures
FREEZE = {"name": "quarter-end", "start": "2025-03-07T00:00", "end": "2025-03-08T00:00", "reason": "Q1 close"}


@pytest.fixture(name="kit")
def kit_fixture() -> ApprovalKit:
    return ApprovalKit()


def _emergency_token(kit: ApprovalKit, owners: tuple[str, ...] = ("bob", "dave"), **overrides: Any) -> str:
    return kit.token(owners=owners, **{**EMERGENCY_CLAIMS, **overrides})


def _refused(token: str, kit: ApprovalKit, **policy: Any) -> errors.ApprovalError:
    with pytest.raises(errors.ApprovalError) as caught:
        verify_token(token, kit.policy(**policy), now=NOW, scope=kit.scope())
    return caught.value


def test_emergency_needs_only_the_emergency_roles_and_no_lead_time(kit: ApprovalKit) -> None:
    approval = verify_token(_emergency_token(kit), kit.policy(emergency=EMERGENCY), now=NOW, scope=kit.scope())
    assert approval.claims.kind == "emergency"
    assert approval.summary()["incident_id"] == "INC-4711"
    assert approval.summary()["signer_roles"] == ["it_head", "ops_director"]


def test_the_same_signers_without_the_emergency_kind_lack_the_class_roles(kit: ApprovalKit) -> None:
    token = kit.token(owners=("bob", "dave"), plan_filed_at="2025-03-03T01:00:00Z")
    error = _refused(token, kit, emergency=EMERGENCY)
    assert error.code == errors.ROLE_MISSING
    assert "business_head must approve changes to core_business systems" in error.message


def test_a_policy_without_an_emergency_section_refuses_emergencies(kit: ApprovalKit) -> None:
    error = _refused(_emergency_token(kit), kit)
    assert error.code == errors.EMERGENCY_NOT_ALLOWED
    assert "INC-4711" in error.message


def test_emergency_roles_are_counted(kit: ApprovalKit) -> None:
    error = _refused(_emergency_token(kit, owners=("bob", "alice")), kit, emergency=EMERGENCY)
    assert error.code == errors.ROLE_MISSING
    assert "ops_director must approve emergency changes to core_business" in error.message


def test_emergency_window_is_capped_by_the_emergency_rule(kit: ApprovalKit) -> None:
    error = _refused(_emergency_token(kit, not_after="2025-03-07T17:00:00Z"), kit, emergency=EMERGENCY)
    assert error.code == errors.WINDOW_TOO_LONG
    assert "emergency.max_window_hours 4" in error.message


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"incident_id": None}, "incident_id is required"),
        ({"kind": "urgent"}, "claims.kind must be one of normal, emergency, ratification"),
        ({"ratifies": "apv-emergency-0001"}, "ratifies is only for kind ratification"),
        ({"kind": "normal"}, "incident_id is only for emergency changes"),
        ({"incident_id": " INC-1"}, "claims.incident_id must be a non-empty printable string"),
    ],
)
def test_kind_claims_are_strict(kit: ApprovalKit, overrides: dict[str, Any], fragment: str) -> None:
    claims = {**EMERGENCY_CLAIMS, **overrides}
    claims = {key: value for key, value in claims.items() if value is not None}
    error = _refused(kit.token(owners=("bob", "dave"), **claims), kit, emergency=EMERGENCY)
    assert error.code == errors.CLAIMS_INVALID
    assert fragment in error.message


def test_a_freeze_stops_an_emergency_unless_the_policy_allows_it(kit: ApprovalKit) -> None:
    token = _emergency_token(kit)
    frozen = _refused(token, kit, emergency=EMERGENCY, freezes=[FREEZE])
    assert frozen.code == errors.FROZEN
    assert "quarter-end" in frozen.message
    allowed = kit.policy(emergency={**EMERGENCY, "allowed_during_freeze": True}, freezes=[FREEZE])
    approval = verify_token(token, allowed, now=NOW, scope=kit.scope())
    check_freeze_window(approval.claims, allowed)  # does not raise: the policy lets emergencies through
    normal = kit.policy(emergency={**EMERGENCY, "allowed_during_freeze": True}, freezes=[FREEZE])
    with pytest.raises(errors.ApprovalError) as caught:
        verify_token(kit.token(), normal, now=NOW, scope=kit.scope())
    assert caught.value.code == errors.FROZEN


@pytest.mark.parametrize(
    ("emergency", "fragment"),
    [
        ({"max_window_hours": 4}, "policy.emergency.roles: is required"),
        ({"roles": {}}, "policy.emergency.roles: must map at least one role"),
        ({"roles": {"requester": 1}}, "policy.emergency.roles.requester"),
        ({**EMERGENCY, "allowed_during_freeze": "yes"}, "policy.emergency.allowed_during_freeze: must be true or false (got 'yes')"),
        ({**EMERGENCY, "ratify_within_working_days": -1}, "policy.emergency.ratify_within_working_days: must be an integer >= 0 (got -1)"),
        ({**EMERGENCY, "max_window_hours": "4"}, "policy.emergency.max_window_hours: must be an integer >= 1 (got '4')"),
        ({**EMERGENCY, "roles_needed": 2}, "policy.emergency.roles_needed: unknown key"),
    ],
)
def test_policy_emergency_section_errors_name_the_field(kit: ApprovalKit, emergency: dict[str, Any], fragment: str) -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        kit.policy(emergency=emergency)
    assert caught.value.code == errors.POLICY_INVALID
    assert fragment in caught.value.message


def test_ratify_by_counts_working_days_after_the_emergency_day(kit: ApprovalKit) -> None:
    # Friday 2025-03-07 in Shanghai; Monday 03-10 is a holiday: Tuesday and Wednesday are the two working days.
    policy = kit.policy(emergency=EMERGENCY, timezone="Asia/Shanghai", holidays=["2025-03-10"])
    deadline = ratify_by(NOW, policy)
    assert deadline is not None
    assert deadline.date().isoformat() == "2025-03-12"
    assert (deadline.hour, deadline.minute) == (23, 59)
    assert ratify_by(NOW, kit.policy()) is None


def _owner() -> RunOwner:
    return RunOwner(socket.gethostname(), 999_999_999, "gone")


def _consume(ledger: TokenLedger, kit: ApprovalKit, token: str, policy: Any, run_id: str) -> None:
    approval = verify_token(token, policy, now=NOW, scope=kit.scope())
    claims = approval.claims
    ledger.consume(
        claims.token_id,
        token_digest(token),
        claims.change_id,
        run_id,
        NOW,
        fingerprint="",
        app=claims.app,
        env=claims.env,
        hosts=claims.hosts,
        owner=_owner(),
        kind=claims.kind,
        incident_id=claims.incident_id,
    )


def _ratification(kit: ApprovalKit, **overrides: Any) -> str:
    claims = {
        "token_id": "apv-ratify-0001",
        "change_id": "CHG-2025-0999",
        "kind": "ratification",
        "ratifies": "apv-emergency-0001",
        "plan_filed_at": "2025-03-07T11:30:00Z",
        **overrides,
    }
    return kit.token(**claims)


def _ratify(ledger: TokenLedger, kit: ApprovalKit, token: str, policy: Any) -> None:
    approval = verify_token(token, policy, now=NOW)
    claims = approval.claims
    ledger.ratify(claims.ratifies or "", claims.token_id, approval.digest, claims.change_id, claims.app, claims.env, claims.hosts, NOW)


def test_an_unratified_emergency_blocks_the_next_normal_change_until_it_is_ratified(kit: ApprovalKit, ledger: TokenLedger) -> None:
    policy = kit.policy(emergency=EMERGENCY)
    _consume(ledger, kit, _emergency_token(kit), policy, "run-emergency")
    assert [record.token_id for record in ledger.unratified()] == ["apv-emergency-0001"]

    normal = kit.token(token_id="apv-normal-0002", plan_filed_at="2025-03-03T01:00:00Z")
    with pytest.raises(errors.ApprovalError) as caught:
        _consume(ledger, kit, normal, policy, "run-normal")
    assert caught.value.code == errors.UNRATIFIED_EMERGENCY
    for fragment in ("CHG-2025-0999", "apv-emergency-0001", "INC-4711", "accounts-api", "opsgate-approval ratify"):
        assert fragment in caught.value.message
    # The refused normal change was not consumed (check_unused raises for a consumed token): it stays usable.
    ledger.check_unused("apv-normal-0002")
    _ratify(ledger, kit, _ratification(kit), policy)
    assert ledger.unratified() == []
    _consume(ledger, kit, normal, policy, "run-normal")
    with pytest.raises(errors.ApprovalError) as replay:
        ledger.check_unused("apv-normal-0002")
    assert replay.value.code == errors.REPLAYED


def test_another_application_is_not_blocked(kit: ApprovalKit, ledger: TokenLedger) -> None:
    policy = kit.policy(emergency=EMERGENCY)
    _consume(ledger, kit, _emergency_token(kit), policy, "run-emergency")
    other = kit.token(token_id="apv-other-app-01", app="ledger-batch", plan_filed_at="2025-03-03T01:00:00Z")
    approval = verify_token(other, policy, now=NOW, scope=kit.scope(app="ledger-batch"))
    ledger.consume(
        approval.token_id,
        approval.digest,
        approval.claims.change_id,
        "run-other",
        NOW,
        fingerprint="",
        app="ledger-batch",
        env="prod",
        hosts=approval.claims.hosts,
        owner=_owner(),
    )
    assert [record.app for record in ledger.unratified()] == ["accounts-api"]


def test_a_ratification_must_match_what_ran_and_is_single_use(kit: ApprovalKit, ledger: TokenLedger) -> None:
    policy = kit.policy(emergency=EMERGENCY)
    _consume(ledger, kit, _emergency_token(kit), policy, "run-emergency")
    with pytest.raises(errors.ApprovalError) as hosts:
        _ratify(ledger, kit, _ratification(kit, hosts=["web1"]), policy)
    assert hosts.value.code == errors.RATIFICATION_INVALID
    assert "hosts differ" in hosts.value.message
    with pytest.raises(errors.ApprovalError) as nothing:
        _ratify(ledger, kit, _ratification(kit, token_id="apv-ratify-0002", ratifies="apv-never-consumed"), policy)
    assert nothing.value.code == errors.RATIFICATION_INVALID
    assert ledger.unratified() != []
    _ratify(ledger, kit, _ratification(kit), policy)
    with pytest.raises(errors.ApprovalError) as twice:
        _ratify(ledger, kit, _ratification(kit, token_id="apv-ratify-0003"), policy)
    assert twice.value.code == errors.RATIFICATION_INVALID
    assert "was ratified at" in twice.value.message


def test_a_ratification_needs_the_normal_quorum_and_never_runs_a_change(kit: ApprovalKit) -> None:
    policy = kit.policy(emergency=EMERGENCY)
    emergency_signers_only = kit.token(
        owners=("bob", "dave"), token_id="apv-ratify-0004", kind="ratification", ratifies="apv-emergency-0001", plan_filed_at="2025-03-07T11:30:00Z"
    )
    with pytest.raises(errors.ApprovalError) as quorum:
        verify_token(emergency_signers_only, policy, now=NOW)
    assert quorum.value.code == errors.ROLE_MISSING
    assert "ratifying changes to core_business" in quorum.value.message
    with pytest.raises(errors.ApprovalError) as run:
        verify_token(_ratification(kit), policy, now=NOW, scope=kit.scope())
    assert run.value.code == errors.KIND_MISMATCH


def test_a_ratification_token_cannot_be_consumed_by_a_run_afterwards(kit: ApprovalKit, ledger: TokenLedger) -> None:
    policy = kit.policy(emergency=EMERGENCY)
    _consume(ledger, kit, _emergency_token(kit), policy, "run-emergency")
    _ratify(ledger, kit, _ratification(kit), policy)
    with pytest.raises(errors.ApprovalError) as caught:
        ledger.consume(
            "apv-ratify-0001", "0" * 64, "CHG-2025-0999", "run-x", NOW, fingerprint="", app="accounts-api", env="prod", hosts=("web1",), owner=_owner()
        )
    assert caught.value.code == errors.REPLAYED


def test_the_ledger_keeps_kind_and_incident(kit: ApprovalKit, ledger: TokenLedger, ledger_settings: StoreSettings) -> None:
    policy = kit.policy(emergency=EMERGENCY)
    _consume(ledger, kit, _emergency_token(kit), policy, "run-emergency")
    other = open_ledger(ledger_settings)  # another connection: another controller of the same store
    try:
        reread = other.unratified("accounts-api")
    finally:
        other.store.close()
    assert [(record.kind, record.incident_id) for record in reread] == [("emergency", "INC-4711")]
