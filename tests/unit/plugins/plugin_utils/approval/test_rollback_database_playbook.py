# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 15, "a rollback of the release restores it", in real ansible-playbook runs: 1.0.0 deployed, then 2.0.0 whose
manifest migrates a real PostgreSQL database (its expand on core-a1 before the hosts switch), then playbooks/rollback.yml
back to 1.0.0. The plan the approvers sign names the database and the release left; a database changed after signing
is refused before the token is used; the signed rollback puts every host back and then the database, as it was before
2.0.0 (rows, checksum, columns), and its last message and the archive record say so.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pg_cluster
import pytest
from archive_kit import archive_records
from site_kit import PLAYBOOK_BIN, REPO, _out
from test_hostile_change import Approved

pytestmark = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason="ansible-playbook is not installed next to the test interpreter")

EXPAND = "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';\nCREATE TABLE order_audit (order_id integer, note text);\n"


class Database:
    def __init__(self, cluster: pg_cluster.Cluster, root: Path) -> None:
        self.cluster = cluster
        self.name = f"rollback_db_{abs(hash(root)) % 10**8}"
        cluster.new_database(self.name)
        self.sql(
            "CREATE TABLE orders (id integer PRIMARY KEY, item text NOT NULL);"
            f"INSERT INTO orders SELECT n, 'item-' || n FROM generate_series(1, 50) n; ALTER TABLE orders OWNER TO {pg_cluster.ROLE}"
        )
        self.backup_dir = root / "backups"
        self.before = ""

    def sql(self, text: str) -> str:
        return self.cluster.psql(text, dbname=self.name)

    def state(self) -> str:
        rows = self.sql("SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY id)) FROM orders t")
        columns = self.sql("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'orders'")
        # The migrations table is created before the first backup, so it stays: its rows are compared apart.
        tables = self.sql(
            "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' "
            "AND relname <> 'opsgate_migrations'"
        )
        return f"{rows} [{columns}] {tables}"


def _releases_with_a_migration(database: Database) -> Callable[[Approved], tuple[str, ...]]:
    def prepare(approved: Approved) -> tuple[str, ...]:
        """1.0.0 deployed, then 2.0.0 with an expand step on core-a1's database; returns the rollback's arguments."""
        site = approved.site
        approved.deploy()
        database.before = database.state()
        built = subprocess.run(
            [sys.executable, str(REPO / "demo/sample_app/build.py"), "2.0.0", str(site.root / "artifacts")], capture_output=True, text=True, check=True
        )
        sha2, artifact2 = built.stdout.split()
        step = site.root / "migrations" / "001_orders_status.sql"
        step.parent.mkdir()
        step.write_text(EXPAND)
        migrations = {
            "database": {
                "kind": "postgresql",
                "run_on": "core-a1",
                "name": database.name,
                "host": "127.0.0.1",
                "port": database.cluster.port,
                "user": pg_cluster.ROLE,
                "backup_dir": str(database.backup_dir),
            },
            "steps": [{"id": "001_orders_status", "phase": "expand", "file": str(step), "sha256": hashlib.sha256(EXPAND.encode()).hexdigest()}],
        }
        inventory = approved.inventory()
        for name, host in inventory["all"]["hosts"].items():
            host["opsgate_release"].update(version="2.0.0", change_id="CHG-2025-0200", migrations=migrations)
            host["opsgate_release"]["artifacts"][0]["src"] = artifact2
            if name == "core-a1":
                host["opsgate_database_password"] = pg_cluster.PASSWORD
        approved.write_inventory(inventory)
        approved.deploy("-e", f"app_sha256={sha2}")
        assert "status" in database.state() and "order_audit" in database.state()
        rollback = ("-e", "rollback_version=1.0.0", "-e", f"rollback_artifact_sha256={site.sha}", "-e", "rollback_change_id=CHG-2025-0201")
        return ("-e", f"app_sha256={sha2}", *rollback)

    return prepare


def test_a_signed_rollback_puts_the_hosts_back_and_then_the_database(tmp_path: Path, postgresql_cluster: pg_cluster.Cluster) -> None:
    database = Database(postgresql_cluster, tmp_path)
    approved = Approved(tmp_path, "rollback.yml", prepare=_releases_with_a_migration(database))
    migrations = approved.change["migrations"]
    left = migrations["restore_release_id"]
    assert left.startswith("2.0.0-CHG-2025-0200-") and migrations["steps"] == []
    assert migrations["database"]["name"] == database.name and migrations["database"]["run_on"] == "core-a1"
    assert migrations["database"]["os_user"] == "postgres" and migrations["database"]["schemas"] == []  # the manifest's defaults

    # Another database than the one the approvers signed: refused at the gate, the token unused, no host changed.
    other = {**migrations["database"], "name": "postgres"}
    approved.refused("-e", json.dumps({"rollback_database": other}))
    assert "status" in database.state()

    done = approved.site.play("rollback.yml", approved.token, *approved.args)
    assert done.returncode == 0, _out(done)[-4000:]
    # The default callback folds a long message: compare with its words joined again.
    assert f"database on core-a1: restored from the backup taken before {left} (sha256 " in " ".join(done.stdout.split()), done.stdout[-4000:]
    assert database.state() == database.before
    assert database.sql("SELECT count(*) FROM opsgate_migrations") == "0"
    for host in approved.inventory()["all"]["hosts"].values():
        current = Path(host["opsgate_release"]["base_dir"]) / "current"
        assert current.resolve().name.startswith("1.0.0-"), current.resolve()
    ledger = [json.loads(line) for line in (database.backup_dir / "opsgate-migrations.jsonl").read_text().splitlines()]
    assert ledger[-1]["event"] == "restored" and ledger[-1]["release_id"] == left and ledger[-1]["change_id"] == "CHG-2025-0201"
    rollback_record = archive_records(approved.site.root / "ledger")[-1]
    assert [(item["phase"], item["restored"]["method"], item["failed"]) for item in rollback_record["migrations"]] == [("restore", "backup", False)]
