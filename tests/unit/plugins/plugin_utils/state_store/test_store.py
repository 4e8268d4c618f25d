# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The store on both backends: transactions, the schema, the unique constraint, fail closed, the pinned location."""

from __future__ import annotations

import os
import threading

import pg_cluster
import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.schema import SCHEMA_VERSION
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import DSN_ENV, PASSWORD_ENV, StoreError, store_settings
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, tmp_path):
    if request.param == "sqlite":
        return store_settings({"backend": "sqlite"}, str(tmp_path / "ledger"), environ={})
    pinned = request.getfixturevalue("postgresql_store")
    return store_settings(pinned, str(tmp_path / "ledger"), environ={PASSWORD_ENV: pg_cluster.PASSWORD})


def test_write_commits_and_an_exception_rolls_back(settings):
    with open_store(settings) as store:
        with store.transaction(write=True) as tx:
            tx.execute("INSERT INTO imports (source, imported_at, items) VALUES (?, ?, ?)", ("a", "2026-11-28T00:00:00Z", 1))
        with pytest.raises(RuntimeError), store.transaction(write=True) as tx:
            tx.execute("INSERT INTO imports (source, imported_at, items) VALUES (?, ?, ?)", ("b", "2026-11-28T00:00:00Z", 2))
            raise RuntimeError("stop")
    with open_store(settings) as store, store.transaction() as tx:
        assert tx.rows("SELECT source, items FROM imports ORDER BY source") == [("a", 1)]


