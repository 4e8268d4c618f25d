# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The archive's hash chain: entry hashes, controller signatures and the verification of a whole chain.

Pure: no store, no files. An entry is one append to the archive (a run's record, written when the
run starts and again when it ends, or a checkpoint written by a prune). Its hash covers its
sequence number, the hash of the entry before it, its kind, run id, time and body::

    entry_hash = sha256(HASH_DOMAIN || frame(seq) || frame(prev_hash) || frame(kind) || frame(run_id)
                        || frame(written_at) || frame(body))
    frame(x)   = len(x) as 8 bytes big-endian || x          (each field UTF-8)

Every field is length-prefixed, so no two different splits of the same bytes give one hash. The
body is the canonical JSON of the record (sorted keys, no spaces, UTF-8) as stored; the hash is
over the stored bytes, so any changed byte changes it. The first entry links to ``GENESIS``.
A controller signs ``SIGNATURE_DOMAIN || entry_hash`` with Ed25519; the signature covers the hash,
the hash covers everything before it, so a signed entry vouches for the whole chain up to it.

A prune removes the oldest entries and appends a signed ``checkpoint`` naming the last entry it
removed (its seq and hash) and how many; a chain may then start after seq 1 if a checkpoint
accounts for its first entry's predecessor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

try:  # the collection
    from ...module_utils.approval.keys import verify_signature
except ImportError:  # bin/ scripts: plugins/module_utils on sys.path
    from approval.keys import verify_signature  # type: ignore[no-redef]

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64
HASH_DOMAIN = b"opsgate.release/archive-entry-hash/v1\n"
SIGNATURE_DOMAIN = b"opsgate.release/archive-entry\n"
KIND_RECORD = "record"
KIND_CHECKPOINT = "checkpoint"
ENTRY_KINDS = (KIND_RECORD, KIND_CHECKPOINT)
CHECKPOINT_FORMAT = "opsgate.release.archive-checkpoint/1"
UNSIGNED_NOTE = "unsigned: the trust root pins no archive key"

# Problem codes, each with the seq of the entry it concerns.
HASH_MISMATCH = "hash_mismatch"
CHAIN_BREAK = "chain_break"
DELETED = "deleted"
OUT_OF_ORDER = "out_of_order"
MISSING_START = "missing_start"
UNSIGNED = "unsigned"
UNKNOWN_KEY = "unknown_key"
SIGNATURE_INVALID = "signature_invalid"
UNKNOWN_KIND = "unknown_kind"
CHECKPOINT_INVALID = "checkpoint_invalid"
TRUNCATED = "truncated"


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, non-ASCII kept as UTF-8; NaN and infinities refused (they are not JSON)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_bytes(value: Any) -> bytes:
    return canonical_json(value).encode("utf-8")


def _frame(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + data


def entry_hash(seq: int, prev_hash: str, kind: str, run_id: str, written_at: str, body: bytes | str) -> str:
    """Hex sha256 of the framed fields (module docstring)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    digest = hashlib.sha256(HASH_DOMAIN)
    for part in (str(seq).encode("ascii"), prev_hash.encode("utf-8"), kind.encode("utf-8"), run_id.encode("utf-8"), written_at.encode("utf-8"), raw):
        digest.update(_frame(part))
    return digest.hexdigest()


def signature_payload(hash_hex: str) -> bytes:
    """What a controller signs: domain-separated, so no other opsgate signature can pass for an archive entry's."""
    return SIGNATURE_DOMAIN + hash_hex.encode("ascii")


def encode_signature(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class Entry:
    """One row of ``archive_entries``; ``body`` is the canonical JSON text as stored."""

    seq: int
    kind: str
    run_id: str
    written_at: str
    body: str
    prev_hash: str
    entry_hash: str
    keyid: str = ""
    signature: str = ""

    def computed_hash(self) -> str:
        return entry_hash(self.seq, self.prev_hash, self.kind, self.run_id, self.written_at, self.body)

    def document(self) -> Any:
        return json.loads(self.body)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "run_id": self.run_id,
            "written_at": self.written_at,
            "body": self.body,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
            "keyid": self.keyid,
            "signature": self.signature,
        }


@dataclass(frozen=True)
class ChainHead:
    """The newest entry: what an operator keeps in the change ticket to detect a truncated tail later."""

    seq: int
    entry_hash: str

    def text(self) -> str:
        return f"seq {self.seq} sha256 {self.entry_hash}"

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "entry_hash": self.entry_hash}


def head_of(entries: Sequence[Entry]) -> ChainHead | None:
    return ChainHead(entries[-1].seq, entries[-1].entry_hash) if entries else None


