# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prune on both backends: only entries past the retention go, a signed checkpoint keeps the chain verifiable."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from approval_kit import ApprovalKit
from archive_kit import ArchiveSite, record, site

from ansible_collections.opsgate.release.plugins.module_utils.approval.errors import ApprovalError
from ansible_collections.opsgate.release.plugins.plugin_utils.archive import chain
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.errors import ArchiveError
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.retention import prunable_prefix, prune, retention_cutoff
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.signing import load_signer
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import append_record, iter_records

__all__ = ["site"]  # the fixture

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# (run, written_at): three runs past ten years, then one inside, then one past again (a controller with a wrong clock).
WRITES = [
    ("run-2012-0001", "2012-03-01T10:00:00Z"),
    ("run-2014-0001", "2014-03-01T10:00:00Z"),
    ("run-2016-0001", "2016-05-31T12:00:00Z"),
    ("run-2016-0002", "2016-06-01T12:00:00Z"),
    ("run-2013-0001", "2013-01-01T00:00:00Z"),
    ("run-2025-0001", "2025-01-01T00:00:00Z"),
]


def _fill(site: ArchiveSite) -> list[chain.Entry]:
    signer = load_signer(site.root, site.environ)
    with site.store() as store:
        return [append_record(store, record(run_id, started=written), signer=signer, written_at=written) for run_id, written in WRITES]


def test_retention_cutoff_and_prefix() -> None:
    assert retention_cutoff(NOW, 10) == "2016-06-01T12:00:00Z"
    assert retention_cutoff(datetime(2024, 2, 29, tzinfo=UTC), 1) == "2023-02-28T00:00:00Z"
    entries = [chain.Entry(n, "record", f"r{n}", when, "{}", "", "") for n, (_label, when) in enumerate(WRITES, 1)]
    assert [entry.seq for entry in prunable_prefix(entries, "2016-06-01T12:00:00Z")] == [1, 2, 3]


def test_prune_removes_only_entries_past_retention_and_the_chain_still_verifies(site: ArchiveSite) -> None:
    entries = _fill(site)
    kept_before = f"{entries[-1].seq}:{entries[-1].entry_hash}"
    signer = load_signer(site.root, site.environ)
    with site.store() as store:
        done = prune(store, site.root, signer, 10, now=NOW, extra={"policy_version": 3})
        runs = [stored.record["run_id"] for stored in iter_records(store)]
    assert (done.pruned, done.first_seq, done.last_seq, done.cutoff) == (3, 1, 3, "2016-06-01T12:00:00Z")
    # 2016-06-01T12:00:00Z is exactly ten years old: kept. The 2013 entry after it is kept too: only a prefix goes.
    assert sorted(runs) == ["run-2013-0001", "run-2016-0002", "run-2025-0001"]
    remaining = site.entries()
    assert [entry.seq for entry in remaining] == [4, 5, 6, 7]
    checkpoint = remaining[-1]
    assert checkpoint.kind == chain.KIND_CHECKPOINT and checkpoint.keyid == site.key.keyid
    body = json.loads(checkpoint.body)
    assert body["pruned_through_seq"] == 3 and body["pruned_through_hash"] == entries[2].entry_hash
    assert body["pruned_count"] == 3 and body["retention_years"] == 10 and body["policy_version"] == 3
    result = site.verify(kept_before)
    assert result.ok, result.problems
    assert result.first_seq == 4
    # Deleting the first remaining entry by hand is still caught: the checkpoint accounts for seq 1-3 only.
    site.sql("DELETE FROM archive_entries WHERE seq = 4")
    assert [(p.seq, p.code) for p in site.verify().problems] == [(5, chain.MISSING_START)]


def test_a_second_prune_covers_the_first_checkpoint(site: ArchiveSite) -> None:
    _fill(site)
    signer = load_signer(site.root, site.environ)
    with site.store() as store:
        prune(store, site.root, signer, 10, now=NOW)
        again = prune(store, site.root, signer, 10, now=NOW)
        later = prune(store, site.root, signer, 1, now=datetime(2040, 1, 1, tzinfo=UTC))
    assert again.pruned == 0 and again.checkpoint is None
    # Everything is older than a year by 2040, the first checkpoint included: only the new checkpoint remains.
    assert later.pruned == 4
    assert [entry.kind for entry in site.entries()] == [chain.KIND_CHECKPOINT]
    assert site.verify().ok


def test_prune_refuses_a_chain_that_does_not_verify_and_removes_nothing(site: ArchiveSite) -> None:
    _fill(site)
    site.sql("UPDATE archive_entries SET body = replace(body, 'deploy', 'deplox') WHERE seq = 2")
    signer = load_signer(site.root, site.environ)
    with site.store() as store, pytest.raises(ArchiveError, match=r"does not verify.*seq 2"):
        prune(store, site.root, signer, 10, now=NOW)
    assert len(site.entries()) == len(WRITES)


def test_dry_run_removes_nothing(site: ArchiveSite) -> None:
    _fill(site)
    with site.store() as store:
        done = prune(store, site.root, None, 10, now=NOW, dry_run=True)
    assert (done.pruned, done.dry_run, done.checkpoint) == (3, True, None)
    assert len(site.entries()) == len(WRITES)


def test_the_policy_sets_the_retention_within_bounds() -> None:
    kit = ApprovalKit()
    assert kit.policy().archive_retention_years == 10
    assert kit.policy(archive_retention_years=7).archive_retention_years == 7
    for bad in (0, 101, "5", True):
        with pytest.raises(ApprovalError, match="archive_retention_years"):
            kit.policy(archive_retention_years=bad)
