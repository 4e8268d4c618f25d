# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The token ledger on both store backends for the approval tests: SQLite in a temporary folder, a fresh database of the session's PostgreSQL.

``ledger`` (a fixture) is parametrised over both; ``open_ledger(settings)`` gives another connection to the same store (another
controller). For the playbook tests, ``consumed_rows`` and ``receipt_rows`` read the SQLite store a run left in its ledger folder.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pg_cluster
import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.token_ledger import TokenLedger
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import PASSWORD_ENV, SQLITE_FILE, StoreSettings, store_settings
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import open_store

BACKENDS = ("sqlite", "postgresql")


def settings_for(backend: str, request: pytest.FixtureRequest, ledger_dir: str) -> StoreSettings:
    if backend == "sqlite":
        return store_settings({"backend": "sqlite"}, ledger_dir, environ={})
    pinned = request.getfixturevalue("postgresql_store")
    return store_settings(pinned, ledger_dir, environ={PASSWORD_ENV: pg_cluster.PASSWORD})


@pytest.fixture(params=BACKENDS)
def ledger_settings(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSettings:
    """One store per test: SQLite under tmp_path/ledger, or a new PostgreSQL database."""
    return settings_for(request.param, request, str(tmp_path / "ledger"))


def open_ledger(settings: StoreSettings) -> TokenLedger:
    """A ledger over its own connection (a controller of its own); close it with ``ledger.store.close()``."""
    return TokenLedger(open_store(settings))


@pytest.fixture
def ledger(ledger_settings: StoreSettings) -> Iterator[TokenLedger]:
    opened = open_ledger(ledger_settings)
    try:
        yield opened
    finally:
        opened.store.close()


def _sqlite_rows(ledger_dir: Path | str, sql: str) -> list[dict[str, Any]]:
    """Rows of the SQLite store in ``ledger_dir``, read only; none when no run has created it."""
    path = os.path.join(str(ledger_dir), SQLITE_FILE)
    if not os.path.exists(path):
        return []
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        connection.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in connection.execute(sql)]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
    finally:
        connection.close()


def consumed_rows(ledger_dir: Path | str) -> list[dict[str, Any]]:
    """The consumptions a run left in the SQLite store of ``ledger_dir``, oldest first."""
    return _sqlite_rows(ledger_dir, "SELECT * FROM consumptions ORDER BY seq")


def receipt_rows(ledger_dir: Path | str) -> list[dict[str, Any]]:
    """The receipts (their documents) in the SQLite store of ``ledger_dir``; readiness receipts included (token_id readiness:... and readiness-facts:...)."""
    rows = _sqlite_rows(ledger_dir, "SELECT controller, pid, start_time, token_id, document FROM receipts ORDER BY written_at, token_id")
    return [{**row, "document": json.loads(row["document"])} for row in rows]
