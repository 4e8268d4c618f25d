# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The migration step (module_utils/release/migration) against a real PostgreSQL cluster: Debian's server, and the
client tools the module runs on a database host (psql, pg_dump, pg_restore). Nothing is mocked.

Each test gets a database of the session's cluster with an ``orders`` table owned by the role the step connects as,
over TCP with its password (the ``host``/``port``/``user``/``login_password`` path); one test adds peer
authentication on the cluster's socket for the ``os_user`` path.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pg_cluster
import pytest

from ansible_collections.opsgate.release.plugins.module_utils.approval import host_check
from ansible_collections.opsgate.release.plugins.module_utils.release.migration import host_ledger
from ansible_collections.opsgate.release.plugins.module_utils.release.migration.database import Connection, DatabaseError
from ansible_collections.opsgate.release.plugins.module_utils.release.migration.migrate import LOCK_NAME
from ansible_collections.opsgate.release.plugins.module_utils.release.migration.postgresql import PostgreSQL

from .migration_kit import APP, AUDIT, AUDIT_DOWN, BROKEN, DROP_NOTE, PRIORITY, STATUS, STATUS_DOWN, Database, sha, step


@pytest.fixture(autouse=True)
def _no_pinned_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests are about the database; the host trust path has its own (test_migration_host_trust.py).
    monkeypatch.setattr(host_check, "DEFAULT_TRUST_ROOT", str(tmp_path / "no-root" / "trust.json"))
    monkeypatch.delenv(host_check.HOST_TRUST_DIR_ENV, raising=False)


@pytest.fixture
def db(postgresql_cluster: pg_cluster.Cluster, tmp_path: Path) -> Database:
    return Database(postgresql_cluster, tmp_path)


V2 = [step("001_status", "expand", STATUS), step("002_audit", "expand", AUDIT), step("003_drop_note", "contract", DROP_NOTE)]


def test_expand_backs_up_first_applies_in_order_and_records_each_step(db: Database) -> None:
    before = db.orders()
    result = db.run("expand", V2)
    assert result["applied"] == ["001_status", "002_audit"]
    assert result["already_applied"] == [] and result["changed"] is True
    assert result["database"] == {"kind": "postgresql", "run_on": "db1", "name": db.name}
    assert db.rows() == [("001_status", sha(STATUS), "2.0.0-CHG-1-aa"), ("002_audit", sha(AUDIT), "2.0.0-CHG-1-aa")]
    assert [row["step_id"] for row in result["migrations_table"]] == ["001_status", "002_audit"]
    assert db.orders() != before and "status" in db.orders()
    backup = result["backup"]
    dump = Path(backup["path"])
    assert dump == db.backup_dir / f"{APP}-2.0.0-CHG-1-aa.dump"
    assert hashlib.sha256(dump.read_bytes()).hexdigest() == backup["sha256"] and dump.stat().st_size == backup["bytes"]
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    events = db.ledger()
    assert [(event["event"], event.get("step_id")) for event in events] == [("backup", None), ("applied", "001_status"), ("applied", "002_audit")]
    assert events[0]["sha256"] == backup["sha256"] and events[1]["token_id"] == "apv-2.0.0-CHG-1-aa" and events[1]["who"] == "tester"
    # The contract phase of the same release keeps the backup taken before the expand.
    contract = db.run("contract", V2)
    assert contract["applied"] == ["003_drop_note"] and contract["already_applied"] == []
    assert contract["backup"] == backup
    assert [event["event"] for event in db.ledger()].count("backup") == 1
    assert "note" not in db.orders()


def test_a_repeated_phase_skips_every_step_and_changes_nothing(db: Database) -> None:
    first = db.run("expand", V2)
    state = db.orders()
    again = db.run("expand", V2)
    assert again["applied"] == [] and again["already_applied"] == ["001_status", "002_audit"] and again["changed"] is False
    assert again["backup"] == first["backup"]
    assert db.orders() == state
    assert len(db.ledger()) == 3


