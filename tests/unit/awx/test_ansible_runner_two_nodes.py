# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Two AWX execution nodes over one PostgreSQL state store, each job run the way AWX runs it: ansible-runner's Python API.

Each node has its own private data dir (`project/` copy, `inventory/`, `env/extravars` with the survey answers,
`env/envvars` with what AWX and the `opsgate state store` credential export), its own stand-in for the execution
environment's /etc/opsgate (a trust root file and the signed policy beside it), its own archive signing key (the
credential's file) and its own local ledger folder. Both roots pin one real PostgreSQL database (the session's
cluster, `postgresql_store`); its password reaches the jobs only through `env/envvars` (OPSGATE_STATE_STORE_DSN),
never extra vars. The hosts are the demo's four local app slots behind a real haproxy; tokens and keys are real
Ed25519 (molecule/deploy/approvals.sh, bin/opsgate-approval).

Proven, against the database:
- node B works (it deploys 1.0.0 with a token of its own), so what follows is the store's answer, not a broken node;
- the gray release token that job 4711 on node A consumed is refused to job 4712 on node B with APPROVAL_REPLAYED, and
  the refusal names the first run as the store recorded it (token id, change, the instant it was consumed), not its
  run id (docs/approvals.md: the run id is one of the things a resume must match); no host changed: the slots serve
  what A left, their ledgers, release links and haproxy's server states are as A left them;
- both jobs' archive records are in the one store, read back from it: A's `success`, B's `failed` at the approval
  gate with the same code and every host untouched; one hash chain, A's entries signed by A's key and B's by B's,
  which verifies under the pinned keys;
