# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real write failures of the state store, no mock: a SQLite file that cannot be written, a PostgreSQL role whose
UPDATE on a table is revoked (reads and inserts still work: a write in the middle of a run fails, not the first).

As root (CI), file modes do not stop a write, so the SQLite file is made immutable (``chattr +i``; root
cannot write it either); as another user it is made read-only (0400). Either way a new connection still
reads it, and its first write fails with "attempt to write a readonly database".
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pg_cluster
import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import StoreSettings


@contextmanager
def unwritable_sqlite(path: str) -> Iterator[None]:
    if os.geteuid() != 0:
        mode = os.stat(path).st_mode
        os.chmod(path, 0o400)
        try:
            yield
        finally:
            os.chmod(path, mode)
        return
    if shutil.which("chattr") is None:
        pytest.skip("chattr (e2fsprogs) is needed to make a file unwritable for root")
    made = subprocess.run(["chattr", "+i", path], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"this file system does not take chattr +i: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", path], check=True)


@contextmanager
def updates_revoked(cluster: pg_cluster.Cluster, dbname: str, table: str) -> Iterator[None]:
    """The controllers' role (the table's owner here) loses UPDATE on ``table``; given back afterwards."""
    cluster.psql(f"REVOKE UPDATE ON {table} FROM {pg_cluster.ROLE}", dbname=dbname)
    try:
        yield
    finally:
        cluster.psql(f"GRANT UPDATE ON {table} TO {pg_cluster.ROLE}", dbname=dbname)


@contextmanager
def updates_fail(settings: StoreSettings, request: pytest.FixtureRequest, table: str) -> Iterator[None]:
    """Updates of ``table`` fail in the store of ``settings`` (whose tables exist) while the block runs; SQLite: every write."""
    if settings.backend == "sqlite":
        with unwritable_sqlite(settings.sqlite_path or settings.location):
            yield
        return
    cluster = request.getfixturevalue("postgresql_cluster")
    with updates_revoked(cluster, settings.conninfo["dbname"], table):
        yield
