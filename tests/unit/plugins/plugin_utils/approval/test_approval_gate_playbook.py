# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The approval_gate role and the approval_check task in real ansible-playbook runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from approval_kit import ApprovalKit, live_claims

REPO = Path(__file__).resolve().parents[5]
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
HOSTS = ["web1", "web2", "web3"]
SCOPE_VARS = {
    "approval_gate_action": "deploy",
    "approval_gate_app": "accounts-api",
    "approval_gate_version": "1.4.2",
    "approval_gate_artifact_sha256": "3f" * 32,
    "approval_gate_env": "prod",
    "approval_gate_system_class": "core_business",
}
PLAYBOOK = """
- name: Deploy behind the approval gate
  hosts: targets
  gather_facts: false
  tasks:
    - name: Verify the approval before any host is touched
      ansible.builtin.import_role:
        name: opsgate.release.approval_gate
      vars: {scope}
    - name: Refuse unless this run's gate covered this host
      opsgate.release.approval_check:
        action: deploy
        app: accounts-api
        version: 1.4.2
        artifact_sha256: "{sha}"
        env: prod
      tags: [deploy]
    - name: Change the host
      ansible.builtin.file:
        path: "{{{{ marker_dir }}}}/{{{{ inventory_hostname }}}}"
        state: touch
        mode: "0644"
      tags: [deploy]
"""