def new_entry(seq: int, prev_hash: str, kind: str, run_id: str, written_at: str, body: str, sign: Callable[[str], str] | None = None, keyid: str = "") -> Entry:
    """The entry to append; ``sign`` (hash hex -> base64 signature) with its ``keyid``, or unsigned."""
    if kind not in ENTRY_KINDS:
        raise ValueError(f"entry kind must be one of {', '.join(ENTRY_KINDS)}, got {kind!r}")
    hashed = entry_hash(seq, prev_hash, kind, run_id, written_at, body)
    signature = sign(hashed) if sign is not None else ""
    return Entry(seq, kind, run_id, written_at, body, prev_hash, hashed, keyid if sign is not None else "", signature)


def checkpoint_body(last_pruned: Entry, count: int, cutoff: str, retention_years: int, first_pruned_seq: int, **extra: Any) -> str:
    """The body of the checkpoint a prune appends: the last entry it removed, how many, and under which rule."""
    body = {
        "format": CHECKPOINT_FORMAT,
        "pruned_first_seq": first_pruned_seq,
        "pruned_through_seq": last_pruned.seq,
        "pruned_through_hash": last_pruned.entry_hash,
        "pruned_count": count,
        "written_before": cutoff,
        "retention_years": retention_years,
        **extra,
    }
    return canonical_json(body)


@dataclass(frozen=True)
class Problem:
    seq: int | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "code": self.code, "message": self.message}

    def text(self) -> str:
        where = f"seq {self.seq}: " if self.seq is not None else ""
        return f"{where}{self.message} [{self.code}]"


@dataclass(frozen=True)
class Verification:
    entries: int
    head: ChainHead | None
    first_seq: int | None
    problems: tuple[Problem, ...]
    notes: tuple[str, ...] = ()
    # keyid -> number of entries whose signature verified with it.
    signed_by: dict[str, int] = field(default_factory=dict)
    keys_pinned: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_seq": self.first_seq,
            "head": self.head.as_dict() if self.head else None,
            "keys_pinned": self.keys_pinned,
            "signed_by": dict(sorted(self.signed_by.items())),
            "notes": list(self.notes),
            "problems": [problem.as_dict() for problem in self.problems],
        }


def parse_head(text: str) -> tuple[int | None, str]:
    """``HASH`` or ``SEQ:HASH`` (as ``verify`` and the report print them); raises ValueError."""
    value = text.strip().lower()
    seq: int | None = None
    if ":" in value:
        number, value = value.split(":", 1)
        if not number.isdigit():
            raise ValueError(f"--head: expected HASH or SEQ:HASH, got {text!r}")
        seq = int(number)
    if len(value) != 64 or any(char not in "0123456789abcdef" for char in value):
        raise ValueError(f"--head: expected 64 hex characters of an entry hash, got {text!r}")
    return seq, value


def _checkpoint_fields(entry: Entry) -> dict[str, Any] | None:
    try:
        body = json.loads(entry.body)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("format") != CHECKPOINT_FORMAT:
        return None
    seq, hashed, count = body.get("pruned_through_seq"), body.get("pruned_through_hash"), body.get("pruned_count")
    if not (isinstance(seq, int) and isinstance(hashed, str) and isinstance(count, int)) or isinstance(seq, bool) or not 0 < seq < entry.seq:
        return None
    return body


