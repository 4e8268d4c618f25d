# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A throw-away controller for real ansible-playbook runs behind the approval gate: pinned root, signed policy, inventory, playbook."""

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
    - name: Stand in for a run that is killed before it ends
      ansible.builtin.fail:
        msg: interrupted
      when: interrupt | default(false) | bool
    - name: Record that the run ended
      ansible.builtin.import_role:
        name: opsgate.release.approval_gate
        tasks_from: finish
      vars: {scope}
"""


class Controller:
    """A throw-away inventory, policy and playbook, run with the repository's ansible-playbook."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Its playbook calls the gate without the readiness check: the class is exempt in the signed policy.
        self.kit = ApprovalKit(str(root / "ledger"), class_readiness="skip")
        # The pinned root and the signed policy beside it; nothing about them is in the inventory.
        self.trust_root = self.kit.install(root)
        (root / "group_vars").mkdir()
        interpreter = f"ansible_python_interpreter={sys.executable}"
        lines = [f"localhost ansible_connection=local {interpreter}", "[targets]"]
        lines += [f"{host} ansible_connection=local {interpreter}" for host in HOSTS]
        (root / "hosts.ini").write_text("\n".join(lines) + "\n")
        (root / "deploy.yml").write_text(PLAYBOOK.format(scope=json.dumps(SCOPE_VARS), sha="3f" * 32))
        (root / "ansible.cfg").write_text("[defaults]\nretry_files_enabled = false\n")
        self.runs = 0
        self.extra_env: dict[str, str] = {}

    def token(self, **overrides: object) -> str:
        return self.kit.sign(live_claims(HOSTS, **overrides))

    def write_token(self, token: str) -> str:
        path = self.root / f"token-{self.runs}.json"
        path.write_text(json.dumps({"opsgate_approval_token": token}))
        return f"@{path}"

    def play(self, *args: str, playbook: str = "deploy.yml", inventory: str | None = "hosts.ini") -> tuple[subprocess.CompletedProcess[str], Path]:
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
            "OPSGATE_TRUST_ROOT": str(self.trust_root),
            **self.extra_env,
        }
        sources = ["-i", inventory] if inventory else []
        command = [str(PLAYBOOK_BIN), *sources, playbook, "-e", f"marker_dir={markers}", *args]
        done = subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, timeout=180, check=False)
        return done, markers


@pytest.fixture
def controller(tmp_path: Path) -> Controller:
    if not PLAYBOOK_BIN.exists():
        pytest.skip("ansible-playbook is not installed next to the test interpreter")
    return Controller(tmp_path)


def changed(markers: Path) -> list[str]:
    return sorted(path.name for path in markers.iterdir())


def output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr
