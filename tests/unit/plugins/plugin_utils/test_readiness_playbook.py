# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Readiness is a precondition (issue 12 item 4), on real runs of playbooks/deploy.yml against a local host with a
real trust root: a host that is not ready stops the deploy before the token is consumed and nothing on the host
changes; no variable given with -e makes the check skip; only the signed policy can let a class skip it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from archive_kit import archive_records
from ledger_kit import receipt_rows

REPO = Path(__file__).resolve().parents[4]
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
CLI = [sys.executable, str(REPO / "bin/opsgate-approval")]
APPROVALS = REPO / "molecule/deploy/approvals.sh"
HOST = "ready-host"
VERSION = "1.0.0"
# What this machine meets; the development machine has compilers, so the forbidden-software check is waived, as on a real host.
READY_SPEC = {
    "system_class": "test",
    "memory": {"min_gib": 0.1},
    "software": {"required": ["python3"]},
    "security": {"forbidden_software": {"enabled": True}},
    "waivers": [{"check": "sec.forbidden_software", "hosts": HOST, "reason": "CHG-1: test machine", "expires": "2099-12-31", "approved_by": "IT head"}],
}
# Below the memory spec: no machine has 100000 GiB.
SHORT_OF_MEMORY = {**READY_SPEC, "memory": {"min_gib": 100000}}

pytestmark = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason="ansible-playbook is not installed next to the test interpreter")


def _run(*argv: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300, check=False)
    if check:
        assert done.returncode == 0, f"{argv}: {done.stdout[-3000:]}{done.stderr[-2000:]}"
    return done


class Controller:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.base = root / "base"
        self.approvals = root / "approvals"
        _run("bash", str(APPROVALS), "init", str(self.approvals))
        digest, _path = _run(sys.executable, "demo/sample_app/build.py", VERSION, str(root / "artifacts")).stdout.split()
        self.sha = digest
        self.token = root / "deploy.token"
        _run("bash", str(APPROVALS), "token", str(self.approvals), str(self.token), "deploy", "sample_app", VERSION, self.sha, "test", HOST, "CHG-READY-1")
        self.runs = 0

    def inventory(self, spec: dict[str, object] | None) -> Path:
        host_vars: dict[str, object] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "opsgate_env": "test",
            "opsgate_release": {
                "app": "sample_app",
                "version": VERSION,
                "change_id": "CHG-READY-1",
                "base_dir": str(self.base),
                "artifacts": [{"src": str(self.root / "artifacts" / f"sample_app-{VERSION}.tar.gz"), "sha256": self.sha}],
                "shared_paths": ["data"],
                "service": {"type": "none"},
                "health": {"type": "none"},
            },
        }
        if spec is not None:
            host_vars["opsgate_readiness_spec"] = spec
        path = self.root / f"hosts-{self.runs}.json"
        path.write_text(json.dumps({"all": {"hosts": {HOST: host_vars}}}))
        return path

    def play(self, playbook: str, spec: dict[str, object] | None, *args: str) -> subprocess.CompletedProcess[str]:
        """ansible-playbook with the token, against a fresh inventory whose host has ``spec``; does not check the exit."""
        self.runs += 1
        return _run(
            str(PLAYBOOK_BIN), "-i", str(self.inventory(spec)), "-i", str(self.approvals / "policy.yml"), playbook,
            "-e", f"opsgate_approval_token=@{self.token}", *args,
            env={"OPSGATE_TRUST_ROOT": str(self.approvals / "trust/root.json"),
                 "ANSIBLE_NOCOLOR": "1", "ANSIBLE_REMOTE_TMP": str(self.root / "remote-tmp"), "ANSIBLE_LOCAL_TEMP": str(self.root / "local-tmp")},
            check=False,
        )  # fmt: skip

    def deploy(self, spec: dict[str, object] | None, *args: str) -> subprocess.CompletedProcess[str]:
        return self.play("playbooks/deploy.yml", spec, "-e", f"opsgate_report_dir={self.root / 'reports'}", *args)

    def consumed(self) -> list[dict[str, object]]:
        """Receipts the approval gate leaves when it consumes (or resumes) a token (readiness receipts are not the gate's)."""
        return [row for row in receipt_rows(self.approvals / "ledger") if not str(row["token_id"]).startswith(("readiness:", "readiness-facts:"))]

    def host_state(self) -> list[str]:
        """Every path under the base directory: the release tree, the ledger, the data."""
        return sorted(str(path.relative_to(self.base)) for path in self.base.rglob("*")) if self.base.exists() else []

    def records(self) -> list[dict[str, object]]:
        return archive_records(self.approvals / "ledger")

    def sign_policy(self, version: int, readiness: str) -> None:
        """A new policy version, signed by both administrators, whose core_business class has ``readiness``."""
        signed = json.loads((self.approvals / "trust/policy.json").read_text())["signed"]
        body = {key: value for key, value in signed.items() if key not in ("_type", "version", "expires")}
        body["classes"]["core_business"]["readiness"] = readiness
        work = self.root / f"policy-{version}"
        work.mkdir()
        (work / "body.json").write_text(json.dumps(body))
        _run(*CLI, "policy-create", "--in", str(work / "body.json"), "--version", str(version), "--expires", signed["expires"], "--out", str(work / "0.json"))
        _run(*CLI, "admin-sign", "--key", str(self.approvals / "keys/admin-one.pem"), "--in", str(work / "0.json"), "--out", str(work / "1.json"))
        policy = str(self.approvals / "trust/policy.json")
        _run(*CLI, "admin-sign", "--key", str(self.approvals / "keys/admin-two.pem"), "--in", str(work / "1.json"), "--out", policy)


