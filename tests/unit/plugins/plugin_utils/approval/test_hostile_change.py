# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 12 item 1, hostile: the approvers sign the change document's sha256; whatever differs from it after
signing (extra vars, host_vars, group_vars, ansible_host, a host more, the role's internal variables, a wrapper
playbook) is refused before the token is consumed, and no host changes.

The policy says change_document: required. The plan is written by the real deploy.yml
(-e deploy_change_out=FILE, which ends the play before any host), the token signs its sha256, then each test
runs deploy.yml with one hostile change and asserts the refusal, the hosts' trees and ledgers byte for byte,
and that the token was not consumed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from site_kit import HOSTS, PLAYBOOK_BIN, Site, _out, _refused

from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import change_digest

pytestmark = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason="ansible-playbook is not installed next to the test interpreter")


class Approved:
    def __init__(self, tmp_path: Path) -> None:
        self.site = Site(tmp_path, change_document="required")
        self.plan = tmp_path / "change.json"
        done = self.site.play("deploy.yml", self.site.token(), "-e", f"deploy_change_out={self.plan}")
        assert done.returncode == 0, _out(done)[-4000:]
        assert "change document written to" in done.stdout
        self.change = json.loads(self.plan.read_text())
        self.token = self.site.token(change_sha256=change_digest(self.change))
        self.before = self.site.hosts_snapshot()

    def inventory(self) -> dict[str, Any]:
        return json.loads((self.site.root / "hosts.json").read_text())

    def write_inventory(self, inventory: dict[str, Any]) -> None:
        (self.site.root / "hosts.json").write_text(json.dumps(inventory))

    def refused(self, *args: str, expected: tuple[str, ...] = ("APPROVAL_CHANGE_MISMATCH",), token: str | None = None) -> None:
        done = self.site.play("deploy.yml", token or self.token, *args)
        _refused(self.site, done, self.before, *expected)


@pytest.fixture
def approved(tmp_path: Path) -> Approved:
    return Approved(tmp_path)


def test_control_the_signed_change_deploys(approved: Approved) -> None:
    """The plan, the request and the run agree: without this the refusals could come from a broken harness."""
    assert sorted(approved.change["hosts"]) == HOSTS
    done = approved.site.play("deploy.yml", approved.token)
    assert done.returncode == 0, _out(done)[-4000:]
    assert approved.site.hosts_snapshot() != approved.before
    assert approved.site.consumed() != ""


def test_a_hook_given_by_extra_vars_is_refused(approved: Approved) -> None:
    manifest = approved.inventory()["all"]["hosts"]["core-a1"]["opsgate_release"]
    manifest["hooks"] = {"after_stage": ["touch /tmp/opsgate-pwned"]}
    approved.refused("-e", json.dumps({"deploy_manifest": manifest}))


def test_a_manifest_key_changed_in_host_vars_after_signing_is_refused(approved: Approved) -> None:
    inventory = approved.inventory()
    inventory["all"]["hosts"]["core-a2"]["opsgate_release"]["backup_paths"] = ["/etc"]
    approved.write_inventory(inventory)
    approved.refused()


def test_a_group_var_added_after_signing_is_refused(approved: Approved) -> None:
    inventory = approved.inventory()
    inventory["all"]["vars"] = {"ansible_host": "192.0.2.10"}
    approved.write_inventory(inventory)
    approved.refused()


def test_ansible_host_of_an_approved_host_pointed_elsewhere_is_refused(approved: Approved) -> None:
    inventory = approved.inventory()
    inventory["all"]["hosts"]["core-a3"]["ansible_host"] = "192.0.2.66"
    approved.write_inventory(inventory)
    approved.refused()


def test_a_host_added_to_the_inventory_is_refused(approved: Approved) -> None:
    inventory = approved.inventory()
    extra = dict(inventory["all"]["hosts"]["core-a4"])
    inventory["all"]["hosts"]["core-a5"] = extra
    approved.write_inventory(inventory)
    approved.refused(expected=("APPROVAL_HOSTS_MISMATCH",))


def test_the_roles_step_inputs_set_by_extra_vars_are_refused(approved: Approved) -> None:
    inputs = approved.change["hosts"]["core-a1"]["release"]
    evil = {**inputs, "after_stage": ["touch /tmp/opsgate-pwned"], "config_files": []}
    approved.refused("-e", json.dumps({"__deploy_step_inputs": evil}))


def test_the_signed_document_handed_over_with_other_step_inputs_is_refused(approved: Approved) -> None:
    """-e __deploy_change=<the signed document> makes the gate see the approved change; the gate builds it again."""
    inputs = approved.change["hosts"]["core-a1"]["release"]
    evil = {**inputs, "after_stage": ["touch /tmp/opsgate-pwned"], "config_files": []}
    approved.refused(
        "-e",
        json.dumps({"__deploy_change": {"change": approved.change}, "__deploy_step_inputs": evil}),
        expected=("APPROVAL_CHANGE_MISMATCH", "do not give the change document"),
    )


def test_the_change_action_set_by_extra_vars_is_refused(approved: Approved) -> None:
    approved.refused("-e", "__deploy_change_action=gray_release")


def test_a_wrapper_playbook_that_sets_facts_before_the_role_is_refused(approved: Approved) -> None:
    wrapper = approved.site.root / "wrapper.yml"
    wrapper.write_text(
        "- name: Wrap the deploy\n"
        "  hosts: all\n"
        "  gather_facts: false\n"
        "  pre_tasks:\n"
        "    - name: Change the release after signing\n"
        "      ansible.builtin.set_fact:\n"
        "        opsgate_release: \"{{ opsgate_release | combine({'hooks': {'after_stage': ['touch /tmp/opsgate-pwned']}}) }}\"\n"
        "  roles:\n"
        "    - role: opsgate.release.deploy\n"
    )
    done = approved.site.play(str(wrapper), approved.token)
    _refused(approved.site, done, approved.before, "APPROVAL_CHANGE_MISMATCH")


def test_a_token_without_the_change_digest_is_refused_when_the_policy_requires_it(approved: Approved) -> None:
    approved.refused(token=approved.site.token(), expected=("APPROVAL_CHANGE_NOT_BOUND",))
