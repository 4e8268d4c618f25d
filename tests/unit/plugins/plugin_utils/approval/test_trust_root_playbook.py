# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 11 at the playbook level: an operator with the documented command line and no key of any
administrator or approver tries to bring their own policy, root, ledger or run id. Each attempt is a
real ansible-playbook run, and each shows that no host changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

from approval_kit import ApprovalKit, live_claims
from controller_kit import HOSTS, Controller, changed, controller, output

__all__ = ["controller"]  # the fixture


def _operator_kit(controller: Controller) -> tuple[ApprovalKit, Path]:
    """The operator's own administrators and approvers, and a policy they signed themselves."""
    own = ApprovalKit(str(controller.root / "ledger"))
    path = controller.root / "my-policy.json"
    path.write_bytes(own.policy_document())
    path.chmod(0o644)
    return own, path


def _inventory(controller: Controller, name: str, variables: dict[str, object]) -> Path:
    path = controller.root / name
    path.write_text(json.dumps({"all": {"vars": variables}}))
    return path


def test_a_third_inventory_source_with_a_policy_in_variables_is_refused(controller: Controller) -> None:
    own, _path = _operator_kit(controller)
    extra = _inventory(controller, "my-policy.yml", {"opsgate_approval_policy": own.policy_raw()})
    done, markers = controller.play("-i", str(extra), "-e", controller.write_token(own.sign(live_claims(HOSTS))))
    assert done.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_POLICY_UNSIGNED" in done.stdout


def test_a_third_inventory_source_naming_a_self_signed_policy_is_refused(controller: Controller) -> None:
    own, path = _operator_kit(controller)
    extra = _inventory(controller, "my-policy.yml", {"opsgate_approval_policy_file": str(path)})
    done, markers = controller.play("-i", str(extra), "-e", controller.write_token(own.sign(live_claims(HOSTS))))
    assert done.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_POLICY_UNTRUSTED" in done.stdout
    assert "signed by 0 policy administrators of trust root version 1, which needs 2" in done.stdout


def test_ansible_inventory_from_the_environment_cannot_bring_a_policy(controller: Controller) -> None:
    own, path = _operator_kit(controller)
    extra = _inventory(controller, "env-policy.yml", {"opsgate_approval_policy_file": str(path)})
    controller.extra_env["ANSIBLE_INVENTORY"] = f"{controller.root / 'hosts.ini'},{extra}"
    done, markers = controller.play("-e", controller.write_token(own.sign(live_claims(HOSTS))), inventory=None)
    assert done.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_POLICY_UNTRUSTED" in done.stdout


def test_a_policy_signed_by_one_of_two_administrators_is_refused(controller: Controller) -> None:
    half = controller.root / "half-signed.json"
    half.write_bytes(controller.kit.policy_document(version=2, signers=(controller.kit.admins["root-ann"],)))
    half.chmod(0o644)
    done, markers = controller.play("-e", controller.write_token(controller.token()), "-e", f"opsgate_approval_policy_file={half}")
    assert done.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_POLICY_UNTRUSTED" in done.stdout
    assert "signed by 1 policy administrators" in done.stdout


def test_an_older_signed_policy_is_refused_once_a_newer_one_was_used(controller: Controller) -> None:
    # Version 1 (pinned beside the root) allowed approver dave; version 2 retires him.
    newer = controller.root / "policy-v2.json"
    dave = controller.kit.approvers["dave"]
    retired = [{"keyid": dave.keyid, "owner": "dave", "retired_on": "2025-01-01", "reason": "left"}]
    approvers = [a.policy_entry() for name, a in controller.kit.approvers.items() if name != "dave"]
    newer.write_bytes(controller.kit.policy_document(version=2, approvers=approvers, retired_keys=retired))
    newer.chmod(0o644)
    first, _markers = controller.play("-e", controller.write_token(controller.token()), "-e", f"opsgate_approval_policy_file={newer}")
    assert first.returncode != 0  # dave signed; version 2 no longer counts him
    assert "APPROVAL_KEY_RETIRED" in first.stdout
    # Back to version 1, where dave still counts: refused as a rollback.
    token = controller.kit.sign(live_claims(HOSTS, token_id="apv-second-try-0001"))
    done, markers = controller.play("-e", controller.write_token(token))
    assert done.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_POLICY_ROLLBACK" in done.stdout
    assert "policy version 1 is older than version 2" in done.stdout


