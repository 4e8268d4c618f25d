# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout_plan action in real ansible-playbook runs: batches, key-path errors, resume from the controller state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pg_cluster
import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.batches import batches_fingerprint, plan_batches
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.plan import validate_rollout
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.state import (
    PAUSED_FOR_APPROVAL,
    new_state,
    with_batch_done,
    with_status,
    write_state,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import PASSWORD_ENV, store_settings
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import open_store

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "tests" / "unit" / "plugins" / "plugin_utils" / "approval"))
from approval_kit import ApprovalKit

PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
HOSTS = [f"app{number}" for number in range(1, 7)]
PLAN: dict[str, Any] = {"steps": [{"hosts": 1}, {"approval": {"reason": "watch the canary"}}, {"hosts": "50%"}, {"hosts": "100%"}], "failure_budget": 1}
RELEASE = "2.0.0-CHG-7-0123456789ab"
PLAYBOOK = """
- name: Plan the rollout
  hosts: app
  gather_facts: false
  tasks:
    - name: Plan
      opsgate.release.rollout_plan:
        rollout: "{{ opsgate_rollout }}"
        app: shop
        env: prod
        release_id: "{{ release_id }}"
        token_id: "{{ token_id }}"
        resume: "{{ opsgate_rollout_resume | default(false) }}"
      run_once: true
      register: __plan
    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ __plan | to_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
      run_once: true
      delegate_to: localhost
"""


class Controller:
    def __init__(self, root: Path, state_store: dict[str, Any] | None = None) -> None:
        self.root = root
        self.ledger = root / "ledger"
        # The rollout state lives in the state store the pinned trust root names: SQLite in its ledger folder by default.
        self.trust_root = ApprovalKit(str(self.ledger), state_store=state_store).install(root / "etc")
        self.settings = store_settings(state_store or {"backend": "sqlite"}, str(self.ledger), environ={PASSWORD_ENV: pg_cluster.PASSWORD})
        interpreter = f"ansible_python_interpreter={sys.executable}"
        lines = [f"localhost ansible_connection=local {interpreter}", "[app]", *(f"{host} ansible_connection=local {interpreter}" for host in HOSTS)]
        (root / "hosts.ini").write_text("\n".join(lines) + "\n")
        (root / "plan.yml").write_text(PLAYBOOK)
        (root / "ansible.cfg").write_text("[defaults]\nretry_files_enabled = false\n")

    def play(self, plan: dict[str, Any], token_id: str = "tok-7", *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
        result_file = self.root / "result.json"
        result_file.unlink(missing_ok=True)
        (self.root / "rollout.json").write_text(json.dumps({"opsgate_rollout": plan}))
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(self.root / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
            "ANSIBLE_HOME": str(self.root / ".ansible"),
            "ANSIBLE_LOCAL_TEMP": str(self.root / ".ansible" / "tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "OPSGATE_TRUST_ROOT": str(self.trust_root),
            PASSWORD_ENV: pg_cluster.PASSWORD,
        }
        command = [
            str(PLAYBOOK_BIN),
            "-i",
            "hosts.ini",
            "plan.yml",
            "-e",
            "@rollout.json",
            "-e",
            f"token_id={token_id}",
            "-e",
            f"release_id={RELEASE}",
            "-e",
            f"result_file={result_file}",
            *args,
        ]
        done = subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, timeout=180, check=False)
        return done, json.loads(result_file.read_text()) if result_file.exists() else None


@pytest.fixture(params=["sqlite", "postgresql"])
def controller(request: pytest.FixtureRequest, tmp_path: Path) -> Controller:
    if not PLAYBOOK_BIN.exists():
        pytest.skip("ansible-playbook is not installed next to the test interpreter")
    return Controller(tmp_path, None if request.param == "sqlite" else request.getfixturevalue("postgresql_store"))


def test_plan_returns_batches_budget_and_fresh_start(controller: Controller) -> None:
    done, result = controller.play(PLAN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert result is not None
    assert [batch["hosts"] for batch in result["batches"]] == [["app1"], ["app2", "app3"], ["app4", "app5", "app6"]]
    assert result["batches"][0]["gates"] == [{"kind": "approval", "step": 1, "reason": "watch the canary"}]
    assert result["start_batch"] == 0 and result["hosts_switched"] == []
    assert result["allowed_failures"] == 1
    assert result["state_location"] == f"{controller.settings.location} (rollout_states shop/prod)"


def test_limit_changes_the_batches(controller: Controller) -> None:
    done, result = controller.play(PLAN, "tok-7", "--limit", "app1,app2,app3,app4")
    assert done.returncode == 0, done.stdout + done.stderr
    assert result is not None
    assert [batch["hosts"] for batch in result["batches"]] == [["app1"], ["app2"], ["app3", "app4"]]


def test_bad_plan_fails_naming_the_key_path(controller: Controller) -> None:
    bad = {**PLAN, "steps": [{"hosts": 1}, {"pause": {}}, {"hosts": "100%"}]}
    done, result = controller.play(bad)
    assert done.returncode != 0
    assert result is None
    assert "invalid rollout plan: opsgate_rollout.steps[1].pause.seconds: is required" in done.stdout


def _pause_after_canary(controller: Controller) -> None:
    batches = plan_batches(HOSTS, validate_rollout(PLAN).steps)
    state = with_batch_done(new_state("shop", "prod", RELEASE, "tok-7", batches_fingerprint(batches), len(batches)), ["app1"])
    with open_store(controller.settings) as store, store.transaction(write=True) as tx:
        write_state(tx, with_status(state, PAUSED_FOR_APPROVAL, "watch the canary"))


def test_resume_continues_after_the_approval_step(controller: Controller) -> None:
    _pause_after_canary(controller)
    done, result = controller.play(PLAN, "tok-7", "-e", "opsgate_rollout_resume=true")
    assert done.returncode == 0, done.stdout + done.stderr
    assert result is not None
    assert result["start_batch"] == 1 and result["hosts_switched"] == ["app1"]


def test_resume_with_another_token_is_refused(controller: Controller) -> None:
    _pause_after_canary(controller)
    done, result = controller.play(PLAN, "tok-8", "-e", "opsgate_rollout_resume=true")
    assert done.returncode != 0 and result is None
    assert "rollout refused: the paused rollout was approved by token tok-7, not tok-8" in done.stdout


def test_fresh_start_over_a_paused_rollout_is_refused(controller: Controller) -> None:
    _pause_after_canary(controller)
    done, result = controller.play(PLAN)
    assert done.returncode != 0 and result is None
    assert "is paused_for_approval after 1 of 3 batches" in done.stdout
