# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""verify_token: every bad token refused with its own code and message; good tokens pass."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from approval_kit import NOW, ApprovalKit, Approver, consume
from ledger_kit import ledger, ledger_settings, open_ledger

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.canonical import canonical_json
from ansible_collections.opsgate.release.plugins.module_utils.approval.envelope import TOKEN_PREFIX, decode_token, token_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.policy import Policy
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import RunScope, verify_token
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.token_ledger import TokenLedger
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import store_settings

__all__ = ["ledger", "ledger_settings"]  # the fixtures


def _sqlite_ledger(tmp: Path) -> TokenLedger:
    return open_ledger(store_settings({"backend": "sqlite"}, str(tmp / "ledger"), environ={}))


@dataclass
class Attempt:
    token: str
    policy: Policy
    now: datetime = NOW
    scope: RunScope | None = field(default_factory=ApprovalKit.scope)
    ledger: TokenLedger | None = None


def _body(token: str) -> dict[str, Any]:
    text = token[len(TOKEN_PREFIX) :]
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _reencode(token: str, mutate: Callable[[dict[str, Any]], None]) -> str:
    body = _body(token)
    mutate(body)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(canonical_json(body)).rstrip(b"=").decode("ascii")


def _tampered(kit: ApprovalKit, tmp: Path) -> Attempt:
    token = _reencode(kit.token(), lambda body: body["signed"].update(version="1.4.3"))
    return Attempt(token, kit.policy(), scope=kit.scope(version="1.4.3"))


def _wrong_signature(kit: ApprovalKit, tmp: Path) -> Attempt:
    # Bob's signature is real, but over other claims.
    bob = kit.approvers["bob"].keyid
    other = next(entry["sig"] for entry in _body(kit.token(version="9.9.9"))["signatures"] if entry["keyid"] == bob)

    def swap(body: dict[str, Any]) -> None:
        next(entry for entry in body["signatures"] if entry["keyid"] == bob)["sig"] = other

    return Attempt(_reencode(kit.token(), swap), kit.policy())


def _unknown_key(kit: ApprovalKit, tmp: Path) -> Attempt:
    kit.approvers["mallory"] = Approver("mallory", "ops_director")
    token = kit.token(owners=("alice", "bob", "carol", "mallory"))
    del kit.approvers["mallory"]
    return Attempt(token, kit.policy())


def _two_keys_one_owner(kit: ApprovalKit, tmp: Path) -> Attempt:
    # Bob holds a second key registered for another role and signs twice to fill two roles.
    kit.approvers["bob2"] = Approver("bob", "risk_compliance")
    return Attempt(kit.token(owners=("alice", "bob", "bob2", "dave")), kit.policy())


def _threshold(kit: ApprovalKit, tmp: Path) -> Attempt:
    roles = {"business_head": 1, "it_head": 2, "risk_compliance": 1, "ops_director": 1}
    return Attempt(kit.token(), kit.policy(classes={"core_business": {"roles": roles}}))


def _weekend(kit: ApprovalKit, tmp: Path) -> Attempt:
    # Thursday to Tuesday: five calendar days, but only Friday and Monday are working days.
    token = kit.token(plan_filed_at="2025-03-06T01:00:00Z", not_before="2025-03-11T12:00:00Z", not_after="2025-03-11T20:00:00Z")
    return Attempt(token, kit.policy(), now=datetime(2025, 3, 11, 13, tzinfo=UTC))


def _replayed(kit: ApprovalKit, tmp: Path) -> Attempt:
    ledger = _sqlite_ledger(tmp)
    token = kit.token()
    consume(ledger, token, "run-first")
    return Attempt(token, kit.policy(), ledger=ledger)


def _requester_also_approves(kit: ApprovalKit, tmp: Path) -> Attempt:
    # Carol holds a requester key too; she asks for the change and approves it as risk & compliance.
    kit.approvers["carol-requests"] = Approver("carol", "requester")
    return Attempt(kit.token(requested_by="carol", requester="carol-requests"), kit.policy())


def _retired(kit: ApprovalKit, tmp: Path) -> Attempt:
    token = kit.token()
    dave = kit.approvers.pop("dave")
    retired = [{"keyid": dave.keyid, "owner": "dave", "retired_on": "2025-03-06", "reason": "left the company"}]
    return Attempt(token, kit.policy(retired_keys=retired))


def _truncate(token: str, keep: int) -> str:
    return token[:keep]


@dataclass(frozen=True)
class Case:
    name: str
    code: str
    fragment: str
    build: Callable[[ApprovalKit, Path], Attempt]


