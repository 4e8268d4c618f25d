# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""release_commit records a release good only after its signed verify suite passed against the host in this run.

Real ansible-playbook runs on the four local hosts of site_kit: the change is planned by the real deploy.yml with a
``verify`` suite in the manifest and the token signs that plan. The deploy role (stage, switch, health, verify, commit)
records good; an operator's own playbook that calls release_stage, release_switch and release_commit without
release_verify, or with a suite that fails, is refused at commit with RELEASE_VERIFY_NOT_RUN and the hosts' ledgers
have no ``good`` line for the release; a verification receipt of another controller process (an earlier run of the
same token, resumed) does not count; check mode and a change without verify are as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from ledger_kit import consumed_rows, receipt_rows
from site_kit import HOSTS, PLAYBOOK_BIN, Site, _out

from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import change_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import new_token_id
from ansible_collections.opsgate.release.plugins.module_utils.release.ledger import read_ledger
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.receipt import (
    ControllerIdentity,
    Verification,
    verification_key,
    write_verification_receipt,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.token_ledger import process_start_time
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import store_settings
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import open_store

pytestmark = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason="ansible-playbook is not installed next to the test interpreter")

PASSING = """
def test_the_host_answers(host):
    assert host.run("true").rc == 0
"""
FAILING = """
def test_the_service_answers(host):
    assert host.run("false").rc == 0
"""
NOT_RUN = "RELEASE_VERIFY_NOT_RUN"

