# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The signed policy's host_classes: parsing (errors name the key path and the value) and the strictest-class rule."""

from __future__ import annotations

from typing import Any

import pytest
from approval_kit import NOW, ApprovalKit

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.host_classes import derive_class, derive_env, strictest
from ansible_collections.opsgate.release.plugins.module_utils.approval.policy import parse_policy
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import verify_token

KIT = ApprovalKit()
# core_business needs four roles (lead 3), customer_service two of them (lead 3), decision_support one (lead 1);
# "ops_only" and "it_only" need one role each, different ones: neither is stricter than the other.
CLASSES = {
    **KIT.policy_raw()["classes"],
    "ops_only": {"roles": {"ops_director": 1}},
    "it_only": {"roles": {"it_head": 1}},
}


def _policy(host_classes: Any) -> Any:
    return parse_policy(KIT.policy_raw(classes=CLASSES, host_classes=host_classes), "/nonexistent/ledger")


@pytest.mark.parametrize(
    ("host_classes", "message"),
    [
        ({"hosts": ["db*"], "class": "core_business"}, "policy.host_classes: must be a non-empty list"),
        ([], "policy.host_classes: must be a non-empty list"),
        (["db*"], "policy.host_classes[0]: must be a mapping with hosts and class, got str"),
        ([{"hosts": ["db*"], "class": "core_business", "group": "db"}], "policy.host_classes[0]: unknown keys group"),
        ([{"class": "core_business"}], "policy.host_classes[0].hosts: must be a non-empty list of host name patterns"),
        ([{"hosts": [], "class": "core_business"}], "policy.host_classes[0].hosts: must be a non-empty list of host name patterns"),
        (
            [{"hosts": ["db*", " web1"], "class": "core_business"}],
            "policy.host_classes[0].hosts[1]: must be a host name pattern without surrounding blanks, got ' web1'",
        ),
        (
            [{"hosts": ["db*"], "class": "core_business"}, {"hosts": ["web*"], "class": "gold"}],
            "policy.host_classes[1].class: must be one of the policy's classes",
        ),
        (
            [{"hosts": ["db*"]}],
            "policy.host_classes[0].class: must be one of the policy's classes (core_business, customer_service, decision_support, it_only, ops_only), "
            "got None",
        ),
        ([{"hosts": ["db*"], "class": "core_business", "env": ""}], "policy.host_classes[0].env: must be a non-empty environment name when given, got ''"),
    ],
)
def test_host_classes_errors_name_the_field_and_the_value(host_classes: Any, message: str) -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        _policy(host_classes)
    assert caught.value.code == errors.POLICY_INVALID
    assert message in caught.value.message


def test_a_policy_without_host_classes_has_none() -> None:
    assert parse_policy(KIT.policy_raw(), "/nonexistent/ledger").host_classes == ()


def test_a_host_matching_several_entries_gets_the_strictest_class_whatever_their_order() -> None:
    entries = [
        {"hosts": ["*"], "class": "decision_support"},
        {"hosts": ["db*"], "class": "core_business"},
        {"hosts": ["db*", "web*"], "class": "customer_service"},
    ]
    for order in (entries, list(reversed(entries))):
        policy = _policy(order)
        assert derive_class(["db1"], policy.host_classes, policy.classes) == "core_business"
        assert derive_class(["web1"], policy.host_classes, policy.classes) == "customer_service"
        assert derive_class(["report1"], policy.host_classes, policy.classes) == "decision_support"
        # A change of several hosts needs the strictest class among them.
        assert derive_class(["report1", "web1"], policy.host_classes, policy.classes) == "customer_service"
        assert derive_class(["report1", "web1", "db7"], policy.host_classes, policy.classes) == "core_business"


def test_strictest_compares_roles_counts_and_lead_time() -> None:
    classes = _policy([{"hosts": ["*"], "class": "core_business"}]).classes
    assert strictest(["decision_support", "core_business"], classes, "x") == "core_business"
    # Same roles, fewer working days of lead time: not as strict.
    assert strictest(["ops_only", "decision_support"], classes, "x") == "ops_only"
    with pytest.raises(errors.ApprovalError) as caught:
        strictest(["ops_only", "it_only"], classes, "host db1")
    assert caught.value.code == errors.SYSTEM_CLASS_MISMATCH
    assert "host db1 falls under the classes it_only, ops_only" in caught.value.message
    assert "none of them requires every role" in caught.value.message


