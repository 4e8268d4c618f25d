# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The gray release run the way AWX runs it: ansible-runner's Python API over a private data dir.

The private data dir is laid out as AWX lays it out: `project/` (the checkout), `inventory/`,
`env/extravars` holding the survey answers (the token among them, as a survey password is
passed) and `env/envvars`. The hosts are the demo's four local app slots behind a real haproxy.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from archive_kit import archive_records, archive_text
from demo_slots import SLOTS
from demo_slots import serving as _serving
from runner_kit import APPROVALS, PYTHON, ROOT, build_demo, project_copy, run_ok, start_haproxy, stop_demo

ansible_runner = pytest.importorskip("ansible_runner")

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is installed by make test-env")


@pytest.fixture
def slots(tmp_path: Path):
    demo = tmp_path / "demo"
    sha = build_demo(demo)
    run_ok("bash", str(APPROVALS), "init", str(tmp_path / "approvals"))
    start_haproxy(demo)
    env = {
        "OPSGATE_DEMO_DIR": str(demo),
        "OPSGATE_TRUST_ROOT": str(tmp_path / "approvals/trust/root.json"),
    }
    try:
        token_v1 = tmp_path / "deploy-1.token"
        run_ok("bash", str(APPROVALS), "token", str(tmp_path / "approvals"), str(token_v1), "deploy", "sample_app", "1.0.0", sha["1.0.0"], "demo",
               ",".join(SLOTS), "CHG-RUNNER-1")
        run_ok(str(ROOT / ".venv/bin/ansible-playbook"), "-i", "demo/inventory/app_slots.yml", "-i", str(tmp_path / "approvals/policy.yml"),
               "playbooks/deploy.yml", "-e", f"opsgate_approval_token=@{token_v1}", "-e", "opsgate_target_hosts=app_slots",
               "-e", "app_version=1.0.0", "-e", f"app_sha256={sha['1.0.0']}", "-e", "demo_change_id=CHG-RUNNER-1", env=env)
        assert _serving() == ["1.0.0"] * 4
        yield tmp_path, demo, sha
    finally:
        stop_demo(demo)


def test_gray_release_through_ansible_runner_keeps_the_token_out_of_the_artifacts(slots) -> None:
    tmp_path, demo, sha = slots
    token_file = tmp_path / "gray-2.token"
    run_ok("bash", str(APPROVALS), "token", str(tmp_path / "approvals"), str(token_file), "gray_release", "sample_app", "2.0.0", sha["2.0.0"], "demo",
           ",".join(SLOTS), "CHG-RUNNER-2")
    token = token_file.read_text().strip()
    assert len(token) > 200

    private = tmp_path / "awx_job"
    project_copy(private / "project")
    (private / "inventory").mkdir(parents=True)
    shutil.copy(ROOT / "demo/inventory/app_slots.yml", private / "inventory/hosts.yml")
    shutil.copy(tmp_path / "approvals/policy.yml", private / "inventory/policy.yml")
    (private / "env").mkdir()
    (private / "env/extravars").write_text(json.dumps({
        "opsgate_approval_token": token,
        "opsgate_target_hosts": "app_slots",
        "app_version": "2.0.0",
        "app_sha256": sha["2.0.0"],
        "demo_change_id": "CHG-RUNNER-2",
        "awx_user_name": "ops-oncall",
        "awx_job_id": 4711,
    }))
    (private / "env/envvars").write_text(json.dumps({
        "OPSGATE_DEMO_DIR": str(demo),
        "ANSIBLE_CONFIG": str(private / "project/ansible.cfg"),
        # An execution environment has its trust root baked in at /etc/opsgate/trust.json; here it is the test's.
        "OPSGATE_TRUST_ROOT": str(tmp_path / "approvals/trust/root.json"),
        # An execution environment has ansible-playbook on PATH; here it is the venv's.
        "PATH": f"{Path(PYTHON).parent}:{os.environ.get('PATH', '')}",
        # What AWX exports to every job (RunJob.build_env); the user's name is only in env/extravars.
        "JOB_ID": "4711",
        "USER": "mallory",
    }))

    # AWX runs the job with its id as ansible-runner's ident: artifacts/4711.
    result = ansible_runner.run(private_data_dir=str(private), playbook="playbooks/gray_release.yml", quiet=True, ident="4711")

    events = list(result.events)
    assert result.status == "successful", [e.get("stdout", "") for e in events[-15:]]
    assert result.rc == 0
    assert any(e["event"] == "runner_on_ok" and e["event_data"].get("host") in SLOTS for e in events)
    assert _serving() == ["2.0.0"] * 4

    artifacts = private / "artifacts"
    files = [p for p in artifacts.rglob("*") if p.is_file()]
    assert files, "ansible-runner wrote no artifacts"
    for path in files:
        data = path.read_bytes()
        assert token.encode() not in data, f"the token leaked into {path}"
        assert token[20:80].encode() not in data, f"a piece of the token leaked into {path}"
    # The archive is in the state store the pinned root names (SQLite in its ledger folder): the deploy of 1.0.0, then this job.
    ledger = tmp_path / "approvals/ledger"
    stored = archive_text(ledger)
    assert token not in stored and token[20:80] not in stored, "the token leaked into the archive"
    records = [r for r in archive_records(ledger) if r["playbook"].endswith("gray_release.yml")]
    assert [r["status"] for r in records] == ["success"]
    # One identity (issue 12): the archive and every host ledger name the AWX user who launched the job.
    assert (records[0]["operator"]["user"], records[0]["operator"]["source"], records[0]["operator"]["awx_job_id"]) == ("ops-oncall", "awx", "4711")
    for slot in SLOTS:
        lines = [json.loads(line) for line in (demo / "slots" / slot / "ledger.jsonl").read_text().splitlines()]
        assert {line["who"] for line in lines if line.get("version") == "2.0.0"} == {"ops-oncall"}, slot