# An operator's own playbook: the approval gate, then the collection's host steps with this host's release. The steps'
# arguments are the ones the role passes (so the signed change's entry matches); STEPS is filled per test.
WRAPPER = """
- name: An operator's own deploy, calling the collection's actions
  hosts: all
  gather_facts: false
  vars:
    wrapper_scope: {{action: deploy, app: sample_app, version: "1.0.0", artifact_sha256: "{{{{ app_sha256 }}}}", env: prod}}
  tasks:
    - name: Collect the readiness facts
      opsgate.release.preflight_collect:
    - name: Check readiness
      opsgate.release.preflight_evaluate:
        readiness_gate: true
        report_dir: "{{{{ out_dir }}}}/reports"
      delegate_to: localhost
      run_once: true
    - name: Verify the approval before any host is touched
      ansible.builtin.import_role:
        name: opsgate.release.approval_gate
      vars:
        approval_gate_action: deploy
        approval_gate_app: sample_app
        approval_gate_version: "1.0.0"
        approval_gate_artifact_sha256: "{{{{ app_sha256 }}}}"
        approval_gate_env: prod
        approval_gate_fingerprint: wrapper
        approval_gate_change: "{{{{ signed_change }}}}"
    - name: Check the manifest and the artifact on the controller
      opsgate.release.release_manifest:
        manifest: "{{{{ opsgate_release }}}}"
      delegate_to: localhost
      register: checked
{steps}
"""
# The release's identity, which every release step presents (the host checks it against the signed change).
IDENTITY_ARGS = """\
        release_id: "{{ checked.release.release_id }}"
        app: "{{ checked.release.app }}"
        version: "{{ checked.release.version }}"
        artifact_sha256: "{{ checked.release.artifact_sha256 }}"
        change_id: "{{ checked.release.change_id }}"
"""
# release_switch's arguments as the deploy role gives them, for both switch steps.
SWITCH_ARGS = (
    """\
        approval: "{{ wrapper_scope }}"
        change: "{{ signed_change }}"
        base_dir: "{{ checked.release.base_dir }}"
"""
    + IDENTITY_ARGS
    + """\
        config_files: []
        config_mode: "{{ checked.release.config_mode }}"
        before_switch: "{{ checked.release.hooks.before_switch }}"
"""
)
STEPS = {
    "stage": """
    - name: Stage the release
      opsgate.release.release_stage:
        approval: "{{ wrapper_scope }}"
        change: "{{ signed_change }}"
        base_dir: "{{ checked.release.base_dir }}"
"""
    + IDENTITY_ARGS
    + """\
        artifacts: "{{ checked.release.artifacts }}"
        config_files: []
        shared_paths: "{{ checked.release.shared_paths }}"
        owner: "{{ checked.release.owner }}"
        group: "{{ checked.release.group }}"
        dir_mode: "{{ checked.release.dir_mode }}"
        file_mode: "{{ checked.release.file_mode }}"
        config_mode: "{{ checked.release.config_mode }}"
        service: "{{ checked.release.service | combine({'unit': ''}) }}"
        health: "{{ checked.release.health }}"
        after_stage: "{{ checked.release.hooks.after_stage }}"
        backup_paths: "{{ checked.release.backup_paths }}"
""",
    "switch": """
    - name: Switch current
      opsgate.release.release_switch:
"""
    + SWITCH_ARGS,
    # The deploy role's one call: switch, health check and commit; keep_releases may be changed with -e (wrong_keep).
    "switch_commit": """
    - name: Switch current, check the health and record the release as good
      opsgate.release.release_switch:
"""
    + SWITCH_ARGS
    + """        then_health:
          health: "{{ checked.release.health }}"
          version: "{{ checked.release.version }}"
        then_commit:
          keep_releases: "{{ wrong_keep | default(checked.release.keep_releases) }}"
      register: switched
      ignore_errors: true
    - name: Keep the switch's result for the test
      ansible.builtin.copy:
        content: "{{ switched | to_json }}"
        dest: "{{ out_dir }}/switch-{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
""",
    "verify": """
    - name: Run the release's verification suite
      opsgate.release.release_verify:
        approval: "{{ wrapper_scope }}"
        change: "{{ signed_change }}"
"""
    + IDENTITY_ARGS
    + """\
        verify: "{{ checked.release.verify }}"
      register: verified
      ignore_errors: true
    - name: Keep the verification's result for the test
      ansible.builtin.copy:
        content: "{{ verified | to_json }}"
        dest: "{{ out_dir }}/verify-{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
""",
    # core-a2 hands release_commit a change whose verify is taken out: the action plugin compares it with the signed one.
    "commit": """
    - name: Record the release as good
      opsgate.release.release_commit:
        approval: "{{ wrapper_scope }}"
        change: "{{ signed_change | combine({'verify': none}) if edit_change | default(false) and inventory_hostname == 'core-a2' else signed_change }}"
        base_dir: "{{ checked.release.base_dir }}"
"""
    + IDENTITY_ARGS
    + """\
        keep_releases: "{{ checked.release.keep_releases }}"
      register: committed
      ignore_errors: true
    - name: Keep the commit's result for the test
      ansible.builtin.copy:
        content: "{{ committed | to_json }}"
        dest: "{{ out_dir }}/commit-{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
""",
}


