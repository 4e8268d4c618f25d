# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Time the approval gate's checks against the raw cost of the Ed25519 verifications they contain.

Run: .venv/bin/python bench/approval_verify.py [rounds]. Targets (issues 5 and 11): the whole gate
(pinned root, signed policy, token with 6 approver signatures) under 20 ms; a 1 MB token refused
in under 50 ms.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins" / "module_utils"))

from approval import errors
from approval.canonical import approval_signature_payload, document_payload
from approval.envelope import TOKEN_PREFIX, SignatureEntry, encode_token
from approval.keys import check_public_point, keyid_of, public_key_text
from approval.policy import POLICY_KIND, POLICY_TYPE
from approval.signed_document import encode_document
from approval.task_inputs import read_policy_file
from approval.trust_root import ROOT_KIND, ROOT_TYPE, load_trust_root
from approval.verification import run_scope, verify_token
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SIGNERS = [
    ("alice", "business_head"),
    ("bob", "it_head"),
    ("frank", "it_head"),
    ("carol", "risk_compliance"),
    ("dave", "ops_director"),
    ("grace", "ops_director"),
    ("erin", "requester"),
]
ADMINS = ["root-ann", "root-ben"]
HOSTS = [f"app{n:03d}.prod.example" for n in range(50)]
LIMIT = 1024 * 1024


def _median_ms(action: Callable[[], object], rounds: int) -> float:
    samples = []
    for _round in range(rounds):
        start = time.perf_counter_ns()
        action()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(samples)


def _entry(key: Ed25519PrivateKey, owner: str, role: str | None = None) -> dict[str, str]:
    entry = {"keyid": keyid_of(key.public_key()), "owner": owner, "public_key": public_key_text(key.public_key())}
    return {**entry, "role": role} if role else entry


def _refused(token: str, policy: object, now: datetime) -> None:
    try:
        verify_token(token, policy, now=now)  # type: ignore[arg-type]
    except errors.ApprovalError:
        return
    raise AssertionError("the oversized token was accepted")


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    keys = {owner: Ed25519PrivateKey.generate() for owner, _role in SIGNERS}
    admins = {name: Ed25519PrivateKey.generate() for name in ADMINS}
    workdir = Path(tempfile.mkdtemp(prefix="opsgate-bench-"))
    os.chmod(workdir, 0o755)
    root_signed = {
        "_type": ROOT_TYPE,
        "version": 1,
        "admins": [_entry(key, name) for name, key in admins.items()],
        "threshold": 2,
        "ledger_dir": str(workdir / "ledger"),
        "max_document_bytes": LIMIT,
    }
    root_sigs = [SignatureEntry(keyid_of(k.public_key()), k.sign(document_payload(ROOT_KIND, root_signed))) for k in admins.values()]
    (workdir / "root.json").write_bytes(encode_document(root_signed, root_sigs))
    policy_signed = {
        "_type": POLICY_TYPE,
        "version": 1,
        "expires": "2199-01-01T00:00:00Z",
        "approvers": [_entry(keys[o], o, r) for o, r in SIGNERS],
        "classes": {"core_business": {"roles": {"business_head": 1, "it_head": 2, "risk_compliance": 1, "ops_director": 2}}},
        "holidays": [f"2025-10-0{d}" for d in range(1, 8)],
    }
    policy_sigs = [SignatureEntry(keyid_of(k.public_key()), k.sign(document_payload(POLICY_KIND, policy_signed))) for k in admins.values()]
    (workdir / "policy.json").write_bytes(encode_document(policy_signed, policy_sigs))
    claims = {
        "token_id": "apv-bench0000000001",
        "change_id": "CHG-BENCH",
        "system": "accounts",
        "system_class": "core_business",
        "action": "deploy",
        "app": "accounts-api",
        "version": "1.4.2",
        "artifact_sha256": "3f" * 32,
        "env": "prod",
        "hosts": sorted(HOSTS),
        "plan_filed_at": "2025-03-03T01:00:00Z",
        "not_before": "2025-03-07T12:00:00Z",
        "not_after": "2025-03-07T20:00:00Z",
        "requested_by": "erin",
        "requested_at": "2025-03-03T01:00:00Z",
        "reports": {"test": "TR-1", "acceptance": "UAT-1"},
    }
    signed_at = "2025-03-03T02:00:00Z"
    payload = approval_signature_payload(claims, signed_at)
    signatures = [SignatureEntry(keyid_of(keys[o].public_key()), keys[o].sign(payload), signed_at) for o, _role in SIGNERS]
    token = encode_token(claims, signatures)
    scope = run_scope("deploy", "accounts-api", "1.4.2", "3f" * 32, "prod", HOSTS)
    now = datetime(2025, 3, 7, 13, tzinfo=UTC)
    root_path, policy_path = str(workdir / "root.json"), str(workdir / "policy.json")
    public_keys = [keys[o].public_key() for o, _role in SIGNERS]

    def raw_verifies() -> None:
        for public_key, entry in zip(public_keys, signatures, strict=True):
            public_key.verify(entry.sig, payload)

    def gate() -> None:
        root = load_trust_root(root_path)
        verify_token(token, read_policy_file(policy_path, root, now), now=now, scope=scope)

    def cold_gate() -> None:
        # Each Ansible task runs in a fresh worker: no key checked before.
        check_public_point.cache_clear()
        gate()

    policy = read_policy_file(policy_path, load_trust_root(root_path), now)
    verify_token(token, policy, now=now, scope=scope)  # warm up, and prove the token is valid
    # Oversized: just over the limit (refused by size) and just under it (parsed, then refused as malformed).
    over = TOKEN_PREFIX + "A" * (LIMIT + 1)
    bulk = json.dumps({"signatures": [], "signed": {"pad": "x" * (LIMIT * 3 // 4 - 80)}}, separators=(",", ":")).encode()
    under = TOKEN_PREFIX + base64.urlsafe_b64encode(bulk).rstrip(b"=").decode()
    assert len(under) <= LIMIT, len(under)

    baseline = _median_ms(raw_verifies, rounds)
    verify = _median_ms(lambda: verify_token(token, policy, now=now, scope=scope), rounds)
    whole = _median_ms(gate, rounds)
    cold = _median_ms(cold_gate, rounds)
    too_big = _median_ms(lambda: _refused(over, policy, now), max(rounds // 10, 10))
    just_under = _median_ms(lambda: _refused(under, policy, now), max(rounds // 10, 10))
    print(f"approval token: 6 approver signatures + the requester's, {len(HOSTS)} hosts, {len(token)} characters; {rounds} rounds, medians")
    print(f"baseline  7 raw Ed25519 verifies                         {baseline:8.3f} ms")
    print(f"verify_token (policy loaded once)                        {verify:8.3f} ms   ratio {verify / baseline:5.2f}x baseline")
    print(f"the gate: pinned root + signed policy + verify_token     {whole:8.3f} ms   ratio {whole / baseline:5.2f}x baseline")
    print(f"the same in a fresh worker (9 key point checks)          {cold:8.3f} ms   ratio {cold / baseline:5.2f}x baseline")
    print(f"1 MiB + 1 token refused (size, before decoding)          {too_big:8.3f} ms   ratio {too_big / baseline:5.2f}x baseline")
    print(f"{len(under)} character token refused (decoded, parsed) {just_under:8.3f} ms   ratio {just_under / baseline:5.2f}x baseline")
    gate_ok = "met" if max(whole, cold) < 20 else "NOT met"
    size_ok = "met" if max(too_big, just_under) < 50 else "NOT met"
    print(f"target gate < 20 ms: {gate_ok}; target 1 MB refused < 50 ms: {size_ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