def test_a_step_applied_with_another_digest_is_refused_before_anything_runs(db: Database) -> None:
    db.run("expand", V2)
    state, relations = db.orders(), db.relations()
    changed = [step("001_status", "expand", STATUS + "-- edited after it was applied\n"), step("004_priority", "expand", PRIORITY)]
    error = db.failed("expand", changed, release_id="3.0.0-CHG-2-bb")
    assert sha(STATUS) in error.msg and sha(changed[0]["sql"]) in error.msg
    assert "release 2.0.0-CHG-1-aa" in error.msg and "001_status" in error.msg and "nothing was run" in error.msg
    assert error.fields["refused"] == ["001_status"] and error.fields["changed"] is False
    assert (db.orders(), db.relations()) == (state, relations)
    assert not (db.backup_dir / f"{APP}-3.0.0-CHG-2-bb.dump").exists()
    assert db.ledger()[-1]["event"] == "refused" and db.ledger()[-1]["applied_sha256"] == sha(STATUS)


def test_a_step_failing_halfway_leaves_nothing_and_the_database_is_restored_from_the_backup(db: Database) -> None:
    before, relations = db.orders(), db.relations()
    steps = [step("001_audit", "expand", AUDIT), step("002_priority", "expand", PRIORITY), step("003_broken", "expand", BROKEN)]
    error = db.failed("expand", steps)
    assert "003_broken" in error.msg and "division by zero" in error.msg
    assert "restored from the backup" in error.msg and error.fields["backup"]["sha256"] in error.msg
    assert error.fields["restored"] == {"method": "backup", "steps": ["002_priority", "001_audit"]}
    assert error.fields["applied"] == ["001_audit", "002_priority"] and error.fields["failed_step"] == "003_broken"
    # Row count, checksum and columns as before; the table, view and foreign key the first step created are gone.
    assert db.orders() == before
    assert set(db.relations().split(",")) == {*relations.split(","), "public.opsgate_migrations"}
    assert db.rows() == []
    events = [(event["event"], event.get("step_id")) for event in db.ledger()]
    assert events == [("backup", None), ("applied", "001_audit"), ("applied", "002_priority"), ("failed", "003_broken"), ("restored", None)]
    assert db.ledger()[-1]["method"] == "backup"


def test_downs_are_used_when_every_applied_step_has_one(db: Database) -> None:
    before = db.orders()
    steps = [step("001_status", "expand", STATUS, down=STATUS_DOWN), step("002_audit", "expand", AUDIT, down=AUDIT_DOWN)]
    db.run("expand", steps)
    result = db.run("restore", steps)
    assert result["restored"] == {"method": "down", "steps": ["002_audit", "001_status"]}
    assert result["changed"] is True and result["migrations_table"] == []
    assert db.orders() == before and db.rows() == []
    assert [(event["event"], event.get("step_id")) for event in db.ledger()][-3:] == [("down", "002_audit"), ("down", "001_status"), ("restored", None)]
    # Undone once: a repeated restore has nothing left to undo.
    assert db.run("restore", steps)["restored"] == {"method": "none", "steps": []}


def test_a_failing_step_after_steps_with_downs_is_undone_by_the_downs(db: Database) -> None:
    before = db.orders()
    steps = [step("001_status", "expand", STATUS, down=STATUS_DOWN), step("002_broken", "expand", PRIORITY + BROKEN)]
    error = db.failed("expand", steps)
    assert error.fields["restored"] == {"method": "down", "steps": ["001_status"]}
    assert "down-migrations of 001_status were run" in error.msg and "division by zero" in error.msg
    assert db.orders() == before and db.rows() == []


def test_a_restore_with_a_step_without_down_uses_the_backup(db: Database) -> None:
    before = db.orders()
    db.run("expand", V2)
    db.run("contract", V2)
    result = db.run("restore", V2)
    assert result["restored"] == {"method": "backup", "steps": ["003_drop_note", "002_audit", "001_status"]}
    assert result["backup"]["sha256"] == db.ledger()[0]["sha256"]
    assert db.orders() == before and db.rows() == []


