# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The opsgate.release.archive callback in real ansible-playbook runs from the repository root."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "tests" / "unit" / "plugins" / "plugin_utils" / "approval"))

from approval_kit import ApprovalKit, live_claims

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

pytestmark = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason="ansible-playbook is not installed next to the test interpreter")


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("ANSIBLE_CALLBACKS_ENABLED", "OPSGATE_ARCHIVE_DIR", "ANSIBLE_CONFIG")}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"),
        ANSIBLE_HOME=str(tmp / ".ansible"),
        ANSIBLE_LOCAL_TEMP=str(tmp / ".ansible" / "tmp"),
        ANSIBLE_NOCOLOR="1",
        OPSGATE_ARCHIVE_DIR=str(tmp / "archive"),
    )
    env.update(extra)
    return env


def _play(tmp: Path, playbook: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [str(PLAYBOOK_BIN), playbook, *args]
    return subprocess.run(command, cwd=REPO, env=_env(tmp, **env), capture_output=True, text=True, timeout=240, check=False)


def _records(tmp: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted((tmp / "archive").glob("*.json"))]


def _local_inventory(tmp: Path) -> Path:
    inventory = tmp / "hosts.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    return inventory


def test_collection_playbook_writes_a_private_record_without_configuration(tmp_path: Path) -> None:
    done = _play(tmp_path, "playbooks/host_inventory.yml", "-i", "inventories/local/hosts.yml", "-e", f"opsgate_report_dir={tmp_path / 'reports'}")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    files = list((tmp_path / "archive").glob("*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "archive").st_mode) == 0o700
    [record] = _records(tmp_path)
    assert record["status"] == "success"
    assert record["playbook"].endswith("playbooks/host_inventory.yml")
    assert record["hosts"]["localhost"]["result"] in ("ok", "changed")
    assert record["operator"]["source"] == "local"
    assert record["ended"] >= record["started"]
    assert f"archive record: {files[0]}" in done.stdout


def test_enabling_the_callback_as_well_writes_one_record_and_honours_the_var(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    done = _play(
        tmp_path,
        "playbooks/host_inventory.yml",
        "-i",
        "inventories/local/hosts.yml",
        "--limit",
        "localhost",
        "-e",
        f"opsgate_report_dir={tmp_path / 'reports'}",
        "-e",
        f"opsgate_archive_dir={elsewhere}",
        ANSIBLE_CALLBACKS_ENABLED="opsgate.release.archive",
    )
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "archive").exists()
    files = list(elsewhere.glob("*.json"))
    assert len(files) == 1, files
    assert json.loads(files[0].read_text())["limit"] == "localhost"


def test_failing_run_is_recorded_as_failed(tmp_path: Path) -> None:
    playbook = tmp_path / "fails.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Break on purpose\n      ansible.builtin.fail:\n        msg: broken on purpose\n"
    )
    done = _play(tmp_path, str(playbook), "-i", str(_local_inventory(tmp_path)), ANSIBLE_CALLBACKS_ENABLED="opsgate.release.archive")
    assert done.returncode != 0
    [record] = _records(tmp_path)
    assert record["status"] == "failed"
    host = record["hosts"]["localhost"]
    assert host["result"] == "failed"
    assert host["failed_task"] == {"task": "Break on purpose", "action": "ansible.builtin.fail", "message": "broken on purpose"}


def test_approval_run_keeps_token_id_and_roles_never_the_token(tmp_path: Path) -> None:
    kit = ApprovalKit(str(tmp_path / "ledger"))
    trust_root = str(kit.install(tmp_path / "etc"))
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
    token = kit.sign(live_claims(HOSTS))
    arguments = (str(playbook), "-i", str(tmp_path / "hosts.ini"), "-e", f"opsgate_approval_token={token}")
    environment = {"ANSIBLE_CALLBACKS_ENABLED": "opsgate.release.archive", "OPSGATE_TRUST_ROOT": trust_root}
    done = _play(tmp_path, *arguments, **environment)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    [record] = _records(tmp_path)
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
    for path in (tmp_path / "archive").iterdir():
        text = path.read_text()
        for piece in (token, body[:48], body[-48:]):
            assert piece not in text

    # The same token again is refused (single use): the record says which gate stopped every host.
    again = _play(tmp_path, *arguments, **environment)
    assert again.returncode != 0
    [refused] = [record for record in _records(tmp_path) if record["status"] == "failed"]
    assert refused["approval_error"]["code"]
    assert {entry["failed_gate"]["gate"] for entry in refused["hosts"].values()} == {"approval"}
    for path in (tmp_path / "archive").iterdir():
        assert token not in path.read_text()


def test_sigterm_leaves_an_interrupted_record(tmp_path: Path) -> None:
    playbook = tmp_path / "slow.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Wait a long time\n      ansible.builtin.wait_for:\n        timeout: 120\n")
    command = [str(PLAYBOOK_BIN), str(playbook), "-i", str(_local_inventory(tmp_path))]
    env = _env(tmp_path, ANSIBLE_CALLBACKS_ENABLED="opsgate.release.archive")
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        # The record exists (status running) once the play started; then the task is under way.
        while time.monotonic() < deadline and not list((tmp_path / "archive").glob("*.json")):
            time.sleep(0.2)
        assert _records(tmp_path)[0]["status"] == "running"
        time.sleep(3)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)
    [record] = _records(tmp_path)
    assert record["status"] == "interrupted"
    assert record["interrupted_by"] == "SIGTERM"
    assert record["ended"] is not None
    assert "localhost" in record["hosts"]
