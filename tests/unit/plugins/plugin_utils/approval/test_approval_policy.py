# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Policy validation with key paths, the working-day rule and canonical JSON."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from approval_kit import ApprovalKit

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.canonical import SIGNATURE_DOMAIN, approval_signature_payload, canonical_json
from ansible_collections.opsgate.release.plugins.module_utils.approval.policy import parse_policy
from ansible_collections.opsgate.release.plugins.module_utils.approval.working_days import working_days_between


def _mutated(change: Any) -> dict[str, Any]:
    raw = copy.deepcopy(ApprovalKit().policy_raw())
    change(raw)
    return raw


POLICY_ERRORS = [
    ("empty_approvers", lambda r: r.update(approvers=[]), "policy.approvers: must be a non-empty list"),
    (
        "typo_top_key",
        lambda r: r.update(min_lead_workdays=3),
        "policy.min_lead_workdays: unknown key (allowed: approvers, archive_retention_years, change_document, classes,",
    ),
    ("missing_classes", lambda r: r.pop("classes"), "policy.classes: is required"),
    (
        "bad_public_key",
        lambda r: r["approvers"][2].update(public_key="bm90IGEga2V5"),
        "policy.approvers[2].public_key: not an Ed25519 public key",
    ),
    (
        "keyid_mismatch",
        lambda r: r["approvers"][1].update(keyid="0" * 32),
        "policy.approvers[1].keyid: '00000000000000000000000000000000' does not match",
    ),
    ("approver_lacks_role", lambda r: r["approvers"][0].pop("role"), "policy.approvers[0].role: is required"),
    ("duplicate_key", lambda r: r["approvers"].append(dict(r["approvers"][0])), "policy.approvers[6]: keyid"),
    (
        "zero_threshold",
        lambda r: r["classes"]["core_business"]["roles"].update(it_head=0),
        "policy.classes.core_business.roles.it_head: must be an integer >= 1 (got 0)",
    ),
    ("class_without_roles", lambda r: r["classes"].update(web={}), "policy.classes.web.roles: is required (map at least one role to its threshold)"),
    ("bad_holiday", lambda r: r.update(holidays=["2025-13-01"]), "policy.holidays[0]: must be a date YYYY-MM-DD (got '2025-13-01')"),
    ("negative_lead", lambda r: r.update(min_lead_working_days=-1), "policy.min_lead_working_days: must be an integer >= 0 (got -1)"),
    ("bad_timezone", lambda r: r.update(timezone="Mars/Olympus"), "policy.timezone: must be an IANA time zone"),
    ("zero_window", lambda r: r.update(max_window_hours=0), "policy.max_window_hours: must be an integer >= 1 (got 0)"),
]


@pytest.mark.parametrize(("name", "change", "fragment"), POLICY_ERRORS, ids=[e[0] for e in POLICY_ERRORS])
def test_policy_error_names_the_key_path_and_value(name: str, change: Any, fragment: str) -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        parse_policy(_mutated(change), "/ledger")
    assert caught.value.code == errors.POLICY_INVALID
    assert fragment in caught.value.message


def test_policy_defaults_and_yaml_dates() -> None:
    raw = ApprovalKit().policy_raw()
    for key in ("min_lead_working_days", "max_window_hours", "clock_leeway_seconds", "holidays"):
        raw.pop(key)
    raw["holidays"] = [date(2025, 10, 1), "2025-10-02"]
    policy = parse_policy(raw, "/ledger")
    assert policy.classes["core_business"].min_lead_working_days == 3
    assert policy.classes["decision_support"].min_lead_working_days == 1
    assert policy.max_window_hours == 24
    assert policy.clock_leeway_seconds == 300
    assert policy.holidays == frozenset({date(2025, 10, 1), date(2025, 10, 2)})


def test_policy_accepts_pem_public_keys() -> None:
    from cryptography.hazmat.primitives import serialization

    kit = ApprovalKit()
    raw = kit.policy_raw()
    key = kit.approvers["alice"].key.public_key()
    raw["approvers"][0]["public_key"] = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert parse_policy(raw, "/ledger").approvers[kit.approvers["alice"].keyid].owner == "alice"


