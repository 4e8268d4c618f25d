# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One identity, on real runs of playbooks/deploy.yml against a local host: the host ledger's ``who``,
the approval receipt's ``operator`` and the archive record's ``operator`` name the same person, and
neither ``$USER`` nor a variable (``-e deploy_who``, ``-e awx_user_name``) changes who that is."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest
from archive_kit import archive_records
from ledger_kit import receipt_rows

REPO = Path(__file__).resolve().parents[4]
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
APPROVALS = REPO / "molecule/deploy/approvals.sh"
ME = pwd.getpwuid(os.getuid()).pw_name
HOST = "who-host"
SPOOFS = ["-e", "deploy_who=mallory", "-e", "rollback_who=mallory", "-e", "awx_user_name=mallory", "-e", "tower_user_name=mallory"]

pytestmark = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason="ansible-playbook is not installed next to the test interpreter")


def _run(*argv: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(list(argv), cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{argv}: {done.stdout[-3000:]}{done.stderr[-2000:]}"
    return done.stdout


class Controller:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.base = root / "base"
        self.ledger_dir = root / "approvals" / "ledger"
        _run("bash", str(APPROVALS), "init", str(root / "approvals"))
        self.sha = {}
        for version in ("1.0.0", "2.0.0"):
            digest, path = _run(sys.executable, "demo/sample_app/build.py", version, str(root / "artifacts")).split()
            self.sha[version] = digest
            assert Path(path).is_file()
        (root / "hosts.json").write_text(json.dumps({"all": {"hosts": {HOST: self._host_vars()}}}))

    def _host_vars(self) -> dict[str, object]:
        return {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "opsgate_env": "test",
            "opsgate_release": {
                "app": "sample_app",
                "version": "{{ app_version }}",
                "change_id": "CHG-WHO-{{ app_version }}",
                "base_dir": str(self.base),
                "artifacts": [{"src": str(self.root / "artifacts") + "/sample_app-{{ app_version }}.tar.gz", "sha256": "{{ app_sha256 }}"}],
                "shared_paths": ["data"],
                "backup_paths": [str(self.base / "shared" / "data")],
                "service": {"type": "none"},
                "health": {"type": "none"},
            },
            # deploy.yml checks readiness first; this machine has compilers, so that check is waived as on a real host.
            "opsgate_readiness_spec": {
                "system_class": "test",
                "software": {"required": ["python3"]},
                "waivers": [{"check": "sec.forbidden_software", "hosts": HOST, "reason": "test machine", "expires": "2099-12-31"}],
            },
        }

    def deploy(self, version: str, *args: str, env: dict[str, str] | None = None) -> None:
        token = self.root / f"deploy-{version}.token"
        _run("bash", str(APPROVALS), "token", str(self.root / "approvals"), str(token), "deploy", "sample_app", version, self.sha[version], "test", HOST,
             f"CHG-WHO-{version}")  # fmt: skip
        _run(
            str(PLAYBOOK_BIN), "-i", str(self.root / "hosts.json"), "-i", str(self.root / "approvals/policy.yml"), "playbooks/deploy.yml",
            "-e", f"opsgate_approval_token=@{token}", "-e", f"app_version={version}", "-e", f"app_sha256={self.sha[version]}", *args,
            env={"OPSGATE_TRUST_ROOT": str(self.root / "approvals/trust/root.json"),
                 "USER": "mallory", "LOGNAME": "mallory", "ANSIBLE_NOCOLOR": "1",
                 # With USER=mallory, "~" would name a user who does not exist: keep Ansible's temp out of the checkout.
                 "ANSIBLE_REMOTE_TMP": str(self.root / "remote-tmp"), "ANSIBLE_LOCAL_TEMP": str(self.root / "local-tmp"), **(env or {})},
        )  # fmt: skip

    def ledger_who(self, version: str) -> set[str]:
        lines = [json.loads(line) for line in (self.base / "ledger.jsonl").read_text().splitlines()]
        mine = [line for line in lines if line.get("version") == version]
        assert mine, f"no ledger line for {version}"
        return {line["who"] for line in mine}

    def receipt_operator(self, version: str) -> dict[str, str]:
        receipts = [row["document"] for row in receipt_rows(self.ledger_dir) if not row["token_id"].startswith(("readiness:", "readiness-facts:"))]
        [receipt] = [r for r in receipts if r["scope"]["version"] == version]
        return receipt["operator"]

    def archive_operator(self, version: str) -> dict[str, str]:
        records = archive_records(self.ledger_dir)
        [record] = [r for r in records if r.get("version") == version]
        assert record["status"] == "success"
        return record["operator"]


@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Controller:
    return Controller(tmp_path_factory.mktemp("who"))


def test_user_and_variables_do_not_change_who_ledger_receipt_and_archive_name(controller: Controller) -> None:
    assert ME != "mallory"
    controller.deploy("1.0.0", *SPOOFS, env={"JOB_ID": ""})

    assert controller.ledger_who("1.0.0") == {ME}
    receipt = controller.receipt_operator("1.0.0")
    archive = controller.archive_operator("1.0.0")
    assert (receipt["user"], receipt["source"]) == (ME, "local")
    assert (archive["user"], archive["source"]) == (ME, "local")
    assert receipt == archive


def test_under_awx_all_three_name_the_launching_user_from_the_jobs_files(controller: Controller) -> None:
    """As AWX runs a job: JOB_ID and the runner's artifact dir in the environment, the meta vars in env/extravars."""
    job = controller.root / "awx_job"
    (job / "artifacts" / "4711").mkdir(parents=True)
    (job / "env").mkdir()
    extravars = job / "env" / "extravars"
    extravars.write_text("!unsafe 'awx_job_id': 4711\n!unsafe 'awx_user_name': !unsafe 'ops-oncall'\n!unsafe 'awx_job_template_name': !unsafe 'deploy'\n")
    os.chmod(extravars, 0o600)
    awx_env = {"JOB_ID": "4711", "AWX_ISOLATED_DATA_DIR": str(job / "artifacts" / "4711")}

    # AWX passes the file with -e @; an -e on top of it (which AWX itself never adds) still changes nothing.
    controller.deploy("2.0.0", "-e", f"@{extravars}", *SPOOFS, env=awx_env)

    assert controller.ledger_who("2.0.0") == {"ops-oncall"}
    receipt = controller.receipt_operator("2.0.0")
    archive = controller.archive_operator("2.0.0")
    assert receipt == archive
    assert (archive["user"], archive["source"], archive["awx_job_id"], archive["awx_job_template"], archive["local_user"]) == (
        "ops-oncall",
        "awx",
        "4711",
        "deploy",
        ME,
    )
