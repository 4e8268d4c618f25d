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
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from archive_kit import archive_records
from site_kit import HOSTS, PLAYBOOK_BIN, REPO, Site, _out, _refused

from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import change_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import new_token_id
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.internal_variables import internal_extra_vars

pytestmark = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason="ansible-playbook is not installed next to the test interpreter")


INTERNAL = ("APPROVAL_INTERNAL_VARIABLE_SET", "Nothing was consumed")
ROLLOUT = {"steps": [{"hosts": 1}, {"hosts": "100%"}], "health": {"interval": 1, "consecutive_successes": 1, "failure_limit": 1, "timeout": 10}}


def _two_releases(approved: Approved) -> tuple[str, ...]:
    """1.0.0 then 2.0.0 deployed and good on every host; returns the arguments of a rollback to 1.0.0."""
    site = approved.site
    approved.deploy()
    built = subprocess.run(
        [sys.executable, str(REPO / "demo/sample_app/build.py"), "2.0.0", str(site.root / "artifacts")], capture_output=True, text=True, check=True
    )
    sha2, artifact2 = built.stdout.split()
    inventory = approved.inventory()
    for host in inventory["all"]["hosts"].values():
        host["opsgate_release"]["version"] = "2.0.0"
        host["opsgate_release"]["change_id"] = "CHG-2025-0200"
        host["opsgate_release"]["artifacts"][0]["src"] = artifact2
    approved.write_inventory(inventory)
    approved.deploy("-e", f"app_sha256={sha2}")
    return ("-e", f"app_sha256={sha2}", "-e", "rollback_version=1.0.0", "-e", f"rollback_artifact_sha256={site.sha}", "-e", "rollback_change_id=CHG-2025-0118")


class Approved:
    """A change planned by the real playbook, and a token that signs that plan's sha256."""

    def __init__(
        self, tmp_path: Path, playbook: str = "deploy.yml", args: tuple[str, ...] = (), prepare: Callable[[Approved], tuple[str, ...]] | None = None
    ) -> None:
        self.site = Site(tmp_path, change_document="required")
        self.playbook = playbook
        inventory = self.inventory()
        for host in inventory["all"]["hosts"].values():
            host["opsgate_rollout"] = ROLLOUT
        self.write_inventory(inventory)
        self.args = args + (prepare(self) if prepare else ())
        self.site.set_baseline()
        args = self.args
        self.plan = tmp_path / "change.json"
        plan_var = playbook.replace(".yml", "_change_out")
        done = self.site.play(playbook, self.site.token(), "-e", f"{plan_var}={self.plan}", *args)
        assert done.returncode == 0, _out(done)[-4000:]
        assert "change document written to" in done.stdout
        self.change = json.loads(self.plan.read_text())
        values = {"action": self.change["action"], "version": self.change["version"], "artifact_sha256": self.change["artifact_sha256"]}
        values["change_id"] = self.change["change_id"]
        values["token_id"] = new_token_id()
        self.token = self.site.token(change_sha256=change_digest(self.change), **values)
        self.before = self.site.hosts_snapshot()

    def inventory(self) -> dict[str, Any]:
        return json.loads((self.site.root / "hosts.json").read_text())

    def write_inventory(self, inventory: dict[str, Any]) -> None:
        (self.site.root / "hosts.json").write_text(json.dumps(inventory))

    def deploy(self, *args: str) -> None:
        """A legitimate deploy: planned, approved, run."""
        plan = self.site.root / f"plan-{self.site.runs}.json"
        done = self.site.play("deploy.yml", self.site.token(), "-e", f"deploy_change_out={plan}", *args)
        assert done.returncode == 0, _out(done)[-4000:]
        change = json.loads(plan.read_text())
        token = self.site.token(
            change_sha256=change_digest(change),
            version=change["version"],
            artifact_sha256=change["artifact_sha256"],
            change_id=change["change_id"],
            token_id=new_token_id(),
        )
        done = self.site.play("deploy.yml", token, *args)
        assert done.returncode == 0, _out(done)[-4000:]

    def refused(self, *args: str, expected: tuple[str, ...] = ("APPROVAL_CHANGE_MISMATCH",), token: str | None = None) -> None:
        done = self.site.play(self.playbook, token or self.token, *self.args, *args)
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
    records = archive_records(approved.site.root / "ledger")
    archived = [record["approval"].get("change_sha256") for record in records if record.get("approval")]
    assert archived == [change_digest(approved.change)], "the archive record names the signed change"


