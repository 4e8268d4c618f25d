# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What `opsgate-archive verify` costs over N archive entries (issue 14: target under 2 s for 10,000).

N signed entries shaped like a gray release's record (HOSTS hosts each) are appended to a SQLite
store in a temporary folder (not timed). Then, rounds alternating, in one process:

- verify: read every entry from the store and check the chain (entry hashes, links) and every
  Ed25519 signature, as `opsgate-archive verify` does after it started;
- chain: the same check over entries already in memory (no store read);
- baseline: plain sha256 of each entry's stored body, the same bytes, nothing else.

Run from the repository root:  .venv/bin/python bench/archive_verify.py [--records 10000] [--rounds 3] [--hosts 20]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / ".collections"))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ansible_collections.opsgate.release.plugins.module_utils.approval.keys import keyid_of
from ansible_collections.opsgate.release.plugins.module_utils.approval.trust_root import Admin, TrustRoot
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.chain import KIND_RECORD, verify_chain
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.signing import ArchiveSigner
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import append_entry, read_entries, record_body, verify_store
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import pinned_store


def _record(number: int, hosts: int) -> dict:
    run_id = f"{number:08d}-bench-4333-8444-555555555555"
    return {
        "format": "opsgate.release.archive/1",
        "run_id": run_id,
        "playbook": "playbooks/gray_release.yml",
        "started": "2026-11-28T20:00:00Z",
        "ended": "2026-11-28T20:09:00Z",
        "status": "success",
        "operator": {"source": "awx", "user": "ops-oncall", "awx_job_id": str(number), "controller": "ee-pod-1"},
        "change_id": f"CHG-2026-{number:05d}",
        "app": "accounts-api",
        "version": "2.0.0",
        "token_id": f"apv-{number:016x}",
        "signer_roles": ["business_head", "it_head", "ops_director", "risk_compliance"],
        "approval": {"token_id": f"apv-{number:016x}", "token_sha256": "ab" * 32, "change_sha256": "cd" * 32, "consumed": True},
        "hosts": {
            f"app{host:02d}": {"result": "changed", "version_before": "1.0.0", "version_after": "2.0.0", "rolled_back": False, "failed_gate": None}
            for host in range(1, hosts + 1)
        },
    }


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000, help="archive entries (default 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--hosts", type=int, default=20, help="hosts per record (default 20)")
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    signer = ArchiveSigner(keyid_of(key.public_key()), "bench-controller", key)
    with tempfile.TemporaryDirectory(prefix="opsgate-archive-bench-") as tmp:
        os.chmod(tmp, 0o700)
        pinned = {signer.keyid: Admin(signer.keyid, signer.owner, key.public_key())}
        root = TrustRoot(1, {}, 1, str(Path(tmp) / "ledger"), 1024 * 1024, "", "/nonexistent", {"backend": "sqlite"}, pinned)
        with pinned_store(root, {}) as store:
            with store.transaction(write=True) as tx:
                for number in range(args.records):
                    record = _record(number, args.hosts)
                    append_entry(tx, KIND_RECORD, record["run_id"], record_body(record), signer)
            entries = read_entries(store)
            keys = {signer.keyid: key.public_key()}
            bodies = [entry.body.encode("utf-8") for entry in entries]
            size = sum(len(body) for body in bodies)

            def verify() -> None:
                result = verify_store(store, root)
                assert result.ok and result.entries == args.records, result.problems[:3]

            def chain() -> None:
                assert verify_chain(entries, keys).ok

            def baseline() -> None:
                for body in bodies:
                    hashlib.sha256(body).digest()

            sides = {"verify": verify, "chain": chain, "baseline": baseline}
            times: dict[str, list[float]] = {name: [] for name in sides}
            names = list(sides)
            for number in range(args.rounds):
                for name in names if number % 2 == 0 else list(reversed(names)):
                    times[name].append(_timed(sides[name]))
    median = {name: statistics.median(samples) for name, samples in times.items()}
    base = median["baseline"]
    print(f"{args.records} signed entries, {args.hosts} hosts per record, {size / args.records / 1024:.1f} KiB per body, {args.rounds} rounds (median)")
    print("| Step | seconds | rounds | vs plain sha256 |")
    print("|---|---|---|---|")
    labels = {
        "verify": "verify (store read, hash chain, Ed25519 signatures)",
        "chain": "chain only (entries in memory)",
        "baseline": "plain sha256 of the same bodies",
    }
    for name, label in labels.items():
        samples = ", ".join(f"{value:.3f}" for value in times[name])
        print(f"| {label} | {median[name]:.3f} s | {samples} | {median[name] / base:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
