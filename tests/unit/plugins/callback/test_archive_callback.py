# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The opsgate.release.archive callback in real ansible-playbook runs: records go to the pinned state store, hash-chained and signed."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from approval_kit import ApprovalKit, live_claims
from archive_kit import SigningKey, archive_records, archive_text, make_root, signing_key

from ansible_collections.opsgate.release.plugins.plugin_utils.archive.chain import Entry, Verification
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.signing import SIGNING_KEY_ENV
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import read_entries, verify_store
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import pinned_store

REPO = Path(__file__).resolve().parents[4]
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
HOSTS = ["web1", "web2"]
SCOPE_VARS = {
    "approval_gate_action": "deploy",
    "approval_gate_app": "accounts-api",
    "approval_gate_version": "1.4.2",
    "approval_gate_artifact_sha256": "3f" * 32,
    "approval_gate_env": "prod",
    "approval_gate_system_class": "core_business",
}
NOT_WRITTEN = "was not written to the operations archive"

pytestmark = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason="ansible-playbook is not installed next to the test interpreter")


@dataclass
class Controller:
    """A trust root the security team installed (SQLite store in tmp/ledger) and, if pinned, this controller's archive key."""

    tmp: Path
    kit: ApprovalKit
    env: dict[str, str]
    key: SigningKey | None

    @property
    def ledger(self) -> Path:
        return self.tmp / "ledger"

    def records(self) -> list[dict]:
        return archive_records(self.ledger)

    def chain(self) -> tuple[list[Entry], Verification]:
        root = make_root(str(self.ledger), keys=[self.key] if self.key else [])
        with pinned_store(root, {}) as store:
            return read_entries(store), verify_store(store, root)

    def play(self, playbook: str, *args: str, cwd: Path = REPO, **extra: str) -> subprocess.CompletedProcess[str]:
        drop = ("ANSIBLE_CALLBACKS_ENABLED", "OPSGATE_ARCHIVE_DIR", "ANSIBLE_CONFIG", "OPSGATE_TRUST_ROOT", SIGNING_KEY_ENV)
        env = {key: value for key, value in os.environ.items() if key not in drop}
        env.update(
            ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"),
            ANSIBLE_HOME=str(self.tmp / ".ansible"),
            ANSIBLE_LOCAL_TEMP=str(self.tmp / ".ansible" / "tmp"),
            ANSIBLE_NOCOLOR="1",
        )
        env.update(self.env)
        env.update(extra)
        return subprocess.run([str(PLAYBOOK_BIN), playbook, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False)

    def local_inventory(self) -> str:
        inventory = self.tmp / "hosts.ini"
        inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
        return str(inventory)


def _controller(tmp: Path, pin_key: bool = True, with_root: bool = True) -> Controller:
    # Its playbooks call the gate without the readiness check: the class is exempt in the signed policy.
    kit = ApprovalKit(str(tmp / "ledger"), class_readiness="skip")
    env: dict[str, str] = {}
    key = None
    if with_root:
        root = kit.install(tmp / "etc")
        env["OPSGATE_TRUST_ROOT"] = str(root)
        if pin_key:
            key = signing_key(tmp / "keys", "controller-test")
            root.write_bytes(kit.root_document(archive_keys=[key.root_entry()]))
            env[SIGNING_KEY_ENV] = str(key.path)
    return Controller(tmp, kit, env, key)


@pytest.fixture
def controller(tmp_path: Path) -> Controller:
    return _controller(tmp_path)


def test_collection_playbook_writes_a_signed_record_in_the_store_not_in_the_working_directory(controller: Controller) -> None:
    work = controller.tmp / "work"
    work.mkdir()
    playbook, inventory = str(REPO / "playbooks/host_inventory.yml"), str(REPO / "inventories/local/hosts.yml")
    done = controller.play(playbook, "-i", inventory, "-e", f"opsgate_report_dir={controller.tmp / 'reports'}", cwd=work)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert list(work.iterdir()) == []  # no ./archive: never a folder relative to where ansible-playbook started (issue 14)
    [record] = controller.records()
    assert record["status"] == "success"
    assert record["playbook"].endswith("playbooks/host_inventory.yml")
    assert record["hosts"]["localhost"]["result"] in ("ok", "changed")
    assert record["operator"]["source"] == "local"
    assert record["ended"] >= record["started"]
    assert "archive_errors" not in record
    entries, result = controller.chain()
    # Written when the run started (running) and when it ended: two entries, the newest is the record.
    assert [entry.run_id for entry in entries] == [record["run_id"]] * 2
    assert json.loads(entries[0].body)["status"] == "running"
    assert result.ok, result.problems
    assert result.signed_by == {controller.key.keyid: 2}
    assert f"archive record: run {record['run_id']}, entry seq 2 sha256 {entries[1].entry_hash}" in done.stdout
    stored = archive_text(controller.ledger)
    for line in controller.key.pem.splitlines()[1:-1]:
        assert line not in done.stdout + done.stderr
        assert line not in stored


def test_enabling_the_callback_as_well_writes_one_record(controller: Controller) -> None:
    done = controller.play(
        "playbooks/host_inventory.yml",
        "-i",
        "inventories/local/hosts.yml",
        "--limit",
        "localhost",
        "-e",
        f"opsgate_report_dir={controller.tmp / 'reports'}",
        ANSIBLE_CALLBACKS_ENABLED="opsgate.release.archive",
    )
    assert done.returncode == 0, done.stderr
    [record] = controller.records()
    assert record["limit"] == "localhost"
    assert len(controller.chain()[0]) == 2


def test_failing_run_is_recorded_as_failed(controller: Controller) -> None:
    playbook = controller.tmp / "fails.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Break on purpose\n      ansible.builtin.fail:\n        msg: broken on purpose\n"
    )
    done = controller.play(str(playbook), "-i", controller.local_inventory(), ANSIBLE_CALLBACKS_ENABLED="opsgate.release.archive")
    assert done.returncode != 0
    [record] = controller.records()
    assert record["status"] == "failed"
    host = record["hosts"]["localhost"]
    assert host["result"] == "failed"
    assert host["failed_task"] == {"task": "Break on purpose", "action": "ansible.builtin.fail", "message": "broken on purpose"}


