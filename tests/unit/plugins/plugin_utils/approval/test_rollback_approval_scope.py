# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A rollback approval (which a class may grant with fewer roles) only returns hosts to a good release:
no variable and no wrapper playbook turns it into a deploy."""

from __future__ import annotations

import json

import pytest
from approval_kit import live_claims
from controller_kit import HOSTS, Controller, changed, controller, output

from ansible_collections.opsgate.release.plugins.module_utils.approval.errors import ApprovalError
from ansible_collections.opsgate.release.plugins.module_utils.approval.host_check import refuse_outside_rollback

__all__ = ["controller"]  # the fixture


@pytest.mark.parametrize(
    ("step", "args"),
    [
        ("release_stage", {}),
        ("release_switch", {}),
        ("release_commit", {}),
        ("release_commit", {"event": "deploy"}),
        ("release_revert", {"mode": "failed"}),
        # The database: a rollback puts it back (phase restore), it never migrates it forward.
        ("release_migrate", {"phase": "expand"}),
        ("release_migrate", {"phase": "contract"}),
        ("release_migrate", {}),
    ],
)
def test_a_rollback_approval_refuses_every_deploy_step(step: str, args: dict[str, str]) -> None:
    with pytest.raises(ApprovalError) as caught:
        refuse_outside_rollback("rollback", step, args)
    assert caught.value.code == "RELEASE_ACTION_NOT_APPROVED"
    assert step in str(caught.value)


@pytest.mark.parametrize(
    ("step", "args"), [("release_revert", {"mode": "rollback"}), ("release_commit", {"event": "rollback"}), ("release_migrate", {"phase": "restore"})]
)
def test_a_rollback_approval_allows_the_rollback_steps(step: str, args: dict[str, str]) -> None:
    refuse_outside_rollback("rollback", step, args)


@pytest.mark.parametrize("action", ["deploy", "gray_release"])
def test_deploy_approvals_keep_every_step(action: str) -> None:
    for step, args in (
        ("release_stage", {}),
        ("release_revert", {"mode": "rollback"}),
        ("release_commit", {"event": "rollback"}),
        ("release_migrate", {"phase": "expand"}),
        ("release_migrate", {"phase": "restore"}),
    ):
        refuse_outside_rollback(action, step, args)


WRAPPER = """
- name: A wrapper playbook that deploys under a rollback approval
  hosts: targets
  gather_facts: false
  tasks:
    - name: Pass the gate with the rollback token
      ansible.builtin.import_role:
        name: opsgate.release.approval_gate
      vars: {scope}
    - name: Stage a release under it
      opsgate.release.release_stage:
        approval: {scope_args}
        base_dir: "{{{{ marker_dir }}}}/{{{{ inventory_hostname }}}}"
        release_id: 1.4.2-CHG-x
        app: accounts-api
        version: 1.4.2
        artifact_sha256: "{sha}"
        artifacts: []
"""


def test_a_wrapper_playbook_cannot_stage_a_release_with_a_rollback_token(controller: Controller) -> None:
    scope = {
        "approval_gate_action": "rollback",
        "approval_gate_app": "accounts-api",
        "approval_gate_version": "1.4.2",
        "approval_gate_artifact_sha256": "3f" * 32,
        "approval_gate_env": "prod",
    }
    scope_args = {"action": "rollback", "app": "accounts-api", "version": "1.4.2", "artifact_sha256": "3f" * 32, "env": "prod"}
    (controller.root / "wrapper.yml").write_text(WRAPPER.format(scope=json.dumps(scope), scope_args=json.dumps(scope_args), sha="3f" * 32))
    token = controller.kit.sign(live_claims(HOSTS, action="rollback"))
    done, markers = controller.play("-e", controller.write_token(token), playbook="wrapper.yml")
    assert done.returncode != 0
    assert "RELEASE_ACTION_NOT_APPROVED" in output(done)
    assert "release_stage is not part of a rollback" in output(done)
    assert changed(markers) == []
