# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout_state action in a real ansible-playbook run: the plan kept at start, progress per batch, host results, the summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pg_cluster
import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import PASSWORD_ENV

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "tests" / "unit" / "plugins" / "plugin_utils" / "approval"))
from approval_kit import ApprovalKit

PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
HOSTS = [f"app{number}" for number in range(1, 7)]
PLAN: dict[str, Any] = {"steps": [{"hosts": 1}, {"approval": {"reason": "watch the canary"}}, {"hosts": "50%"}, {"hosts": "100%"}], "failure_budget": 1}
RELEASE = "2.0.0-CHG-7-0123456789ab"
OLD = "1.9.0-CHG-6-ffffffffffff"
PLAYBOOK = """
- name: Record a rollout the way gray_release does
  hosts: app
  gather_facts: false
  vars:
    common: &common
      app: shop
      env: prod
      release_id: "{{ release_id }}"
  tasks:
    - name: Plan
      opsgate.release.rollout_plan:
        rollout: "{{ opsgate_rollout }}"
        app: shop
        env: prod
        release_id: "{{ release_id }}"
        token_id: tok-7
      run_once: true
      register: plan
    - name: Start, keeping the batches and the budget
      opsgate.release.rollout_state:
        <<: *common
        event: start
        token_id: "{{ plan.token_id }}"
        batches_fingerprint: "{{ plan.batches_fingerprint }}"
        batches_total: "{{ plan.batches_total }}"
        batches: "{{ plan.batches }}"
        allowed_failures: "{{ plan.allowed_failures }}"
      run_once: true
    - name: Batch 1
      opsgate.release.rollout_state:
        <<: *common
        event: batch
        batch_hosts: "{{ plan.batches[0].hosts }}"
        host_results:
          app1: {from_release: "{{ old }}", to_release: "{{ release_id }}", gate: passed, reason: ""}
      run_once: true
      register: first
    - name: Batch 2, one host failed within the budget
      opsgate.release.rollout_state:
        <<: *common
        event: batch
        batch_hosts: "{{ plan.batches[1].hosts }}"
        failed_hosts: [app3]
        host_results:
          app3: {from_release: "{{ old }}", to_release: "{{ release_id }}", gate: failed, reason: "health gate failed: 503"}
      run_once: true
      register: second
    - name: Abort
      opsgate.release.rollout_state:
        <<: *common
        event: status
        status: rolled_back
        message: analysis failed after batch 2
        rolled_back_hosts: [app1, app2]
      run_once: true
      register: aborted
    - name: Keep the results
      ansible.builtin.copy:
        content: "{{ {'first': first, 'second': second, 'aborted': aborted} | to_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
      run_once: true
      delegate_to: localhost
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    if not PLAYBOOK_BIN.exists():
        pytest.skip("ansible-playbook is not installed next to the test interpreter")
    return tmp_path


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_progress_lines_and_the_summary_from_a_playbook(root: Path, backend: str, request: pytest.FixtureRequest) -> None:
    pinned = None if backend == "sqlite" else request.getfixturevalue("postgresql_store")
    trust_root = ApprovalKit(str(root / "ledger"), state_store=pinned).install(root / "etc")
    interpreter = f"ansible_python_interpreter={sys.executable}"
    lines = [f"localhost ansible_connection=local {interpreter}", "[app]", *(f"{host} ansible_connection=local {interpreter}" for host in HOSTS)]
    (root / "hosts.ini").write_text("\n".join(lines) + "\n")
    (root / "play.yml").write_text(PLAYBOOK)
    (root / "ansible.cfg").write_text("[defaults]\nretry_files_enabled = false\n")
    (root / "rollout.json").write_text(json.dumps({"opsgate_rollout": PLAN, "release_id": RELEASE, "old": OLD, "result_file": str(root / "result.json")}))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
        "ANSIBLE_HOME": str(root / ".ansible"),
        "ANSIBLE_LOCAL_TEMP": str(root / ".ansible" / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "OPSGATE_TRUST_ROOT": str(trust_root),
        PASSWORD_ENV: pg_cluster.PASSWORD,
    }
    done = subprocess.run(
        [str(PLAYBOOK_BIN), "-i", "hosts.ini", "play.yml", "-e", "@rollout.json"], cwd=root, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((root / "result.json").read_text())
    assert result["first"]["progress"] == (
        "batch 1 of 3 done: switched 1 (app1), healthy 1, failed 0, failure budget left 1 of 1; "
        "next: stop for approval (watch the canary), then batch 2 (2 hosts)"
    )
    assert result["first"]["msg"] == result["first"]["progress"]
    # No allowed_failures on the batch event: the budget the start kept applies.
    assert result["second"]["progress"] == (
        "batch 2 of 3 done: switched 1 (app2), healthy 1, failed 1 (app3), failure budget left 0 of 1; next: batch 3 (3 hosts)"
    )
    assert not result["second"]["budget_exceeded"]
    summary = result["aborted"]["summary"]
    assert summary == [
        "HOST  OLD RELEASE               NEW RELEASE               GATE         ROLLED BACK",
        f"app1  {OLD}  {RELEASE}  passed       yes",
        f"app2  -                         {RELEASE}  passed       yes",
        f"app3  {OLD}  {RELEASE}  failed       no",
        "app4  -                         -                         not reached  no",
        "app5  -                         -                         not reached  no",
        "app6  -                         -                         not reached  no",
        "6 hosts: 2 passed, 1 failed, 0 unreachable, 0 skipped, 3 not reached; 2 rolled back",
    ]
    state = result["aborted"]["state"]
    assert state["version"] == 2 and state["status"] == "rolled_back" and state["host_results"]["app3"]["reason"] == "health gate failed: 503"
