# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One connection to the state store and its transactions, over SQLite (stdlib) or PostgreSQL (psycopg 3).

Writers are serialised store-wide (SQLite ``BEGIN IMMEDIATE``, PostgreSQL a transaction-level advisory
lock), so a rule that reads before it writes (the resume rule, "no unratified emergency") sees every
committed write of every controller. SQL is written once with ``?`` placeholders. Every failure is a
StoreError naming the backend and the location, never the password.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from .schema import SCHEMA_VERSION, TABLES
from .settings import StoreError, StoreSettings, store_settings

# pg_advisory_xact_lock key: "opsgate" in ASCII, so it does not collide with another application's lock.
ADVISORY_LOCK_KEY = 0x6F707367617465
SQLITE_BUSY_TIMEOUT = 30.0


class Transaction:
    def __init__(self, cursor: Any, backend: str) -> None:
        self._cursor = cursor
        self._backend = backend

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._backend == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._cursor.execute(self._sql(sql), tuple(params))
        return self._cursor.rowcount

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(self._sql(sql), tuple(params))
        return [tuple(row) for row in self._cursor.fetchall()]

    def row(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def next_seq(self, table: str) -> int:
        """The next sequence number of ``table``; safe because writers hold the store lock."""
        found = self.row(f"SELECT COALESCE(MAX(seq), 0) FROM {table}")
        return int(found[0]) + 1 if found else 1


def _check_sqlite_place(path: str) -> None:
    """The file and its folder: this user's or root's, nobody else may write them (who could, could delete a consumption)."""
    directory = os.path.dirname(path) or "."
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.stat(directory)
    except OSError as exc:
        raise StoreError(f"state store {path}: cannot create its folder: {exc.strerror}") from None
    owners = {0, os.geteuid()}
    if info.st_uid not in owners or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise StoreError(f"state store {path}: folder {directory} must be owned by root or this user and writable by nobody else")
    if os.path.lexists(path):
        file_info = os.lstat(path)
        if not stat.S_ISREG(file_info.st_mode):
            raise StoreError(f"state store {path}: not a regular file (a symbolic link or other kind is refused)")
        if file_info.st_uid not in owners or file_info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise StoreError(f"state store {path}: must be owned by root or this user and writable by nobody else")


class Store:
    """A connection; ``transaction()`` commits on success and rolls back on any exception."""

    def __init__(self, settings: StoreSettings, connection: Any) -> None:
        self.settings = settings
        self._connection = connection
        self._schema_checked = False

    @property
    def backend(self) -> str:
        return self.settings.backend

    def _fail(self, what: str, exc: BaseException) -> StoreError:
        return StoreError(f"state store {self.settings.location} ({self.backend}): {what}: {exc}")

    def _begin(self, write: bool) -> Any:
        cursor = self._connection.cursor()
        if self.backend == "sqlite":
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        elif write:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
        return cursor

    def _ensure_schema(self, tx: Transaction) -> None:
        for ddl in TABLES:
            tx.execute(ddl)
        found = tx.row("SELECT version FROM opsgate_schema WHERE id = 1")
        if found is None:
            tx.execute("INSERT INTO opsgate_schema (id, version) VALUES (1, ?)", (SCHEMA_VERSION,))
        elif int(found[0]) < SCHEMA_VERSION:
            # The tables above are what an older store lacked; from now on older controllers refuse this store.
            tx.execute("UPDATE opsgate_schema SET version = ? WHERE id = 1", (SCHEMA_VERSION,))
        elif int(found[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"state store {self.settings.location}: schema version {found[0]} was written by a newer opsgate.release "
                f"(this one knows version {SCHEMA_VERSION}); upgrade the collection on this controller"
            )

    def _current_version(self) -> int | None:
        """The store's schema version, or None before the first controller created the tables."""
        cursor = self._begin(write=False)
        try:
            cursor.execute("SELECT version FROM opsgate_schema WHERE id = 1")
            found = cursor.fetchone()
        except Exception as exc:
            self._rollback()
            if _is_database_error(exc):
                return None
            raise
        self._connection.commit()
        return int(found[0]) if found else None

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Transaction]:
        """Read or write; the first transaction creates the tables (always under the write lock)."""
        try:
            if not self._schema_checked:
                # The usual case, a store at this version, costs one read and no writer lock.
                if self._current_version() != SCHEMA_VERSION:
                    cursor = self._begin(write=True)
                    self._ensure_schema(Transaction(cursor, self.backend))
                    self._connection.commit()
                self._schema_checked = True
            cursor = self._begin(write)
        except StoreError:
            self._rollback()
            raise
        except Exception as exc:  # sqlite3.Error, psycopg.Error
            self._rollback()
            raise self._fail("cannot start a transaction", exc) from None
        try:
            yield Transaction(cursor, self.backend)
        except StoreError:
            self._rollback()
            raise
        except Exception as exc:
            self._rollback()
            if _is_database_error(exc):
                raise self._fail("a statement failed", exc) from None
            raise
        except BaseException:
            self._rollback()
            raise
        try:
            self._connection.commit()
        except Exception as exc:
            self._rollback()
            raise self._fail("cannot commit", exc) from None

    def _rollback(self) -> None:
        # The connection may be lost already; the caller has the error that matters.
        with suppress(Exception):
            self._connection.rollback()

    def close(self) -> None:
        with suppress(Exception):
            self._connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_database_error(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.Error) or type(exc).__module__.split(".")[0] == "psycopg"


@contextmanager
def _without_libpq_environment() -> Iterator[None]:
    """PGHOSTADDR, PGSERVICE, PGOPTIONS... could redirect what the pinned conninfo names; only a password file may stay."""
    keep = {"PGPASSFILE", "PGPASSWORD"}
    saved = {key: value for key, value in os.environ.items() if key.startswith("PG") and key not in keep}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


def open_store(settings: StoreSettings) -> Store:
    """Connect (SQLite: create the file 0600 in a private folder); raises StoreError, so the caller fails closed."""
    if settings.backend == "sqlite":
        path = settings.sqlite_path or settings.location
        _check_sqlite_place(path)
        try:
            if not os.path.lexists(path):
                # Another controller process may create it at the same instant: then it exists, which is all we need.
                with suppress(FileExistsError):
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
            connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT, isolation_level=None)
            # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE for writers).
            _switch_to_wal(connection)
            connection.execute("PRAGMA synchronous=FULL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"state store {path} (sqlite): cannot open: {exc}") from None
        return Store(settings, _SqliteConnection(connection))
    try:
        import psycopg
    except ImportError:
        raise StoreError("the PostgreSQL state store needs psycopg 3 on the controller (pip install 'psycopg[binary]')") from None
    try:
        with _without_libpq_environment():
            connection = psycopg.connect(**settings.conninfo, autocommit=False)
    except psycopg.Error as exc:
        raise StoreError(f"state store {settings.location} (postgresql): cannot connect: {str(exc).strip()}") from None
    return Store(settings, connection)


def _switch_to_wal(connection: sqlite3.Connection) -> None:
    """WAL once per file; the switch needs the file to itself, so a new store opened by several processes at once retries."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class _SqliteConnection:
    """sqlite3 in autocommit mode with explicit BEGIN: commit/rollback only when a transaction is open."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def cursor(self) -> sqlite3.Cursor:
        return self._connection.cursor()

    def commit(self) -> None:
        if self._connection.in_transaction:
            self._connection.execute("COMMIT")

    def rollback(self) -> None:
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK")

    def close(self) -> None:
        self._connection.close()


def pinned_store(root: Any, environ: Mapping[str, str] | None = None) -> Store:
    """The store the pinned trust root names (``root.state_store``, default SQLite in ``root.ledger_dir``)."""
    return open_store(store_settings(root.state_store, root.ledger_dir, environ))