def test_without_a_trust_root_the_run_says_its_record_was_not_written(tmp_path: Path) -> None:
    controller = _controller(tmp_path, with_root=False)
    work = tmp_path / "work"
    work.mkdir()
    done = controller.play(str(REPO / "playbooks/host_inventory.yml"), "-i", controller.local_inventory(), "-e", f"opsgate_report_dir={tmp_path}/r", cwd=work)
    output = done.stdout + done.stderr
    assert "the start record of run" in output and NOT_WRITTEN in output
    assert "the end record of run" in output and "APPROVAL_TRUST_ROOT_MISSING" in output
    assert "[ERROR]" in output
    assert list(work.iterdir()) == []
    assert controller.records() == []


def test_a_pinned_signing_key_that_is_missing_fails_closed_and_says_so(controller: Controller) -> None:
    env = {key: value for key, value in controller.env.items() if key != SIGNING_KEY_ENV}
    controller.env = env
    done = controller.play(str(REPO / "playbooks/host_inventory.yml"), "-i", controller.local_inventory(), "-e", f"opsgate_report_dir={controller.tmp}/r")
    output = done.stdout + done.stderr
    assert NOT_WRITTEN in output and SIGNING_KEY_ENV in output and "no record is written unsigned" in output
    assert controller.records() == []


def test_a_write_that_fails_during_the_run_is_an_error_and_the_next_record_says_so(controller: Controller) -> None:
    """The store turns unusable between plays (its folder writable by others), then usable again before the run ends."""
    ledger = controller.ledger
    playbook = controller.tmp / "two-plays.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        f"    - ansible.builtin.file: {{path: '{ledger}', mode: '0777'}}\n"
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        f"    - ansible.builtin.file: {{path: '{ledger}', mode: '0700'}}\n"
    )
    done = controller.play(str(playbook), "-i", controller.local_inventory(), ANSIBLE_CALLBACKS_ENABLED="opsgate.release.archive")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert NOT_WRITTEN in done.stderr and "writable by nobody else" in done.stderr
    [record] = controller.records()
    assert record["status"] == "success"
    [error] = record["archive_errors"]
    assert error["at"] == "start" and "writable by nobody else" in error["message"]
    assert controller.chain()[1].ok

    # A store that stays unusable to the end: an error, tried once more, and the running record stays.
    broken = controller.tmp / "breaks.yml"
    broken.write_text(f"- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.file: {{path: '{ledger}', mode: '0777'}}\n")
    failed = controller.play(str(broken), "-i", controller.local_inventory(), ANSIBLE_CALLBACKS_ENABLED="opsgate.release.archive")
    ledger.chmod(0o700)
    assert "the end record of run" in failed.stderr and "trying once more" in failed.stderr
    assert failed.stderr.count(NOT_WRITTEN) == 2
    assert [record["status"] for record in controller.records()] == ["success", "running"]


