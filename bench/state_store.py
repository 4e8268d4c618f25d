# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the state store costs a change run, against the files it replaced (issue 14).

One change run, as the controller sees it: the gate opens the store, checks the policy version and
consumes the token, writes the run's receipt; every host step of the run (HOSTS hosts x STEPS steps)
opens the store and reads the receipt; the run ends with its outcome; the archive gets the run's
record twice (at the start and at the end). Timed three ways in the same process, rounds alternating:

- files: the implementation before issue 14 (consumed.jsonl under flock + fsync, receipt and
  archive JSON files written atomically), taken from git at BASELINE_COMMIT;
- sqlite: the store's default backend, a file in a private folder;
- postgresql: a private cluster on loopback (Debian's server, started here), one connection per
  store opening, as the action plugins do.

Run from the repository root:  .venv/bin/python bench/state_store.py [--runs 30] [--hosts 20] [--no-postgresql]
Targets: store overhead per run with SQLite under 50 ms.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / ".collections"))
sys.path.insert(0, str(ROOT / "tests/unit/plugins/plugin_utils/state_store"))

import pg_cluster

from ansible_collections.opsgate.release.plugins.module_utils.approval.ledger_records import RunOwner
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.token_ledger import TokenLedger
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import store_settings
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import open_store

# The last commit whose ledger, receipts and archive were files.
BASELINE_COMMIT = "f8f5bf4"
STEPS = 4  # stage, switch, commit, and a revert/rollback check: the host-changing actions that need the receipt


