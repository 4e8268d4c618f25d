# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The trust bootstrap pins a root and a host identity only under the security team's signed host grant."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from approval_kit import ApprovalKit, Approver

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.host_grant import GRANT_KIND, grant_body
from ansible_collections.opsgate.release.plugins.module_utils.approval.host_trust import install
from ansible_collections.opsgate.release.plugins.module_utils.approval.keys import private_key_pem

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
BIN = Path(__file__).resolve().parents[5] / "bin" / "opsgate-approval"


def _paths(tmp_path: Path) -> dict[str, str]:
    return {
        "root_path": str(tmp_path / "etc" / "trust.json"),
        "identity_path": str(tmp_path / "etc" / "host.json"),
        "grant_path": str(tmp_path / "etc" / "grant.json"),
    }


def _grant(kit: ApprovalKit, root: bytes, hosts: dict[str, str], signers: tuple[Approver, ...] | None = None, **overrides: Any) -> str:
    body = grant_body("SEC-7", hashlib.sha256(root).hexdigest(), hosts, NOW - timedelta(hours=1), NOW + timedelta(days=3))
    body.update(overrides)
    return kit.sign_document(GRANT_KIND, body, signers if signers is not None else tuple(kit.admins.values())).decode()


def _refused(tmp_path: Path, root: bytes, grant: str, code: str, name: str = "app-1", address: str = "10.0.0.1") -> str:
    with pytest.raises(errors.ApprovalError) as caught:
        install(root.decode(), grant, name, address, False, NOW, **_paths(tmp_path))
    assert caught.value.code == code, caught.value.message
    assert not (tmp_path / "etc").exists() or not any((tmp_path / "etc").iterdir()), "a refused bootstrap wrote something"
    return caught.value.message


def test_a_grant_for_this_root_host_and_address_pins_all_three(tmp_path: Path) -> None:
    kit = ApprovalKit()
    root = kit.root_document()
    grant = _grant(kit, root, {"app-1": "10.0.0.1", "app-2": "10.0.0.2"})
    result = install(root.decode(), grant, "app-1", "10.0.0.1", False, NOW, **_paths(tmp_path))
    assert result["changed"] and result["grant_id"] == "SEC-7" and result["grant_signed_by"] == ["root-ann", "root-ben"]
    assert (tmp_path / "etc" / "trust.json").read_bytes() == root
    assert json.loads((tmp_path / "etc" / "host.json").read_text()) == {"_type": "opsgate.release/host", "name": "app-1", "address": "10.0.0.1"}
    assert (tmp_path / "etc" / "grant.json").read_text() == grant + ("" if grant.endswith("\n") else "\n")
    again = install(root.decode(), grant, "app-1", "10.0.0.1", False, NOW, **_paths(tmp_path))
    assert not again["changed"]


def test_check_mode_writes_nothing(tmp_path: Path) -> None:
    kit = ApprovalKit()
    root = kit.root_document()
    install(root.decode(), _grant(kit, root, {"app-1": "10.0.0.1"}), "app-1", "10.0.0.1", True, NOW, **_paths(tmp_path))
    assert not (tmp_path / "etc").exists()


def test_a_grant_signed_by_one_of_two_administrators_is_refused(tmp_path: Path) -> None:
    kit = ApprovalKit()
    root = kit.root_document()
    message = _refused(tmp_path, root, _grant(kit, root, {"app-1": "10.0.0.1"}, signers=(kit.admins["root-ann"],)), errors.HOST_GRANT_REFUSED)
    assert "1 administrators" in message and "threshold is 2" in message


def test_a_grant_signed_by_approvers_not_administrators_is_refused(tmp_path: Path) -> None:
    kit = ApprovalKit()
    root = kit.root_document()
    grant = _grant(kit, root, {"app-1": "10.0.0.1"}, signers=(kit.approvers["alice"], kit.approvers["dave"]))
    _refused(tmp_path, root, grant, errors.HOST_GRANT_REFUSED)