def test_a_backup_changed_on_disk_is_refused_and_the_database_is_left_as_it_is(db: Database) -> None:
    result = db.run("expand", V2)
    migrated = db.orders()
    dump = Path(result["backup"]["path"])
    dump.write_bytes(dump.read_bytes() + b"\0")
    error = db.failed("restore", V2)
    assert "changed on disk" in error.msg and result["backup"]["sha256"] in error.msg
    assert db.orders() == migrated
    assert len(db.rows()) == 2


def test_a_failed_contract_step_undoes_no_expand_and_keeps_contract_steps_without_downs(db: Database) -> None:
    steps = [step("001_status", "expand", STATUS), step("002_drop_note", "contract", DROP_NOTE), step("003_broken", "contract", PRIORITY + BROKEN)]
    db.run("expand", steps)
    error = db.failed("contract", steps)
    assert error.fields["restored"] == {"method": "none", "steps": [], "kept": ["002_drop_note"]}
    assert "002_drop_note stay applied" in error.msg and "division by zero" in error.msg
    columns = db.orders().rsplit("[", 1)[1]
    assert columns == "id,item,status]"
    assert [row[0] for row in db.rows()] == ["001_status", "002_drop_note"]


def test_nothing_applied_restores_nothing(db: Database) -> None:
    state = db.orders()
    result = db.run("restore", V2)
    assert result["restored"] == {"method": "none", "steps": []} and result["changed"] is False and result["backup"] is None
    assert db.orders() == state


def test_check_mode_plans_without_touching_the_database_or_the_backup_folder(db: Database) -> None:
    relations = db.relations()
    result = db.run("expand", V2, check_mode=True)
    assert result["would_apply"] == ["001_status", "002_audit"] and result["changed"] is True and result["backup"] is None
    assert db.relations() == relations
    assert not db.backup_dir.exists()


def test_the_password_is_in_no_result_no_error_and_no_ledger_line(db: Database) -> None:
    result = db.run("expand", V2)
    assert pg_cluster.PASSWORD not in json.dumps(result)
    wrong = "Wrong-Secret-Password-77"
    error = db.failed("expand", V2, password=wrong)
    assert "password authentication failed" in error.msg
    assert wrong not in error.msg and wrong not in json.dumps(error.fields, default=str)
    broken = db.failed("expand", [*V2, step("009_broken", "expand", BROKEN)])
    for text in (broken.msg, json.dumps(broken.fields, default=str), (db.backup_dir / host_ledger.LEDGER_NAME).read_text()):
        assert pg_cluster.PASSWORD not in text


def test_the_password_reaches_the_tools_only_through_their_environment() -> None:
    tools = PostgreSQL(Connection(name="appdb", host="10.0.0.5", port=5433, user="app", password="s3cret-Value"))
    assert "s3cret-Value" not in " ".join(tools.command("psql", "-X"))
    assert tools.environment()["PGPASSWORD"] == "s3cret-Value"
    assert not tools.runs_as_os_user()
    local = PostgreSQL(Connection(name="appdb"))
    assert "PGPASSWORD" not in local.environment() and "PGHOST" not in local.environment()
    assert local.runs_as_os_user() == (os.geteuid() == 0)


def test_named_schemas_are_backed_up_and_restored_alone(postgresql_cluster: pg_cluster.Cluster, tmp_path: Path) -> None:
    db = Database(postgresql_cluster, tmp_path, schemas=("sales",))
    db.sql(
        f"CREATE SCHEMA sales AUTHORIZATION {pg_cluster.ROLE}; CREATE TABLE sales.items (id integer PRIMARY KEY, name text);"
        f"INSERT INTO sales.items SELECT n, 'i' || n FROM generate_series(1, 50) n; ALTER TABLE sales.items OWNER TO {pg_cluster.ROLE}"
    )
    before, orders = db.orders("sales.items"), db.orders()
    steps = [
        step(
            "001_items_price",
            "expand",
            "ALTER TABLE sales.items ADD COLUMN price integer; CREATE TABLE sales.prices (item integer REFERENCES sales.items(id));",
        ),
        step("002_broken", "expand", "UPDATE sales.items SET price = id / (id - id);"),
    ]
    error = db.failed("expand", steps)
    assert error.fields["restored"]["method"] == "backup"
    assert db.orders("sales.items") == before and db.orders() == orders
    assert "sales.prices" not in db.relations()
    # The migrations table (public, outside the backup) forgot the release's rows in the same transaction.
    assert db.rows() == []


