# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The archive in the state store, on SQLite and a real PostgreSQL: appends, readers, tampering with SQL, signing keys, fail closed."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pg_cluster
import pytest
from archive_kit import ArchiveSite, make_root, record, signing_key, site
from cryptography.hazmat.primitives import serialization

from ansible_collections.opsgate.release.plugins.plugin_utils.archive import chain
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.errors import ArchiveNotWritable
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.signing import SIGNING_KEY_ENV, ArchiveSigner, load_signer
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import (
    append_entry,
    append_record,
    check_archive_writable,
    find_record,
    iter_records,
    read_head,
    record_body,
    run_entries,
    secret_strings,
    verify_store,
    write_run_record,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import PASSWORD_ENV

__all__ = ["site"]  # the fixture


def _codes(site: ArchiveSite, head: str | None = None) -> list[tuple[int | None, str]]:
    return [(problem.seq, problem.code) for problem in site.verify(head).problems]


def _five_runs(site: ArchiveSite) -> list[chain.Entry]:
    """Runs a..e, each written once at its start (running) and once at its end."""
    entries = []
    for letter, minute in zip("abcde", range(10, 60, 10), strict=True):
        started = f"2025-05-30T20:{minute}:00Z"
        entries.append(site.write(record(f"run-{letter}-000", "running", started)))
    for letter, minute in zip("ab", range(10, 30, 10), strict=True):
        entries.append(site.write(record(f"run-{letter}-000", "success", f"2025-05-30T20:{minute}:00Z")))
    return entries


def test_each_write_appends_a_linked_signed_entry_and_readers_take_the_newest(site: ArchiveSite) -> None:
    entries = _five_runs(site)
    assert [entry.seq for entry in entries] == list(range(1, 8))
    assert entries[0].prev_hash == chain.GENESIS
    assert all(later.prev_hash == earlier.entry_hash for earlier, later in itertools.pairwise(entries))
    assert {entry.keyid for entry in entries} == {site.key.keyid}
    with site.store() as store:
        stored = iter_records(store)
        assert [item.record["run_id"] for item in stored] == [f"run-{letter}-000" for letter in "abcde"]
        assert [item.record["status"] for item in stored] == ["success", "success", "running", "running", "running"]
        assert find_record(store, "run-b").seq == 7
        assert [entry.seq for entry in run_entries(store, {"run-a-000"})] == [1, 6]
        assert read_head(store) == chain.ChainHead(7, entries[-1].entry_hash)
    result = site.verify()
    assert result.ok, result.problems
    assert result.signed_by == {site.key.keyid: 7}


def test_a_byte_changed_with_sql_update_is_named(site: ArchiveSite) -> None:
    _five_runs(site)
    site.sql("UPDATE archive_entries SET body = replace(body, 'running', 'runninG') WHERE seq = 3")
    assert _codes(site) == [(3, chain.HASH_MISMATCH)]


def test_a_middle_entry_deleted_with_sql_is_named(site: ArchiveSite) -> None:
    _five_runs(site)
    site.sql("DELETE FROM archive_entries WHERE seq = 4")
    assert _codes(site) == [(5, chain.DELETED)]


def test_two_entries_swapped_with_sql_are_named(site: ArchiveSite) -> None:
    entries = _five_runs(site)
    # Bodies swapped in place.
    site.sql("UPDATE archive_entries SET body = ? WHERE seq = 2", (entries[4].body,))
    site.sql("UPDATE archive_entries SET body = ? WHERE seq = 5", (entries[1].body,))
    assert _codes(site) == [(2, chain.HASH_MISMATCH), (5, chain.HASH_MISMATCH)]


def test_two_entries_renumbered_into_each_others_place_are_named(site: ArchiveSite) -> None:
    _five_runs(site)
    site.sql("UPDATE archive_entries SET seq = -1 WHERE seq = 2")
    site.sql("UPDATE archive_entries SET seq = 2 WHERE seq = 5")
    site.sql("UPDATE archive_entries SET seq = 5 WHERE seq = -1")
    codes = set(_codes(site))
    assert {(2, chain.HASH_MISMATCH), (5, chain.HASH_MISMATCH), (2, chain.CHAIN_BREAK), (3, chain.CHAIN_BREAK)} <= codes


def test_a_dropped_tail_is_caught_with_the_kept_head_only(site: ArchiveSite) -> None:
    entries = _five_runs(site)
    kept = f"{entries[-1].seq}:{entries[-1].entry_hash}"
    site.sql("DELETE FROM archive_entries WHERE seq >= 6")
    assert site.verify().ok  # without the head kept elsewhere a shorter chain is consistent
    assert _codes(site, kept) == [(7, chain.TRUNCATED)]
    # A controller appending after the cut does not hide it: the kept head is still missing.
    site.write(record("run-f-000"))
    assert _codes(site, kept) == [(7, chain.TRUNCATED)]


def test_an_entry_signed_by_a_key_the_root_does_not_pin_is_named(site: ArchiveSite, tmp_path: Path) -> None:
    _five_runs(site)
    intruder = signing_key(tmp_path / "intruder", "intruder")
    with site.store() as store:
        append_record(store, record("run-x-000"), signer=ArchiveSigner(intruder.keyid, "intruder", intruder.key))
    assert _codes(site) == [(8, chain.UNKNOWN_KEY)]
    # The intruder cannot write through the archive's own path either: its key is not pinned.
    with pytest.raises(ArchiveNotWritable, match="does not pin in archive_keys"):
        write_run_record(site.root, record("run-y-000"), environ={**site.environ, SIGNING_KEY_ENV: str(intruder.path)})


def test_entries_written_unsigned_fail_once_the_root_pins_keys(site: ArchiveSite) -> None:
    unsigned = site.with_root(keys=())
    unsigned.write(record("run-a-000"))
    result = unsigned.verify()
    assert result.ok and chain.UNSIGNED_NOTE in result.notes
    assert unsigned.entries()[0].keyid == "" and unsigned.entries()[0].signature == ""
    assert _codes(site) == [(1, chain.UNSIGNED)]


@pytest.mark.parametrize("problem", ["absent", "unset", "garbage", "encrypted", "unpinned"])
def test_a_pinned_key_that_is_missing_unreadable_or_unpinned_fails_closed(site: ArchiveSite, tmp_path: Path, problem: str) -> None:
    environ = dict(site.environ)
    if problem == "absent":
        environ[SIGNING_KEY_ENV] = str(tmp_path / "no-such-key.pem")
    elif problem == "unset":
        del environ[SIGNING_KEY_ENV]
    elif problem == "garbage":
        (tmp_path / "garbage.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
        environ[SIGNING_KEY_ENV] = str(tmp_path / "garbage.pem")
    elif problem == "encrypted":
        pem = site.key.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pass-phrase"))
        (tmp_path / "encrypted.pem").write_bytes(pem)
        environ[SIGNING_KEY_ENV] = str(tmp_path / "encrypted.pem")
    else:
        environ[SIGNING_KEY_ENV] = str(signing_key(tmp_path / "other", "controller-b").path)
    with pytest.raises(ArchiveNotWritable) as caught:
        write_run_record(site.root, record("run-a-000"), environ=environ)
    with pytest.raises(ArchiveNotWritable):
        check_archive_writable(site.root, environ)
    assert SIGNING_KEY_ENV in str(caught.value)
    assert site.key.pem not in str(caught.value)
    assert site.entries() == []


def test_check_archive_writable_passes_and_leaves_nothing(site: ArchiveSite) -> None:
    check_archive_writable(site.root, site.environ)
    assert site.entries() == []
    site.write(record("run-a-000"))
    check_archive_writable(site.root, site.environ)
    # With the connection the gate has open already: the same check, no second connection.
    with site.store() as store:
        check_archive_writable(site.root, site.environ, store=store)
        append_record(store, record("run-b-000"), signer=load_signer(site.root, site.environ))
    assert [entry.seq for entry in site.entries()] == [1, 2]
    assert site.verify().ok


def test_check_archive_writable_refuses_an_unreachable_database_without_its_password(postgresql_store: dict, tmp_path: Path) -> None:
    key = signing_key(tmp_path / "keys")
    root = make_root(str(tmp_path / "ledger"), {**postgresql_store, "port": pg_cluster._free_port()}, [key])
    environ = {PASSWORD_ENV: pg_cluster.PASSWORD, SIGNING_KEY_ENV: str(key.path)}
    with pytest.raises(ArchiveNotWritable, match="cannot connect") as caught:
        check_archive_writable(root, environ)
    assert pg_cluster.PASSWORD not in str(caught.value)
    with pytest.raises(ArchiveNotWritable):
        write_run_record(root, record("run-a-000"), environ=environ)


def test_check_archive_writable_refuses_a_sqlite_store_it_may_not_use(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    ledger.mkdir(mode=0o777)
    ledger.chmod(0o777)
    with pytest.raises(ArchiveNotWritable, match="writable by nobody else"):
        check_archive_writable(make_root(str(ledger)), {})


def test_secrets_and_the_signing_key_never_reach_the_store(site: ArchiveSite) -> None:
    token = "v1.eyJjbGFpbXMiOnsiY2hhbmdlX2lkIjoiQ0hHIn19.c2lnbmF0dXJl"
    secrets = secret_strings({"opsgate_approval_token": token})
    site.write(record("run-a-000", note=f"a result echoed {token} and \u00e9{token}"), secrets)
    text = site.raw_rows()
    assert token not in text
    assert "[REDACTED]" in text
    pem = site.key.pem
    for line in pem.splitlines()[1:-1]:
        assert line not in text
    assert site.verify().ok


def test_record_body_is_canonical_and_redaction_keeps_it_json() -> None:
    body = record_body({"run_id": "r", "b": [1, 2], "a": "x\u00e9"}, ["nothing-like-this"])
    assert body == '{"a":"x\u00e9","b":[1,2],"run_id":"r"}'
    assert record_body({"run_id": "r", "msg": 'say "secret-value-1234"'}, ['"secret-value-1234"']) == '{"msg":"say [REDACTED]","run_id":"r"}'


def test_concurrent_writers_keep_one_chain(site: ArchiveSite) -> None:
    """Eight controllers append at once: the writer lock keeps one linear chain, no fork, no lost entry."""
    # The store exists first: creating a SQLite file from eight connections at one instant is the store's own
    # race (open_store: O_EXCL and the WAL switch), not what this test is about.
    assert site.entries() == []

    def write(worker: int) -> None:
        for number in range(5):
            site.write(record(f"run-{worker}-{number:03d}"))

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = site.verify()
    assert result.ok, result.problems
    assert result.entries == 40 and result.head.seq == 40


def test_verify_over_ten_thousand_entries_is_correct(site: ArchiveSite) -> None:
    """Correctness only: bench/archive_verify.py measures the time (docs/benchmarks.md)."""
    signer = load_signer(site.root, site.environ)
    with site.store() as store:
        with store.transaction(write=True) as tx:
            for number in range(10_000):
                append_entry(tx, chain.KIND_RECORD, f"run-{number:05d}", record_body(record(f"run-{number:05d}")), signer)
        result = verify_store(store, site.root)
        assert result.ok and result.entries == 10_000 and result.signed_by == {site.key.keyid: 10_000}
    site.sql("UPDATE archive_entries SET body = replace(body, 'web1', 'web9') WHERE seq = 7777")
    assert _codes(site) == [(7777, chain.HASH_MISMATCH)]