def output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


@pytest.fixture
def controller(tmp_path: Path) -> Controller:
    return Controller(tmp_path)


def test_a_host_below_the_memory_spec_stops_the_deploy_before_the_token_is_consumed(controller: Controller) -> None:
    refused = controller.deploy(SHORT_OF_MEMORY)

    assert refused.returncode != 0
    assert f"{HOST}: hw.memory.min: required" in output(refused)
    assert "readiness refused: 1 of 1 target host(s) not ready" in output(refused)
    assert controller.consumed() == []
    assert controller.host_state() == []
    [record] = controller.records()
    assert record["status"] == "failed"
    assert record["token_id"] is None
    readiness = record["readiness"]
    assert (readiness["required"], readiness["checked"], readiness["ready"], readiness["system_class"]) == (True, True, False, "core_business")
    assert list(readiness["not_ready"]) == [HOST]
    assert readiness["not_ready"][HOST][0].startswith("hw.memory.min: required")
    assert readiness["specs"][HOST]["system_class"] == "test"
    assert record["hosts"][HOST]["failed_gate"]["gate"] == "preflight"

    # The same token still works once the host is ready: nothing was spent on the refused run.
    done = controller.deploy(READY_SPEC)
    assert done.returncode == 0, output(done)
    assert len(controller.consumed()) == 1
    assert "current" in controller.host_state()
    record = controller.records()[-1]
    assert record["status"] == "success"
    assert (record["readiness"]["ready"], record["readiness"]["hosts_ready"], record["readiness"]["not_ready"]) == (True, [HOST], {})
    assert record["readiness"]["waived"] == {HOST: ["sec.forbidden_software"]}


def test_a_host_with_forbidden_software_and_no_waiver_is_refused(controller: Controller) -> None:
    # python3 is on every host this runs on; made forbidden, it stands in for a compiler.
    spec = {**READY_SPEC, "software": {}, "waivers": [], "security": {"forbidden_software": {"enabled": True, "extra": ["python3"]}}}

    refused = controller.deploy(spec)

    assert refused.returncode != 0
    assert f"{HOST}: sec.forbidden_software:" in output(refused)
    assert controller.consumed() == []
    assert controller.host_state() == []


def test_a_host_without_a_readiness_spec_is_refused(controller: Controller) -> None:
    refused = controller.deploy(None)

    assert refused.returncode != 0
    assert "opsgate_readiness_spec: not defined for this host" in output(refused)
    assert controller.consumed() == []
    assert controller.host_state() == []


