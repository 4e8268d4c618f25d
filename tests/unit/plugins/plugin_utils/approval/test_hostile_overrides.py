# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 12, items 1 and 5, on the controller: no variable decides the action, the class, the env or the hosts
a token is checked against, and whatever the controller can check is checked before the token is consumed.

Each test is one hostile attempt with a valid token on the collection's real playbooks (deploy.yml,
rollback.yml) against local-connection hosts, a pinned trust root and a signed policy whose host_classes
put the hosts in core_business (four roles). Each asserts the refusal, that no host changed (the hosts'
release trees and ledgers, byte for byte) and that the token was not consumed.
"""

from __future__ import annotations

import json

import pytest
from site_kit import APP, HOSTS, PLAYBOOK_BIN, VERSION, Site, _out, _refused, site

__all__ = ["site"]  # the fixture

pytestmark = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason="ansible-playbook is not installed next to the test interpreter")


def test_control_the_approved_core_business_change_deploys_every_host(site: Site) -> None:
    """Without this, the refusals below could come from a broken harness."""
    before = site.hosts_snapshot()
    done = site.play("deploy.yml", site.token())
    assert done.returncode == 0, _out(done)[-4000:]
    assert site.hosts_snapshot() != before
    for host in HOSTS:
        assert (site.root / "hosts" / host / "current").is_symlink()
    assert "apv-0123456789abcdef" in site.consumed()


def test_deploy_approval_action_gray_release_does_not_let_a_gray_release_token_deploy(site: Site) -> None:
    before = site.hosts_snapshot()
    done = site.play("deploy.yml", site.token(action="gray_release"), "-e", "deploy_approval_action=gray_release")
    _refused(site, done, before, "APPROVAL_ACTION_MISMATCH", "the token approves 'gray_release', this run has 'deploy'")


def test_approval_gate_action_gray_release_does_not_let_a_gray_release_token_deploy(site: Site) -> None:
    before = site.hosts_snapshot()
    done = site.play("deploy.yml", site.token(action="gray_release"), "-e", "approval_gate_action=gray_release")
    _refused(site, done, before, "APPROVAL_ACTION_MISMATCH", "runs the deploy role, whose action is 'deploy'", "Nothing was consumed")


def test_deploy_system_class_emptied_does_not_let_a_one_role_token_pass_for_core_business_hosts(site: Site) -> None:
    before = site.hosts_snapshot()
    token = site.token(system_class="decision_support", owners=("dave",))
    done = site.play("deploy.yml", token, "-e", "deploy_system_class=")
    _refused(site, done, before, "APPROVAL_SYSTEM_CLASS_MISMATCH", "the token approves 'decision_support'", "in 'core_business'")


def test_approval_gate_system_class_lighter_does_not_let_a_one_role_token_pass(site: Site) -> None:
    before = site.hosts_snapshot()
    token = site.token(system_class="decision_support", owners=("dave",))
    done = site.play("deploy.yml", token, "-e", "approval_gate_system_class=decision_support", "-e", "deploy_system_class=decision_support")
    _refused(site, done, before, "APPROVAL_SYSTEM_CLASS_MISMATCH", "the token approves 'decision_support'", "in 'core_business'")


def test_approval_gate_hosts_cannot_narrow_a_four_host_token_to_the_limited_host(site: Site) -> None:
    before = site.hosts_snapshot()
    done = site.play("deploy.yml", site.token(), "--limit", "core-a1", "-e", '{"approval_gate_hosts": ["core-a1", "core-a2", "core-a3", "core-a4"]}')
    _refused(site, done, before, "APPROVAL_HOSTS_MISMATCH", "the run targets 1 hosts, the token approves 4")


def test_ansible_play_hosts_all_from_extra_vars_does_not_replace_the_plays_hosts(site: Site) -> None:
    """Ansible sets magic variables after the extra vars: -e ansible_play_hosts_all does not reach the gate."""
    before = site.hosts_snapshot()
    done = site.play("deploy.yml", site.token(), "--limit", "core-a1", "-e", json.dumps({"ansible_play_hosts_all": HOSTS}))
    _refused(site, done, before, "APPROVAL_HOSTS_MISMATCH", "the run targets 1 hosts, the token approves 4")


def test_deploy_env_does_not_let_a_staging_token_change_hosts_the_policy_puts_in_prod(site: Site) -> None:
    before = site.hosts_snapshot()
    done = site.play("deploy.yml", site.token(env="staging"), "-e", "deploy_env=staging")
    _refused(site, done, before, "APPROVAL_ENV_MISMATCH", "the token approves 'staging'", "in 'prod'")


def test_starting_at_the_gate_does_not_skip_the_readiness_check(site: Site) -> None:
    """--start-at-task past the readiness tasks: the gate requires this process's readiness receipt and consumes nothing."""
    # What the skipped controller tasks would have set, given in the inventory (-e of them is refused by itself).
    inventory = json.loads((site.root / "hosts.json").read_text())
    inventory["all"]["vars"] = {
        "release_host_release": {"app": APP, "version": VERSION, "artifact_sha256": site.sha, "release_id": f"{APP}-{VERSION}"},
        "release_host_context": {"env": "prod", "approval": {}},
        "release_host_change_result": {"change": {}},
    }
    (site.root / "hosts.json").write_text(json.dumps(inventory))
    before = site.hosts_snapshot()
    done = site.play("deploy.yml", site.token(), "--start-at-task", "Verify the approval before any host is touched")
    _refused(site, done, before, "APPROVAL_READINESS_NOT_CHECKED", "was it skipped with --start-at-task")


def test_skipping_the_readiness_tags_does_not_skip_the_readiness_check(site: Site) -> None:
    before = site.hosts_snapshot()
    done = site.play("deploy.yml", site.token(), "--skip-tags", "always")
    assert done.returncode != 0, _out(done)[-4000:]
    assert site.hosts_snapshot() == before
    assert site.consumed() == ""