def test_a_grant_that_gives_the_host_another_address_is_refused(tmp_path: Path) -> None:
    kit = ApprovalKit()
    root = kit.root_document()
    message = _refused(tmp_path, root, _grant(kit, root, {"app-1": "10.9.9.9"}), errors.HOST_GRANT_REFUSED)
    assert "10.9.9.9" in message and "10.0.0.1" in message


def test_a_grant_that_does_not_name_the_host_is_refused(tmp_path: Path) -> None:
    kit = ApprovalKit()
    root = kit.root_document()
    assert "app-1" in _refused(tmp_path, root, _grant(kit, root, {"app-2": "10.0.0.1"}), errors.HOST_GRANT_REFUSED)


def test_a_grant_for_another_root_is_refused(tmp_path: Path) -> None:
    kit = ApprovalKit()
    root = kit.root_document()
    other_root = kit.root_document(ledger_dir="/elsewhere")
    _refused(tmp_path, root, _grant(kit, other_root, {"app-1": "10.0.0.1"}), errors.HOST_GRANT_REFUSED)


def test_an_expired_grant_is_refused(tmp_path: Path) -> None:
    kit = ApprovalKit()
    root = kit.root_document()
    grant = _grant(kit, root, {"app-1": "10.0.0.1"}, issued="2026-11-01T00:00:00Z", expires="2026-11-20T00:00:00Z")
    assert "expired" in _refused(tmp_path, root, grant, errors.HOST_GRANT_REFUSED)


def test_a_grant_longer_than_a_month_is_invalid(tmp_path: Path) -> None:
    kit = ApprovalKit()
    root = kit.root_document()
    grant = _grant(kit, root, {"app-1": "10.0.0.1"}, issued="2026-11-01T00:00:00Z", expires="2027-11-01T00:00:00Z")
    assert "expires" in _refused(tmp_path, root, grant, errors.HOST_GRANT_INVALID)


def test_a_grant_edited_after_signing_is_refused(tmp_path: Path) -> None:
    kit = ApprovalKit()
    root = kit.root_document()
    document = json.loads(_grant(kit, root, {"app-1": "10.9.9.9"}))
    document["signed"]["hosts"]["app-1"] = "10.0.0.1"
    edited = json.dumps(document, sort_keys=True, separators=(",", ":"))
    _refused(tmp_path, root, edited, errors.HOST_GRANT_REFUSED)


def test_a_rotated_root_needs_a_grant_for_the_new_root(tmp_path: Path) -> None:
    kit = ApprovalKit()
    first, second = kit.root_document(), kit.root_document(version=2)
    install(first.decode(), _grant(kit, first, {"app-1": "10.0.0.1"}), "app-1", "10.0.0.1", False, NOW, **_paths(tmp_path))
    with pytest.raises(errors.ApprovalError) as caught:
        install(second.decode(), _grant(kit, first, {"app-1": "10.0.0.1"}), "app-1", "10.0.0.1", False, NOW, **_paths(tmp_path))
    assert caught.value.code == errors.HOST_GRANT_REFUSED
    assert (tmp_path / "etc" / "trust.json").read_bytes() == first
    result = install(second.decode(), _grant(kit, second, {"app-1": "10.0.0.1"}), "app-1", "10.0.0.1", False, NOW, **_paths(tmp_path))
    assert result["root_version"] == 2 and result["previous_root_version"] == 1


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BIN), *args], cwd=tmp, capture_output=True, text=True, check=False)


