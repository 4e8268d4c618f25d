# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The archive on both store backends for the tests: a trust root with (or without) pinned archive keys, a signing key file,
raw SQL for tampering, and the records a playbook run left in a SQLite store.

``site`` (a fixture, parametrised over SQLite and a fresh database of the session's PostgreSQL) pins one archive key
and has its private key file in ``OPSGATE_ARCHIVE_SIGNING_KEY``. ``archive_records(ledger_dir)`` reads, read only,
the newest record of each run from the SQLite store of a controller's ledger folder.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pg_cluster
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ansible_collections.opsgate.release.plugins.module_utils.approval.keys import keyid_of, public_key_text
from ansible_collections.opsgate.release.plugins.module_utils.approval.trust_root import Admin, TrustRoot
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.chain import Entry, Verification
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.signing import SIGNING_KEY_ENV
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import read_entries, verify_store, write_run_record
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import PASSWORD_ENV, SQLITE_FILE
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import Store, pinned_store

BACKENDS = ("sqlite", "postgresql")


@dataclass
class SigningKey:
    key: Ed25519PrivateKey
    owner: str
    path: Path

    @property
    def keyid(self) -> str:
        return keyid_of(self.key.public_key())

    @property
    def pem(self) -> str:
        return self.path.read_text()

    def root_entry(self) -> dict[str, str]:
        """The trust root's archive_keys entry, as opsgate-approval keygen --public-out writes it."""
        return {"keyid": self.keyid, "owner": self.owner, "public_key": public_key_text(self.key.public_key())}

    def admin(self) -> Admin:
        return Admin(self.keyid, self.owner, self.key.public_key())


def signing_key(directory: Path, owner: str = "controller-a") -> SigningKey:
    """A fresh Ed25519 key in an unencrypted PEM file (mode 0600), as the AWX credential injects it."""
    key = Ed25519PrivateKey.generate()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{owner}.archive-key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path.chmod(0o600)
    return SigningKey(key, owner, path)


def make_root(ledger_dir: str, state_store: Mapping[str, Any] | None = None, keys: Iterable[SigningKey] = ()) -> TrustRoot:
    """A trust root as load_trust_root returns it (the archive code reads only state_store, ledger_dir and archive_keys)."""
    return TrustRoot(
        version=1,
        admins={},
        threshold=1,
        ledger_dir=ledger_dir,
        max_document_bytes=1024 * 1024,
        sha256="",
        path="/nonexistent/root.json",
        state_store=dict(state_store or {"backend": "sqlite"}),
        archive_keys={key.keyid: key.admin() for key in keys},
    )


@dataclass
class ArchiveSite:
    """One store, its root, and the environment a controller of it runs with."""

    root: TrustRoot
    environ: dict[str, str]
    key: SigningKey | None = None
    extra_keys: list[SigningKey] = field(default_factory=list)

    def store(self) -> Store:
        return pinned_store(self.root, self.environ)

    def with_root(self, keys: Iterable[SigningKey] = (), environ: Mapping[str, str] | None = None) -> ArchiveSite:
        """The same store under a root that pins other archive keys (none: unsigned)."""
        keys = list(keys)
        return ArchiveSite(make_root(self.root.ledger_dir, self.root.state_store, keys), dict(self.environ if environ is None else environ))

    def write(self, record: Mapping[str, Any], secrets: Iterable[str] = ()) -> Entry:
        return write_run_record(self.root, record, secrets, self.environ)[0]

    def entries(self) -> list[Entry]:
        with self.store() as store:
            return read_entries(store)

    def verify(self, head: str | None = None) -> Verification:
        with self.store() as store:
            return verify_store(store, self.root, head)

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        """Tamper as someone with write access to the database would, bypassing the archive code."""
        with self.store() as store, store.transaction(write=True) as tx:
            tx.execute(statement, params)

    def raw_rows(self) -> str:
        """Every column of every entry as text (to search for something that must not be stored)."""
        with self.store() as store, store.transaction() as tx:
            return json.dumps(tx.rows("SELECT * FROM archive_entries ORDER BY seq"), default=str)


def backend_environ(backend: str, request: pytest.FixtureRequest) -> tuple[dict[str, Any], dict[str, str]]:
    if backend == "sqlite":
        return {"backend": "sqlite"}, {}
    return request.getfixturevalue("postgresql_store"), {PASSWORD_ENV: pg_cluster.PASSWORD}


@pytest.fixture(params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path: Path) -> ArchiveSite:
    """A store on each backend under a root that pins one archive key; the controller has that key."""
    pinned, environ = backend_environ(request.param, request)
    key = signing_key(tmp_path / "keys")
    ledger = tmp_path / "ledger"
    return ArchiveSite(make_root(str(ledger), pinned, [key]), {**environ, SIGNING_KEY_ENV: str(key.path)}, key)


def record(run_id: str, status: str = "success", started: str = "2025-05-30T20:00:00Z", **extra: Any) -> dict[str, Any]:
    """A small record of the callback's shape."""
    return {
        "format": "opsgate.release.archive/1",
        "run_id": run_id,
        "playbook": "playbooks/deploy.yml",
        "started": started,
        "ended": None if status == "running" else started,
        "status": status,
        "change_id": extra.pop("change_id", "CHG-2025-0042"),
        "hosts": {"web1": {"result": "changed", "version_before": "1.0.0", "version_after": "1.1.0"}},
        **extra,
    }


def _sqlite(ledger_dir: Path | str, sql: str) -> list[tuple[Any, ...]]:
    path = os.path.join(str(ledger_dir), SQLITE_FILE)
    if not os.path.exists(path):
        return []
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            return list(connection.execute(sql))
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
    finally:
        connection.close()


def archive_records(ledger_dir: Path | str) -> list[dict[str, Any]]:
    """The newest record of each run in the SQLite store of ``ledger_dir``, in the order the runs were first written."""
    rows = _sqlite(ledger_dir, "SELECT run_id, body FROM archive_entries WHERE kind = 'record' ORDER BY seq")
    newest: dict[str, dict[str, Any]] = {}
    for run_id, body in rows:
        newest[run_id] = json.loads(body)
    return list(newest.values())


def archive_text(ledger_dir: Path | str) -> str:
    """Every entry of the SQLite store in ``ledger_dir`` as text, and the database file's bytes (to search for secrets)."""
    rows = _sqlite(ledger_dir, "SELECT * FROM archive_entries ORDER BY seq")
    files = [Path(ledger_dir) / name for name in (SQLITE_FILE, SQLITE_FILE + "-wal")]
    raw = "".join(path.read_bytes().decode("latin-1") for path in files if path.exists())
    return json.dumps(rows, default=str) + raw