class Planned:
    """A site whose manifest names a verify suite (or none), the change deploy.yml plans for it, and a token signing it."""

    def __init__(self, root: Path, suite: str | None = PASSING) -> None:
        self.site = Site(root, change_document="required")
        self.root = root
        self.digest = ""
        if suite is not None:
            path = root / "suites" / "test_sample_app.py"
            path.parent.mkdir()
            path.write_text(suite)
            self.digest = hashlib.sha256(path.read_bytes()).hexdigest()
            inventory = json.loads((root / "hosts.json").read_text())
            for host in inventory["all"]["hosts"].values():
                host["opsgate_release"]["verify"] = {"suite": str(path), "sha256": self.digest, "timeout": 120}
            (root / "hosts.json").write_text(json.dumps(inventory))
        plan = root / "change.json"
        done = self.site.play("deploy.yml", self.site.token(), "-e", f"deploy_change_out={plan}")
        assert done.returncode == 0, _out(done)[-4000:]
        self.change = json.loads(plan.read_text())
        assert (self.change["verify"] or {}).get("suite_sha256", "") == self.digest
        self.release_id = self.change["hosts"]["core-a1"]["release"]["release_id"]
        self.token = self.site.token(change_sha256=change_digest(self.change), change_id=self.change["change_id"], token_id=new_token_id())
        (root / "signed-change.json").write_text(json.dumps({"signed_change": self.change}))
        self.before = self.site.hosts_snapshot()
        self.out = root / "out"
        self.out.mkdir()

    def wrapper(self, steps: list[str], *args: str) -> Any:
        playbook = self.root / f"wrapper-{self.site.runs}.yml"
        playbook.write_text(WRAPPER.format(steps="".join(STEPS[step] for step in steps)))
        return self.site.play(str(playbook), self.token, "-e", f"@{self.root / 'signed-change.json'}", "-e", f"out_dir={self.out}", *args)

    def results(self, step: str) -> dict[str, dict[str, Any]]:
        return {host: json.loads((self.out / f"{step}-{host}.json").read_text()) for host in HOSTS}

    def ledger(self, host: str) -> list[tuple[str, str]]:
        path = self.root / "hosts" / host / "ledger.jsonl"
        return [(entry.state, entry.event) for entry in read_ledger(str(path)) if entry.release_id == self.release_id] if path.exists() else []

    def good_on(self) -> list[str]:
        return [host for host in HOSTS if ("good", "deploy") in self.ledger(host)]

    def token_sha256(self) -> str:
        [row] = [row for row in consumed_rows(self.root / "ledger") if row["change_id"] == self.change["change_id"]]
        return str(row["token_sha256"])

    def verification_receipts(self) -> dict[str, dict[str, Any]]:
        """By key (each test's ansible-playbook runs are one controller)."""
        return {row["token_id"]: row for row in receipt_rows(self.root / "ledger") if str(row["token_id"]).startswith("verified:")}


def _refused_at_commit(planned: Planned, host: str, result: dict[str, Any]) -> None:
    assert result["failed"] is True, result
    assert result["verify_error"] == NOT_RUN and "approval_error" not in result, result
    message = result["msg"]
    assert message.startswith(f"release_commit refused on {host} [{NOT_RUN}]: release {planned.release_id} is not recorded good on {host}: "), message
    assert f"the suite test_sample_app.py (sha256 {planned.digest}) the approvers signed must pass against {host} in this ansible-playbook run" in message
    assert message.endswith("nothing was changed"), message


def test_the_deploy_role_verifies_each_host_and_records_it_good(tmp_path: Path) -> None:
    """(a) stage, switch, health, verify, commit: good everywhere, one receipt per host with the suite's and the report's digests."""
    planned = Planned(tmp_path)

    done = planned.site.play("deploy.yml", planned.token)

    assert done.returncode == 0, _out(done)[-4000:]
    assert planned.good_on() == HOSTS
    sha = planned.token_sha256()
    receipts = planned.verification_receipts()
    assert sorted(receipts) == sorted(verification_key(sha, host) for host in HOSTS)
    gate = [row for row in receipt_rows(tmp_path / "ledger") if ":" not in str(row["token_id"])]
    assert {(row["controller"], row["pid"], row["start_time"]) for row in receipts.values()} == {(r["controller"], r["pid"], r["start_time"]) for r in gate}
    for host in HOSTS:
        body = receipts[verification_key(sha, host)]["document"]
        assert (body["host"], body["release_id"], body["suite_sha256"], body["suite_name"]) == (host, planned.release_id, planned.digest, "test_sample_app.py")
        assert (body["tests"], body["passed"], body["failed"], body["errors"], body["skipped"]) == (1, 1, 0, 0, 0)
        assert len(body["junit_sha256"]) == 64 and body["token_sha256"] == sha and body["token_id"] == gate[0]["token_id"]


