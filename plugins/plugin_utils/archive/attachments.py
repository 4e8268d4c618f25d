# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files kept with the archive's records (each host's JUnit report), in table ``archive_attachments``.

Content-addressed: a record lists what it keeps under ``attachments`` (name, sha256, bytes, media type,
host) and the table holds each text once under its sha256. The list is part of the record's entry
body, so the hash chain and the controller's signature cover every digest; ``verify`` hashes every
stored text a record names and reports one that changed or went missing. The texts stay out of the
entry body because a run's record is written several times (start, each play, end) and ``verify``
reads every body.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .chain import KIND_RECORD, Entry, Problem
from .record import text_sha256

try:  # the collection
    from ..state_store.store import Transaction
except ImportError:  # bin/ scripts
    from state_store.store import Transaction  # type: ignore[no-redef]

ATTACHMENT_MISMATCH = "attachment_mismatch"
ATTACHMENT_MISSING = "attachment_missing"
# A body holds this text only where the record's own key is (a string value escapes its quotes).
_MARKER = '"attachments":['
_PAGE = 100


@dataclass(frozen=True)
class Reference:
    """Where a digest is named: the newest entry naming it, its run and the attachment's name."""

    seq: int
    run_id: str
    name: str


def stored_references(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The attachments a record names that the store keeps (one over the size limit is named, not kept)."""
    found = record.get("attachments")
    if not isinstance(found, list):
        return []
    return [item for item in found if isinstance(item, Mapping) and isinstance(item.get("sha256"), str) and item.get("stored", True) is not False]


def entry_references(entries: Iterable[Entry]) -> dict[str, Reference]:
    """sha256 -> the newest record entry that names it, over every entry (an older write of a run counts too)."""
    found: dict[str, Reference] = {}
    for entry in entries:
        if entry.kind != KIND_RECORD or _MARKER not in entry.body:
            continue
        try:
            record = json.loads(entry.body)
        except ValueError:
            continue  # the chain check names a body that is not JSON (its hash no longer matches)
        if isinstance(record, Mapping):
            for item in stored_references(record):
                found[str(item["sha256"])] = Reference(entry.seq, entry.run_id, str(item.get("name") or "?"))
    return found


def keep(tx: Transaction, texts: Mapping[str, str], stored_at: str) -> None:
    """Insert each text under its sha256 unless the store has it (the same report written again, or by another run)."""
    for digest, text in sorted(texts.items()):
        tx.execute("INSERT INTO archive_attachments (sha256, content, stored_at) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING", (digest, text, stored_at))


def _pages(tx: Transaction) -> Iterable[tuple[str, str]]:
    """Every stored (sha256, text), a page at a time: reports of ten years do not fit in memory at once."""
    last = ""
    while True:
        rows = tx.rows("SELECT sha256, content FROM archive_attachments WHERE sha256 > ? ORDER BY sha256 LIMIT ?", (last, _PAGE))
        for digest, content in rows:
            yield str(digest), str(content)
        if len(rows) < _PAGE:
            return
        last = str(rows[-1][0])


def problems(tx: Transaction, entries: Sequence[Entry]) -> tuple[list[Problem], int]:
    """Every attachment the entries name whose stored text is missing or no longer hashes to its name; and how many were checked."""
    named = entry_references(entries)
    if not named:
        return [], 0
    found: list[Problem] = []
    seen: set[str] = set()
    for digest, content in _pages(tx):
        where = named.get(digest)
        if where is None:
            continue  # kept for an entry a prune removed, or written by a run whose record did not commit
        seen.add(digest)
        if text_sha256(content) != digest:
            found.append(
                Problem(
                    where.seq,
                    ATTACHMENT_MISMATCH,
                    f"attachment {where.name} of run {where.run_id} (sha256 {digest}) does not match its digest: its text was changed after it was written",
                )
            )
    for digest, where in named.items():
        if digest not in seen:
            message = f"attachment {where.name} of run {where.run_id} (sha256 {digest}) is not in the store: it was deleted"
            found.append(Problem(where.seq, ATTACHMENT_MISSING, message))
    return sorted(found, key=lambda problem: (problem.seq or 0, problem.message)), len(named)


def read(tx: Transaction, digests: Iterable[str]) -> dict[str, str]:
    """The stored texts of these digests (as stored, changed or not; a missing one is absent)."""
    texts: dict[str, str] = {}
    for digest in sorted(set(digests)):
        row = tx.row("SELECT content FROM archive_attachments WHERE sha256 = ?", (digest,))
        if row is not None:
            texts[digest] = str(row[0])
    return texts


def unreferenced(tx: Transaction, remaining: Sequence[Entry]) -> list[str]:
    """Stored digests no remaining entry names: what a prune removes with the entries that named them."""
    named = entry_references(remaining)
    return [str(row[0]) for row in tx.rows("SELECT sha256 FROM archive_attachments ORDER BY sha256") if str(row[0]) not in named]