class Controller:
    """A throw-away inventory, policy and playbook, run with the repository's ansible-playbook."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.kit = ApprovalKit(str(root / "ledger"))
        (root / "group_vars").mkdir()
        (root / "group_vars" / "all.json").write_text(json.dumps({"opsgate_approval_policy": self.kit.policy_raw()}))
        interpreter = f"ansible_python_interpreter={sys.executable}"
        lines = [f"localhost ansible_connection=local {interpreter}", "[targets]"]
        lines += [f"{host} ansible_connection=local {interpreter}" for host in HOSTS]
        (root / "hosts.ini").write_text("\n".join(lines) + "\n")
        (root / "deploy.yml").write_text(PLAYBOOK.format(scope=json.dumps(SCOPE_VARS), sha="3f" * 32))
        (root / "ansible.cfg").write_text("[defaults]\nretry_files_enabled = false\n")
        self.runs = 0

    def token(self, **overrides: object) -> str:
        return self.kit.sign(live_claims(HOSTS, **overrides))

    def write_token(self, token: str) -> str:
        path = self.root / f"token-{self.runs}.json"
        path.write_text(json.dumps({"opsgate_approval_token": token}))
        return f"@{path}"

    def play(self, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
        self.runs += 1
        markers = self.root / f"markers-{self.runs}"
        markers.mkdir()
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(self.root / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
            "ANSIBLE_HOME": str(self.root / ".ansible"),
            "ANSIBLE_LOCAL_TEMP": str(self.root / ".ansible" / "tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_STDOUT_CALLBACK": "default",
        }
        command = [str(PLAYBOOK_BIN), "-i", "hosts.ini", "deploy.yml", "-e", f"marker_dir={markers}", *args]
        done = subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, timeout=180, check=False)
        return done, markers


@pytest.fixture
def controller(tmp_path: Path) -> Controller:
    if not PLAYBOOK_BIN.exists():
        pytest.skip("ansible-playbook is not installed next to the test interpreter")
    return Controller(tmp_path)


def _changed(markers: Path) -> list[str]:
    return sorted(path.name for path in markers.iterdir())


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def test_good_token_passes_and_the_hosts_change(controller: Controller) -> None:
    token = controller.token()
    done, markers = controller.play("-v", "-e", controller.write_token(token))
    assert done.returncode == 0, _output(done)
    assert _changed(markers) == HOSTS
    assert "apv-0123456789abcdef" in done.stdout
    assert "consumed by run ansible-playbook-" in done.stdout
    assert token not in _output(done)
    ledger = (controller.root / "ledger" / "consumed.jsonl").read_text()
    assert "apv-0123456789abcdef" in ledger
    assert token not in ledger


def test_token_never_printed_even_at_vvv_or_given_on_the_command_line(controller: Controller) -> None:
    token = controller.token()
    done, markers = controller.play("-vvv", "-e", f"opsgate_approval_token={token}")
    assert done.returncode == 0, _output(done)[-3000:]
    assert _changed(markers) == HOSTS
    body = token.split(".", 1)[1]
    for piece in (token, body[:48], body[-48:]):
        assert piece not in _output(done)
    assert '"token_sha256"' in done.stdout


def test_bad_token_stops_the_play_before_any_host_changes(controller: Controller) -> None:
    token = controller.kit.sign(live_claims(HOSTS), owners=("alice", "bob", "dave"))
    done, markers = controller.play("-vvv", "-e", controller.write_token(token))
    assert done.returncode != 0
    assert _changed(markers) == []
    assert "approval refused [APPROVAL_ROLE_MISSING]: role risk_compliance must approve" in done.stdout
    assert "Refuse unless this run's gate covered this host" not in done.stdout
    assert token not in _output(done)


def test_limit_changes_the_host_set_and_is_refused(controller: Controller) -> None:
    done, markers = controller.play("--limit", "web1,web2", "-e", controller.write_token(controller.token()))
    assert done.returncode != 0
    assert _changed(markers) == []
    assert "APPROVAL_HOSTS_MISMATCH" in done.stdout
    assert "approved but not targeted: web3" in done.stdout


def test_replay_is_refused_but_the_same_run_id_resumes(controller: Controller) -> None:
    token_file = controller.write_token(controller.token())
    first, _first_markers = controller.play("-e", token_file, "-e", "approval_gate_run_id=job-77")
    assert first.returncode == 0, _output(first)
    resumed, markers = controller.play("-v", "-e", token_file, "-e", "approval_gate_run_id=job-77")
    assert resumed.returncode == 0, _output(resumed)
    assert "resumed by run job-77" in resumed.stdout
    replayed, markers = controller.play("-e", token_file)
    assert replayed.returncode != 0
    assert _changed(markers) == []
    assert "APPROVAL_REPLAYED" in replayed.stdout


def test_check_mode_verifies_without_consuming(controller: Controller) -> None:
    token_file = controller.write_token(controller.token())
    checked, markers = controller.play("-v", "--check", "-e", token_file)
    assert checked.returncode == 0, _output(checked)
    assert "verified in check mode, not consumed" in checked.stdout
    assert _changed(markers) == []
    assert not (controller.root / "ledger" / "consumed.jsonl").exists()
    real, markers = controller.play("-e", token_file)
    assert real.returncode == 0, _output(real)
    assert _changed(markers) == HOSTS


def test_skipping_the_gate_with_skip_tags_is_refused_even_after_an_earlier_good_run(controller: Controller) -> None:
    token_file = controller.write_token(controller.token())
    earlier, _earlier_markers = controller.play("-e", token_file, "-e", "approval_gate_run_id=job-1")
    assert earlier.returncode == 0, _output(earlier)
    # The earlier run left its receipt; this run never passed the gate.
    assert list((controller.root / "ledger" / "receipts").rglob("*--apv-0123456789abcdef.json"))
    skipped, markers = controller.play("-e", token_file, "--skip-tags", "approval_gate")
    assert skipped.returncode != 0
    assert _changed(markers) == []
    assert "approval check refused web1 [APPROVAL_RECEIPT_MISSING]" in skipped.stdout


def test_start_at_task_and_faked_vars_cannot_stand_in_for_the_gate(controller: Controller) -> None:
    token_file = controller.write_token(controller.token())
    faked = '{"approval_gate_passed": true, "opsgate_approval_receipt": {"token_id": "apv-0123456789abcdef"}, "approval_gate_action": "noop"}'
    done, markers = controller.play("-e", token_file, "-e", faked, "--start-at-task", "Refuse unless this run's gate covered this host")
    assert done.returncode != 0
    assert _changed(markers) == []
    assert "APPROVAL_RECEIPT_MISSING" in done.stdout


def test_policy_from_extra_vars_is_refused(controller: Controller) -> None:
    policy = json.dumps({"opsgate_approval_policy": controller.kit.policy_raw()})
    done, markers = controller.play("-e", controller.write_token(controller.token()), "-e", policy)
    assert done.returncode != 0
    assert _changed(markers) == []
    assert "APPROVAL_POLICY_FROM_EXTRA_VARS" in done.stdout


def test_a_narrowed_host_list_from_extra_vars_still_cannot_change_an_unapproved_host(controller: Controller) -> None:
    token = controller.kit.sign(live_claims(["web1", "web2"]))
    narrowed = json.dumps({"approval_gate_hosts": ["web1", "web2"]})
    done, markers = controller.play("-e", controller.write_token(token), "-e", narrowed)
    assert done.returncode != 0
    assert _changed(markers) == ["web1", "web2"]
    assert "approval check refused web3 [APPROVAL_RECEIPT_HOST_NOT_COVERED]: host web3 is not among the 2 hosts" in done.stdout