def test_the_plan_for_a_request_shows_what_each_host_runs_now_unsigned(approved: Approved) -> None:
    """Before any deploy every host runs nothing; after 1.0.0, the plan for 2.0.0 reads 1.0.0 -> 2.0.0. Read-only, and
    next to the document (FILE.running.json), never in it."""
    site = approved.site
    first = json.loads(Path(f"{approved.plan}.running.json").read_text())
    assert first["change_sha256"] == change_digest(approved.change)
    assert first["hosts"] == {host: {"known": True, "release_id": None} for host in HOSTS}
    approved.deploy()
    built = subprocess.run(
        [sys.executable, str(REPO / "demo/sample_app/build.py"), "2.0.0", str(site.root / "artifacts")], capture_output=True, text=True, check=True
    )
    sha2, artifact2 = built.stdout.split()
    inventory = approved.inventory()
    for host in inventory["all"]["hosts"].values():
        host["opsgate_release"]["version"] = "2.0.0"
        host["opsgate_release"]["change_id"] = "CHG-2025-0200"
        host["opsgate_release"]["artifacts"][0]["src"] = artifact2
    approved.write_inventory(inventory)
    before = site.hosts_snapshot()
    plan = site.root / "plan-2.0.0.json"
    done = site.play("deploy.yml", site.token(), "-e", f"deploy_change_out={plan}", "-e", f"app_sha256={sha2}")
    assert done.returncode == 0, _out(done)[-4000:]
    assert site.hosts_snapshot() == before, "reading what runs changes nothing on the hosts"
    change = json.loads(plan.read_text())
    assert "running" not in json.dumps(change)
    running = json.loads(Path(f"{plan}.running.json").read_text())
    assert running["change_sha256"] == change_digest(change)
    entry = running["hosts"]["core-a1"]
    assert (entry["state"], entry["release"]["version"], entry["release"]["artifact_sha256"]) == ("good", "1.0.0", site.sha)
    assert entry["release_id"] != change["hosts"]["core-a1"]["release"]["release_id"]
    # The debug output wraps long lines (YAML): compare with the whitespace joined.
    assert f"core-a1: now 1.0.0 (release {entry['release_id']}, good) -> 2.0.0; artifact sha256 differs" in " ".join(done.stdout.split())


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
    approved.refused("-e", json.dumps({"release_host_step_inputs": evil}), expected=INTERNAL)


def test_the_signed_document_handed_over_with_other_step_inputs_is_refused(approved: Approved) -> None:
    """-e release_host_change_result=<the signed document> would make the gate see the approved change: the gate refuses the role's
    working variables from -e, and would also build the document again from the step inputs."""
    inputs = approved.change["hosts"]["core-a1"]["release"]
    evil = {**inputs, "after_stage": ["touch /tmp/opsgate-pwned"], "config_files": []}
    approved.refused(
        "-e",
        json.dumps({"release_host_change_result": {"change": approved.change}, "release_host_step_inputs": evil}),
        expected=INTERNAL,
    )


def test_the_change_action_set_by_extra_vars_is_refused(approved: Approved) -> None:
    approved.refused("-e", "release_host_action=gray_release", expected=INTERNAL)


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


@pytest.fixture
def approved_gray(tmp_path: Path) -> Approved:
    return Approved(tmp_path, "gray_release.yml")


@pytest.fixture
def approved_rollback(tmp_path: Path) -> Approved:
    return Approved(tmp_path, "rollback.yml", prepare=_two_releases)


def test_control_the_signed_gray_release_passes_the_gate_and_releases(approved_gray: Approved) -> None:
    assert approved_gray.change["rollout"]["steps"] == ROLLOUT["steps"]
    done = approved_gray.site.play("gray_release.yml", approved_gray.token)
    assert done.returncode == 0, _out(done)[-4000:]
    assert approved_gray.site.hosts_snapshot() != approved_gray.before
    # What a person follows at 2 a.m.: one line per batch, a table of every host at the end.
    assert "batch 1 of 2 done: switched 1" in done.stdout, done.stdout[-4000:]
    assert "batch 2 of 2 done" in done.stdout
    table = [line for line in done.stdout.splitlines() if "HOST" in line and "OLD RELEASE" in line]
    assert table, done.stdout[-4000:]


def test_a_rollout_plan_changed_after_signing_is_refused(approved_gray: Approved) -> None:
    approved_gray.refused("-e", json.dumps({"opsgate_rollout": {**ROLLOUT, "steps": [{"hosts": "100%"}]}}))


def test_the_gray_release_rollout_variable_set_by_extra_vars_is_refused(approved_gray: Approved) -> None:
    approved_gray.refused("-e", json.dumps({"gray_release_rollout": {**ROLLOUT, "failure_budget": 3}}))


def test_the_gray_release_environment_set_by_extra_vars_is_refused(approved_gray: Approved) -> None:
    approved_gray.refused("-e", json.dumps({"release_host_context": {"env": "staging"}}), expected=INTERNAL)


