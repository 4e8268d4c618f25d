# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The seam between the migration step and a database engine.

The step (``migrate.py``) plans, backs up, applies and restores through ``Database`` only; an engine
(``postgresql.py`` today; MySQL or Oracle later) implements it with the database's own client tools.
What an engine must guarantee: a step and the row that records it commit together or not at all, a
down-migration and the removal of its row likewise, and a restore puts back exactly what the backup
holds. The password reaches the tools through their environment, never a command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# In the database itself, so that whoever looks at the database sees what was applied to it.
MIGRATIONS_TABLE = "opsgate_migrations"


class DatabaseError(Exception):
    """A client tool failed; the message says which and what the database answered (never the password)."""


@dataclass(frozen=True)
class Connection:
    """How to reach the database. An empty ``host`` (or a socket directory) means the local socket of the host the
    module runs on, as ``os_user``; a network ``host`` means ``user`` with ``password``."""

    name: str
    host: str = ""
    port: int = 5432
    user: str = "postgres"
    os_user: str = "postgres"
    schemas: tuple[str, ...] = ()
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class AppliedStep:
    """One row of the migrations table."""

    app: str
    step_id: str
    phase: str
    sha256: str
    release_id: str
    token_id: str = ""
    applied_at: str = ""


@dataclass(frozen=True)
class Backup:
    path: str
    sha256: str
    bytes: int

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "sha256": self.sha256, "bytes": self.bytes}


class Database(Protocol):
    kind: str

    def ensure_table(self) -> None:
        """Create the migrations table when it is missing."""

    def applied_steps(self, app: str) -> list[AppliedStep]:
        """The rows of ``app``, oldest first; none when the table does not exist yet."""

    def dump(self, path: str) -> Backup:
        """Back the database (or its schemas) up to ``path`` (mode 0600, complete or absent)."""

    def restore(self, path: str, app: str, release_id: str) -> None:
        """Put the backup at ``path`` back in one transaction, and forget the rows ``release_id`` of ``app`` wrote after it."""

    def apply_step(self, sql: str, row: AppliedStep) -> None:
        """Run ``sql`` and insert ``row`` in one transaction."""

    def run_down(self, sql: str, app: str, step_id: str, release_id: str) -> None:
        """Run the down-migration ``sql`` and delete the step's row in one transaction."""