@pytest.fixture
def peer_socket(postgresql_cluster: pg_cluster.Cluster) -> Iterator[str]:
    """Peer authentication for the postgres account on the cluster's socket, as Debian's default pg_hba.conf has it."""
    if os.geteuid() != 0:
        pytest.skip("runuser needs root")
    hba = Path(postgresql_cluster.directory, "data", "pg_hba.conf")
    original = hba.read_text()
    hba.write_text("local all postgres peer\n" + original)
    postgresql_cluster.psql("SELECT pg_reload_conf()", dbname="postgres")
    try:
        yield postgresql_cluster.directory
    finally:
        hba.write_text(original)
        postgresql_cluster.psql("SELECT pg_reload_conf()", dbname="postgres")


def test_on_the_local_socket_as_root_the_tools_run_as_the_os_user_without_a_password(db: Database, peer_socket: str) -> None:
    before = db.orders()
    socket = {"host": peer_socket, "user": "postgres", "os_user": "postgres"}
    command = PostgreSQL(Connection(name=db.name, host=peer_socket)).command("psql")
    assert command[0].endswith("/runuser") and command[1:4] == ["-u", "postgres", "--"]
    result = db.run("expand", V2, password=None, database=socket)
    assert result["applied"] == ["001_status", "002_audit"] and result["backup"]["bytes"] > 0
    restored = db.run("restore", V2, password=None, database=socket)
    assert restored["restored"]["method"] == "backup"
    assert db.orders() == before


