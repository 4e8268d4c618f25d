# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Signer times (issue 16): requested_at, each signature's signed_at, and the lead time counted from
no earlier than the first signature minus plan_filed_slack_hours."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from approval_kit import NOW, ApprovalKit

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.canonical import canonical_json
from ansible_collections.opsgate.release.plugins.module_utils.approval.envelope import TOKEN_PREFIX, SignatureEntry, decode_token, encode_token
from ansible_collections.opsgate.release.plugins.module_utils.approval.policy import POLICY_KIND, parse_policy
from ansible_collections.opsgate.release.plugins.module_utils.approval.signed_document import encode_document, parse_document, valid_signers
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import VerifiedApproval, verify_token


def _body(token: str) -> dict[str, Any]:
    text = token[len(TOKEN_PREFIX) :]
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _reencode(token: str, mutate: Callable[[dict[str, Any]], None]) -> str:
    body = _body(token)
    mutate(body)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(canonical_json(body)).rstrip(b"=").decode("ascii")


def _entry(body: dict[str, Any], keyid: str) -> dict[str, Any]:
    return next(entry for entry in body["signatures"] if entry["keyid"] == keyid)


def _refused(code: str, call: Callable[..., object], *args: Any, **kwargs: Any) -> errors.ApprovalError:
    with pytest.raises(errors.ApprovalError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


def _utc(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _verify(kit: ApprovalKit, token: str, now: datetime = NOW, **policy_overrides: Any) -> VerifiedApproval:
    return verify_token(token, kit.policy(**policy_overrides), now=now, scope=kit.scope())


# --- signed_at is signed -----------------------------------------------------------------------


def test_each_signature_carries_its_signers_time() -> None:
    kit = ApprovalKit()
    envelope = decode_token(kit.token())
    times = {entry.keyid: entry.signed_at for entry in envelope.signatures}
    # The kit's default: the requester at requested_at (= plan_filed_at), each approver an hour later.
    assert times[kit.approvers["erin"].keyid] == "2025-03-03T01:00:00Z"
    assert {times[kit.approvers[owner].keyid] for owner in ("alice", "bob", "carol", "dave")} == {"2025-03-03T02:00:00Z"}
    assert envelope.claims["requested_at"] == "2025-03-03T01:00:00Z"


def test_signed_at_changed_after_signing_makes_that_signature_invalid() -> None:
    kit = ApprovalKit()
    bob = kit.approvers["bob"].keyid
    token = _reencode(kit.token(), lambda body: _entry(body, bob).update(signed_at="2025-03-03T02:01:00Z"))
    error = _refused(errors.SIGNATURE_INVALID, _verify, kit, token)
    assert error.message == (f"signature of key {bob} (bob, it_head) does not verify over the claims and its signed_at 2025-03-03T02:01:00Z (1 of 5 invalid)")


def test_the_requesters_time_moved_back_after_signing_is_caught_too() -> None:
    # Moving the first signature back is how a backdated plan would be made to count: the signature fails.
    kit = ApprovalKit()
    erin = kit.approvers["erin"].keyid
    token = _reencode(kit.token(), lambda body: _entry(body, erin).update(signed_at="2025-02-20T01:00:00Z"))
    error = _refused(errors.SIGNATURE_INVALID, _verify, kit, token)
    assert f"signature of key {erin} (erin, requester) does not verify" in error.message


def test_a_token_signature_without_signed_at_is_refused_naming_the_key() -> None:
    kit = ApprovalKit()
    dave = kit.approvers["dave"].keyid
    token = _reencode(kit.token(), lambda body: _entry(body, dave).pop("signed_at"))
    error = _refused(errors.SIGNATURE_TIME_INVALID, _verify, kit, token)
    assert f"(key {dave}) has no signed_at" in error.message
    assert "must be signed again" in error.message


@pytest.mark.parametrize("value", ["2025-03-03 02:00:00", "2025-03-03T02:00:00+08:00", "2025-02-30T02:00:00Z", 1741000000, None])
def test_a_malformed_signed_at_is_refused_naming_the_key(value: object) -> None:
    kit = ApprovalKit()
    carol = kit.approvers["carol"].keyid
    token = _reencode(kit.token(), lambda body: _entry(body, carol).update(signed_at=value))
    error = _refused(errors.SIGNATURE_TIME_INVALID, decode_token, token)
    assert f".signed_at (key {carol})" in error.message


def test_a_token_signature_with_an_unknown_key_is_malformed() -> None:
    kit = ApprovalKit()
    alice = kit.approvers["alice"].keyid
    token = _reencode(kit.token(), lambda body: _entry(body, alice).update(note="hi"))
    error = _refused(errors.SIGNATURE_MALFORMED, decode_token, token)
    assert "exactly keyid, sig and signed_at, got ['keyid', 'note', 'sig', 'signed_at']" in error.message


def test_encode_token_refuses_a_signature_without_a_time() -> None:
    with pytest.raises(ValueError, match="token signatures need signed_at"):
        encode_token(ApprovalKit.claims(), [SignatureEntry("a" * 32, b"\0" * 64)])


def test_roots_and_policies_keep_their_signature_format() -> None:
    kit = ApprovalKit()
    data = kit.policy_document()
    document = parse_document(data, "policy", errors.POLICY_INVALID)
    assert all(entry.signed_at is None for entry in document.signatures)
    assert b"signed_at" not in data
    assert len(valid_signers(POLICY_KIND, document, {a.keyid: a.key.public_key() for a in kit.admins.values()})) == 2
    # A document signature with signed_at is refused, and none can be written.
    value = json.loads(data)
    value["signatures"][0]["signed_at"] = "2025-03-03T01:00:00Z"
    error = _refused(errors.POLICY_INVALID, parse_document, canonical_json(value) + b"\n", "policy", errors.POLICY_INVALID)
    assert "must be an object with exactly keyid and sig, got ['keyid', 'sig', 'signed_at']" in error.message
    with pytest.raises(ValueError, match="carries no signed_at"):
        encode_document(document.signed, [SignatureEntry("a" * 32, b"\0" * 64, "2025-03-03T01:00:00Z")])


# --- requested_at ------------------------------------------------------------------------------


def test_requested_at_is_a_required_claim() -> None:
    kit = ApprovalKit()
    claims = kit.claims()
    del claims["requested_at"]
    assert "claims lack requested_at" in _refused(errors.CLAIMS_INVALID, _verify, kit, kit.sign(claims)).message
    bad = kit.token(requested_at="2025-03-03T01:00:00+00:00")
    assert "claims.requested_at must be an ISO-8601 UTC timestamp" in _refused(errors.CLAIMS_INVALID, _verify, kit, bad).message


def test_a_request_made_before_its_plan_was_filed_is_refused() -> None:
    kit = ApprovalKit()
    token = kit.token(requested_at="2025-03-03T00:30:00Z", signed_at={"erin": "2025-03-03T01:00:00Z"})
    error = _refused(errors.SIGNED_BEFORE_PLAN, _verify, kit, token)
    assert error.message == (
        "requested_at 2025-03-03T00:30:00Z precedes plan_filed_at 2025-03-03T01:00:00Z: erin made the request before the plan it asks for was filed"
    )


# --- the checks of each signature's time -------------------------------------------------------


def test_a_signature_before_plan_filed_at_is_refused() -> None:
    kit = ApprovalKit()
    carol = kit.approvers["carol"].keyid
    token = kit.token(signed_at={"carol": "2025-03-03T00:59:59Z"})
    error = _refused(errors.SIGNED_BEFORE_PLAN, _verify, kit, token)
    assert error.message == (
        f"signature of {carol} (carol, risk_compliance) at 2025-03-03T00:59:59Z precedes plan_filed_at 2025-03-03T01:00:00Z: "
        "nobody signs a change before its plan is filed"
    )
    # At the very second the plan was filed: accepted.
    assert _verify(kit, kit.token(signed_at={"carol": "2025-03-03T01:00:00Z"})).lead_working_days == 3


def test_an_approval_before_the_request_existed_is_refused_beyond_the_clock_leeway() -> None:
    kit = ApprovalKit()  # clock_leeway_seconds 60
    dave = kit.approvers["dave"].keyid
    requested = {"requested_at": "2025-03-04T09:00:00Z"}
    early = kit.token(signed_at={"dave": "2025-03-04T08:58:59Z"}, **requested)
    error = _refused(errors.SIGNED_BEFORE_REQUEST, _verify, kit, early)
    assert error.message == (
        f"signature of {dave} (dave, ops_director) at 2025-03-04T08:58:59Z precedes requested_at 2025-03-04T09:00:00Z "
        "(leeway 60 s): nobody approves a request before it exists"
    )
    within = kit.token(signed_at={"dave": "2025-03-04T08:59:00Z"}, **requested)
    approval = _verify(kit, within)
    assert {s.owner: s.signed_at for s in approval.signers}["dave"] == _utc(2025, 3, 4, 8, 59)
    # With no leeway the same signature, a minute early, is refused.
    assert _refused(errors.SIGNED_BEFORE_REQUEST, _verify, kit, within, clock_leeway_seconds=0).code == errors.SIGNED_BEFORE_REQUEST


def test_a_future_dated_signature_is_refused() -> None:
    kit = ApprovalKit()
    alice = kit.approvers["alice"].keyid
    future = kit.token(signed_at={"alice": "2025-03-07T13:01:01Z"})
    error = _refused(errors.SIGNATURE_IN_FUTURE, _verify, kit, future)
    assert error.message == (
        f"signature of {alice} (alice, business_head) at 2025-03-07T13:01:01Z is later than now 2025-03-07T13:00:00Z "
        "(leeway 60 s): a signature cannot come from the future; check that signer's clock"
    )
    # Within the leeway (a clock a minute fast): accepted; verified a minute later: accepted too.
    assert _verify(kit, kit.token(signed_at={"alice": "2025-03-07T13:01:00Z"})).token_id == "apv-0123456789abcdef"
    assert _verify(kit, future, now=NOW + timedelta(minutes=1)).token_id == "apv-0123456789abcdef"


# --- the lead time counted from the signers' times ---------------------------------------------

# Installation Friday 2025-03-07; the requester signs on Wednesday 2025-03-05 09:00 UTC.
LATE_REQUEST = {"requested_at": "2025-03-05T09:00:00Z"}
BACKDATED = {"plan_filed_at": "2025-02-23T09:00:00Z", **LATE_REQUEST}  # ten days before the first signature


def test_a_plan_filed_at_backdated_beyond_the_slack_is_refused_explicitly() -> None:
    kit = ApprovalKit()
    erin = kit.approvers["erin"].keyid
    token = kit.token(**BACKDATED)
    error = _refused(errors.LEAD_TIME_TOO_SHORT, _verify, kit, token)
    assert error.message == (
        f"plan_filed_at 2025-02-23T09:00:00Z is more than 24 h (plan_filed_slack_hours) before the first signature, by {erin} (erin, requester) "
        "at 2025-03-05T09:00:00Z; counted from 2025-03-04T09:00:00Z (2025-03-04) the lead time to installation 2025-03-07 is 2 working days "
        "(UTC, weekends and holidays excluded), core_business needs 3"
    )


def test_the_same_plan_filed_at_with_signatures_within_the_slack_is_accepted() -> None:
    kit = ApprovalKit()
    # Same plan_filed_at and window; the request and signatures follow the filing within 24 h.
    approval = _verify(kit, kit.token(plan_filed_at="2025-02-23T09:00:00Z", requested_at="2025-02-24T08:59:00Z"))
    assert approval.lead_counted_from == _utc(2025, 2, 23, 9)
    assert approval.lead_working_days == 9  # Mon 24 Feb to Thu 6 Mar
    assert approval.summary()["lead_counted_from"] == "2025-02-23T09:00:00Z"


def test_the_slack_is_the_policys_choice() -> None:
    kit = ApprovalKit()
    token = kit.token(**BACKDATED)
    # Ten days of slack reach back exactly to plan_filed_at: counted from it.
    approval = _verify(kit, token, plan_filed_slack_hours=240)
    assert approval.lead_counted_from == _utc(2025, 2, 23, 9)
    assert approval.lead_working_days == 9
    # One hour less: counted from 2025-02-23T10:00Z, the same day, the same lead.
    assert _verify(kit, token, plan_filed_slack_hours=239).lead_counted_from == _utc(2025, 2, 23, 10)
    # No slack: counted from the first signature itself, Wednesday; only Thursday lies in between.
    error = _refused(errors.LEAD_TIME_TOO_SHORT, _verify, kit, token, plan_filed_slack_hours=0)
    assert "is more than 0 h (plan_filed_slack_hours)" in error.message
    assert "the lead time to installation 2025-03-07 is 1 working days" in error.message


def test_a_plan_within_the_slack_of_a_late_request_gets_the_ordinary_lead_time_message() -> None:
    kit = ApprovalKit()
    token = kit.token(plan_filed_at="2025-03-04T10:00:00Z", **LATE_REQUEST)
    error = _refused(errors.LEAD_TIME_TOO_SHORT, _verify, kit, token)
    assert error.message.startswith("plan filed 2025-03-04 for installation 2025-03-07 leaves 2 working days in between")
    assert "plan_filed_slack_hours" not in error.message


def test_an_approver_signing_first_sets_the_time_counted_from() -> None:
    # The earliest of all signatures counts, whoever made it (here an approver a minute before the request, in the leeway).
    kit = ApprovalKit()
    bob = kit.approvers["bob"].keyid
    token = kit.token(signed_at={"bob": "2025-03-05T08:59:00Z"}, **BACKDATED)
    error = _refused(errors.LEAD_TIME_TOO_SHORT, _verify, kit, token)
    assert f"before the first signature, by {bob} (bob, it_head) at 2025-03-05T08:59:00Z; counted from 2025-03-04T08:59:00Z" in error.message


# Plan filed Friday 2025-03-07; installation Thursday 2025-03-13 12:00 UTC (20:00 in Shanghai).
WEEKEND = {"plan_filed_at": "2025-03-07T09:00:00Z", "not_before": "2025-03-13T12:00:00Z", "not_after": "2025-03-13T20:00:00Z"}
THURSDAY = _utc(2025, 3, 13, 13)


def test_slack_reaching_back_into_a_weekend_costs_no_working_day() -> None:
    kit = ApprovalKit()
    # The request comes on Monday 08:00, 71 h after the filing; counted from Sunday 08:00: Mon, Tue, Wed.
    approval = _verify(kit, kit.token(requested_at="2025-03-10T08:00:00Z", **WEEKEND), now=THURSDAY)
    assert approval.lead_counted_from == _utc(2025, 3, 9, 8)
    assert approval.lead_working_days == 3
    summary = approval.summary()
    assert summary["lead_counted_from"] == "2025-03-09T08:00:00Z"
    assert summary["plan_filed_at"] == "2025-03-07T09:00:00Z"
    assert summary["requested_at"] == "2025-03-10T08:00:00Z"
    assert summary["requester"]["signed_at"] == "2025-03-10T08:00:00Z"
    assert {s["signed_at"] for s in summary["signers"]} == {"2025-03-10T09:00:00Z"}


def test_a_request_on_tuesday_loses_monday() -> None:
    kit = ApprovalKit()
    error = _refused(errors.LEAD_TIME_TOO_SHORT, _verify, kit, kit.token(requested_at="2025-03-11T08:00:00Z", **WEEKEND), now=THURSDAY)
    assert "counted from 2025-03-10T08:00:00Z (2025-03-10) the lead time to installation 2025-03-13 is 2 working days (UTC" in error.message


def test_the_day_counted_from_is_taken_in_the_policys_time_zone() -> None:
    kit = ApprovalKit()
    # Monday 17:00 UTC is Tuesday 01:00 in Shanghai; minus 24 h: Sunday in UTC, Monday in Shanghai.
    token = kit.token(requested_at="2025-03-10T17:00:00Z", **WEEKEND)
    assert _verify(kit, token, now=THURSDAY).lead_working_days == 3
    error = _refused(errors.LEAD_TIME_TOO_SHORT, _verify, kit, token, now=THURSDAY, timezone="Asia/Shanghai")
    assert "counted from 2025-03-09T17:00:00Z (2025-03-10) the lead time to installation 2025-03-13 is 2 working days (Asia/Shanghai" in error.message


# --- the policy key ----------------------------------------------------------------------------


def test_plan_filed_slack_hours_defaults_to_24() -> None:
    kit = ApprovalKit()
    assert kit.policy().plan_filed_slack_hours == 24
    assert kit.policy(plan_filed_slack_hours=0).plan_filed_slack_hours == 0


@pytest.mark.parametrize("value", [-1, "24", True, 24.0, None, 366 * 24 + 1])
def test_plan_filed_slack_hours_must_be_a_bounded_integer(value: object) -> None:
    raw = ApprovalKit().policy_raw(plan_filed_slack_hours=value)
    with pytest.raises(errors.ApprovalError) as caught:
        parse_policy(raw, "/ledger")
    assert caught.value.code == errors.POLICY_INVALID
    assert caught.value.message == f"policy.plan_filed_slack_hours: must be an integer from 0 to 8784 (got {value!r})"
