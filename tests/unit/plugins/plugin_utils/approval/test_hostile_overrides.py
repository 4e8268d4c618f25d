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
import os
import subprocess
import sys
from pathlib import Path

import pytest
from approval_kit import ApprovalKit, live_claims

REPO = Path(__file__).resolve().parents[5]
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
HOSTS = ["core-a1", "core-a2", "core-a3", "core-a4"]
APP = "sample_app"
VERSION = "1.0.0"
# Order-independent on purpose: "*" also matches the core hosts, the strictest class wins.
HOST_CLASSES = [{"hosts": ["*"], "class": "decision_support"}, {"hosts": ["core-*"], "class": "core_business", "env": "prod"}]

pytestmark = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason="ansible-playbook is not installed next to the test interpreter")


class Site:
    """Four local hosts, each with its own release tree, behind a pinned root and a policy with host_classes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.kit = ApprovalKit(str(root / "ledger"))
        self.trust_root = self.kit.install(root, host_classes=HOST_CLASSES)
        built = subprocess.run(
            [sys.executable, str(REPO / "demo/sample_app/build.py"), VERSION, str(root / "artifacts")], capture_output=True, text=True, check=True
        )
        self.sha, artifact = built.stdout.split()
        hosts = {host: self._host_vars(host, artifact) for host in HOSTS}
        (root / "hosts.json").write_text(json.dumps({"all": {"hosts": hosts}}))
        self.runs = 0

    def _host_vars(self, host: str, artifact: str) -> dict[str, object]:
        base = self.root / "hosts" / host
        base.mkdir(parents=True)
        (base / "marker").write_text(f"{host} before\n")
        return {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "opsgate_env": "prod",
            # What any machine meets: readiness runs before the gate and must not be what refuses.
            "opsgate_readiness_spec": {
                "system_class": "core_business",
                "memory": {"min_gib": 0.1},
                "security": {"forbidden_software": {"enabled": False}},
                # The four hosts are this one machine.
                "severity": {"fleet.*": "info"},
            },
            "opsgate_release": {
                "app": APP,
                "version": VERSION,
                "change_id": "CHG-2025-0117",
                "base_dir": str(base),
                "artifacts": [{"src": artifact, "sha256": "{{ app_sha256 }}"}],
                "service": {"type": "none"},
                "health": {"type": "none"},
            },
        }

    def token(self, hosts: list[str] | None = None, owners: tuple[str, ...] = ("alice", "bob", "carol", "dave"), **claims: object) -> str:
        values: dict[str, object] = {"app": APP, "version": VERSION, "artifact_sha256": self.sha, "change_id": "CHG-2025-0117", "system": "sample"}
        values.update(claims)
        return self.kit.sign(live_claims(hosts or HOSTS, **values), owners=owners)

    def play(self, playbook: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
        self.runs += 1
        token_file = self.root / f"token-{self.runs}.json"
        token_file.write_text(json.dumps({"opsgate_approval_token": token}))
        env = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
            "ANSIBLE_HOME": str(self.root / ".ansible"),
            "ANSIBLE_LOCAL_TEMP": str(self.root / ".ansible" / "tmp"),
            "ANSIBLE_REMOTE_TMP": str(self.root / ".ansible" / "remote-tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_STDOUT_CALLBACK": "default",
            "OPSGATE_TRUST_ROOT": str(self.trust_root),
            "OPSGATE_ARCHIVE_DIR": str(self.root / "archive"),
        }
        command = [str(PLAYBOOK_BIN), "-i", str(self.root / "hosts.json"), str(REPO / "playbooks" / playbook)]
        command += ["-e", f"@{token_file}", "-e", f"app_sha256={self.sha}", "-e", f"opsgate_report_dir={self.root / 'reports'}", *args]
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)

    def hosts_snapshot(self) -> dict[str, bytes]:
        """Every file and link under the hosts' base directories (release trees, ledgers, markers)."""
        snapshot: dict[str, bytes] = {}
        for path in sorted((self.root / "hosts").rglob("*")):
            key = str(path.relative_to(self.root))
            if path.is_symlink():
                snapshot[key] = b"-> " + os.readlink(path).encode()
            elif path.is_file():
                snapshot[key] = path.read_bytes()
            else:
                snapshot[key] = b"<dir>"
        return snapshot

    def consumed(self) -> str:
        ledger = self.root / "ledger" / "consumed.jsonl"
        return ledger.read_text() if ledger.exists() else ""


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def _out(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def _refused(site: Site, done: subprocess.CompletedProcess[str], before: dict[str, bytes], *expected: str) -> None:
    assert done.returncode != 0, _out(done)[-4000:]
    for text in expected:
        assert text in done.stdout, _out(done)[-4000:]
    assert site.hosts_snapshot() == before, "a host changed"
    assert site.consumed() == "", "the token was consumed"
    assert not list((site.root / "ledger").glob("receipts/*/*.json")), "the gate left a receipt"


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


def test_a_deploy_token_on_rollback_yml_with_approval_gate_action_deploy_is_refused_unconsumed(site: Site) -> None:
    before = site.hosts_snapshot()
    done = site.play(
        "rollback.yml", site.token(action="deploy"), "-e", "approval_gate_action=deploy", "-e", f"rollback_version={VERSION}",
        "-e", f"rollback_artifact_sha256={site.sha}",
    )  # fmt: skip
    _refused(site, done, before, "APPROVAL_ACTION_MISMATCH", "runs the rollback role, whose action is 'rollback'")


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
