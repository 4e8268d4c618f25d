# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Four local-connection hosts with their own release trees, a pinned root and a signed policy whose
host_classes put them in core_business: the site of the hostile runs (issue 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from approval_kit import ApprovalKit, live_claims
from ledger_kit import consumed_rows, receipt_rows

REPO = Path(__file__).resolve().parents[5]
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
HOSTS = ["core-a1", "core-a2", "core-a3", "core-a4"]
APP = "sample_app"
VERSION = "1.0.0"
# Order-independent on purpose: "*" also matches the core hosts, the strictest class wins.
HOST_CLASSES = [{"hosts": ["*"], "class": "decision_support"}, {"hosts": ["core-*"], "class": "core_business", "env": "prod"}]


class Site:
    """Four local hosts, each with its own release tree, behind a pinned root and a policy with host_classes."""

    def __init__(self, root: Path, **policy: object) -> None:
        self.root = root
        self.kit = ApprovalKit(str(root / "ledger"))
        self.trust_root = self.kit.install(root, host_classes=HOST_CLASSES, **policy)
        built = subprocess.run(
            [sys.executable, str(REPO / "demo/sample_app/build.py"), VERSION, str(root / "artifacts")], capture_output=True, text=True, check=True
        )
        self.sha, artifact = built.stdout.split()
        hosts = {host: self._host_vars(host, artifact) for host in HOSTS}
        (root / "hosts.json").write_text(json.dumps({"all": {"hosts": hosts}}))
        self.runs = 0
        self.consumed_before = ""
        self.receipts_before: list[str] = []

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

    def receipts(self) -> list[str]:
        """The approval receipts in the controller's state store (SQLite in the ledger folder), one key each."""
        rows = receipt_rows(self.root / "ledger")
        return sorted(
            f"{r['controller']}/{r['pid']}-{r['start_time']}--{r['token_id']}" for r in rows if not r["token_id"].startswith(("readiness:", "readiness-facts:"))
        )

    def set_baseline(self) -> None:
        """What earlier, legitimate runs of a test left in the controller's ledger: a refusal adds nothing to it."""
        self.consumed_before = self.consumed()
        self.receipts_before = self.receipts()

    def consumed(self) -> str:
        """The consumed tokens in the controller's state store as text ("" when none)."""
        rows = consumed_rows(self.root / "ledger")
        return json.dumps(rows, sort_keys=True) if rows else ""


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
    assert site.consumed() == site.consumed_before, "the token was consumed"
    # Receipts of ended processes may be pruned meanwhile (they can never match again); none may be added.
    assert not set(site.receipts()) - set(site.receipts_before), "the gate left a receipt"
