# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Session fixtures shared across tests/unit: one real PostgreSQL cluster for every state store test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pg_cluster
import pytest

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgresql_cluster() -> Iterator[pg_cluster.Cluster]:
    cluster = pg_cluster.start_cluster()
    try:
        yield cluster
    finally:
        pg_cluster.remove_cluster(cluster)


@pytest.fixture
def postgresql_store(postgresql_cluster: pg_cluster.Cluster) -> dict:
    """A fresh database of the session's cluster; returns the trust root's state_store for it."""
    return postgresql_cluster.new_database(f"opsgate_test_{next(_databases)}")