CASES = [
    Case(
        "malformed_prefix",
        errors.TOKEN_MALFORMED,
        "does not start with 'opsgate-approval-v1.'",
        lambda k, t: Attempt("eyJhbGciOi" + k.token()[20:], k.policy()),
    ),
    Case(
        "malformed_envelope",
        errors.TOKEN_MALFORMED,
        "exactly the keys signed and signatures, got ['signed']",
        lambda k, t: Attempt(_reencode(k.token(), lambda b: b.pop("signatures")), k.policy()),
    ),
    Case("truncated", errors.TOKEN_TRUNCATED, "cut short", lambda k, t: Attempt(_truncate(k.token(), 300), k.policy())),
    Case("bad_base64", errors.TOKEN_BAD_BASE64, "characters outside base64url: '+/'", lambda k, t: Attempt(k.token()[:60] + "+/" + k.token()[62:], k.policy())),
    Case("tampered_claim", errors.CLAIMS_TAMPERED, "none of the 5 signatures matches the claims", _tampered),
    Case(
        "wrong_signature",
        errors.SIGNATURE_INVALID,
        "(bob, it_head) does not verify over the claims and its signed_at 2025-03-03T02:00:00Z (1 of 5 invalid)",
        _wrong_signature,
    ),
    Case("unknown_key", errors.KEY_UNKNOWN, "is not an approver key of the approval policy", _unknown_key),
    Case(
        "same_key_twice",
        errors.KEY_DUPLICATE,
        "signed more than once: each key counts once",
        lambda k, t: Attempt(k.token(owners=("alice", "bob", "bob", "carol", "dave")), k.policy()),
    ),
    Case("two_keys_one_owner", errors.OWNER_DUPLICATE, "bob signed with two keys", _two_keys_one_owner),
    Case(
        "missing_role",
        errors.ROLE_MISSING,
        "role risk_compliance must approve changes to core_business systems but has not signed (signed: business_head, it_head, ops_director)",
        lambda k, t: Attempt(k.token(owners=("alice", "bob", "dave")), k.policy()),
    ),
    Case("threshold_not_met", errors.THRESHOLD_NOT_MET, "role it_head needs 2 signatures for changes to core_business systems, has 1", _threshold),
    Case("requester_self_approval", errors.REQUESTER_SIGNED, "the requester carol signed as risk_compliance", _requester_also_approves),
    Case(
        "requester_typed_not_proven",
        errors.REQUESTER_UNPROVEN,
        "requested_by is carol but the requester signature is by erin",
        lambda k, t: Attempt(k.token(requested_by="carol"), k.policy()),
    ),
    Case(
        "expired",
        errors.EXPIRED,
        "the window closed at 2025-03-07T20:00:00Z, now is 2025-03-07T20:01:01Z (leeway 60 s)",
        lambda k, t: Attempt(k.token(), k.policy(), now=datetime(2025, 3, 7, 20, 1, 1, tzinfo=UTC)),
    ),
    Case(
        "not_yet_valid",
        errors.NOT_YET_VALID,
        "the window opens at 2025-03-07T12:00:00Z, now is 2025-03-07T11:58:59Z",
        lambda k, t: Attempt(k.token(), k.policy(), now=datetime(2025, 3, 7, 11, 58, 59, tzinfo=UTC)),
    ),
    Case(
        "lead_time_too_short",
        errors.LEAD_TIME_TOO_SHORT,
        "plan filed 2025-03-06 for installation 2025-03-07 leaves 0 working days",
        lambda k, t: Attempt(k.token(plan_filed_at="2025-03-06T09:00:00Z"), k.policy()),
    ),
    Case("lead_time_across_weekend", errors.LEAD_TIME_TOO_SHORT, "plan filed 2025-03-06 for installation 2025-03-11 leaves 2 working days", _weekend),
    Case(
        "lead_time_across_holiday",
        errors.LEAD_TIME_TOO_SHORT,
        "plan filed 2025-03-03 for installation 2025-03-07 leaves 2 working days",
        lambda k, t: Attempt(k.token(), k.policy(holidays=["2025-03-05"])),
    ),
    Case(
        "wrong_action",
        errors.ACTION_MISMATCH,
        "action differs: the token approves 'deploy', this run has 'rollback'",
        lambda k, t: Attempt(k.token(), k.policy(), scope=k.scope(action="rollback")),
    ),
    Case(
        "wrong_app",
        errors.APP_MISMATCH,
        "app differs: the token approves 'accounts-api', this run has 'trading-api'",
        lambda k, t: Attempt(k.token(), k.policy(), scope=k.scope(app="trading-api")),
    ),
    Case(
        "wrong_version",
        errors.VERSION_MISMATCH,
        "version differs: the token approves '1.4.2', this run has '1.5.0'",
        lambda k, t: Attempt(k.token(), k.policy(), scope=k.scope(version="1.5.0")),
    ),
    Case(
        "wrong_digest",
        errors.DIGEST_MISMATCH,
        f"artifact_sha256 differs: the token approves '{'3f' * 32}', this run has '{'ab' * 32}'",
        lambda k, t: Attempt(k.token(), k.policy(), scope=k.scope(artifact_sha256="ab" * 32)),
    ),
    Case(
        "wrong_env",
        errors.ENV_MISMATCH,
        "env differs: the token approves 'prod', this run has 'staging'",
        lambda k, t: Attempt(k.token(), k.policy(), scope=k.scope(env="staging")),
    ),
    Case(
        "hosts_differ_after_limit",
        errors.HOSTS_MISMATCH,
        "the run targets 2 hosts, the token approves 3; not approved: none; approved but not targeted: web3",
        lambda k, t: Attempt(k.token(), k.policy(), scope=k.scope(hosts=["web1", "web2"])),
    ),
    Case(
        "hosts_added",
        errors.HOSTS_MISMATCH,
        "not approved: web4; approved but not targeted: none",
        lambda k, t: Attempt(k.token(), k.policy(), scope=k.scope(hosts=["web1", "web2", "web3", "web4"])),
    ),
    Case("replayed", errors.REPLAYED, "was consumed at 2025-03-07T13:00:00Z; it cannot be used by a new run", _replayed),
    Case("signer_key_removed_from_policy", errors.KEY_RETIRED, "of dave was removed from the policy on 2025-03-06 (left the company)", _retired),
    Case(
        "signer_key_dropped_without_record",
        errors.KEY_UNKNOWN,
        "is not an approver key",
        lambda k, t: Attempt(k.token(), k.policy(approvers=[a.policy_entry() for n, a in k.approvers.items() if n != "dave"])),
    ),
    Case("no_signatures", errors.NO_SIGNATURES, "nobody has approved it yet", lambda k, t: Attempt(k.token(owners=(), requester=None), k.policy())),
    Case(
        "bad_timestamp",
        errors.CLAIMS_INVALID,
        "claims.not_after must be an ISO-8601 UTC timestamp like 2025-03-14T18:00:00Z, got '2025-03-07 20:00'",
        lambda k, t: Attempt(k.token(not_after="2025-03-07 20:00"), k.policy()),
    ),
    Case(
        "unknown_claim",
        errors.CLAIMS_INVALID,
        "claims have unknown keys approved",
        lambda k, t: Attempt(k.sign({**k.claims(), "approved": True}), k.policy()),
    ),
    Case(
        "window_too_long",
        errors.WINDOW_TOO_LONG,
        "window 32 h is longer than max_window_hours 12",
        lambda k, t: Attempt(k.token(not_after="2025-03-08T20:00:00Z"), k.policy()),
    ),
    Case(
        "unknown_system_class",
        errors.CLASS_UNKNOWN,
        "system_class 'trading' is not in opsgate_approval_policy.classes",
        lambda k, t: Attempt(k.token(system_class="trading"), k.policy()),
    ),
    Case(
        "system_class_lighter_than_inventory",
        errors.SYSTEM_CLASS_MISMATCH,
        "system_class differs: the token approves 'decision_support', this run has 'core_business'",
        lambda k, t: Attempt(k.token(system_class="decision_support"), k.policy(), scope=k.scope(system_class="core_business")),
    ),
    Case(
        "short_signature",
        errors.SIGNATURE_MALFORMED,
        "has 3 bytes, an Ed25519 signature has 64",
        lambda k, t: Attempt(_reencode(k.token(), lambda b: b["signatures"][0].update(sig="AAAA")), k.policy()),
    ),
]