def _old_approval_package(workdir: Path) -> object:
    """The pre-store approval package (module_utils/approval at BASELINE_COMMIT), importable as ``oldapproval``."""
    target = workdir / "oldapproval"
    archive = subprocess.run(["git", "archive", BASELINE_COMMIT, "plugins/module_utils/approval"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive, check=True)
    shutil.move(str(workdir / "plugins/module_utils/approval"), target)
    sys.path.insert(0, str(workdir))
    return importlib.import_module("oldapproval.consumption_ledger")


def _record(run_id: str, hosts: list[str], status: str) -> dict:
    return {
        "format": "opsgate.release.archive/1",
        "run_id": run_id,
        "started": "2026-11-28T20:00:00Z",
        "status": status,
        "playbook": "playbooks/gray_release.yml",
        "hosts": {host: {"result": "changed", "version_before": "1.0.0", "version_after": "2.0.0"} for host in hosts},
    }


def _write_json_atomic(path: Path, data: dict) -> None:
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


class FilesRun:
    """The files before issue 14: ledger JSONL under flock, a receipt file, an archive file per run."""

    def __init__(self, workdir: Path, old_ledger: object, hosts: list[str]) -> None:
        self.dir = workdir / "files"
        self.dir.mkdir(mode=0o700)
        (self.dir / "receipts").mkdir(mode=0o700)
        (self.dir / "archive").mkdir(mode=0o700)
        self.ledger_class = old_ledger.ConsumptionLedger
        self.hosts = hosts

    def run(self, owner: RunOwner) -> None:
        token_id, run_id, now = f"apv-{uuid.uuid4().hex[:16]}", str(uuid.uuid4()), datetime.now(UTC)
        archive = self.dir / "archive" / f"20261128T200000Z-{run_id}.json"
        _write_json_atomic(archive, _record(run_id, self.hosts, "running"))
        ledger = self.ledger_class(str(self.dir / "ledger"))
        ledger.require_policy_version(3, "ab" * 32)
        old_owner = SimpleNamespace(controller=owner.controller, pid=owner.pid, start_time=owner.start_time)
        ledger.consume(token_id, "cd" * 32, "CHG-1", run_id, now, "fp", "app", "prod", tuple(self.hosts), old_owner)
        receipt = self.dir / "receipts" / f"{owner.pid}-{token_id}.json"
        _write_json_atomic(receipt, {"token_id": token_id, "run_id": run_id, "hosts": self.hosts})
        for _step in range(len(self.hosts) * STEPS):
            with open(receipt, encoding="utf-8") as handle:
                json.load(handle)
        self.ledger_class(str(self.dir / "ledger")).finish(token_id, run_id, "succeeded", now)
        _write_json_atomic(archive, _record(run_id, self.hosts, "success"))


class StoreRun:
    """The same run on the store: every action plugin opens it, as they do in a playbook run."""

    def __init__(self, settings: object, hosts: list[str], archive_append: Callable | None) -> None:
        self.settings = settings
        self.hosts = hosts
        self.archive_append = archive_append

    def _receipt_key(self, owner: RunOwner, token_id: str) -> tuple:
        return (owner.controller, owner.pid, owner.start_time, token_id)

    def run(self, owner: RunOwner) -> None:
        token_id, run_id, now = f"apv-{uuid.uuid4().hex[:16]}", str(uuid.uuid4()), datetime.now(UTC)
        if self.archive_append is not None:
            with open_store(self.settings) as store:
                self.archive_append(store, _record(run_id, self.hosts, "running"))
        with open_store(self.settings) as store:
            ledger = TokenLedger(store)
            ledger.require_policy_version(3, "ab" * 32)
            ledger.consume(token_id, "cd" * 32, "CHG-1", run_id, now, "fp", "app", "prod", tuple(self.hosts), owner)
            with store.transaction(write=True) as tx:
                tx.execute(
                    "INSERT INTO receipts (controller, pid, start_time, token_id, document, written_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (*self._receipt_key(owner, token_id), json.dumps({"token_id": token_id, "run_id": run_id, "hosts": self.hosts}), "now"),
                )
        for _step in range(len(self.hosts) * STEPS):
            with open_store(self.settings) as store, store.transaction() as tx:
                found = tx.row(
                    "SELECT document FROM receipts WHERE controller = ? AND pid = ? AND start_time = ? AND token_id = ?", self._receipt_key(owner, token_id)
                )
                json.loads(found[0])
        with open_store(self.settings) as store:
            TokenLedger(store).finish(token_id, run_id, "succeeded", now)
            if self.archive_append is not None:
                self.archive_append(store, _record(run_id, self.hosts, "success"))


def _archive_append() -> Callable | None:
    """The archive's append (issue 14, plugins/plugin_utils/archive), when this checkout has it."""
    try:
        module = importlib.import_module("ansible_collections.opsgate.release.plugins.plugin_utils.archive.store")
    except ImportError:
        return None
    append = getattr(module, "append_record", None)
    if append is None:
        return None
    # Signed, as on a controller whose trust root pins its archive key.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ansible_collections.opsgate.release.plugins.module_utils.approval.keys import keyid_of
    from ansible_collections.opsgate.release.plugins.plugin_utils.archive.signing import ArchiveSigner

    key = Ed25519PrivateKey.generate()
    signer = ArchiveSigner(keyid_of(key.public_key()), "bench-controller", key)
    return lambda store, record: append(store, record, signer=signer)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="change runs per side and round (default 30)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--hosts", type=int, default=20, help="hosts per change (default 20)")
    parser.add_argument("--no-postgresql", action="store_true", help="skip the PostgreSQL side")
    args = parser.parse_args()
    hosts = [f"app{n:02d}" for n in range(1, args.hosts + 1)]
    owner = RunOwner("bench-controller", os.getpid(), "1")
    append = _archive_append()
    cluster = None
    with tempfile.TemporaryDirectory(prefix="opsgate-store-bench-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o700)
        sides: dict[str, Callable[[], None]] = {}
        files = FilesRun(workdir, _old_approval_package(workdir), hosts)
        sides["files"] = lambda: files.run(owner)
        sqlite = StoreRun(store_settings({"backend": "sqlite"}, str(workdir / "sqlite"), environ={}), hosts, append)
        sides["sqlite"] = lambda: sqlite.run(owner)
        try:
            if not args.no_postgresql:
                cluster = pg_cluster.start_cluster()
                settings = store_settings(cluster.pinned(), "/unused", environ={"OPSGATE_STATE_STORE_PASSWORD": pg_cluster.PASSWORD})
                postgresql = StoreRun(settings, hosts, append)
                sides["postgresql"] = lambda: postgresql.run(owner)
            for side in sides.values():
                side()  # warm-up: creates the tables, the ledger file, the first connections
            times: dict[str, list[float]] = {name: [] for name in sides}
            names = list(sides)
            for number in range(args.rounds):
                order = names if number % 2 == 0 else list(reversed(names))
                for name in order:
                    start = time.perf_counter()
                    for _run in range(args.runs):
                        sides[name]()
                    times[name].append((time.perf_counter() - start) / args.runs * 1000)
        finally:
            if cluster is not None:
                pg_cluster.remove_cluster(cluster)
    base = statistics.median(times["files"])
    archive = "with signed entries" if append else "WITHOUT (this checkout has no archive append_record yet)"
    print(f"one change run: {args.hosts} hosts x {STEPS} receipt checks, ledger consume + finish, archive {archive}; {args.runs} runs x {args.rounds} rounds")
    print("| Store | per run (median of rounds) | rounds | vs files |")
    print("|---|---|---|---|")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"| {name} | {median:.1f} ms | {', '.join(f'{value:.1f}' for value in samples)} | {median / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