def test_approval_run_keeps_token_id_and_roles_never_the_token(controller: Controller) -> None:
    tmp_path = controller.tmp
    lines = [f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}", "[targets]"]
    lines += [f"{host} ansible_connection=local ansible_python_interpreter={sys.executable}" for host in HOSTS]
    (tmp_path / "hosts.ini").write_text("\n".join(lines) + "\n")
    playbook = tmp_path / "gate.yml"
    playbook.write_text(
        "- hosts: targets\n  gather_facts: false\n  tasks:\n    - ansible.builtin.import_role:\n        name: opsgate.release.approval_gate\n"
        f"      vars: {json.dumps(SCOPE_VARS)}\n"
        # finish runs the gate plugin again: the record must keep what the first gate result said.
        "    - ansible.builtin.import_role:\n        name: opsgate.release.approval_gate\n        tasks_from: finish\n"
        f"      vars: {json.dumps({**SCOPE_VARS, 'approval_gate_outcome': 'succeeded'})}\n"
    )
    token = controller.kit.sign(live_claims(HOSTS))
    arguments = (str(playbook), "-i", str(tmp_path / "hosts.ini"), "-e", f"opsgate_approval_token={token}")
    done = controller.play(*arguments, ANSIBLE_CALLBACKS_ENABLED="opsgate.release.archive")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    [record] = controller.records()
    assert record["status"] == "success"
    assert record["token_id"] == "apv-0123456789abcdef"
    assert record["signer_roles"] == ["business_head", "it_head", "ops_director", "risk_compliance"]
    assert record["change_id"] == "CHG-2025-0117"
    assert sorted(record["hosts"]) == HOSTS
    approval = record["approval"]
    assert approval["signer_roles"] == ["business_head", "it_head", "ops_director", "risk_compliance"]
    assert approval["change_id"] == "CHG-2025-0117"
    assert approval["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert approval["outcome"] == "succeeded"
    body = token.split(".", 1)[1]
    stored = archive_text(controller.ledger)
    for piece in (token, body[:48], body[-48:]):
        assert piece not in stored

    # The same token again is refused (single use): the record says which gate stopped every host.
    again = controller.play(*arguments, ANSIBLE_CALLBACKS_ENABLED="opsgate.release.archive")
    assert again.returncode != 0
    [refused] = [record for record in controller.records() if record["status"] == "failed"]
    assert refused["approval_error"]["code"]
    assert {entry["failed_gate"]["gate"] for entry in refused["hosts"].values()} == {"approval"}
    assert token not in archive_text(controller.ledger)
    assert controller.chain()[1].ok


def test_sigterm_leaves_an_interrupted_record(controller: Controller) -> None:
    playbook = controller.tmp / "slow.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Wait a long time\n      ansible.builtin.wait_for:\n        timeout: 120\n")
    command = [str(PLAYBOOK_BIN), str(playbook), "-i", controller.local_inventory()]
    env = {key: value for key, value in os.environ.items() if key not in ("ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_CONFIG")}
    env.update(controller.env, ANSIBLE_CALLBACKS_ENABLED="opsgate.release.archive", ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"))
    env.update(ANSIBLE_HOME=str(controller.tmp / ".ansible"), ANSIBLE_LOCAL_TEMP=str(controller.tmp / ".ansible" / "tmp"))
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        # The record exists (status running) once the play started; then the task is under way.
        while time.monotonic() < deadline and not controller.records():
            time.sleep(0.2)
        assert controller.records()[0]["status"] == "running"
        time.sleep(3)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)
    [record] = controller.records()
    assert record["status"] == "interrupted"
    assert record["interrupted_by"] == "SIGTERM"
    assert record["ended"] is not None
    assert "localhost" in record["hosts"]
    assert controller.chain()[1].ok


# Stands in for release_change, release_verify and release_migrate in a copy of the collection: answers with the result
# the test hands it (shaped as the spec gives them), so the callback sees these actions' results as in a real run.
FAKE_STEP = """
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result.update(self._task.args["respond"])
        return result
"""
FAKE_STEPS = ("release_change", "release_verify", "release_migrate")


def _collection_with_fake_steps(tmp: Path) -> Path:
    """A collection path whose opsgate.release is this checkout (symbolic links) with FAKE_STEPS as its three action plugins."""
    root = tmp / "collections"
    tree = root / "ansible_collections" / "opsgate" / "release"
    (tree / "plugins" / "action").mkdir(parents=True)
    for name in ("meta", "galaxy.yml", "roles", "playbooks"):
        (tree / name).symlink_to(REPO / name)
    for folder in (REPO / "plugins").iterdir():
        if folder.name != "action" and folder.is_dir():
            (tree / "plugins" / folder.name).symlink_to(folder)
    for plugin in (REPO / "plugins" / "action").glob("*.py"):
        if plugin.stem not in FAKE_STEPS:
            (tree / "plugins" / "action" / plugin.name).symlink_to(plugin)
    for name in FAKE_STEPS:
        (tree / "plugins" / "action" / f"{name}.py").write_text(FAKE_STEP)
    return root