def test_a_wrapper_playbook_without_release_verify_is_refused_at_commit(tmp_path: Path) -> None:
    """(b) release_stage, release_switch, release_commit: the commit is refused on every host before the host is touched. On
    core-a2 the wrapper also hands release_commit the change without its verify: that is not the signed change."""
    planned = Planned(tmp_path)

    done = planned.wrapper(["stage", "switch", "commit"], "-e", "edit_change=true")

    assert done.returncode == 0, _out(done)[-4000:]  # ignore_errors: the results tell
    results = planned.results("commit")
    for host in ("core-a1", "core-a3", "core-a4"):
        _refused_at_commit(planned, host, results[host])
    assert results["core-a2"]["failed"] is True and results["core-a2"]["approval_error"] == "APPROVAL_CHANGE_MISMATCH", results["core-a2"]
    assert planned.good_on() == []
    for host in HOSTS:
        # Staged and switched (the wrapper did that), never recorded good.
        assert planned.ledger(host) == [("deploying", "stage"), ("deploying", "switch")], planned.ledger(host)
    assert planned.verification_receipts() == {}


def test_a_verification_of_another_controller_process_does_not_count(tmp_path: Path) -> None:
    """(c) Run 1 stages, switches and verifies, and stops; run 2 resumes the same token (same run id) and only commits.

    Run 1's receipts are for its own process. So that they are still in the store when run 2 commits (the gate prunes
    the receipts of ended processes), they are also written as receipts of processes that are alive: this test's (on
    this controller) and run 1's pid on another controller. None counts for run 2."""
    planned = Planned(tmp_path)
    run_id = ("-e", "approval_gate_run_id=wrapper-run-1")

    first = planned.wrapper(["stage", "switch", "verify"], *run_id)

    assert first.returncode == 0, _out(first)[-4000:]
    assert all(result.get("failed") is not True for result in planned.results("verify").values()), planned.results("verify")
    sha = planned.token_sha256()
    earlier = planned.verification_receipts()
    assert sorted(earlier) == sorted(verification_key(sha, host) for host in HOSTS)
    store = open_store(store_settings({"backend": "sqlite"}, str(tmp_path / "ledger"), environ={}))
    try:
        pid = next(iter(earlier.values()))["pid"]
        alive = ControllerIdentity(os.getpid(), process_start_time(os.getpid()))
        elsewhere = ControllerIdentity(pid, next(iter(earlier.values()))["start_time"], controller=f"not-{socket.gethostname()}")
        for row in earlier.values():
            body = row["document"]
            fields = {name: body[name] for name in Verification.__dataclass_fields__}
            for identity in (alive, elsewhere):
                write_verification_receipt(store, identity, body["token_id"], body["token_sha256"], Verification(**fields))
    finally:
        store.close()

    second = planned.wrapper(["commit"], *run_id)

    assert second.returncode == 0, _out(second)[-4000:]
    # The gate passed by resuming run 1 (one consumption, its run id): the refusal is the verification's, not the approval's.
    assert [row["run_id"] for row in consumed_rows(tmp_path / "ledger")] == ["wrapper-run-1"]
    for host, result in planned.results("commit").items():
        _refused_at_commit(planned, host, result)
    assert planned.good_on() == []
    held = {(row["controller"], row["pid"]) for row in receipt_rows(tmp_path / "ledger") if str(row["token_id"]).startswith("verified:")}
    assert (socket.gethostname(), os.getpid()) in held and (elsewhere.controller, pid) in held, "the other processes' receipts were in the store"


def test_a_failed_verification_writes_no_receipt_and_the_commit_is_refused(tmp_path: Path) -> None:
    """(d) The wrapper runs release_verify, ignores its failure and commits: refused."""
    planned = Planned(tmp_path, FAILING)

    done = planned.wrapper(["stage", "switch", "verify", "commit"])

    assert done.returncode == 0, _out(done)[-4000:]
    for host, result in planned.results("verify").items():
        assert result["failed"] is True and result["msg"] == f"verification failed on {host}: 1 of 1 tests failed: test_the_service_answers", result
    for host, result in planned.results("commit").items():
        _refused_at_commit(planned, host, result)
    assert planned.verification_receipts() == {}
    assert planned.good_on() == []