def _signature_problem(entry: Entry, keys: Mapping[str, Ed25519PublicKey], signed_by: dict[str, int]) -> Problem | None:
    if not entry.keyid or not entry.signature:
        return Problem(entry.seq, UNSIGNED, "not signed, but the trust root pins archive keys (every entry must carry a controller's signature)")
    key = keys.get(entry.keyid)
    if key is None:
        return Problem(entry.seq, UNKNOWN_KEY, f"signed by key {entry.keyid}, which the trust root does not pin as an archive key")
    try:
        raw = base64.b64decode(entry.signature, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not verify_signature(key, raw, signature_payload(entry.entry_hash)):
        return Problem(entry.seq, SIGNATURE_INVALID, f"the signature of key {entry.keyid} does not verify over the entry hash")
    signed_by[entry.keyid] = signed_by.get(entry.keyid, 0) + 1
    return None


def verify_chain(entries: Iterable[Entry], keys: Mapping[str, Ed25519PublicKey], expected_head: str | None = None) -> Verification:
    """Check every entry (in seq order, as read) and list every problem with its seq; nothing stops at the first.

    ``keys``: the archive keys the trust root pins (keyid -> public key); empty: signatures are not
    checked and the result says so. ``expected_head``: the head an operator kept (``HASH`` or
    ``SEQ:HASH``); if it is no longer in the chain, the tail was cut off (or rewritten).
    """
    chain = list(entries)
    problems: list[Problem] = []
    notes: list[str] = []
    signed_by: dict[str, int] = {}
    checkpoints: list[tuple[Entry, dict[str, Any]]] = []
    previous: Entry | None = None
    for entry in chain:
        if entry.kind not in ENTRY_KINDS:
            problems.append(Problem(entry.seq, UNKNOWN_KIND, f"unknown entry kind {entry.kind!r}"))
        if entry.computed_hash() != entry.entry_hash:
            problems.append(Problem(entry.seq, HASH_MISMATCH, "the entry does not match its hash: a byte of it was changed, or it was moved or swapped"))
        if previous is not None:
            if entry.seq <= previous.seq:
                problems.append(Problem(entry.seq, OUT_OF_ORDER, f"comes after seq {previous.seq}: the entries are not in sequence order"))
            elif entry.seq != previous.seq + 1:
                gap = f"seq {previous.seq + 1}" if entry.seq == previous.seq + 2 else f"seq {previous.seq + 1} to {entry.seq - 1}"
                problems.append(Problem(entry.seq, DELETED, f"{gap} missing between seq {previous.seq} and seq {entry.seq}: entries were deleted"))
            elif entry.prev_hash != previous.entry_hash:
                message = f"does not link to seq {previous.seq} (its prev_hash is not that entry's hash): an entry was replaced or reordered"
                problems.append(Problem(entry.seq, CHAIN_BREAK, message))
        if keys:
            problem = _signature_problem(entry, keys, signed_by)
            if problem is not None:
                problems.append(problem)
        if entry.kind == KIND_CHECKPOINT:
            fields = _checkpoint_fields(entry)
            if fields is None:
                problems.append(Problem(entry.seq, CHECKPOINT_INVALID, f"a checkpoint whose body is not a {CHECKPOINT_FORMAT} document"))
            else:
                checkpoints.append((entry, fields))
        previous = entry
    first = chain[0] if chain else None
    if first is not None and not (first.seq == 1 and first.prev_hash == GENESIS):
        covering = [cp for cp, fields in checkpoints if fields["pruned_through_seq"] == first.seq - 1 and fields["pruned_through_hash"] == first.prev_hash]
        if covering:
            notes.append(f"the chain starts at seq {first.seq}, after entries pruned under the checkpoint at seq {covering[-1].seq}")
        elif first.seq == 1:
            problems.append(Problem(1, CHAIN_BREAK, "the first entry does not start from the genesis hash"))
        else:
            message = f"the chain starts at seq {first.seq} and no checkpoint accounts for the entries before it: they were deleted"
            problems.append(Problem(first.seq, MISSING_START, message))
    if not keys:
        notes.append(UNSIGNED_NOTE)
    if expected_head:
        problems.extend(_head_problems(chain, checkpoints, expected_head, notes))
    head = head_of(chain)
    return Verification(len(chain), head, first.seq if first else None, tuple(problems), tuple(notes), signed_by, bool(keys))


def _head_problems(chain: list[Entry], checkpoints: list[tuple[Entry, dict[str, Any]]], expected_head: str, notes: list[str]) -> list[Problem]:
    seq, hashed = parse_head(expected_head)
    found = next((entry for entry in chain if entry.entry_hash == hashed), None)
    if found is not None:
        if seq is not None and found.seq != seq:
            return [Problem(seq, TRUNCATED, f"the head you kept (seq {seq}) is in the chain at seq {found.seq}: the entries were renumbered")]
        later = chain[-1].seq - found.seq
        after = f"; {later} entries were appended after it" if later else " and is still the head"
        notes.append(f"the head you kept (seq {found.seq}) is in the chain{after}")
        return []
    pruned = [cp for cp, fields in checkpoints if fields["pruned_through_hash"] == hashed]
    if pruned:
        notes.append(f"the head you kept was pruned under the checkpoint at seq {pruned[-1].seq} (retention)")
        return []
    covering = [cp for cp, fields in checkpoints if seq is not None and seq <= fields["pruned_through_seq"]]
    if covering:
        # Older than what a (signed) checkpoint removed: there is nothing left to compare it with.
        notes.append(f"the head you kept (seq {seq}) was pruned under the checkpoint at seq {covering[-1].seq} (retention); it cannot be compared")
        return []
    last = chain[-1].seq if chain else 0
    where = f"seq {seq}" if seq is not None else "it"
    hint = "; if it was pruned, give it as SEQ:HASH" if seq is None and checkpoints else ""
    return [
        Problem(
            seq,
            TRUNCATED,
            f"the head you kept ({where}, sha256 {hashed}) is not in the chain (now {len(chain)} entries, last seq {last}): "
            f"entries were cut off the end, or the chain was rewritten{hint}",
        )
    ]
