# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Verification receipts: one controller process's proof that the signed verify suite passed against one host.

They share the receipts table with the approval and readiness receipts under keys none of those can have; only the
process that wrote one, for the same token, host, release and suite, finds it; a failed verification is never recorded.
The playbook runs are in tests/unit/plugins/action/test_release_commit_verified.py.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.host_approval import ApprovalRefused, require_host_verification
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.receipt import (
    READINESS_KEY,
    ControllerIdentity,
    Verification,
    _get,
    require_readiness_receipt,
    require_verification_receipt,
    verification_key,
    write_readiness_receipt,
    write_verification_receipt,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.token_ledger import process_start_time
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import store_settings
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import Store, open_store

TOKEN_SHA = "ab" * 32
SUITE_SHA = "5e" * 32
RELEASE = "1.4.2-CHG-2025-0117-0123456789ab"
THIS = ControllerIdentity(os.getpid(), process_start_time(os.getpid()))
PASSED = Verification("web1", RELEASE, SUITE_SHA, "test_app.py", "c0" * 32, tests=3, passed=2, failed=0, errors=0, skipped=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(store_settings({"backend": "sqlite"}, str(tmp_path / "ledger"), environ={}))
    try:
        yield opened
    finally:
        opened.close()


def _refused(**overrides: Any) -> str:
    with pytest.raises(errors.ApprovalError) as caught:
        require_verification_receipt(**overrides)
    assert caught.value.code == errors.VERIFY_NOT_RUN
    return caught.value.message


def _ask(store: Store, **overrides: Any) -> dict[str, Any]:
    return {"store": store, "token_sha256": TOKEN_SHA, "host": "web1", "release_id": RELEASE, "suite_sha256": SUITE_SHA, "identity": THIS, **overrides}


def test_the_key_cannot_be_a_token_id_or_a_readiness_key() -> None:
    key = verification_key(TOKEN_SHA, "web1")
    assert key == f"verified:{TOKEN_SHA}:web1"
    assert ":" in key and not key.startswith(READINESS_KEY)
    # A host name with colons (an IPv6 literal) stays after the fixed-length digest.
    assert verification_key(TOKEN_SHA, "2001:db8::1").split(":", 2)[2] == "2001:db8::1"


def test_the_writing_process_finds_its_receipt_with_the_digests_and_counts(store: Store) -> None:
    write_verification_receipt(store, THIS, "apv-1", TOKEN_SHA, PASSED)

    body = require_verification_receipt(**_ask(store))

    assert {key: body[key] for key in dataclasses.asdict(PASSED)} == dataclasses.asdict(PASSED)
    assert (body["token_id"], body["token_sha256"], body["controller"]["pid"]) == ("apv-1", TOKEN_SHA, os.getpid())


def test_it_shares_the_table_with_the_readiness_receipt_of_the_same_token(store: Store) -> None:
    write_readiness_receipt(store, THIS, TOKEN_SHA, ["web1", "web2"], "checked")
    write_verification_receipt(store, THIS, "apv-1", TOKEN_SHA, PASSED)
    write_verification_receipt(store, THIS, "apv-1", TOKEN_SHA, dataclasses.replace(PASSED, host="web2"))

    require_readiness_receipt(store, THIS, TOKEN_SHA, ["web1", "web2"])
    assert require_verification_receipt(**_ask(store, host="web2"))["host"] == "web2"
    assert _get(store, THIS, "apv-1") is None


@pytest.mark.parametrize(
    "identity",
    [
        ControllerIdentity(os.getpid(), "1"),  # the same pid, another process (a recycled pid)
        ControllerIdentity(os.getppid(), process_start_time(os.getppid())),  # another live process on this controller
        ControllerIdentity(os.getpid(), process_start_time(os.getpid()), controller="controller-b"),  # the same pid on another controller
    ],
)
def test_another_processs_receipt_does_not_count(store: Store, identity: ControllerIdentity) -> None:
    write_verification_receipt(store, identity, "apv-1", TOKEN_SHA, PASSED)

    message = _refused(**_ask(store))

    assert f"release {RELEASE} is not recorded good on web1: the suite with sha256 {SUITE_SHA} the approvers signed must pass against web1" in message
    assert f"in this ansible-playbook run (pid {os.getpid()}) first" in message
    assert "a verification of an earlier run or another controller does not count" in message


@pytest.mark.parametrize(
    ("asked", "named"),
    [
        ({"token_sha256": "cd" * 32}, "it did not pass in this run"),  # another token: another key
        ({"host": "web2"}, "it did not pass in this run"),
        ({"release_id": "1.4.3-CHG-2025-0118-0123456789ab"}, f"release {RELEASE!r}, expected '1.4.3-CHG-2025-0118-0123456789ab'"),
        ({"suite_sha256": "5f" * 32}, f"suite sha256 {SUITE_SHA!r}, expected '{'5f' * 32}'"),
    ],
)
def test_a_receipt_for_another_token_host_release_or_suite_does_not_count(store: Store, asked: dict[str, str], named: str) -> None:
    write_verification_receipt(store, THIS, "apv-1", TOKEN_SHA, PASSED)

    assert named in _refused(**_ask(store, **asked))


@pytest.mark.parametrize(
    "outcome",
    [{"failed": 1, "passed": 1}, {"errors": 1}, {"tests": 2, "passed": 0, "skipped": 2}, {"tests": 0, "passed": 0, "skipped": 0}],
)
def test_a_verification_that_did_not_pass_is_never_recorded(store: Store, outcome: dict[str, int]) -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        write_verification_receipt(store, THIS, "apv-1", TOKEN_SHA, dataclasses.replace(PASSED, **outcome))
    assert caught.value.code == errors.VERIFY_NOT_RUN
    assert _get(store, THIS, verification_key(TOKEN_SHA, "web1")) is None
    _refused(**_ask(store))


def _approval(action: str = "deploy", verify: object = ..., host_check: bool = True) -> dict[str, Any]:
    change = {"hosts": {"web1": {"address": "web1", "release": {"release_id": RELEASE}}}}
    change["verify"] = {"suite_sha256": SUITE_SHA, "suite_name": "test_app.py", "timeout": 60} if verify is ... else verify
    return {"token_id": "apv-1", "token_sha256": TOKEN_SHA, "action": action, "host_check": {"host_change": change} if host_check else {}}


@pytest.mark.parametrize(
    ("approval", "check_mode"),
    [
        (_approval(), True),  # check mode: release_verify runs nothing
        (_approval("rollback"), False),
        (_approval(verify=None), False),  # a change without verify
        (_approval(host_check=False), False),  # a token that binds no change document: nothing signed a suite
    ],
)
def test_no_receipt_is_needed_where_no_signed_suite_applies(approval: dict[str, Any], check_mode: bool) -> None:
    """These return before the state store is opened (task_vars name no trust root, so opening it would fail)."""
    require_host_verification(approval, "web1", {}, lambda value: value, check_mode)


def test_a_signed_suite_of_a_deploy_opens_the_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The control of the test above: here the store is needed, and without a trust root the step is refused."""
    monkeypatch.setenv("OPSGATE_TRUST_ROOT", str(tmp_path / "no-such-root.json"))
    with pytest.raises(ApprovalRefused) as caught:
        require_host_verification(_approval("gray_release"), "web1", {}, lambda value: value, False)
    assert str(caught.value).startswith("release_commit refused on web1 [APPROVAL_TRUST_ROOT")