def test_verification_reports_migrations_and_documents_reach_the_store_without_sql_or_passwords(controller: Controller) -> None:
    from archive_events import DB_PASSWORD, SQL_DOWN, SQL_EXPAND, change_result, junit, migrate_result, verify_result

    tmp = controller.tmp
    python = f"ansible_connection=local ansible_python_interpreter={sys.executable}"
    # The password is an inventory variable of the database host (not an extra var), as the role passes it.
    (tmp / "hosts.ini").write_text(f"[web]\nweb1 {python}\nweb2 {python}\n[db]\ndb1 {python} db_password={DB_PASSWORD}\n")
    expand = migrate_result("expand", ["001_orders_status"])
    # A careless module that says the password it connected with: the callback redacts the task's secret argument.
    # A token's id is no secret: it stays.
    expand["msg"] = f"expand (approval apv-0123456789abcdef): applied 1 step(s) as postgres/{DB_PASSWORD}"
    results = {
        "change": change_result(),
        "expand": expand,
        "verify": {"web1": verify_result("web1"), "web2": verify_result("web2", failing=("test_orders_table_readable_v2",))},
    }
    (tmp / "results.json").write_text(json.dumps(results))
    playbook = tmp / "release.yml"
    playbook.write_text(
        "- name: Deploy with a migration and a verification suite\n  hosts: web\n  gather_facts: false\n"
        f"  vars_files: ['{tmp / 'results.json'}']\n  tasks:\n"
        "    - name: Build the change document\n      opsgate.release.release_change: {respond: '{{ change }}'}\n      run_once: true\n"
        "    - name: Apply the migration phase on the database host\n"
        "      opsgate.release.release_migrate:\n        phase: expand\n        token_id: apv-0123456789abcdef\n"
        "        login_password: \"{{ hostvars['db1'].db_password }}\"\n"
        "        respond: '{{ expand }}'\n      delegate_to: db1\n      run_once: true\n      failed_when: false\n"
        "    - name: Run the release's verification suite against this host\n"
        "      opsgate.release.release_verify: {respond: '{{ verify[inventory_hostname] }}'}\n"
    )
    collections = str(_collection_with_fake_steps(tmp))
    inventory = str(tmp / "hosts.ini")
    done = controller.play(str(playbook), "-i", inventory, ANSIBLE_CALLBACKS_ENABLED="opsgate.release.archive", ANSIBLE_COLLECTIONS_PATH=collections)
    assert done.returncode != 0, done.stdout[-2000:] + done.stderr  # web2's suite failed
    [record] = controller.records()
    web1, web2 = record["hosts"]["web1"], record["hosts"]["web2"]
    assert (web1["verify"]["passed"], web1["verify"]["failed"], web1["failed_gate"]) == (3, 0, None)
    assert web2["verify"]["failures"] == ["test_sample_app.py::test_orders_table_readable_v2[ansible://web2]"]
    assert web2["failed_gate"]["gate"] == "verify"
    [migration] = record["migrations"]
    assert (migration["phase"], migration["database"]["run_on"], migration["applied"]) == ("expand", "db1", ["001_orders_status"])
    assert migration["msg"] == "expand (approval apv-0123456789abcdef): applied 1 step(s) as postgres/[REDACTED]"
    assert [item["title"] for item in record["documents"]] == ["Deployment manual 2.0", "Backup & restore <appdb>"]
    reports = {item["host"]: item["sha256"] for item in record["attachments"]}
    assert reports["web1"] == hashlib.sha256(junit("web1").encode()).hexdigest()
    root = make_root(str(controller.ledger), keys=[controller.key])
    with pinned_store(root, {}) as store, store.transaction() as tx:
        stored = dict(tx.rows("SELECT sha256, content FROM archive_attachments"))
    assert stored[reports["web1"]] == junit("web1") and set(stored) == set(reports.values())
    verification = controller.chain()[1]
    assert verification.ok, verification.problems
    assert "2 attachment(s) checked" in verification.notes
    everything = archive_text(controller.ledger)
    for secret in (DB_PASSWORD, SQL_EXPAND, SQL_DOWN, "login_password", "opsgate-approval-token-"):
        assert secret not in everything