def test_a_trust_root_owned_by_someone_else_is_refused(controller: Controller) -> None:
    own, _path = _operator_kit(controller)
    home = controller.root / "operator"
    own.install(home)
    os.chown(home / "trust" / "root.json", 65534, 65534)  # nobody: an operator who is not root made it
    controller.extra_env["OPSGATE_TRUST_ROOT"] = str(home / "trust" / "root.json")
    done, markers = controller.play("-e", controller.write_token(own.sign(live_claims(HOSTS))))
    assert done.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_TRUST_ROOT_UNSAFE" in done.stdout
    assert "belongs to nobody (uid 65534)" in done.stdout


def test_a_trust_root_in_a_folder_others_can_write_is_refused(controller: Controller) -> None:
    own, _path = _operator_kit(controller)
    home = controller.root / "shared"
    own.install(home)
    (home / "trust").chmod(0o777)
    controller.extra_env["OPSGATE_TRUST_ROOT"] = str(home / "trust" / "root.json")
    done, markers = controller.play("-e", controller.write_token(own.sign(live_claims(HOSTS))))
    assert done.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_TRUST_ROOT_UNSAFE" in done.stdout
    assert "is writable by group or others (mode 0777)" in done.stdout


def test_a_world_writable_trust_root_file_is_refused(controller: Controller) -> None:
    controller.trust_root.chmod(0o666)
    done, markers = controller.play("-e", controller.write_token(controller.token()))
    assert done.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_TRUST_ROOT_UNSAFE" in done.stdout


def test_a_wrapper_playbook_cannot_move_the_trust_root_or_the_policy(controller: Controller) -> None:
    own, path = _operator_kit(controller)
    home = controller.root / "wrapper-root"
    own.install(home)
    wrapper = controller.root / "wrapper.yml"
    wrapper.write_text(
        f"""
- name: Bring my own trust
  hosts: targets
  gather_facts: false
  environment:
    OPSGATE_TRUST_ROOT: {home}/trust/root.json
  tasks:
    - name: Point at my policy
      ansible.builtin.set_fact:
        opsgate_approval_policy_file: {path}
- name: The real play
  ansible.builtin.import_playbook: deploy.yml
"""
    )
    done, markers = controller.play("-e", controller.write_token(own.sign(live_claims(HOSTS))), playbook="wrapper.yml")
    assert done.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_POLICY_UNTRUSTED" in done.stdout


def test_xdg_state_home_cannot_move_the_ledger(controller: Controller) -> None:
    token_file = controller.write_token(controller.token())
    first, _markers = controller.play("-e", token_file)
    assert first.returncode == 0, output(first)
    empty = controller.root / "empty-state"
    empty.mkdir()
    controller.extra_env.update(XDG_STATE_HOME=str(empty), HOME=str(empty))
    again, markers = controller.play("-e", token_file)
    assert again.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_REPLAYED" in again.stdout
    assert not list(empty.iterdir())


def test_a_ledger_folder_others_can_write_stops_every_run(controller: Controller) -> None:
    ledger = controller.root / "ledger"
    ledger.mkdir(mode=0o700)
    ledger.chmod(0o777)
    done, markers = controller.play("-e", controller.write_token(controller.token()))
    assert done.returncode != 0
    assert changed(markers) == []
    # The SQLite state store lives there: whoever could write the folder could delete a consumption.
    assert "APPROVAL_STATE_STORE_ERROR" in done.stdout
    assert f"folder {ledger} must be owned by root or this user and writable by nobody else" in done.stdout
    assert "the gate stopped the run before any host was touched" in done.stdout


def test_an_interrupted_run_is_not_resumable_once_a_later_change_ran_on_its_hosts(controller: Controller) -> None:
    first_token = controller.write_token(controller.token())
    interrupted, _markers = controller.play("-e", first_token, "-e", "approval_gate_run_id=job-1", "-e", "interrupt=true")
    assert interrupted.returncode != 0
    later = controller.kit.sign(live_claims(HOSTS, token_id="apv-later-change-01", change_id="CHG-LATER"))
    done, _markers = controller.play("-e", controller.write_token(later))
    assert done.returncode == 0, output(done)
    resumed, markers = controller.play("-e", first_token, "-e", "approval_gate_run_id=job-1")
    assert resumed.returncode != 0
    assert changed(markers) == []
    assert "change CHG-LATER (token apv-later-change-01) ran on the same hosts" in resumed.stdout