@pytest.mark.parametrize(
    ("filed", "install", "holidays", "expected"),
    [
        (date(2025, 3, 3), date(2025, 3, 7), [], 3),  # Mon -> Fri: Tue, Wed, Thu
        (date(2025, 3, 3), date(2025, 3, 6), [], 2),  # Mon -> Thu
        (date(2025, 3, 6), date(2025, 3, 11), [], 2),  # Thu -> Tue: Fri, Mon (weekend skipped)
        (date(2025, 3, 7), date(2025, 3, 13), [], 3),  # Fri -> Thu: Mon, Tue, Wed
        (date(2025, 3, 3), date(2025, 3, 7), [date(2025, 3, 5)], 2),  # a Wednesday holiday
        (date(2025, 9, 29), date(2025, 10, 9), [date(2025, 10, d) for d in range(1, 9)], 1),  # National Day week: only Tue 30 Sep
        (date(2025, 3, 7), date(2025, 3, 7), [], 0),
        (date(2025, 3, 7), date(2025, 3, 8), [], 0),
    ],
)
def test_working_days_strictly_between(filed: date, install: date, holidays: list[date], expected: int) -> None:
    assert working_days_between(filed, install, frozenset(holidays)) == expected


def test_canonical_json_is_one_byte_string_per_value() -> None:
    first = canonical_json({"b": [1, "ü"], "a": {"y": True, "x": None}})
    second = canonical_json({"a": {"x": None, "y": True}, "b": [1, "ü"]})
    assert first == second == '{"a":{"x":null,"y":true},"b":[1,"ü"]}'.encode()
    with pytest.raises(ValueError, match=r"\$.v: floats are not allowed"):
        canonical_json({"v": 1.5})
    assert approval_signature_payload({"a": 1}, "2025-03-07T12:00:00Z") == SIGNATURE_DOMAIN + b'{"claims":{"a":1},"signed_at":"2025-03-07T12:00:00Z"}'


def test_every_policy_error_is_reported_at_once_with_its_key_path() -> None:
    def three_errors(raw: dict[str, Any]) -> None:
        raw["classes"]["core_business"]["roles"]["it_head"] = 0
        raw.update(holidays=["2025-13-01"], max_window_hours="30")

    with pytest.raises(errors.ApprovalError) as caught:
        parse_policy(_mutated(three_errors), "/ledger")
    assert caught.value.code == errors.POLICY_INVALID
    assert caught.value.message.splitlines() == [
        "policy.classes.core_business.roles.it_head: must be an integer >= 1 (got 0)",
        "policy.holidays[0]: must be a date YYYY-MM-DD (got '2025-13-01')",
        "policy.max_window_hours: must be an integer >= 1 (got '30')",
    ]


@pytest.mark.parametrize("value", ["30", True, 30.0, None])
def test_an_integer_is_never_text_a_bool_a_float_or_null(value: Any) -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        parse_policy(_mutated(lambda r: r.update(clock_leeway_seconds=value)), "/ledger")
    assert caught.value.code == errors.POLICY_INVALID
    assert caught.value.message == f"policy.clock_leeway_seconds: must be an integer >= 0 (got {value!r})"


def test_optional_sections_may_be_null_and_nothing_else_may() -> None:
    raw = _mutated(lambda r: r.update(retired_keys=None, holidays=None, working_weekends=None, freezes=None, emergency=None, host_classes=None))
    policy = parse_policy(raw, "/ledger")
    assert (policy.retired_keys, policy.holidays, policy.freezes, policy.emergency, policy.host_classes) == ({}, frozenset(), (), None, ())
    for key in ("timezone", "change_document", "min_lead_working_days", "approvers", "classes"):
        with pytest.raises(errors.ApprovalError) as caught:
            parse_policy(_mutated(lambda r, key=key: r.update({key: None})), "/ledger")
        assert caught.value.message.startswith(f"policy.{key}: must be"), caught.value.message
