# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The signed policy's required_documents (issue 15): validation naming the class or kind, and the refusal of a change
whose hosts' classes require a document kind it does not hand over."""

from __future__ import annotations

from typing import Any

import pytest
from approval_kit import ApprovalKit

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import validate_claims
from ansible_collections.opsgate.release.plugins.module_utils.approval.policy import Policy, parse_policy
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import check_required_documents

KIT = ApprovalKit()
HOST_CLASSES = [{"hosts": ["*"], "class": "decision_support"}, {"hosts": ["web*"], "class": "core_business"}]
REQUIRED = {"core_business": ["deployment_manual", "backup_restore_guide"], "decision_support": ["handover_note"]}
MANUAL = {"kind": "deployment_manual", "title": "Manual", "location": "https://wiki.example/m", "sha256": "f1" * 32}
GUIDE = {"kind": "backup_restore_guide", "title": "Backup", "location": "https://wiki.example/b", "sha256": "f2" * 32}
NOTE = {"kind": "handover_note", "title": "Handover", "location": "/shared/h.pdf", "sha256": "f3" * 32}


def _policy(**overrides: Any) -> Policy:
    return parse_policy(KIT.policy_raw(**overrides), "/nonexistent/ledger")


def _claims(**overrides: Any) -> Any:
    return validate_claims(ApprovalKit.claims(**{"change_sha256": "ab" * 32, **overrides}))


def _change(*documents: dict[str, Any]) -> dict[str, Any]:
    return {"documents": list(documents) or None}


def test_required_documents_are_parsed_sorted_and_once() -> None:
    policy = _policy(required_documents={"core_business": ["test_report", "deployment_manual", "test_report"], "customer_service": []})
    assert policy.required_documents == {"core_business": ("deployment_manual", "test_report"), "customer_service": ()}
    assert _policy().required_documents == {}
    assert _policy(required_documents=None).required_documents == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"gold": ["deployment_manual"]},
            "policy.required_documents.gold: is not a class of the policy (classes: core_business, customer_service, decision_support) (got 'gold')",
        ),
        (
            {"core_business": ["deployment_manual", "novel"]},
            "policy.required_documents.core_business[1]: must be one of deployment_manual, parameter_list, backup_restore_guide, handover_note, "
            "test_report, other (got 'novel')",
        ),
        ({"core_business": "deployment_manual"}, "policy.required_documents.core_business: must be a list of document kinds"),
        (["deployment_manual"], "policy.required_documents: must be a mapping of each system class to the document kinds its changes hand over"),
    ],
)
def test_an_unknown_class_or_kind_is_refused_by_name(value: Any, message: str) -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        _policy(required_documents=value)
    assert caught.value.code == errors.POLICY_INVALID
    assert message in caught.value.message


def test_every_policy_error_is_reported_with_the_others() -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        _policy(required_documents={"core_business": ["novel"]}, max_window_hours=0)
    lines = caught.value.message.splitlines()
    assert any(line.startswith("policy.required_documents.core_business[0]: must be one of") for line in lines)
    assert any(line.startswith("policy.max_window_hours: must be an integer >= 1") for line in lines)


def test_a_missing_kind_is_refused_naming_the_kind_the_class_and_the_hosts() -> None:
    policy = _policy(required_documents=REQUIRED)
    with pytest.raises(errors.ApprovalError) as caught:
        check_required_documents(_claims(), _change(MANUAL), policy)
    assert caught.value.code == errors.DOCUMENT_MISSING
    assert caught.value.message.startswith(
        "the change hands over no backup_restore_guide (required for core_business hosts: web1, web2, web3), which the approval policy (version 0) requires"
    )
    assert "list the document in opsgate_release.documents" in caught.value.message
    check_required_documents(_claims(), _change(GUIDE, MANUAL), policy)


def test_each_host_counts_with_its_own_class() -> None:
    """web* hosts are core_business, the others decision_support: each class's kinds are asked of its own hosts."""
    policy = _policy(required_documents=REQUIRED, host_classes=HOST_CLASSES)
    claims = _claims(hosts=["report1", "web1"])
    with pytest.raises(errors.ApprovalError) as caught:
        check_required_documents(claims, _change(MANUAL, GUIDE), policy)
    assert caught.value.code == errors.DOCUMENT_MISSING
    assert "no handover_note (required for decision_support hosts: report1)" in caught.value.message
    with pytest.raises(errors.ApprovalError) as caught:
        check_required_documents(claims, _change(NOTE), policy)
    assert "no backup_restore_guide (required for core_business hosts: web1); no deployment_manual (required for core_business hosts: web1)" in (
        caught.value.message
    )
    check_required_documents(claims, _change(NOTE, GUIDE, MANUAL), policy)
    # A change of decision_support hosts alone needs only theirs.
    check_required_documents(_claims(hosts=["report1"], system_class="decision_support"), _change(NOTE), policy)


def test_a_class_without_requirements_and_a_policy_without_the_key_ask_nothing() -> None:
    check_required_documents(_claims(system_class="customer_service"), None, _policy(required_documents=REQUIRED))
    check_required_documents(_claims(), None, _policy())


def test_no_documents_at_all_or_a_malformed_change_counts_as_none() -> None:
    policy = _policy(required_documents={"core_business": ["deployment_manual"]})
    for change in (None, {}, _change(), {"documents": "manual.pdf"}, {"documents": ["deployment_manual"]}):
        with pytest.raises(errors.ApprovalError) as caught:
            check_required_documents(_claims(), change, policy)
        assert caught.value.code == errors.DOCUMENT_MISSING


def test_the_documents_count_only_when_the_token_signs_the_change_document() -> None:
    policy = _policy(required_documents={"core_business": ["deployment_manual"]})
    with pytest.raises(errors.ApprovalError) as caught:
        check_required_documents(_claims(change_sha256=None), _change(MANUAL), policy)
    assert caught.value.code == errors.CHANGE_NOT_BOUND
    assert "the approval policy requires a deployment_manual for changes to core_business hosts (web1, web2, web3)" in caught.value.message


def test_a_rollback_is_not_held_to_it() -> None:
    check_required_documents(_claims(action="rollback"), None, _policy(required_documents=REQUIRED))
