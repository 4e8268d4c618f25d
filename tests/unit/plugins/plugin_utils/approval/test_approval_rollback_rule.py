# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A class may let rollbacks to a release recorded good through with fewer roles and a shorter lead time."""

from __future__ import annotations

from typing import Any

import pytest
from approval_kit import NOW, ApprovalKit

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import verify_token

CORE = ("business_head", "it_head", "risk_compliance", "ops_director")
# Filed this morning for a window starting at noon: no working day in between.
SAME_DAY: dict[str, Any] = {"plan_filed_at": "2025-03-07T09:00:00Z", "not_before": "2025-03-07T12:00:00Z", "not_after": "2025-03-07T20:00:00Z"}


def _classes(rollback: dict[str, Any] | None) -> dict[str, Any]:
    core: dict[str, Any] = {"roles": dict.fromkeys(CORE, 1)}
    if rollback is not None:
        core["rollback"] = rollback
    return {"core_business": core}


@pytest.fixture(name="kit")
def kit_fixture() -> ApprovalKit:
    return ApprovalKit()


def test_a_rollback_with_the_class_rollback_rule_needs_fewer_roles_and_no_lead_time(kit: ApprovalKit) -> None:
    policy = kit.policy(classes=_classes({"roles": {"ops_director": 1}, "min_lead_working_days": 0}))
    token = kit.token(owners=("dave",), action="rollback", **SAME_DAY)
    approval = verify_token(token, policy, now=NOW, scope=kit.scope(action="rollback"))
    assert approval.summary()["signer_roles"] == ["ops_director"]
    assert approval.lead_working_days == 0


def test_without_a_rollback_rule_a_rollback_is_a_normal_change(kit: ApprovalKit) -> None:
    policy = kit.policy(classes=_classes(None))
    token = kit.token(owners=("dave",), action="rollback", **SAME_DAY)
    with pytest.raises(errors.ApprovalError) as caught:
        verify_token(token, policy, now=NOW, scope=kit.scope(action="rollback"))
    assert caught.value.code == errors.ROLE_MISSING
    assert "must approve changes to core_business systems" in caught.value.message


def test_the_rollback_rule_never_covers_a_deploy(kit: ApprovalKit) -> None:
    policy = kit.policy(classes=_classes({"roles": {"ops_director": 1}, "min_lead_working_days": 0}))
    token = kit.token(owners=("dave",), action="deploy", **SAME_DAY)
    with pytest.raises(errors.ApprovalError) as caught:
        verify_token(token, policy, now=NOW, scope=kit.scope())
    assert caught.value.code == errors.ROLE_MISSING


def test_the_rollback_rule_keeps_the_class_lead_time_unless_it_names_a_shorter_one(kit: ApprovalKit) -> None:
    policy = kit.policy(classes=_classes({"roles": {"ops_director": 1}}))
    assert policy.classes["core_business"].rollback is not None
    assert policy.classes["core_business"].rollback.min_lead_working_days == 3
    token = kit.token(owners=("dave",), action="rollback", **SAME_DAY)
    with pytest.raises(errors.ApprovalError) as caught:
        verify_token(token, policy, now=NOW, scope=kit.scope(action="rollback"))
    assert caught.value.code == errors.LEAD_TIME_TOO_SHORT


@pytest.mark.parametrize(
    ("rollback", "fragment"),
    [
        ({"min_lead_working_days": 0}, "policy.classes.core_business.rollback.roles: is required"),
        ({"roles": {"ops_director": 0}}, "policy.classes.core_business.rollback.roles.ops_director: must be an integer >= 1 (got 0)"),
        ({"roles": {"ops_director": 1}, "min_lead_working_days": "0"}, "rollback.min_lead_working_days: must be an integer >= 0 (got '0')"),
        ({"roles": {"ops_director": 1}, "lead": 0}, "policy.classes.core_business.rollback.lead: unknown key"),
        ("fast", "policy.classes.core_business.rollback: must be a mapping"),
    ],
)
def test_rollback_rule_errors_name_the_field(kit: ApprovalKit, rollback: Any, fragment: str) -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        kit.policy(classes=_classes(rollback))
    assert caught.value.code == errors.POLICY_INVALID
    assert fragment in caught.value.message