def test_the_unique_token_constraint_is_a_store_error_and_keeps_the_first(settings):
    row = ("t1", "sha", "CHG-1", "run", "2026-11-28T00:00:00Z", "fp", "app", "prod", "[]", None, "normal")
    sql = (
        "INSERT INTO consumptions (seq, token_id, token_sha256, change_id, run_id, consumed_at, fingerprint, app, env, hosts, owner, kind) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    with open_store(settings) as store:
        with store.transaction(write=True) as tx:
            tx.execute(sql, (tx.next_seq("consumptions"), *row))
        with pytest.raises(StoreError, match="a statement failed"), store.transaction(write=True) as tx:
            tx.execute(sql, (tx.next_seq("consumptions"), *row[:3], "other-run", *row[4:]))
        with store.transaction() as tx:
            assert tx.rows("SELECT run_id FROM consumptions") == [("run",)]


def test_writers_are_serialised_so_read_then_insert_never_loses_an_update(settings):
    """Eight connections each read the count and insert count+1 under the write lock: no duplicate, no gap."""
    with open_store(settings) as store, store.transaction(write=True) as tx:
        tx.execute("DELETE FROM imports")

    def bump(worker: int) -> None:
        with open_store(settings) as store:
            for _round in range(5):
                with store.transaction(write=True) as tx:
                    count = tx.row("SELECT COUNT(*) FROM imports")[0]
                    tx.execute("INSERT INTO imports (source, imported_at, items) VALUES (?, ?, ?)", (f"n{count}", "t", worker))

    threads = [threading.Thread(target=bump, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open_store(settings) as store, store.transaction() as tx:
        sources = sorted(row[0] for row in tx.rows("SELECT source FROM imports"))
    assert sources == sorted(f"n{number}" for number in range(40))


def test_sqlite_refuses_a_folder_others_can_write(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)
    with pytest.raises(StoreError, match="writable by nobody else"):
        open_store(store_settings({"backend": "sqlite"}, str(folder), environ={}))


def test_sqlite_refuses_a_symlinked_store(tmp_path):
    folder = tmp_path / "ledger"
    folder.mkdir(mode=0o700)
    (tmp_path / "elsewhere.sqlite3").write_bytes(b"")
    os.symlink(tmp_path / "elsewhere.sqlite3", folder / "state.sqlite3")
    with pytest.raises(StoreError, match="not a regular file"):
        open_store(store_settings({"backend": "sqlite"}, str(folder), environ={}))


def test_the_environment_cannot_point_the_run_at_another_database(postgresql_cluster, postgresql_store):
    other = postgresql_cluster.new_database("opsgate_elsewhere")
    dsn = f"host=127.0.0.1 port={other['port']} dbname={other['dbname']} user=opsgate password={pg_cluster.PASSWORD}"
    with pytest.raises(StoreError, match="dbname 'opsgate_elsewhere' differs from the store the trust root pins"):
        store_settings(postgresql_store, "/unused", environ={DSN_ENV: dsn})
    with pytest.raises(StoreError, match=r"parameters \['options'\] are not allowed"):
        store_settings(postgresql_store, "/unused", environ={DSN_ENV: "password=x options='-c search_path=evil'"})


def test_libpq_variables_cannot_redirect_the_connection(postgresql_store, monkeypatch):
    """PGHOSTADDR would make libpq connect elsewhere than the pinned host; the store ignores every PG* variable."""
    monkeypatch.setenv("PGHOSTADDR", "192.0.2.1")
    monkeypatch.setenv("PGOPTIONS", "-c search_path=evil")
    settings = store_settings(postgresql_store, "/unused", environ={PASSWORD_ENV: pg_cluster.PASSWORD})
    with open_store(settings) as store, store.transaction() as tx:
        assert tx.row("SHOW search_path") == ("public",)
    assert os.environ["PGHOSTADDR"] == "192.0.2.1"


def test_an_unreachable_database_is_a_store_error_without_the_password(postgresql_store):
    pinned = {**postgresql_store, "port": pg_cluster._free_port()}
    settings = store_settings(pinned, "/unused", environ={PASSWORD_ENV: pg_cluster.PASSWORD})
    with pytest.raises(StoreError) as caught:
        open_store(settings)
    assert "cannot connect" in str(caught.value)
    assert pg_cluster.PASSWORD not in str(caught.value)
    assert pg_cluster.PASSWORD not in repr(settings)


def test_a_wrong_password_is_refused(postgresql_store):
    settings = store_settings(postgresql_store, "/unused", environ={PASSWORD_ENV: "wrong-password"})
    with pytest.raises(StoreError, match="password authentication failed"):
        open_store(settings)


def test_a_store_written_by_a_newer_version_is_refused(settings):
    with open_store(settings) as store, store.transaction(write=True) as tx:
        tx.execute("UPDATE opsgate_schema SET version = version + 1 WHERE id = 1")
    with pytest.raises(StoreError, match=r"written by a newer opsgate\.release"), open_store(settings) as store, store.transaction() as tx:
        tx.rows("SELECT 1")


def test_a_store_of_an_older_version_is_upgraded_once_with_the_tables_it_lacks(settings):
    """A version 1 store (before archive_attachments): the first newer controller adds the table and the version."""
    with open_store(settings) as store, store.transaction(write=True) as tx:
        tx.execute("DROP TABLE archive_attachments")
        tx.execute("UPDATE opsgate_schema SET version = 1 WHERE id = 1")
        tx.execute("INSERT INTO imports (source, imported_at, items) VALUES (?, ?, ?)", ("kept", "2026-11-28T00:00:00Z", 1))
    with open_store(settings) as store, store.transaction() as tx:
        assert tx.row("SELECT version FROM opsgate_schema WHERE id = 1") == (SCHEMA_VERSION,)
        assert tx.rows("SELECT sha256 FROM archive_attachments") == []
        assert tx.rows("SELECT source FROM imports") == [("kept",)]


def test_a_new_sqlite_store_opened_by_many_processes_at_once_opens_for_all(tmp_path):
    """Eight processes open a store that does not exist yet at one instant (a barrier): every one gets it, one set of tables."""
    import multiprocessing

    settings = store_settings({"backend": "sqlite"}, str(tmp_path / "ledger"), environ={})
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(8)
    results = context.Queue()

    def open_it(number: int) -> None:
        barrier.wait()
        try:
            with open_store(settings) as store, store.transaction(write=True) as tx:
                tx.execute("INSERT INTO imports (source, imported_at, items) VALUES (?, ?, ?)", (f"p{number}", "t", number))
            results.put("ok")
        except Exception as exc:  # reported to the parent, which fails the test with it
            results.put(f"{type(exc).__name__}: {exc}")

    processes = [context.Process(target=open_it, args=(number,)) for number in range(8)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    outcomes = sorted(results.get(timeout=5) for _process in processes)
    assert outcomes == ["ok"] * 8
    with open_store(settings) as store, store.transaction() as tx:
        assert tx.row("SELECT COUNT(*) FROM imports") == (8,)
