# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hash chain, pure: framing, canonical bodies, signatures, and every tamper case verify_chain must name with its seq."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ansible_collections.opsgate.release.plugins.module_utils.approval.keys import keyid_of
from ansible_collections.opsgate.release.plugins.plugin_utils.archive import chain
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.chain import (
    GENESIS,
    KIND_CHECKPOINT,
    KIND_RECORD,
    Entry,
    canonical_json,
    checkpoint_body,
    entry_hash,
    new_entry,
    parse_head,
    signature_payload,
    verify_chain,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.signing import ArchiveSigner

KEY = Ed25519PrivateKey.generate()
SIGNER = ArchiveSigner(keyid_of(KEY.public_key()), "controller-a", KEY)
KEYS = {SIGNER.keyid: KEY.public_key()}


def _chain(count: int, signer: ArchiveSigner | None = SIGNER, start: int = 1, prev: str = GENESIS) -> list[Entry]:
    entries = []
    for seq in range(start, start + count):
        body = canonical_json({"run_id": f"run-{seq}", "status": "success", "hosts": {}, "started": f"2025-01-01T00:00:{seq % 60:02d}Z"})
        entry = new_entry(seq, prev, KIND_RECORD, f"run-{seq}", "2025-01-01T00:00:00Z", body, signer.sign if signer else None, signer.keyid if signer else "")
        entries.append(entry)
        prev = entry.entry_hash
    return entries


def _codes(result: chain.Verification) -> list[tuple[int | None, str]]:
    return [(problem.seq, problem.code) for problem in result.problems]


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": {"z": "é", "y": [1, 2]}}) == '{"a":{"y":[1,2],"z":"é"},"b":1}'
    assert chain.canonical_bytes({"é": 1}) == '{"é":1}'.encode()
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_entry_hash_frames_each_field_so_no_two_splits_collide() -> None:
    one = entry_hash(1, GENESIS, "record", "ab", "c", b"{}")
    assert one == entry_hash(1, GENESIS, "record", "ab", "c", "{}")
    assert one != entry_hash(1, GENESIS, "record", "a", "bc", b"{}")
    assert one != entry_hash(1, GENESIS, "recorda", "b", "c", b"{}")
    assert one != entry_hash(11, GENESIS, "record", "ab", "c", b"{}")
    expected = hashlib.sha256(chain.HASH_DOMAIN)
    for part in (b"1", GENESIS.encode(), b"record", b"ab", b"c", b"{}"):
        expected.update(len(part).to_bytes(8, "big") + part)
    assert one == expected.hexdigest()


def test_signature_is_over_the_domain_separated_hash() -> None:
    entry = _chain(1)[0]
    assert signature_payload(entry.entry_hash) == b"opsgate.release/archive-entry\n" + entry.entry_hash.encode()
    KEY.public_key().verify(base64.b64decode(entry.signature), signature_payload(entry.entry_hash))


def test_an_intact_signed_chain_verifies_and_gives_its_head() -> None:
    entries = _chain(5)
    result = verify_chain(entries, KEYS)
    assert result.ok, result.problems
    assert (result.head.seq, result.head.entry_hash) == (5, entries[-1].entry_hash)
    assert result.signed_by == {SIGNER.keyid: 5}
    assert entries[0].prev_hash == GENESIS
    assert verify_chain([], KEYS).ok and verify_chain([], KEYS).head is None


def test_a_changed_byte_is_a_hash_mismatch_at_its_seq() -> None:
    entries = _chain(4)
    entries[2] = dataclasses.replace(entries[2], body=entries[2].body.replace("success", "succesS"))
    assert _codes(verify_chain(entries, KEYS)) == [(3, chain.HASH_MISMATCH)]


def test_a_deleted_middle_entry_is_named() -> None:
    entries = _chain(5)
    del entries[2]
    result = verify_chain(entries, KEYS)
    assert _codes(result) == [(4, chain.DELETED)]
    assert "seq 3 missing" in result.problems[0].message


def test_a_renumbered_chain_after_a_deletion_is_still_caught() -> None:
    entries = _chain(5)
    del entries[2]
    entries = [dataclasses.replace(entry, seq=number) for number, entry in enumerate(entries, 1)]
    codes = _codes(verify_chain(entries, KEYS))
    assert (3, chain.HASH_MISMATCH) in codes and (3, chain.CHAIN_BREAK) in codes


def test_two_swapped_entries_are_caught() -> None:
    entries = _chain(5)
    swapped = list(entries)
    swapped[1], swapped[3] = dataclasses.replace(entries[3], seq=2), dataclasses.replace(entries[1], seq=4)
    codes = _codes(verify_chain(swapped, KEYS))
    assert {(2, chain.HASH_MISMATCH), (2, chain.CHAIN_BREAK), (4, chain.HASH_MISMATCH), (4, chain.CHAIN_BREAK)} <= set(codes)
    bodies = list(entries)
    bodies[1], bodies[3] = dataclasses.replace(entries[1], body=entries[3].body), dataclasses.replace(entries[3], body=entries[1].body)
    assert _codes(verify_chain(bodies, KEYS)) == [(2, chain.HASH_MISMATCH), (4, chain.HASH_MISMATCH)]


def test_out_of_order_entries_are_named() -> None:
    entries = _chain(3)
    assert (2, chain.OUT_OF_ORDER) in _codes(verify_chain([entries[0], entries[2], entries[1]], KEYS))


def test_signatures_unsigned_unknown_key_and_invalid() -> None:
    other = Ed25519PrivateKey.generate()
    intruder = ArchiveSigner(keyid_of(other.public_key()), "intruder", other)
    entries = _chain(2) + _chain(1, signer=None, start=3, prev=_chain(2)[-1].entry_hash)
    entries.append(new_entry(4, entries[-1].entry_hash, KIND_RECORD, "run-4", "2025-01-01T00:00:00Z", "{}", intruder.sign, intruder.keyid))
    forged = new_entry(5, entries[-1].entry_hash, KIND_RECORD, "run-5", "2025-01-01T00:00:00Z", "{}", SIGNER.sign, SIGNER.keyid)
    entries.append(dataclasses.replace(forged, signature=entries[0].signature))
    assert _codes(verify_chain(entries, KEYS)) == [(3, chain.UNSIGNED), (4, chain.UNKNOWN_KEY), (5, chain.SIGNATURE_INVALID)]


def test_without_pinned_keys_the_chain_is_checked_and_says_it_is_unsigned() -> None:
    result = verify_chain(_chain(3, signer=None), {})
    assert result.ok
    assert chain.UNSIGNED_NOTE in result.notes
    assert not result.keys_pinned


def test_a_truncated_tail_is_caught_only_with_the_kept_head() -> None:
    entries = _chain(6)
    kept = f"{entries[-1].seq}:{entries[-1].entry_hash}"
    truncated = entries[:4]
    assert verify_chain(truncated, KEYS).ok  # nothing to compare with: the shorter chain is consistent
    result = verify_chain(truncated, KEYS, expected_head=kept)
    assert _codes(result) == [(6, chain.TRUNCATED)]
    assert _codes(verify_chain(truncated, KEYS, expected_head=entries[-1].entry_hash)) == [(None, chain.TRUNCATED)]
    # The head kept earlier is still there and more was appended: that is growth, not truncation.
    grown = verify_chain(entries, KEYS, expected_head=f"4:{entries[3].entry_hash}")
    assert grown.ok and any("2 entries were appended" in note for note in grown.notes)
    assert _codes(verify_chain(entries, KEYS, expected_head=f"3:{entries[3].entry_hash}")) == [(3, chain.TRUNCATED)]
    assert _codes(verify_chain([], KEYS, expected_head=kept)) == [(6, chain.TRUNCATED)]


def test_parse_head() -> None:
    assert parse_head("a" * 64) == (None, "a" * 64)
    assert parse_head(f"12:{'B' * 64}") == (12, "b" * 64)
    for bad in ("xyz", "12:abc", f"x:{'a' * 64}", "g" * 64):
        with pytest.raises(ValueError):
            parse_head(bad)


def test_a_chain_may_start_after_a_checkpoint_that_accounts_for_it() -> None:
    entries = _chain(6)
    body = checkpoint_body(entries[2], 3, "2015-01-01T00:00:00Z", 10, 1)
    checkpoint = new_entry(7, entries[-1].entry_hash, KIND_CHECKPOINT, "checkpoint", "2025-01-02T00:00:00Z", body, SIGNER.sign, SIGNER.keyid)
    pruned = [*entries[3:], checkpoint]
    result = verify_chain(pruned, KEYS)
    assert result.ok, result.problems
    assert result.first_seq == 4
    assert any("checkpoint at seq 7" in note for note in result.notes)
    # The head an operator kept before the prune, if it was the last entry pruned, is accounted for;
    # an older one too when its seq is given (nothing is left to compare it with).
    assert verify_chain(pruned, KEYS, expected_head=entries[2].entry_hash).ok
    assert verify_chain(pruned, KEYS, expected_head=f"2:{entries[1].entry_hash}").ok
    [problem] = verify_chain(pruned, KEYS, expected_head=entries[1].entry_hash).problems
    assert problem.code == chain.TRUNCATED and "give it as SEQ:HASH" in problem.message
    # Deleting one more entry at the start is not covered by the checkpoint.
    assert _codes(verify_chain(pruned[1:], KEYS)) == [(5, chain.MISSING_START)]
    # Without any checkpoint, a chain that does not start at seq 1 lost its beginning.
    assert _codes(verify_chain(entries[3:], KEYS)) == [(4, chain.MISSING_START)]


def test_a_checkpoint_without_its_fields_is_invalid() -> None:
    entries = _chain(2)
    bad = new_entry(3, entries[-1].entry_hash, KIND_CHECKPOINT, "checkpoint", "2025-01-02T00:00:00Z", '{"format":"x"}', SIGNER.sign, SIGNER.keyid)
    assert _codes(verify_chain([*entries, bad], KEYS)) == [(3, chain.CHECKPOINT_INVALID)]
    with pytest.raises(ValueError):
        new_entry(1, GENESIS, "comment", "r", "t", "{}")


def test_verification_as_dict_is_json_ready() -> None:
    entries = _chain(2)
    entries[1] = dataclasses.replace(entries[1], body="{}")
    data = verify_chain(entries, KEYS).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["ok"] is False and data["problems"][0]["seq"] == 2
