# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""release_verify in a real ansible-playbook run behind the approval gate: three local-connection hosts, a pinned root,
a signed policy, a change document whose ``verify`` binds the suite's sha256 and a token that signs that document.

Hostile: a suite file that differs from the signed digest is refused before it runs, and so is a task that names
another digest than the signed change; the suite writes a marker file per host when it runs, so "never ran" is seen.
No connection or become password and no token reaches the task result or the playbook's output.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from approval_kit import live_claims
from controller_kit import HOSTS, SCOPE_VARS, Controller, controller, output

from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import build_change, change_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import new_token_id

__all__ = ["controller"]  # the fixture

SHA = "3f" * 32
RELEASE_ID = "1.4.2-CHG-2025-0117"
SCOPE = {"action": "deploy", "app": "accounts-api", "version": "1.4.2", "artifact_sha256": SHA, "env": "prod"}
TIMEOUT = 60

PLAYBOOK = """
- name: Verify behind the approval gate
  hosts: targets
  gather_facts: false
  tasks:
    - name: Verify the approval before any host is touched
      ansible.builtin.import_role:
        name: opsgate.release.approval_gate
      vars: {gate_vars}
    - name: Run the release's verification suite against this host
      opsgate.release.release_verify:
        approval: {scope}
        change: "{{{{ verify_change }}}}"
        release_id: {release_id}
        app: accounts-api
        version: 1.4.2
        artifact_sha256: "{sha}"
        change_id: CHG-2025-0117
        verify: "{{{{ verify_args }}}}"
      register: verified
      ignore_errors: true
    - name: Keep the result for the test
      ansible.builtin.copy:
        content: "{{{{ verified | to_json }}}}"
        dest: "{{{{ marker_dir }}}}/result-{{{{ inventory_hostname }}}}.json"
        mode: "0600"
      check_mode: false
"""


def _suite(ran: Path, body: str) -> str:
    """A suite whose first test writes ran/<host>: a run leaves a marker, a refusal none."""
    return f"""
import os

def test_marks_the_run(host):
    name = host.ansible.get_variables()["inventory_hostname"]
    open(os.path.join({str(ran)!r}, name), "w").write("ran")
    assert host.file("/etc/hostname").exists
{body}"""


class VerifyRun:
    """The controller, the suites on disk, the signed change naming one of them, and the token that signs it."""

    def __init__(self, controller: Controller, suite: str) -> None:
        self.controller = controller
        self.root = controller.root
        self.ran = self.root / "ran"
        self.ran.mkdir(exist_ok=True)
        self.suite = self.root / "suites" / "ok" / "test_app.py"
        self.suite.parent.mkdir(parents=True, exist_ok=True)
        self.suite.write_text(suite)
        self.digest = hashlib.sha256(self.suite.read_bytes()).hexdigest()
        verify = {"suite": str(self.suite), "sha256": self.digest, "timeout": TIMEOUT}
        inputs = {"release_id": RELEASE_ID, "app": "accounts-api", "version": "1.4.2", "artifact_sha256": SHA, "change_id": "CHG-2025-0117"}
        self.change = build_change(
            action="deploy",
            app="accounts-api",
            version="1.4.2",
            artifact_sha256=SHA,
            change_id="CHG-2025-0117",
            env="prod",
            hosts={host: {"address": host, "inputs": inputs} for host in HOSTS},
            verify=verify,
        )
        assert self.change["verify"] == {"suite_sha256": self.digest, "suite_name": "test_app.py", "timeout": TIMEOUT}
        self.token = controller.kit.sign(live_claims(HOSTS, change_sha256=change_digest(self.change), token_id=new_token_id()))
        self.host_vars: dict[str, dict[str, Any]] = {host: {"verify_args": verify} for host in HOSTS}
        gate_vars = {**SCOPE_VARS, "approval_gate_change": "{{ verify_change }}"}
        (self.root / "verify.yml").write_text(PLAYBOOK.format(gate_vars=json.dumps(gate_vars), scope=json.dumps(SCOPE), release_id=RELEASE_ID, sha=SHA))

    def play(self, *args: str) -> tuple[str, dict[str, dict[str, Any]]]:
        host_vars = self.root / "host_vars"
        host_vars.mkdir(exist_ok=True)
        for host, variables in self.host_vars.items():
            (host_vars / f"{host}.json").write_text(json.dumps(variables))
        change = self.root / "change-vars.json"
        change.write_text(json.dumps({"verify_change": self.change}))
        done, markers = self.controller.play("-e", self.controller.write_token(self.token), "-e", f"@{change}", *args, playbook="verify.yml")
        text = output(done)
        assert done.returncode == 0, text[-4000:]  # ignore_errors: the results tell
        results = {host: json.loads((markers / f"result-{host}.json").read_text()) for host in HOSTS}
        return text, results

    def ran_on(self) -> list[str]:
        return sorted(path.name for path in self.ran.iterdir())


PASSING = """
def test_true_runs(host):
    assert host.run("true").rc == 0
"""