def test_a_second_run_while_one_holds_the_database_host_is_refused(db: Database) -> None:
    db.backup_dir.mkdir()
    holder = os.open(db.backup_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        state = db.orders()
        error = db.failed("expand", V2)
        assert "another migration run holds" in error.msg and db.orders() == state
    finally:
        os.close(holder)
    assert db.run("expand", V2)["applied"] == ["001_status", "002_audit"]


def test_a_backup_that_cannot_be_read_to_the_end_restores_nothing(db: Database, tmp_path: Path) -> None:
    """pg_restore fails after psql has run part of its script: psql is stopped before the end of its input, so none of it
    is committed (the migration step refuses such a dump by its digest before; this is the engine's own guarantee)."""
    db.sql(f"CREATE TABLE events AS SELECT n AS id, md5(n::text) AS body FROM generate_series(1, 20000) n; ALTER TABLE events OWNER TO {pg_cluster.ROLE}")
    tools = PostgreSQL(Connection(name=db.name, host="127.0.0.1", port=db.cluster.port, user=pg_cluster.ROLE, password=pg_cluster.PASSWORD))
    backup = tools.dump(str(tmp_path / "full.dump"))
    db.sql(f"SET ROLE {pg_cluster.ROLE}; ALTER TABLE orders ADD COLUMN status text; UPDATE orders SET item = 'changed'; DELETE FROM events WHERE id > 10")
    migrated = (db.orders(), db.orders("events"))
    data = bytearray(Path(backup.path).read_bytes())
    for index in range(len(data) // 2, len(data) // 2 + 64):
        data[index] ^= 0xFF
    broken = tmp_path / "broken.dump"
    broken.write_bytes(bytes(data))
    with pytest.raises(DatabaseError) as caught:
        tools.restore(str(broken), APP, "r1")
    assert str(caught.value).startswith("pg_restore could not read the backup") and "nothing was restored" in str(caught.value)
    assert (db.orders(), db.orders("events")) == migrated


def test_a_restore_that_fails_is_rolled_back_whole_and_the_failure_says_both(db: Database) -> None:
    # A table of another owner the migration role may read (so pg_dump backs it up) but not give back to that owner.
    db.sql(f"CREATE TABLE regulator_copy (id integer); GRANT SELECT ON regulator_copy TO {pg_cluster.ROLE}")
    error = db.failed("expand", [step("001_status", "expand", STATUS), step("002_broken", "expand", PRIORITY + BROKEN)])
    assert "division by zero" in error.msg and "then the restore failed" in error.msg and "rolled back" in error.msg
    assert 'must be member of role "postgres"' in error.msg
    # All of the restore or none of it: the applied step and its row are still there.
    assert "status" in db.orders() and [row[0] for row in db.rows()] == ["001_status"]


# A rollback of the hosts sends no step (its controller has not the release's manifest, and the down SQL is not on the
# database host): the release's rows say what it applied, and its backup puts the database back.


def test_a_restore_without_steps_puts_back_the_backup_of_the_release_and_keeps_an_earlier_releases_work(db: Database) -> None:
    downs = [step("001_status", "expand", STATUS, down=STATUS_DOWN)]
    db.run("expand", downs, release_id="1.0.0-CHG-0-11")
    after_first, relations = db.orders(), db.relations()
    v2 = [step("002_audit", "expand", AUDIT, down=AUDIT_DOWN), step("003_drop_note", "contract", DROP_NOTE)]
    applied = db.run("expand", v2)
    db.run("contract", v2)
    assert db.orders() != after_first
    result = db.run("restore", [])
    # Downs exist in the release, but none reached the host: the backup, taken before 002_audit, is the way back.
    assert result["restored"] == {"method": "backup", "steps": ["003_drop_note", "002_audit"]}
    assert result["changed"] is True and result["backup"] == applied["backup"]
    assert db.orders() == after_first and set(db.relations().split(",")) == set(relations.split(","))
    assert db.rows() == [("001_status", sha(STATUS), "1.0.0-CHG-0-11")]
    assert [row["step_id"] for row in result["migrations_table"]] == ["001_status"]
    restored = db.ledger()[-1]
    assert restored["event"] == "restored" and restored["method"] == "backup" and restored["release_id"] == "2.0.0-CHG-1-aa"
    # Put back once: a repeated rollback finds nothing of the release left.
    again = db.run("restore", [])
    assert again["restored"] == {"method": "none", "steps": []} and again["changed"] is False
    assert db.orders() == after_first


def test_a_restore_without_steps_of_a_release_that_applied_nothing_changes_nothing(db: Database) -> None:
    db.run("expand", V2, release_id="1.0.0-CHG-0-11")
    state, relations = db.orders(), db.relations()
    result = db.run("restore", [])
    assert result["restored"] == {"method": "none", "steps": []} and result["changed"] is False and result["backup"] is None
    assert db.orders() == state and set(db.relations().split(",")) == set(relations.split(","))
    assert [event["event"] for event in db.ledger()] == ["backup", "applied", "applied"]


def test_a_restore_without_steps_whose_backup_is_gone_fails_and_changes_nothing(db: Database) -> None:
    applied = db.run("expand", V2)
    migrated = db.orders()
    Path(applied["backup"]["path"]).unlink()
    error = db.failed("restore", [])
    assert "backup" in error.msg and "is missing" in error.msg and "down-migrations are not on this host" in error.msg
    assert db.orders() == migrated and len(db.rows()) == 2


def test_check_mode_plans_a_restore_without_steps(db: Database) -> None:
    applied = db.run("expand", V2)
    migrated = db.orders()
    result = db.run("restore", [], check_mode=True)
    assert result["restored"] == {"method": "backup", "steps": ["002_audit", "001_status"]} and result["changed"] is True
    assert result["backup"] == applied["backup"]
    assert db.orders() == migrated
