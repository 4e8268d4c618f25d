# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Retention (Art. 22(2)): remove entries older than the policy keeps them, behind a signed checkpoint.

Only a prefix of the chain goes (the oldest entries, up to the first one still inside the retention
period), so what remains is still one chain; the checkpoint appended at the head names the last
removed entry (seq and hash) and how many were removed, and verify accepts a chain that starts
right after it. A chain that does not verify is not pruned: pruning would hide what was done to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import attachments
from .chain import KIND_CHECKPOINT, Entry, Verification, checkpoint_body
from .errors import ArchiveError
from .record import format_time
from .signing import ArchiveSigner
from .store import append_entry, verify_entries

try:  # the collection
    from ..state_store.store import Store
except ImportError:  # bin/ scripts
    from state_store.store import Store  # type: ignore[no-redef]

CHECKPOINT_RUN_ID = "checkpoint"


def retention_cutoff(now: datetime, years: int) -> str:
    """The instant ``years`` before ``now`` (29 February becomes 28 February), in the entries' time format."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    try:
        cutoff = now.replace(year=now.year - years)
    except ValueError:
        cutoff = now.replace(year=now.year - years, day=28)
    return format_time(cutoff)


def prunable_prefix(entries: Sequence[Entry], cutoff: str) -> list[Entry]:
    """The oldest entries written before ``cutoff``, up to (not including) the first one that is not."""
    prefix: list[Entry] = []
    for entry in entries:
        if entry.written_at >= cutoff:
            break
        prefix.append(entry)
    return prefix


@dataclass(frozen=True)
class PruneResult:
    cutoff: str
    retention_years: int
    pruned: int
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoint: Entry | None = None
    dry_run: bool = False
    verification: Verification | None = field(default=None, compare=False)
    # Attachments only the pruned entries named (removed with them).
    attachments_pruned: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff,
            "retention_years": self.retention_years,
            "pruned": self.pruned,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "checkpoint": {"seq": self.checkpoint.seq, "entry_hash": self.checkpoint.entry_hash} if self.checkpoint else None,
            "dry_run": self.dry_run,
            "attachments_pruned": self.attachments_pruned,
        }


def prune(
    store: Store,
    root: Any,
    signer: ArchiveSigner | None,
    retention_years: int,
    now: datetime | None = None,
    dry_run: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> PruneResult:
    """Remove the entries older than ``retention_years`` in one write transaction, after appending their checkpoint.

    Raises ArchiveError if the chain does not verify (nothing is removed then).
    """
    if isinstance(retention_years, bool) or not isinstance(retention_years, int) or retention_years < 1:
        raise ArchiveError(f"retention must be a whole number of years >= 1, got {retention_years!r}")
    now = now or datetime.now(UTC)
    cutoff = retention_cutoff(now, retention_years)
    with store.transaction(write=not dry_run) as tx:
        entries, verification = verify_entries(tx, root)
        if not verification.ok:
            listed = "; ".join(problem.text() for problem in verification.problems[:5])
            more = f" (and {len(verification.problems) - 5} more)" if len(verification.problems) > 5 else ""
            raise ArchiveError(f"the archive chain does not verify, so nothing is pruned (opsgate-archive verify lists why): {listed}{more}")
        prefix = prunable_prefix(entries, cutoff)
        if not prefix:
            return PruneResult(cutoff, retention_years, 0, dry_run=dry_run, verification=verification)
        first, last = prefix[0], prefix[-1]
        orphans = attachments.unreferenced(tx, entries[len(prefix) :])
        if dry_run:
            return PruneResult(
                cutoff, retention_years, len(prefix), first.seq, last.seq, dry_run=True, verification=verification, attachments_pruned=len(orphans)
            )
        body = checkpoint_body(last, len(prefix), cutoff, retention_years, first.seq, **dict(extra or {}))
        checkpoint = append_entry(tx, KIND_CHECKPOINT, CHECKPOINT_RUN_ID, body, signer, format_time(now))
        tx.execute("DELETE FROM archive_entries WHERE seq <= ?", (last.seq,))
        # A report that a kept entry still names stays (content-addressed: two runs may name one text).
        for digest in orphans:
            tx.execute("DELETE FROM archive_attachments WHERE sha256 = ?", (digest,))
    return PruneResult(cutoff, retention_years, len(prefix), first.seq, last.seq, checkpoint, verification=verification, attachments_pruned=len(orphans))