@pytest.mark.parametrize(
    "hostile",
    [
        ["-e", json.dumps({"opsgate_readiness_spec": {"system_class": "test"}})],
        ["-e", json.dumps({"__preflight_validation": {"readiness_required": False, "requests": {}, "specs": {}}})],
        ["-e", json.dumps({"__preflight_verdict": {"ready": True, "msg": "ready"}})],
        ["-e", json.dumps({"__preflight_host_facts": {"ansible_facts": {"opsgate_host": {"memory": {"total_bytes": 2**60}}}}})],
        ["-e", "readiness_required=false", "-e", "preflight_readiness=skip", "-e", "deploy_readiness=skip", "-e", "opsgate_readiness_skip=true"],
        ["-e", "approval_gate_system_class=it_infrastructure", "-e", "deploy_system_class=it_infrastructure"],
        ["--skip-tags", "readiness"],
    ],
    ids=["spec", "validation-result", "verdict", "host-facts", "skip-flags", "lighter-class", "skip-tags"],
)
def test_no_extra_var_makes_a_class_the_policy_does_not_exempt_skip_the_check(controller: Controller, hostile: list[str]) -> None:
    refused = controller.deploy(SHORT_OF_MEMORY, *hostile)

    assert refused.returncode != 0
    assert "readiness refused" in output(refused) or "must come from the inventory" in output(refused)
    assert controller.consumed() == []
    assert controller.host_state() == []


def test_only_the_signed_policy_lets_a_class_skip_the_check(controller: Controller) -> None:
    controller.sign_policy(2, "skip")

    done = controller.deploy(SHORT_OF_MEMORY)

    assert done.returncode == 0, output(done)
    assert "policy version 2 lets class core_business skip the readiness checks" in " ".join(output(done).split())
    assert len(controller.consumed()) == 1
    readiness = controller.records()[-1]["readiness"]
    assert (readiness["required"], readiness["checked"], readiness["system_class"]) == (False, False, "core_business")


def _release_already_there(base: Path, artifacts: Path, version: str) -> str:
    """A release deployed and recorded good under base, as an earlier run leaves it; returns its id."""
    from ansible_collections.opsgate.release.plugins.module_utils.release.settle import commit_release
    from ansible_collections.opsgate.release.plugins.module_utils.release.stage import stage_release
    from ansible_collections.opsgate.release.plugins.module_utils.release.switch import SwitchRequest, switch_release

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))
    try:
        from release.release_fixtures import make_artifact, stage_request  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    artifacts.mkdir()
    path, sha = make_artifact(str(artifacts), version)
    request = stage_request(str(base), path, sha, version)
    stage_release(request)
    switch_release(SwitchRequest(str(base), request.identity))
    commit_release(str(base), request.identity, "deploy", 3)
    return request.identity.release_id


@pytest.mark.parametrize("class_readiness", ["required", "skip"])
def test_the_record_names_the_release_each_host_ran_before(controller: Controller, class_readiness: str) -> None:
    """The running release is read in the readiness collection's host call, or alone when the class skips readiness."""
    before = _release_already_there(controller.base, controller.root / "earlier", "0.9.0")
    if class_readiness == "skip":
        controller.sign_policy(2, "skip")

    done = controller.deploy(READY_SPEC)

    assert done.returncode == 0, output(done)
    host = controller.records()[-1]["hosts"][HOST]
    assert (host["release_before"], host["version_before"]) == (before, "0.9.0")
    assert host["release_after"] != before
    # Which task read it: the release_info task runs only when the collection did not.
    alone = output(done).split("Read the release each host runs now, for the record of the run] ", 1)[1].split("\n", 1)[1].split("TASK [", 1)[0]
    assert alone.strip().startswith("skipping" if class_readiness == "required" else "ok"), alone


# An operator's own playbook that leaves out the readiness role's collection: it makes up the host's answer (a set_fact of
# the variable the role used to register, or its own variable through facts_var) and calls the readiness evaluation and
# the approval gate itself. SPEC needs memory the host does not have; the made-up facts have it.
MEMORY_ONLY = {"system_class": "test", "memory": {"min_gib": 100000}}
MADE_UP = {"ansible_facts": {"opsgate_host": {"memory": {"total_bytes": 2**60, "available_bytes": 2**59}, "os": {"hostname": HOST, "machine_id": "f" * 32}}}}
WRAPPER = """
- name: An operator's own deploy with made-up readiness facts
  hosts: all
  gather_facts: false
  tasks:
    - name: Make up the host's answer
      ansible.builtin.set_fact:
        __preflight_host_facts: {made_up}
        made_up_facts: {made_up}
{evaluate}
    - name: Verify the approval
      ansible.builtin.import_role:
        name: opsgate.release.approval_gate
      vars:
        approval_gate_action: deploy
        approval_gate_app: sample_app
        approval_gate_version: "{version}"
        approval_gate_artifact_sha256: "{sha}"
        approval_gate_env: test
        approval_gate_fingerprint: wrapper
"""