def _refusal(case: Case, tmp_path: Path) -> tuple[errors.ApprovalError, str]:
    attempt = case.build(ApprovalKit(str(tmp_path / "ledger")), tmp_path)
    with pytest.raises(errors.ApprovalError) as caught:
        verify_token(attempt.token, attempt.policy, now=attempt.now, scope=attempt.scope, ledger=attempt.ledger)
    return caught.value, attempt.token


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_token_is_refused_with_its_own_code_and_message(case: Case, tmp_path: Path) -> None:
    error, token = _refusal(case, tmp_path)
    assert error.code == case.code, error.message
    assert case.fragment in error.message
    # The message names the condition, never the token or a signature.
    assert token not in str(error)
    body = token.split(".", 1)[-1]
    assert body[40:80] not in str(error)


def test_bad_token_messages_are_all_different(tmp_path: Path) -> None:
    messages = [_refusal(case, tmp_path / case.name)[0].message for case in CASES]
    assert len(CASES) >= 20
    assert len(set(messages)) == len(messages)


def test_a_token_cut_at_any_point_is_reported_as_truncated() -> None:
    token = ApprovalKit().token()
    codes = set()
    for keep in range(len(TOKEN_PREFIX), len(token)):
        with pytest.raises(errors.ApprovalError) as caught:
            decode_token(token[:keep])
        codes.add(caught.value.code)
    assert codes == {errors.TOKEN_TRUNCATED}


