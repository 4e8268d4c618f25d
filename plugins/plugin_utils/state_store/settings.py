# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which store a run uses: the pinned trust root says where, the run's environment may only add the password.

The root's ``state_store`` names the backend and its location (``{"backend": "sqlite"}``, the default,
is ``<ledger_dir>/state.sqlite3``; ``{"backend": "postgresql", "host", "port", "dbname", "user"}`` is a
shared database). No Ansible variable is read. The environment carries only the secret:
``OPSGATE_STATE_STORE_DSN`` (what the AWX credential injects) or ``OPSGATE_STATE_STORE_PASSWORD``;
a DSN that names another host, port, database or user than the root is refused, so an operator who
can set the environment can authenticate, not point the run at an empty store where every token
looks unused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DSN_ENV = "OPSGATE_STATE_STORE_DSN"
PASSWORD_ENV = "OPSGATE_STATE_STORE_PASSWORD"
SQLITE_FILE = "state.sqlite3"
DEFAULT_PORT = 5432
# What a DSN from the environment may set besides the pinned fields; not ``options``, ``service`` or
# ``passfile``, which could change the schema search path or the server behind the pinned name.
_DSN_EXTRA = ("password", "sslmode", "sslcert", "sslkey", "sslrootcert", "sslpassword", "connect_timeout", "application_name")
_PINNED = ("host", "port", "dbname", "user")
CONNECT_TIMEOUT = "10"


class StoreError(Exception):
    """The store cannot be reached, read or written; every change run stops before any host (fail closed)."""

    code = "STATE_STORE_ERROR"


@dataclass(frozen=True)
class StoreSettings:
    backend: str
    # For messages and the archive: a file path, or postgresql://user@host:port/dbname (never a password).
    location: str
    sqlite_path: str | None = None
    conninfo: dict[str, str] = field(default_factory=dict, repr=False)


def _parse_dsn(dsn: str) -> dict[str, str]:
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        raise StoreError("the PostgreSQL state store needs psycopg 3 on the controller (pip install 'psycopg[binary]')") from None
    try:
        parsed = conninfo_to_dict(dsn)
    except Exception as exc:  # psycopg.ProgrammingError; its text never holds the password
        raise StoreError(f"{DSN_ENV} is not a libpq connection string or URI: {exc}") from None
    return {key: str(value) for key, value in parsed.items()}


def store_settings(pinned: Mapping[str, Any], ledger_dir: str, environ: Mapping[str, str] | None = None) -> StoreSettings:
    """The settings of the store the pinned root names; ``environ`` (default os.environ) only adds the secret."""
    environ = os.environ if environ is None else environ
    backend = pinned.get("backend", "sqlite")
    if backend == "sqlite":
        path = str(pinned.get("path") or os.path.join(ledger_dir, SQLITE_FILE))
        return StoreSettings("sqlite", path, sqlite_path=path)
    if backend != "postgresql":
        raise StoreError(f"trust root state_store.backend: unknown backend {backend!r}")
    conninfo = {
        "host": str(pinned["host"]),
        "port": str(pinned.get("port", DEFAULT_PORT)),
        "dbname": str(pinned["dbname"]),
        "user": str(pinned["user"]),
        "sslmode": str(pinned.get("sslmode", "prefer")),
        "connect_timeout": CONNECT_TIMEOUT,
        # Overrides PGOPTIONS from the environment: the tables are always the ones in schema public.
        "options": "-c search_path=public",
        "application_name": "opsgate.release",
    }
    dsn = environ.get(DSN_ENV, "")
    if dsn:
        given = _parse_dsn(dsn)
        for key in _PINNED:
            if key in given and given[key] != conninfo[key]:
                raise StoreError(
                    f"{DSN_ENV}: {key} {given[key]!r} differs from the store the trust root pins ({key} {conninfo[key]!r}); "
                    "the environment may carry the password, not choose the database"
                )
        unknown = sorted(set(given) - set(_PINNED) - set(_DSN_EXTRA))
        if unknown:
            raise StoreError(f"{DSN_ENV}: parameters {unknown} are not allowed; allowed besides the pinned ones: {', '.join(_DSN_EXTRA)}")
        conninfo.update({key: value for key, value in given.items() if key in _DSN_EXTRA})
    elif environ.get(PASSWORD_ENV):
        conninfo["password"] = environ[PASSWORD_ENV]
    # Without a password libpq takes ~/.pgpass or a client certificate; PGPASSFILE may only supply a secret.
    location = f"postgresql://{conninfo['user']}@{conninfo['host']}:{conninfo['port']}/{conninfo['dbname']}"
    return StoreSettings("postgresql", location, conninfo=conninfo)
