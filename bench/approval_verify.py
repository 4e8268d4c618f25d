# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Time verify_token on a token with 6 signatures against the raw cost of 6 Ed25519 verifications.

Run: .venv/bin/python bench/approval_verify.py [rounds]. Target (issue 5): under 20 ms per verification.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins" / "plugin_utils"))

from approval.canonical import signing_payload
from approval.envelope import SignatureEntry, encode_token
from approval.keys import keyid_of, public_key_text
from approval.policy import parse_policy
from approval.verification import run_scope, verify_token
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SIGNERS = [
    ("alice", "business_head"),
    ("bob", "it_head"),
    ("frank", "it_head"),
    ("carol", "risk_compliance"),
    ("dave", "ops_director"),
    ("grace", "ops_director"),
]
HOSTS = [f"app{n:03d}.prod.example" for n in range(50)]


def _median_ms(action: Callable[[], object], rounds: int) -> float:
    samples = []
    for _round in range(rounds):
        start = time.perf_counter_ns()
        action()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(samples)


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    keys = {owner: Ed25519PrivateKey.generate() for owner, _role in SIGNERS}
    raw_policy = {
        "approvers": [
            {"keyid": keyid_of(keys[o].public_key()), "owner": o, "role": r, "public_key": public_key_text(keys[o].public_key())} for o, r in SIGNERS
        ],
        "classes": {"core_business": {"roles": {"business_head": 1, "it_head": 2, "risk_compliance": 1, "ops_director": 2}}},
        "holidays": [f"2025-10-0{d}" for d in range(1, 8)],
    }
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
        "reports": {"test": "TR-1", "acceptance": "UAT-1"},
    }
    payload = signing_payload(claims)
    signatures = [SignatureEntry(keyid_of(keys[o].public_key()), keys[o].sign(payload)) for o, _role in SIGNERS]
    token = encode_token(claims, signatures)
    policy = parse_policy(raw_policy)
    scope = run_scope("deploy", "accounts-api", "1.4.2", "3f" * 32, "prod", HOSTS)
    now = datetime(2025, 3, 7, 13, tzinfo=UTC)
    public_keys = [keys[o].public_key() for o, _role in SIGNERS]

    def raw_verifies() -> None:
        for public_key, entry in zip(public_keys, signatures, strict=True):
            public_key.verify(entry.sig, payload)

    verify_token(token, policy, now=now, scope=scope)  # warm up, and prove the token is valid
    baseline = _median_ms(raw_verifies, rounds)
    verify = _median_ms(lambda: verify_token(token, policy, now=now, scope=scope), rounds)
    with_policy = _median_ms(lambda: verify_token(token, parse_policy(raw_policy), now=now, scope=scope), rounds)
    print(f"approval token: 6 signatures, {len(HOSTS)} hosts, {len(token)} characters; {rounds} rounds, medians")
    print(f"baseline  6 raw Ed25519 verifies       {baseline:8.3f} ms")
    print(f"verify_token (policy parsed once)      {verify:8.3f} ms   ratio {verify / baseline:5.2f}x baseline")
    print(f"parse_policy + verify_token (the gate) {with_policy:8.3f} ms   ratio {with_policy / baseline:5.2f}x baseline")
    print(f"target < 20 ms: {'met' if with_policy < 20 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