def test_core_business_token_with_all_four_roles_passes(tmp_path: Path) -> None:
    kit = ApprovalKit(str(tmp_path / "ledger"))
    token = kit.token()
    approval = verify_token(token, kit.policy(), now=NOW, scope=kit.scope(), ledger=_sqlite_ledger(tmp_path))
    assert approval.token_id == "apv-0123456789abcdef"
    assert approval.digest == token_digest(token)
    assert sorted(s.role for s in approval.signers) == ["business_head", "it_head", "ops_director", "risk_compliance"]
    assert approval.lead_working_days == 3
    summary = json.dumps(approval.summary())
    assert token not in summary
    assert all(entry["sig"] not in summary for entry in _body(token)["signatures"])


def test_lighter_class_needs_only_its_roles() -> None:
    kit = ApprovalKit()
    token = kit.token(owners=("dave",), system_class="decision_support", plan_filed_at="2025-03-05T09:00:00Z")
    approval = verify_token(token, kit.policy(), now=NOW, scope=kit.scope())
    assert [s.owner for s in approval.signers] == ["dave"]
    assert approval.lead_working_days == 1


def test_threshold_of_two_is_met_by_two_distinct_people() -> None:
    kit = ApprovalKit()
    roles = {"business_head": 1, "it_head": 2, "risk_compliance": 1, "ops_director": 1}
    token = kit.token(owners=("alice", "bob", "frank", "carol", "dave"))
    approval = verify_token(token, kit.policy(classes={"core_business": {"roles": roles}}), now=NOW, scope=kit.scope())
    assert sorted(s.owner for s in approval.signers if s.role == "it_head") == ["bob", "frank"]


def test_clock_leeway_accepts_a_slightly_early_controller() -> None:
    kit = ApprovalKit()
    verify_token(kit.token(), kit.policy(), now=datetime(2025, 3, 7, 11, 59, 30, tzinfo=UTC), scope=kit.scope())


def test_lead_time_is_counted_in_the_policy_time_zone() -> None:
    kit = ApprovalKit()
    # 17:00 UTC on Monday is already Tuesday 01:00 in Shanghai: only Wednesday and Thursday remain.
    token = kit.token(plan_filed_at="2025-03-03T17:00:00Z")
    verify_token(token, kit.policy(), now=NOW, scope=kit.scope())
    with pytest.raises(errors.ApprovalError) as caught:
        verify_token(token, kit.policy(timezone="Asia/Shanghai"), now=NOW, scope=kit.scope())
    assert caught.value.code == errors.LEAD_TIME_TOO_SHORT
    assert "plan filed 2025-03-04 for installation 2025-03-07 leaves 2 working days in between (Asia/Shanghai" in caught.value.message


def test_a_make_up_working_saturday_counts() -> None:
    kit = ApprovalKit()
    token = kit.token(plan_filed_at="2025-03-06T01:00:00Z", not_before="2025-03-11T12:00:00Z", not_after="2025-03-11T20:00:00Z")
    later = datetime(2025, 3, 11, 13, tzinfo=UTC)
    approval = verify_token(token, kit.policy(working_weekends=["2025-03-08"]), now=later, scope=kit.scope())
    assert approval.lead_working_days == 3


def test_scope_none_skips_scope_but_not_signatures() -> None:
    kit = ApprovalKit()
    verify_token(kit.token(), kit.policy(), now=NOW, scope=None)
    with pytest.raises(errors.ApprovalError) as caught:
        verify_token(_tampered(kit, Path("/")).token, kit.policy(), now=NOW, scope=None)
    assert caught.value.code == errors.CLAIMS_TAMPERED


def test_a_consumed_token_is_refused_by_verify_even_for_its_own_run(ledger: TokenLedger) -> None:
    # verify_token has no run context: resuming is the ledger's consume step (test_approval_hostile_inputs.py).
    kit = ApprovalKit()
    token = kit.token()
    consume(ledger, token, "run-1")
    with pytest.raises(errors.ApprovalError) as caught:
        verify_token(token, kit.policy(), now=NOW + timedelta(minutes=5), scope=kit.scope(), ledger=ledger)
    assert caught.value.code == errors.REPLAYED
    assert "run-1" not in caught.value.message
