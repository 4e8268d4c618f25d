# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""classes.<class>.readiness in the signed policy: only it lets a class skip the readiness checks (issue 12 item 4)."""

from __future__ import annotations

from typing import Any

import pytest
from approval_kit import NOW, ApprovalKit

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.readiness_policy import readiness_decision

_ABSENT = object()


def _classes(core: Any = _ABSENT, **extra: Any) -> dict[str, Any]:
    roles = {"roles": {"business_head": 1, "it_head": 1, "risk_compliance": 1, "ops_director": 1}}
    entry = {**roles, "readiness": core} if core is not _ABSENT else roles
    return {"core_business": entry, "decision_support": {"roles": {"ops_director": 1}, "min_lead_working_days": 1, **extra}}


@pytest.fixture(name="kit")
def kit_fixture() -> ApprovalKit:
    return ApprovalKit()


def test_a_class_runs_the_readiness_checks_unless_its_entry_says_skip(kit: ApprovalKit) -> None:
    policy = kit.policy(classes=_classes(readiness="skip"))
    assert policy.classes["core_business"].readiness == "required"
    assert policy.classes["decision_support"].readiness == "skip"
    assert kit.policy(classes=_classes("required")).classes["core_business"].readiness == "required"


@pytest.mark.parametrize("value", ["skipped", "", True, None, ["skip"], "Required"])
def test_any_other_value_is_refused_naming_the_field_and_the_value(kit: ApprovalKit, value: Any) -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        kit.policy(classes=_classes(value))
    assert caught.value.code == errors.POLICY_INVALID
    assert caught.value.message.startswith("policy.classes.core_business.readiness: must be required")
    assert f"got {value!r}" in caught.value.message


def test_the_verified_tokens_class_decides(kit: ApprovalKit) -> None:
    skip = kit.policy(classes=_classes("skip"))
    decision = readiness_decision(kit.token(), skip, NOW)
    assert (decision.required, decision.system_class) == (False, "core_business")
    assert "lets class core_business skip" in decision.reason

    required = readiness_decision(kit.token(), kit.policy(classes=_classes()), NOW)
    assert (required.required, required.system_class) == (True, "core_business")


def test_a_token_that_does_not_verify_never_skips(kit: ApprovalKit) -> None:
    skip = kit.policy(classes=_classes("skip"))
    # One signature of four: the class claim is nobody's approved word, so the checks run.
    decision = readiness_decision(kit.token(owners=("dave",)), skip, NOW)
    assert (decision.required, decision.system_class) == (True, None)
    assert errors.ROLE_MISSING in decision.reason
    assert readiness_decision(None, skip, NOW).required
    assert readiness_decision(kit.token(), None, NOW).required


def test_a_class_the_policy_does_not_exempt_runs_them_whatever_another_class_may_do(kit: ApprovalKit) -> None:
    policy = kit.policy(classes=_classes(readiness="skip"))
    decision = readiness_decision(kit.token(), policy, NOW)
    assert decision.required