def test_the_cli_writes_a_grant_from_ansible_inventory_output_that_two_administrators_sign(tmp_path: Path) -> None:
    kit = ApprovalKit()
    (tmp_path / "root.json").write_bytes(kit.root_document())
    for admin in kit.admins.values():
        (tmp_path / f"{admin.owner}.pem").write_bytes(private_key_pem(admin.key, None))
        (tmp_path / f"{admin.owner}.pem").chmod(0o600)
    inventory = {"_meta": {"hostvars": {"app-1": {"ansible_host": "10.0.0.1"}, "app-2": {}}}, "all": {"children": ["ungrouped"]}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    created = _cli(tmp_path, "grant-create", "--root", "root.json", "--grant-id", "SEC-9", "--hosts-file", "inventory.json", "--out", "g0.json")
    assert created.returncode == 0, created.stderr
    assert "app-1 at 10.0.0.1" in created.stderr and "app-2 at app-2" in created.stderr
    assert _cli(tmp_path, "admin-sign", "--key", "root-ann.pem", "--in", "g0.json", "--out", "g1.json").returncode == 0
    one = _cli(tmp_path, "grant-verify", "--root", "root.json", "--in", "g1.json")
    assert one.returncode == 2 and errors.HOST_GRANT_REFUSED in one.stderr
    assert _cli(tmp_path, "admin-sign", "--key", "root-ben.pem", "--in", "g1.json", "--out", "g2.json").returncode == 0
    both = _cli(tmp_path, "grant-verify", "--root", "root.json", "--in", "g2.json")
    assert both.returncode == 0 and "signed by root-ann, root-ben" in both.stderr
    grant = (tmp_path / "g2.json").read_text()
    result = install(kit.root_document().decode(), grant, "app-2", "app-2", False, datetime.now(UTC), **_paths(tmp_path))
    assert result["grant_id"] == "SEC-9"


def test_the_cli_refuses_a_host_given_twice_with_two_addresses(tmp_path: Path) -> None:
    kit = ApprovalKit()
    (tmp_path / "root.json").write_bytes(kit.root_document())
    result = _cli(tmp_path, "grant-create", "--root", "root.json", "--grant-id", "SEC-9", "--host", "a=1.1.1.1", "--host", "a=2.2.2.2", "--out", "g.json")
    assert result.returncode == 2 and errors.HOST_GRANT_INVALID in result.stderr and "2.2.2.2" in result.stderr
    assert not (tmp_path / "g.json").exists()


def test_a_host_trust_folder_from_the_environment_counts_only_where_no_root_is_pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible_collections.opsgate.release.plugins.module_utils.approval import host_check

    pinned = tmp_path / "etc-opsgate" / "trust.json"
    monkeypatch.setattr(host_check, "DEFAULT_TRUST_ROOT", str(pinned))
    monkeypatch.setenv(host_check.HOST_TRUST_DIR_ENV, str(tmp_path / "slot1"))
    assert host_check.host_trust_paths().root == str(tmp_path / "slot1" / "trust.json")
    assert host_check.host_trust_paths().state == str(tmp_path / "slot1" / "host-trust.json")
    monkeypatch.setenv(host_check.HOST_TRUST_DIR_ENV, "relative/slot1")
    assert host_check.host_trust_paths().root == str(pinned)
    # Once the security team pinned a root, the variable cannot point the checks elsewhere.
    pinned.parent.mkdir()
    pinned.write_text("{}")
    monkeypatch.setenv(host_check.HOST_TRUST_DIR_ENV, str(tmp_path / "slot1"))
    paths = host_check.host_trust_paths()
    assert (paths.root, paths.identity, paths.state) == (str(pinned), host_check.HOST_IDENTITY, host_check.HOST_STATE)


def test_the_bootstrap_writes_into_the_stand_in_folder_the_steps_then_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible_collections.opsgate.release.plugins.module_utils.approval import host_check

    monkeypatch.setattr(host_check, "DEFAULT_TRUST_ROOT", str(tmp_path / "absent" / "trust.json"))
    monkeypatch.setenv(host_check.HOST_TRUST_DIR_ENV, str(tmp_path / "slot1"))
    kit = ApprovalKit()
    root = kit.root_document()
    result = install(root.decode(), _grant(kit, root, {"slot1": "slot1"}), "slot1", "slot1", False, NOW)
    assert result["root_path"] == str(tmp_path / "slot1" / "trust.json")
    assert host_check.host_is_bootstrapped()
    assert host_check.load_host_identity(host_check.host_trust_paths().identity) == host_check.HostIdentity("slot1", "slot1")
