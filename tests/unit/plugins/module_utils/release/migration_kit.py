# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A database of the session's PostgreSQL cluster with an orders table, the steps of a release, and the module's
parameters for them: what the migration tests share."""

from __future__ import annotations

import copy
import hashlib
import itertools
from pathlib import Path
from typing import Any

import pg_cluster
import pytest

from ansible_collections.opsgate.release.plugins.module_utils.release.migration import host_ledger
from ansible_collections.opsgate.release.plugins.module_utils.release.migration.migrate import MigrationFailed, run_migration

_names = itertools.count(1)
APP = "shop"

STATUS = "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';\nCREATE INDEX orders_status ON orders (status);\n"
STATUS_DOWN = "DROP INDEX IF EXISTS orders_status;\nALTER TABLE orders DROP COLUMN IF EXISTS status;\n"
AUDIT = "CREATE TABLE order_audit (order_id integer REFERENCES orders (id), note text);\nCREATE VIEW open_orders AS SELECT id FROM orders;\n"
AUDIT_DOWN = "DROP VIEW open_orders;\nDROP TABLE order_audit;\n"
DROP_NOTE = "ALTER TABLE orders DROP COLUMN note;\n"
PRIORITY = "ALTER TABLE orders ADD COLUMN priority integer;\nUPDATE orders SET priority = 1;\n"
# Fails halfway: the first statement runs, the second divides by zero.
BROKEN = "UPDATE orders SET item = item || '-changed';\nUPDATE orders SET priority = priority / (id - id);\n"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def step(step_id: str, phase: str, sql: str, down: str | None = None) -> dict[str, Any]:
    """A step as the action plugin sends it to the module (AnsibleModule fills the options not given)."""
    return {
        "id": step_id,
        "phase": phase,
        "sha256": sha(sql),
        "sql": sql,
        "down_sha256": sha(down) if down else "",
        "down_sql": down,
        "file": None,
        "down": None,
    }


class Database:
    """A fresh database of the session's cluster with an orders table of 200 rows, owned by the test role."""

    def __init__(self, cluster: pg_cluster.Cluster, tmp_path: Path, schemas: tuple[str, ...] = ()) -> None:
        self.cluster = cluster
        self.name = f"migrate_{next(_names)}"
        cluster.new_database(self.name)
        self.sql(
            "CREATE TABLE orders (id integer PRIMARY KEY, item text NOT NULL, note text);"
            "INSERT INTO orders SELECT n, 'item-' || n, 'note ' || n FROM generate_series(1, 200) AS n;"
            f"ALTER TABLE orders OWNER TO {pg_cluster.ROLE}"
        )
        self.backup_dir = tmp_path / "backups"
        self.schemas = schemas

    def sql(self, text: str) -> str:
        return self.cluster.psql(text, dbname=self.name)

    def orders(self, table: str = "orders") -> str:
        """Row count, a checksum over every row in id order, and the columns: what "back to its backup" compares."""
        rows = self.sql(f"SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY id)) FROM {table} t")
        name = table.rsplit(".", 1)[-1]
        columns = self.sql(f"SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = '{name}'")
        return f"{rows} [{columns}]"

    def relations(self) -> str:
        return self.sql(
            "SELECT string_agg(n.nspname || '.' || c.relname, ',' ORDER BY 1) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'v', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        )

    def rows(self) -> list[tuple[str, str, str]]:
        text = self.sql("SELECT string_agg(step_id || ' ' || sha256 || ' ' || release_id, E'\\n' ORDER BY applied_at, step_id) FROM opsgate_migrations")
        return [tuple(line.split()) for line in text.splitlines()]  # type: ignore[misc]

    def database(self, **overrides: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "kind": "postgresql",
            "run_on": "db1",
            "name": self.name,
            "host": "127.0.0.1",
            "port": self.cluster.port,
            "user": pg_cluster.ROLE,
            "os_user": "postgres",
            "schemas": list(self.schemas),
            "backup_dir": str(self.backup_dir),
        }
        values.update(overrides)
        return values

    def params(
        self, phase: str, steps: list[dict[str, Any]], release_id: str = "2.0.0-CHG-1-aa", password: str | None = pg_cluster.PASSWORD, **over: Any
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "approval": None,
            "change": None,
            "host_token": None,
            "host_policy": None,
            "host_change": None,
            "app": APP,
            "version": release_id.split("-", 1)[0],
            "release_id": release_id,
            "artifact_sha256": "3f" * 32,
            "change_id": "CHG-1",
            "token_id": f"apv-{release_id}",
            "who": "tester",
            "phase": phase,
            "database": self.database(**over.pop("database", {})),
            "steps": copy.deepcopy(steps),
            "login_password": password,
        }
        params.update(over)
        return params

    def run(self, phase: str, steps: list[dict[str, Any]], check_mode: bool = False, **kwargs: Any) -> dict[str, Any]:
        return run_migration(self.params(phase, steps, **kwargs), check_mode)

    def failed(self, phase: str, steps: list[dict[str, Any]], **kwargs: Any) -> MigrationFailed:
        with pytest.raises(MigrationFailed) as caught:
            self.run(phase, steps, **kwargs)
        return caught.value

    def ledger(self) -> list[dict[str, Any]]:
        return host_ledger.read_events(str(self.backup_dir / host_ledger.LEDGER_NAME))