def test_a_host_under_two_unordered_classes_is_refused() -> None:
    policy = _policy([{"hosts": ["db*"], "class": "ops_only"}, {"hosts": ["db1"], "class": "it_only"}])
    assert derive_class(["db2"], policy.host_classes, policy.classes) == "ops_only"
    with pytest.raises(errors.ApprovalError, match=r"host db1 falls under the classes it_only, ops_only"):
        derive_class(["db1"], policy.host_classes, policy.classes)


def test_a_host_no_entry_maps_is_refused_by_name() -> None:
    policy = _policy([{"hosts": ["db*"], "class": "core_business"}])
    with pytest.raises(errors.ApprovalError) as caught:
        derive_class(["db1", "web9"], policy.host_classes, policy.classes)
    assert caught.value.code == errors.SYSTEM_CLASS_MISMATCH
    assert "host web9 matches no entry of the approval policy's host_classes" in caught.value.message


def test_patterns_are_case_sensitive_fnmatch_on_the_inventory_name() -> None:
    policy = _policy([{"hosts": ["db?"], "class": "core_business"}, {"hosts": ["*"], "class": "decision_support"}])
    assert derive_class(["db1"], policy.host_classes, policy.classes) == "core_business"
    assert derive_class(["DB1"], policy.host_classes, policy.classes) == "decision_support"
    assert derive_class(["db10"], policy.host_classes, policy.classes) == "decision_support"


def test_env_of_the_hosts_from_the_policy() -> None:
    policy = _policy([{"hosts": ["prod-*"], "class": "core_business", "env": "prod"}, {"hosts": ["stg-*"], "class": "core_business", "env": "staging"}])
    assert derive_env(["prod-1", "prod-2"], policy.host_classes) == "prod"
    assert derive_env(["other"], policy.host_classes) is None
    with pytest.raises(errors.ApprovalError) as caught:
        derive_env(["prod-1", "stg-1"], policy.host_classes)
    assert caught.value.code == errors.ENV_MISMATCH
    assert "more than one environment (prod: prod-1; staging: stg-1)" in caught.value.message


def test_verify_refuses_a_token_whose_class_is_lighter_than_the_hosts_class() -> None:
    policy = _policy([{"hosts": ["web*"], "class": "core_business"}])
    token = KIT.token(owners=("dave",), system_class="decision_support")
    with pytest.raises(errors.ApprovalError) as caught:
        verify_token(token, policy, NOW, scope=KIT.scope())
    assert caught.value.code == errors.SYSTEM_CLASS_MISMATCH
    assert "the token approves 'decision_support'" in caught.value.message
    assert "in 'core_business'" in caught.value.message


def test_verify_refuses_a_stricter_class_than_the_hosts_class_too() -> None:
    # The class decides freezes and emergency rules as well: the token names exactly the hosts' class.
    policy = _policy([{"hosts": ["web*"], "class": "decision_support"}])
    with pytest.raises(errors.ApprovalError, match="have the change approved as decision_support"):
        verify_token(KIT.token(), policy, NOW, scope=KIT.scope())


def test_verify_passes_the_token_of_the_hosts_class() -> None:
    policy = _policy([{"hosts": ["*"], "class": "decision_support"}, {"hosts": ["web*"], "class": "core_business", "env": "prod"}])
    approval = verify_token(KIT.token(), policy, NOW, scope=KIT.scope())
    assert approval.claims.system_class == "core_business"


def test_verify_refuses_a_token_env_other_than_the_policy_gives_the_hosts() -> None:
    policy = _policy([{"hosts": ["web*"], "class": "core_business", "env": "prod"}])
    with pytest.raises(errors.ApprovalError) as caught:
        verify_token(KIT.token(env="staging"), policy, NOW, scope=KIT.scope(env="staging"))
    assert caught.value.code == errors.ENV_MISMATCH
    assert "the token approves 'staging'" in caught.value.message