def test_check_mode_is_unaffected(tmp_path: Path) -> None:
    """(e) deploy.yml --check: the suite is not run, no receipt is written, and the commit step does not refuse."""
    planned = Planned(tmp_path)

    done = planned.site.play("deploy.yml", planned.token, "--check", "-v")

    assert done.returncode == 0, _out(done)[-4000:]
    assert NOT_RUN not in done.stdout
    joined = " ".join(done.stdout.split())  # the callback wraps long messages
    for host in HOSTS:
        assert f"check mode: the suite test_sample_app.py (sha256 {planned.digest}) is the approved one; it was not run on {host}" in joined, done.stdout
    recorded = done.stdout[done.stdout.index("TASK [opsgate.release.release_host : Record the release as good") :]
    recorded = recorded[: recorded.index("TASK [", 1)]
    assert sorted(line.split("]")[0].split("[")[1] for line in recorded.splitlines() if line.startswith("changed: [")) == HOSTS, recorded
    assert planned.site.hosts_snapshot() == planned.before
    assert planned.verification_receipts() == {}


def test_a_change_without_verify_commits_as_before(tmp_path: Path) -> None:
    """(f) The same wrapper, for a change whose manifest names no suite: recorded good on every host."""
    planned = Planned(tmp_path, suite=None)
    assert planned.change["verify"] is None

    done = planned.wrapper(["stage", "switch", "commit"])

    assert done.returncode == 0, _out(done)[-4000:]
    for host, result in planned.results("commit").items():
        assert result.get("failed") is not True, (host, result)
    assert planned.good_on() == HOSTS
    assert planned.verification_receipts() == {}


def test_a_switch_that_also_commits_is_refused_before_the_host_when_the_change_has_a_suite(tmp_path: Path) -> None:
    """(g) release_switch with then_commit under a change with a suite: the suite cannot have run before the switch, so the
    action plugin refuses as release_commit would, before the switch reaches the host: nothing switched, nothing good."""
    planned = Planned(tmp_path)

    done = planned.wrapper(["stage", "switch_commit"])

    assert done.returncode == 0, _out(done)[-4000:]
    for host, result in planned.results("switch").items():
        assert result["failed"] is True and result["approval_error"] == NOT_RUN, (host, result)
        assert f"release_commit refused on {host} [{NOT_RUN}]" in result["msg"] and result["msg"].endswith("nothing was changed"), result["msg"]
        assert "switched" not in result, result
        assert planned.ledger(host) == [("deploying", "stage")], planned.ledger(host)
    assert planned.good_on() == []


def test_a_switch_that_also_commits_records_good_for_a_change_without_a_suite(tmp_path: Path) -> None:
    """(h) The deploy role's one call for a change without a suite: switched, healthy and recorded good on every host."""
    planned = Planned(tmp_path, suite=None)

    done = planned.wrapper(["stage", "switch_commit"])

    assert done.returncode == 0, _out(done)[-4000:]
    for host, result in planned.results("switch").items():
        assert result.get("failed") is not True, (host, result)
        assert result["switched"] is True and result["committed"] is True and result["health"]["passed"] is True, result
        assert planned.ledger(host)[-1] == ("good", "deploy"), planned.ledger(host)
    assert planned.good_on() == HOSTS


def test_a_switch_that_also_commits_with_another_retention_is_refused_before_the_host(tmp_path: Path) -> None:
    """(i) then_commit's keep_releases is the commit's, compared with the signed change before the switch reaches the host."""
    planned = Planned(tmp_path, suite=None)

    done = planned.wrapper(["stage", "switch_commit"], "-e", "wrong_keep=1")

    assert done.returncode == 0, _out(done)[-4000:]
    for host, result in planned.results("switch").items():
        assert result["failed"] is True and result["approval_error"] == "APPROVAL_CHANGE_STEP_MISMATCH", (host, result)
        assert "release.keep_releases differs from the approved change" in result["msg"], result["msg"]
        assert planned.ledger(host) == [("deploying", "stage")], planned.ledger(host)
    assert planned.good_on() == []