def test_the_approved_suite_runs_and_a_changed_one_never_does(controller: Controller) -> None:
    """web1: the signed suite, run. web2: the task names the signed digest, the file holds other bytes (changed after
    the approval). web3: the task names the changed file's own digest, which the approvers did not sign."""
    run = VerifyRun(controller, _suite(controller.root / "ran", PASSING))
    changed = controller.root / "suites" / "changed" / "test_app.py"
    changed.parent.mkdir(parents=True)
    changed.write_text(run.suite.read_text() + "\ndef test_added_after_approval(host):\n    pass\n")
    changed_digest = hashlib.sha256(changed.read_bytes()).hexdigest()
    run.host_vars["web2"]["verify_args"] = {"suite": str(changed), "sha256": run.digest, "timeout": TIMEOUT}
    run.host_vars["web3"]["verify_args"] = {"suite": str(changed), "sha256": changed_digest, "timeout": TIMEOUT}

    text, results = run.play()

    web1 = results["web1"]
    assert web1.get("failed") is not True, web1
    assert web1["msg"].startswith("verification passed on web1: 2 of 2 tests passed (test_app.py, ")
    verify = web1["verify"]
    assert (verify["host"], verify["suite_sha256"], verify["suite_name"], verify["tests"], verify["passed"]) == ("web1", run.digest, "test_app.py", 2, 2)
    assert verify["transport"] == "local"
    assert verify["junit_sha256"] == hashlib.sha256(verify["junit"].encode()).hexdigest()
    assert "test_marks_the_run[ansible://web1]" in verify["junit"]
    assert web1["token_id"] and web1["changed"] is False

    web2 = results["web2"]
    assert web2["failed"] is True and web2["verify_error"] == "RELEASE_VERIFY_DIGEST_MISMATCH"
    assert f"verify.sha256: the suite {changed} has sha256 {changed_digest}, expected {run.digest}" in web2["msg"]
    assert "the suite was not run" in web2["msg"]
    assert "verify" not in web2

    web3 = results["web3"]
    assert web3["failed"] is True and web3["approval_error"] == "APPROVAL_CHANGE_STEP_MISMATCH"
    assert f"verify.suite_sha256 differs from the approved change (asked '{changed_digest}', approved '{run.digest}')" in web3["msg"]

    assert run.ran_on() == ["web1"], "a suite the approvers did not sign ran"
    assert "ok: [web1]" in text


def test_a_suite_rewritten_in_place_after_the_approval_is_refused_on_every_host(controller: Controller) -> None:
    run = VerifyRun(controller, _suite(controller.root / "ran", PASSING))
    run.suite.write_text(run.suite.read_text() + "\n# one line more\n")
    actual = hashlib.sha256(run.suite.read_bytes()).hexdigest()

    _text, results = run.play()

    for host in HOSTS:
        assert results[host]["verify_error"] == "RELEASE_VERIFY_DIGEST_MISMATCH"
        assert results[host]["msg"] == (
            f"release_verify refused on {host}: verify.sha256: the suite {run.suite} has sha256 {actual}, expected {run.digest}: "
            "the file changed after the approval; the suite was not run"
        )
    assert run.ran_on() == []


def test_check_mode_checks_the_approval_and_the_digest_and_runs_nothing(controller: Controller) -> None:
    run = VerifyRun(controller, _suite(controller.root / "ran", PASSING))

    _text, results = run.play("--check")

    for host in HOSTS:
        assert results[host].get("failed") is not True, results[host]
        assert results[host]["msg"] == f"check mode: the suite test_app.py (sha256 {run.digest}) is the approved one; it was not run on {host}"
    assert run.ran_on() == []


def test_a_failing_suite_fails_the_task_and_no_secret_comes_back(controller: Controller) -> None:
    failing = """
def test_service_answers(host):
    assert host.run("false").rc == 0

def test_prints_its_connection(host):
    import os
    inventory = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "inventory.json")).read()
    print(inventory)
    assert "c0nn-s3cret" not in inventory, inventory
"""
    run = VerifyRun(controller, _suite(controller.root / "ran", failing))
    for host in HOSTS:
        run.host_vars[host].update(ansible_password="c0nn-s3cret", ansible_become_password="b3come-s3cret")

    text, results = run.play()

    assert run.ran_on() == HOSTS
    for host in HOSTS:
        result = results[host]
        assert result["failed"] is True
        assert result["msg"] == f"verification failed on {host}: 2 of 3 tests failed: test_service_answers, test_prints_its_connection"
        assert (result["verify"]["failed"], result["verify"]["passed"]) == (2, 1)
        assert result["verify"]["failures"] == ["test_service_answers", "test_prints_its_connection"]
        # The suite saw the password (it is the host's connection) and printed it: the result masks it.
        assert "********" in result["verify"]["junit"]
    everything = text + json.dumps(results)
    for secret in ("c0nn-s3cret", "b3come-s3cret", run.token):
        assert secret not in everything
    assert "fatal: [web1]" in text and "...ignoring" in text


def test_without_the_gate_nothing_runs(controller: Controller) -> None:
    """No receipt of this run's approval gate: refused, and the suite never ran."""
    run = VerifyRun(controller, _suite(controller.root / "ran", PASSING))
    playbook = (controller.root / "verify.yml").read_text()
    gate = playbook.index("    - name: Verify the approval before any host is touched")
    task = playbook.index("    - name: Run the release's verification suite")
    (controller.root / "verify.yml").write_text(playbook[:gate] + playbook[task:])

    _text, results = run.play()

    for host in HOSTS:
        assert results[host]["failed"] is True
        assert results[host]["approval_error"] == "APPROVAL_RECEIPT_MISSING", results[host]
    assert run.ran_on() == []
