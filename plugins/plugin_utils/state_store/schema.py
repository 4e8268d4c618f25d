# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The store's tables, the same on SQLite and PostgreSQL (portable types, sequence numbers given under the store lock).

Single use rests on constraints, not on reading first: ``consumptions.token_id`` is unique, so two
controllers that race for one token cannot both insert it, whatever their clocks or caches say.
"""

from __future__ import annotations

# 2: archive_attachments (issue 15). A store is upgraded by the first controller of the newer version that opens it.
SCHEMA_VERSION = 2

TABLES = (
    # The store's own version: a newer opsgate.release may add tables, an older one refuses to write a newer store.
    "CREATE TABLE IF NOT EXISTS opsgate_schema (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)",
    # One row per consumed token: the run that took it, on which controller, for which change.
    """CREATE TABLE IF NOT EXISTS consumptions (
        seq BIGINT PRIMARY KEY,
        token_id TEXT NOT NULL UNIQUE,
        token_sha256 TEXT NOT NULL,
        change_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        consumed_at TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        app TEXT NOT NULL,
        env TEXT NOT NULL,
        hosts TEXT NOT NULL,
        owner TEXT,
        kind TEXT NOT NULL,
        incident_id TEXT,
        released_at TEXT
    )""",
    # How a run ended; a run ended once cannot be resumed. The worst outcome of its reports stays.
    """CREATE TABLE IF NOT EXISTS run_outcomes (
        token_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        outcome TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        PRIMARY KEY (token_id, run_id)
    )""",
    """CREATE TABLE IF NOT EXISTS ratifications (
        emergency_token_id TEXT PRIMARY KEY,
        ratification_token_id TEXT NOT NULL UNIQUE,
        ratification_sha256 TEXT NOT NULL,
        change_id TEXT NOT NULL,
        ratified_at TEXT NOT NULL
    )""",
    # The newest signed policy any controller of this store has used (a replayed older policy is refused).
    "CREATE TABLE IF NOT EXISTS policy_seen (id INTEGER PRIMARY KEY, version BIGINT NOT NULL, sha256 TEXT NOT NULL)",
    # Proof that the approval gate passed in one ansible-playbook process (receipt.py).
    """CREATE TABLE IF NOT EXISTS receipts (
        controller TEXT NOT NULL,
        pid BIGINT NOT NULL,
        start_time TEXT NOT NULL,
        token_id TEXT NOT NULL,
        document TEXT NOT NULL,
        written_at TEXT NOT NULL,
        PRIMARY KEY (controller, pid, start_time, token_id)
    )""",
    # Where a gray release of one app in one environment stands (rollout/state.py), one JSON document.
    """CREATE TABLE IF NOT EXISTS rollout_states (
        app TEXT NOT NULL,
        env TEXT NOT NULL,
        document TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (app, env)
    )""",
    # The operations archive: append-only, hash-chained, signed (archive/chain.py). A run's record is
    # written when it starts and again when it ends: each write is a new entry, the newest one counts.
    """CREATE TABLE IF NOT EXISTS archive_entries (
        seq BIGINT PRIMARY KEY,
        kind TEXT NOT NULL,
        run_id TEXT NOT NULL,
        written_at TEXT NOT NULL,
        body TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        entry_hash TEXT NOT NULL UNIQUE,
        keyid TEXT NOT NULL,
        signature TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS archive_entries_run ON archive_entries (run_id)",
    # Files kept with the archive's records (a host's JUnit report), content-addressed: a record names each by its
    # sha256, so the chain covers the content and verify checks it. Written with the record, in its transaction.
    """CREATE TABLE IF NOT EXISTS archive_attachments (
        sha256 TEXT PRIMARY KEY,
        content TEXT NOT NULL,
        stored_at TEXT NOT NULL
    )""",
    # What `opsgate-archive import` / `opsgate-approval import-ledger` took in, so a second import is a no-op.
    "CREATE TABLE IF NOT EXISTS imports (source TEXT PRIMARY KEY, imported_at TEXT NOT NULL, items BIGINT NOT NULL)",
)