EVALUATE = """
    - name: Evaluate readiness from the made-up answer
      opsgate.release.preflight_evaluate:
        readiness_gate: true
        report_dir: {reports}
        {facts_var}
      delegate_to: localhost
      run_once: true
      ignore_errors: true
"""


@pytest.mark.parametrize("facts_var", ["", "facts_var: made_up_facts", None], ids=["set-fact", "facts-var", "no-readiness-at-all"])
def test_a_wrapper_playbook_cannot_make_up_a_host_s_readiness_facts(controller: Controller, facts_var: str | None) -> None:
    """Before: the gate passed and consumed the token (it asked for readiness only inside the collection's roles)."""
    wrapper = controller.root / "wrapper.yml"
    evaluate = "" if facts_var is None else EVALUATE.format(reports=controller.root / "reports", facts_var=facts_var)
    wrapper.write_text(WRAPPER.format(made_up=json.dumps(MADE_UP), evaluate=evaluate, version=VERSION, sha=controller.sha))
    done = controller.play(str(wrapper), MEMORY_ONLY)

    text = " ".join(output(done).split())
    assert done.returncode != 0, text
    if facts_var:
        assert "facts_var, probes_var and resolve_var are not options of the readiness gate" in text, text
    elif facts_var is not None:
        assert f"{HOST}: facts.collected" in text and "no readiness facts from this host in this run" in text, text
    # No readiness receipt: the gate refuses, the token is not used, the host is untouched.
    assert "APPROVAL_READINESS_NOT_CHECKED" in text or "no readiness check of this run" in text, text
    assert controller.consumed() == []
    assert controller.host_state() == []


COLLECT_ELSEWHERE = """
    - name: Ask for the host's answer another way
      opsgate.release.preflight_collect:
{how}
      ignore_errors: true
    - name: Evaluate readiness
      opsgate.release.preflight_evaluate:
        readiness_gate: true
        report_dir: {reports}
      delegate_to: localhost
      run_once: true
      ignore_errors: true
"""


@pytest.mark.parametrize(
    ("how", "refusal"),
    [
        ("      delegate_to: localhost", "readiness facts of {host} refused: the task is delegated to localhost; the host must answer for itself"),
        (
            "      vars:\n        ansible_host: 127.0.0.2",
            "readiness facts of {host} refused: ansible_host is set for this task ('127.0.0.2'); the host must answer for itself",
        ),
        # The request is the spec's: a wrapper cannot narrow it (or point the probes elsewhere) through the task's arguments.
        ("        gather_subset: [os]", "preflight_collect takes only release_base_dir (the host's spec decides what it asks), got gather_subset"),
        ("        release_base_dir: srv/sample_app", "preflight_collect: release_base_dir must be an absolute path, got 'srv/sample_app'"),
    ],
    ids=["delegate-to", "task-vars", "task-args", "relative-base-dir"],
)
def test_a_host_s_readiness_facts_cannot_be_asked_of_another_machine(controller: Controller, how: str, refusal: str) -> None:
    wrapper = controller.root / "wrapper.yml"
    evaluate = COLLECT_ELSEWHERE.format(how=how, reports=controller.root / "reports")
    wrapper.write_text(WRAPPER.format(made_up=json.dumps(MADE_UP), evaluate=evaluate, version=VERSION, sha=controller.sha))
    done = controller.play(str(wrapper), READY_SPEC)

    text = " ".join(output(done).split())
    assert done.returncode != 0, text
    assert refusal.format(host=HOST) in text, text
    assert "no readiness facts from this host in this run" in text, text
    assert controller.consumed() == []
    assert controller.host_state() == []