def test_a_weight_step_without_a_load_balancer_is_refused_before_any_host(approved_gray: Approved) -> None:
    weighted = {**ROLLOUT, "steps": [{"hosts": 1}, {"setWeight": 20}, {"hosts": "100%"}]}
    approved_gray.refused("-e", json.dumps({"opsgate_rollout": weighted}), expected=("has a setWeight step, but no load balancer is configured",))


def test_an_unknown_load_balancer_kind_is_refused_before_any_host(approved_gray: Approved) -> None:
    approved_gray.refused(
        "-e", json.dumps({"opsgate_load_balancer": {"kind": "f5", "host": "core-a1"}}), expected=("kind must be haproxy, nginx, none or tasks",)
    )


def test_control_the_signed_rollback_rolls_back(approved_rollback: Approved) -> None:
    assert approved_rollback.change["action"] == "rollback"
    done = approved_rollback.site.play("rollback.yml", approved_rollback.token, *approved_rollback.args)
    assert done.returncode == 0, _out(done)[-4000:]
    assert "CHG-2025-0118" in approved_rollback.site.consumed()
    assert approved_rollback.site.hosts_snapshot() != approved_rollback.before


def test_a_deploy_token_on_rollback_yml_with_approval_gate_action_deploy_is_refused_unconsumed(approved_rollback: Approved) -> None:
    """Moved here from test_hostile_overrides.py: the rollback role now reads the hosts' ledgers before the gate, so the
    gate is reached only where a release to return to exists."""
    deploy_token = approved_rollback.site.token(action="deploy", token_id=new_token_id())
    approved_rollback.refused("-e", "approval_gate_action=deploy", token=deploy_token, expected=("APPROVAL_ACTION_MISMATCH", "whose action is 'rollback'"))


def test_a_rollback_no_host_can_perform_wastes_no_token(tmp_path: Path) -> None:
    """Nothing deployed: the hosts' ledgers are read before the gate and the run stops there, the token unused."""
    approved = Approved(
        tmp_path, "rollback.yml", ("-e", "rollback_version=0.9.0", "-e", "rollback_artifact_sha256=" + "ab" * 32, "-e", "rollback_change_id=CHG-2025-0118")
    )
    approved.refused(expected=("no host of this run can roll back, so the approval was not used", "nothing was deployed, so there is nothing to roll back"))


def test_the_rollback_base_dir_changed_after_signing_is_refused(approved_rollback: Approved) -> None:
    # Another directory with releases good in it (core-a2's): the hosts' ledgers there would allow it, the signed change does not.
    approved_rollback.refused("-e", f"rollback_base_dir={approved_rollback.site.root / 'hosts' / 'core-a2'}")


def test_the_rollback_retention_changed_after_signing_is_refused(approved_rollback: Approved) -> None:
    approved_rollback.refused("-e", "rollback_keep_releases=1")


def test_the_rollbacks_step_inputs_set_by_extra_vars_are_refused(approved_rollback: Approved) -> None:
    inputs = dict(approved_rollback.change["hosts"]["core-a1"]["release"])
    inputs.pop("host")
    approved_rollback.refused("-e", json.dumps({"__rollback_step_inputs": {**inputs, "base_dir": "/srv/another-app"}}), expected=INTERNAL)


def _internal_variable_names() -> list[str]:
    names: set[str] = set()
    for path in (REPO / "roles").rglob("*.yml"):
        # The roles' working variables, and the inputs and results of the internal role release_host.
        names.update(re.findall(r"\b(__[a-z][a-z0-9_]+|release_host_[a-z0-9_]+)", path.read_text()))
    # An input a change role gives the readiness tasks (where it reads each host's running release for the record).
    names.add("preflight_release_base_dir")
    return sorted(names)


def test_every_working_variable_of_the_roles_is_refused_from_extra_vars() -> None:
    """A new working variable whose prefix the gate does not know would be settable by -e: this fails then."""
    names = _internal_variable_names()
    assert len(names) > 50, names
    assert internal_extra_vars(names) == names
    assert internal_extra_vars(["app_version", "opsgate_release", "deploy_env", "_private"]) == []


@pytest.mark.parametrize(
    "name",
    [
        "__release_host_failure",
        "release_host_approval",
        "release_host_change",
        "__gray_release_plan",
        "__rollback_step_inputs",
        "__approval_gate_result",
    ],
)
def test_a_working_variable_set_by_extra_vars_is_refused(approved: Approved, name: str) -> None:
    approved.refused("-e", json.dumps({name: {"app": "sample_app"}}), expected=INTERNAL)


def test_the_release_read_for_the_record_cannot_be_pointed_elsewhere_by_extra_vars(approved: Approved) -> None:
    """-e outranks what deploy passes the readiness tasks: another base_dir would falsify the archive's release before."""
    approved.refused("-e", "preflight_release_base_dir=/srv/another-app", expected=("readiness refused: preflight_release_base_dir set by extra vars (-e)",))