- the token's text is in neither node's artifacts, in no table of the store, and nothing is in either ledger folder;
  the database password is in no job event or output (ansible-runner's own `command` file records the environment).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pg_cluster
import pytest
from demo_slots import SLOTS, serving
from runner_kit import APPROVALS, PYTHON, ROOT, build_demo, project_copy, run_ok, start_haproxy, stop_demo

from ansible_collections.opsgate.release.plugins.module_utils.approval.trust_root import load_trust_root
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.signing import SIGNING_KEY_ENV
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import iter_records, read_entries, verify_store
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import DSN_ENV, PASSWORD_ENV, store_settings
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import Store, open_store

ansible_runner = pytest.importorskip("ansible_runner")

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is installed by make test-env")

CLI = str(ROOT / "bin/opsgate-approval")
REPLAYED = "APPROVAL_REPLAYED"
GRAY_CHANGE = "CHG-NODES-2"


def _cli(*argv: str) -> None:
    run_ok(PYTHON, CLI, *argv)


@dataclass
class Node:
    """One AWX execution node: what it keeps on its own disk, and the jobs it runs."""

    name: str
    base: Path
    demo: Path
    dsn: str
    keyid: str = ""
    jobs: dict[int, Any] = field(default_factory=dict)

    @property
    def private(self) -> Path:
        """The private data dir AWX hands ansible-runner."""
        return self.base / "runner"

    @property
    def trust_root(self) -> Path:
        """The execution environment's /etc/opsgate/trust.json (policy.json beside it)."""
        return self.base / "etc/opsgate/trust.json"

    @property
    def ledger(self) -> Path:
        """The root's ledger_dir on this node (/var/lib/opsgate/approvals in the image)."""
        return self.base / "var/lib/opsgate/approvals"

    @property
    def signing_key(self) -> Path:
        """The archive signing key file the credential injects."""
        return self.base / "credential/archive-key.pem"

    def job(self, job_id: int, playbook: str, token: str, version: str, sha256: str, change_id: str) -> Any:
        """One job of the template for ``playbook``: the survey's answers in env/extravars, the environment in env/envvars."""
        (self.private / "env/extravars").write_text(
            json.dumps(
                {
                    # The survey's password question: how the token reaches the job.
                    "opsgate_approval_token": token,
                    "opsgate_target_hosts": "app_slots",
                    "app_version": version,
                    "app_sha256": sha256,
                    "demo_change_id": change_id,
                    # What AWX itself writes after the template's, survey's and launch's extra vars.
                    "awx_user_name": f"ops-{self.name}",
                    "awx_job_id": job_id,
                }
            )
        )
        (self.private / "env/envvars").write_text(
            json.dumps(
                {
                    "OPSGATE_DEMO_DIR": str(self.demo),
                    "ANSIBLE_CONFIG": str(self.private / "project/ansible.cfg"),
                    # In an execution environment the root is baked in at /etc/opsgate/trust.json; here it is this node's file.
                    "OPSGATE_TRUST_ROOT": str(self.trust_root),
                    # What the credential of type 'opsgate state store' injects: the secret and the key file, never extra vars.
                    DSN_ENV: self.dsn,
                    SIGNING_KEY_ENV: str(self.signing_key),
                    "PATH": f"{Path(PYTHON).parent}:{os.environ.get('PATH', '')}",
                    "JOB_ID": str(job_id),
                }
            )
        )
        done = ansible_runner.run(private_data_dir=str(self.private), playbook=playbook, quiet=True, ident=str(job_id))
        self.jobs[job_id] = done
        return done


@dataclass
class TwoNodes:
    """The approvals (administrators, approvers, signed policy), the pinned database, and nodes A and B."""

    approvals: Path
    demo: Path
    sha: dict[str, str]
    pinned: dict[str, Any]
    nodes: tuple[Node, Node]

    def token(self, action: str, version: str, change_id: str) -> str:
        out = self.approvals.parent / f"{action}-{version}.token"
        run_ok("bash", str(APPROVALS), "token", str(self.approvals), str(out), action, "sample_app", version, self.sha[version], "demo",
               ",".join(SLOTS), change_id)
        return out.read_text().strip()

    def store(self) -> Store:
        """The database, opened by the test as a third client with the password (read back what the jobs wrote)."""
        return open_store(store_settings(self.pinned, str(self.approvals / "unused-ledger"), environ={PASSWORD_ENV: pg_cluster.PASSWORD}))

    def hosts(self) -> dict[str, Any]:
        """What a job could change on the hosts: each slot's ledger, release link and releases, and haproxy's view of it."""
        state: dict[str, Any] = {}
        for slot in SLOTS:
            base = self.demo / "slots" / slot
            state[slot] = {
                "ledger": (base / "ledger.jsonl").read_bytes(),
                "current": os.readlink(base / "current"),
                "releases": sorted(path.name for path in (base / "releases").iterdir()),
            }
        state["haproxy"] = _haproxy_servers(self.demo / "lb/admin.sock")
        return state


def _haproxy_servers(sock_path: Path) -> list[tuple[str, ...]]:
    """Name, operational state, admin state and weight of each server of backend app, from haproxy's admin socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(sock_path))
        sock.sendall(b"show servers state app\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    rows = [line.split() for line in answer.decode().splitlines() if line and not line.startswith("#") and len(line.split()) > 7]
    # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight ...
    return sorted((row[3], row[5], row[6], row[7]) for row in rows)


def _pin_root(approvals: Path, node: Node, pinned: dict[str, Any], archive_keys: list[Path]) -> None:
    """The administrators' root for ``node``: the same two administrators and database, the node's ledger folder, both archive keys."""
    work = node.base / "root-signing"
    work.mkdir(parents=True)
    keys = [arg for path in archive_keys for arg in ("--archive-key", str(path))]
    _cli("root-create", "--admin", str(approvals / "keys/admin-one.pub"), "--admin", str(approvals / "keys/admin-two.pub"), "--threshold", "2",
         "--ledger-dir", str(node.ledger), "--state-store-json", json.dumps(pinned), *keys, "--out", str(work / "unsigned.json"))
    _cli("admin-sign", "--key", str(approvals / "keys/admin-one.pem"), "--in", str(work / "unsigned.json"), "--out", str(work / "half.json"))
    _cli("admin-sign", "--key", str(approvals / "keys/admin-two.pem"), "--in", str(work / "half.json"), "--out", str(work / "signed.json"))
    node.trust_root.parent.mkdir(parents=True)
    _cli("root-install", "--in", str(work / "signed.json"), "--trust-root", str(node.trust_root))
    shutil.copy(approvals / "trust/policy.json", node.trust_root.parent / "policy.json")
    shutil.rmtree(work)


@pytest.fixture
def two_nodes(tmp_path: Path, postgresql_store: dict[str, Any]):
    demo = tmp_path / "demo"
    sha = build_demo(demo)
    approvals = tmp_path / "approvals"
    run_ok("bash", str(APPROVALS), "init", str(approvals))
    pinned = postgresql_store
    dsn = f"postgresql://{pinned['user']}:{pg_cluster.PASSWORD}@{pinned['host']}:{pinned['port']}/{pinned['dbname']}?sslmode=disable"
    nodes = (Node("awx-node-a", tmp_path / "awx-node-a", demo, dsn), Node("awx-node-b", tmp_path / "awx-node-b", demo, dsn))
    public = []
    for node in nodes:
        node.signing_key.parent.mkdir(parents=True)
        _cli("keygen", "--owner", node.name, "--role", "archive", "--out", str(node.signing_key), "--public-out", str(node.base / "archive-key.pub"))
        node.keyid = json.loads((node.base / "archive-key.pub").read_text())["keyid"]
        public.append(node.base / "archive-key.pub")
    for node in nodes:
        _pin_root(approvals, node, pinned, public)
        node.ledger.mkdir(parents=True, mode=0o700)
        project_copy(node.private / "project")
        (node.private / "inventory").mkdir()
        shutil.copy(ROOT / "demo/inventory/app_slots.yml", node.private / "inventory/hosts.yml")
        (node.private / "env").mkdir()
    start_haproxy(demo)
    try:
        yield TwoNodes(approvals, demo, sha, pinned, nodes)
    finally:
        stop_demo(demo)


def _events(job: Any) -> list[dict[str, Any]]:
    return list(job.events)


def _tail(job: Any) -> list[str]:
    return [event.get("stdout", "") for event in _events(job)[-15:]]


def test_a_token_consumed_on_node_a_is_refused_on_node_b_through_the_shared_postgresql_store(two_nodes: TwoNodes) -> None:
    site = two_nodes
    node_a, node_b = site.nodes

    # Node B is a working node: its root, policy, store credential and key let it deploy 1.0.0 with a token of its own.
    setup = node_b.job(4710, "playbooks/deploy.yml", site.token("deploy", "1.0.0", "CHG-NODES-1"), "1.0.0", site.sha["1.0.0"], "CHG-NODES-1")
    assert setup.status == "successful", _tail(setup)
    assert serving() == ["1.0.0"] * 4

    token = site.token("gray_release", "2.0.0", GRAY_CHANGE)
    assert len(token) > 200
    first = node_a.job(4711, "playbooks/gray_release.yml", token, "2.0.0", site.sha["2.0.0"], GRAY_CHANGE)
    assert first.status == "successful", _tail(first)
    assert first.rc == 0
    assert serving() == ["2.0.0"] * 4
    with site.store() as store, store.transaction() as tx:
        consumed = tx.rows("SELECT token_id, run_id, consumed_at FROM consumptions WHERE change_id = ?", (GRAY_CHANGE,))
        assert len(consumed) == 1, consumed
        token_id, first_run, consumed_at = consumed[0]
        assert tx.rows("SELECT outcome FROM run_outcomes WHERE token_id = ? AND run_id = ?", (token_id, first_run)) == [("succeeded",)]
    before = site.hosts()

    # The same token, the same survey answers, on the other node: the store refuses it.
    second = node_b.job(4712, "playbooks/gray_release.yml", token, "2.0.0", site.sha["2.0.0"], GRAY_CHANGE)
    assert second.status == "failed", _tail(second)
    assert second.rc != 0
    events = _events(second)
    refusals = [
        event["event_data"]["res"]
        for event in events
        if event["event"] == "runner_on_failed" and event["event_data"].get("res", {}).get("approval_error")
    ]
    assert refusals, _tail(second)
    assert {refusal["approval_error"] for refusal in refusals} == {REPLAYED}
    naming = f"token {token_id} (change {GRAY_CHANGE}) was consumed at {consumed_at}; only the unfinished run that consumed it may resume"
    assert all(naming in refusal["msg"] for refusal in refusals), refusals[0]["msg"]
    stdout = second.stdout.read()
    assert f"[{REPLAYED}]: {naming}" in stdout
    assert first_run not in stdout, "the refusal printed the first run's id, which a resume must match"
    # Nothing after the gate ran on a host: no host task changed anything, and the hosts are as job 4711 left them.
    changed = [event for event in events if event["event"] == "runner_on_ok" and event["event_data"].get("res", {}).get("changed")]
    assert not changed, [(event["event_data"].get("host"), event["event_data"].get("task")) for event in changed]
    assert site.hosts() == before
    assert serving() == ["2.0.0"] * 4

    # The archive: both jobs' records in the one database, read back from it.
    with site.store() as store:
        records = [stored.record for stored in iter_records(store) if stored.record["playbook"].endswith("gray_release.yml")]
        entries = read_entries(store)
        verification = verify_store(store, load_trust_root(str(node_a.trust_root)))
        with store.transaction() as tx:
            tables = [row[0] for row in tx.rows("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name")]
            dump = json.dumps({table: tx.rows(f"SELECT * FROM {table}") for table in tables}, default=str)
    assert [(record["operator"]["awx_job_id"], record["operator"]["user"], record["status"]) for record in records] == [
        ("4711", "ops-awx-node-a", "success"),
        ("4712", "ops-awx-node-b", "failed"),
    ]
    record_a, record_b = records
    assert record_a["token_id"] == token_id and record_a["approval"]["consumed"] is True
    assert record_b["approval_error"]["code"] == REPLAYED and naming in record_b["approval_error"]["message"]
    assert {slot: record_b["hosts"][slot]["failed_gate"]["gate"] for slot in SLOTS} == dict.fromkeys(SLOTS, "approval")
    # B's record says what the hosts say: none touched, each still on the release job 4711 put there.
    assert {slot: (host["touched"], host["release_before"], host["release_after"]) for slot, host in record_b["hosts"].items()} == dict.fromkeys(
        SLOTS, (False, record_a["release_id"], record_a["release_id"])
    )
    assert {slot: before[slot]["current"] for slot in SLOTS} == dict.fromkeys(SLOTS, f"releases/{record_a['release_id']}")
    # One chain for both nodes, each node's entries signed with its own key, and it verifies under the pinned keys.
    signers = {record["run_id"]: {entry.keyid for entry in entries if entry.run_id == record["run_id"]} for record in records}
    assert signers == {record_a["run_id"]: {node_a.keyid}, record_b["run_id"]: {node_b.keyid}}
    assert verification.ok, verification.as_dict()
    assert set(verification.signed_by) == {node_a.keyid, node_b.keyid}

    # The token: in no node's artifacts, nowhere in the store; the database password in no job's output.
    for node in site.nodes:
        files = [path for path in (node.private / "artifacts").rglob("*") if path.is_file()]
        assert files, f"ansible-runner wrote no artifacts on {node.name}"
        for path in files:
            data = path.read_bytes()
            assert token.encode() not in data, f"the token leaked into {path}"
            assert token[20:80].encode() not in data, f"a piece of the token leaked into {path}"
            if path.name != "command":  # ansible-runner's record of the command line and the environment it was given
                assert pg_cluster.PASSWORD.encode() not in data, f"the database password leaked into {path}"
    assert token_id in dump, "the dump of the store is not what the jobs wrote"
    assert token not in dump and token[20:80] not in dump, "the token leaked into the state store"
    # Nothing of the store on either node's disk: the ledger folders the roots name stay empty.
    assert [list(node.ledger.iterdir()) for node in site.nodes] == [[], []]
