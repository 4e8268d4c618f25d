# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The archive in the state store: an append-only, hash-chained, signed log (table ``archive_entries``).

Every write of a run's record (the callback writes it when the run starts, with status running,
and again when it ends) appends one entry under the store's writer lock, linked to the current
head (chain.py). Readers take the newest entry of each run. Nothing here updates or deletes an
entry; only a prune (retention.py) removes the oldest ones, behind a signed checkpoint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from . import attachments as attachments_module
from .chain import GENESIS, KIND_RECORD, ChainHead, Entry, Verification, canonical_json, new_entry, verify_chain
from .errors import ArchiveError, ArchiveNotWritable
from .record import format_time, text_sha256
from .signing import ArchiveSigner, load_signer

try:  # the collection
    from ..state_store.settings import StoreError
    from ..state_store.store import Store, Transaction, pinned_store
except ImportError:  # bin/ scripts: plugins/plugin_utils on sys.path, archive a top-level package
    from state_store.settings import StoreError  # type: ignore[no-redef]
    from state_store.store import Store, Transaction, pinned_store  # type: ignore[no-redef]

_MIN_SECRET = 12
ENTRY_COLUMNS = "seq, kind, run_id, written_at, body, prev_hash, entry_hash, keyid, signature"
_INSERT = f"INSERT INTO archive_entries ({ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_REQUIRED = ("run_id", "started", "status", "hosts")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def secret_strings(value: Any) -> list[str]:
    """Every string inside a secret value (a token as text, or as the mapping ``-e @token.json`` gives)."""
    found: list[str] = []
    if isinstance(value, str):
        found.append(value)
        stripped = value.strip()
        if stripped != value:
            found.append(stripped)
    elif isinstance(value, Mapping):
        found.append(json.dumps(value, sort_keys=True))
        for item in value.values():
            found.extend(secret_strings(item))
    elif isinstance(value, (list, tuple)):
        for item in value:
            found.extend(secret_strings(item))
    return [item for item in found if len(item) >= _MIN_SECRET]


def redact(text: str, secrets: Iterable[str]) -> str:
    """Last line of defence: the record is built from allow-listed fields, this catches what slipped through."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        for form in (secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]):
            if form and form in text:
                text = text.replace(form, "[REDACTED]")
    return text


def check_record(record: Any, where: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise ArchiveError(f"{where}: a record is a JSON object, found {type(record).__name__}")
    for key in _REQUIRED:
        if key not in record:
            raise ArchiveError(f"{where}: field {key!r} is missing")
    if not isinstance(record["run_id"], str) or not record["run_id"]:
        raise ArchiveError(f"{where}: field 'run_id' must be a non-empty string, found {record['run_id']!r:.80}")
    if not isinstance(record["hosts"], dict):
        raise ArchiveError(f"{where}: field 'hosts' must be an object keyed by host name, found {record['hosts']!r:.80}")
    return record


def record_body(record: Mapping[str, Any], secrets: Iterable[str] = ()) -> str:
    """The entry body: the record's canonical JSON with every secret replaced by ``[REDACTED]``."""
    try:
        text = redact(canonical_json(json.loads(json.dumps(record, default=str))), secrets)
        # Redaction works on text; parse it again so the stored body is canonical JSON whatever a secret looked like.
        return canonical_json(json.loads(text))
    except ValueError as exc:
        raise ArchiveError(f"run {record.get('run_id')!r}: the record cannot be written as JSON: {exc}") from None


def _now() -> str:
    return format_time(datetime.now(UTC))


def seal_attachments(record: Mapping[str, Any], texts: Mapping[str, str], secrets: Iterable[str] = ()) -> tuple[dict[str, Any], dict[str, str]]:
    """The record as written, and sha256 -> text of the attachments it names.

    Each text is redacted like the body; one that changed is named by the digest of what is stored (``redacted: true``),
    since the chain must cover the stored bytes. A named attachment whose text is not given, or does not hash to
    its name, is refused: the record would name something the store does not hold.
    """
    named = record.get("attachments")
    if named is None:
        return dict(record), {}
    where = f"run {record.get('run_id')!r}"
    if not isinstance(named, list):
        raise ArchiveError(f"{where}: field 'attachments' must be a list, found {type(named).__name__}")
    secrets = list(secrets)
    sealed: list[dict[str, Any]] = []
    rows: dict[str, str] = {}
    for item in named:
        digest = item.get("sha256") if isinstance(item, Mapping) else None
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not isinstance(digest, str) or not _SHA256.match(digest):
            raise ArchiveError(f"{where}: an attachment must be an object with a name and a sha256 (64 hex), found {item!r:.120}")
        reference = dict(item)
        if reference.get("stored", True) is False:
            sealed.append(reference)
            continue
        text = texts.get(digest)
        if text is None or text_sha256(text) != digest:
            raise ArchiveError(f"{where}: attachment {reference['name']} (sha256 {digest}): its text was not given with the record, or has another sha256")
        kept = redact(text, secrets)
        if kept != text:
            reference.update(sha256=text_sha256(kept), bytes=len(kept.encode("utf-8")), redacted=True)
        rows[reference["sha256"]] = kept
        sealed.append(reference)
    return {**record, "attachments": sealed}, rows


def entry_from_row(row: tuple[Any, ...]) -> Entry:
    seq, kind, run_id, written_at, body, prev_hash, hashed, keyid, signature = row
    return Entry(int(seq), str(kind), str(run_id), str(written_at), str(body), str(prev_hash), str(hashed), str(keyid or ""), str(signature or ""))


# writing ----------------------------------------------------------------------------------------


def append_entry(tx: Transaction, kind: str, run_id: str, body: str, signer: ArchiveSigner | None, written_at: str | None = None) -> Entry:
    """Append one entry after the current head; ``tx`` must be a write transaction (it holds the store's writer lock)."""
    head = tx.row("SELECT seq, entry_hash FROM archive_entries ORDER BY seq DESC LIMIT 1")
    seq, prev_hash = (int(head[0]) + 1, str(head[1])) if head else (1, GENESIS)
    entry = new_entry(seq, prev_hash, kind, run_id, written_at or _now(), body, signer.sign if signer else None, signer.keyid if signer else "")
    tx.execute(_INSERT, (entry.seq, entry.kind, entry.run_id, entry.written_at, entry.body, entry.prev_hash, entry.entry_hash, entry.keyid, entry.signature))
    return entry


def append_record(
    store: Store,
    record: Mapping[str, Any],
    secrets: Iterable[str] = (),
    signer: ArchiveSigner | None = None,
    written_at: str | None = None,
    attachments: Mapping[str, str] | None = None,
) -> Entry:
    """Append a run's record (redacted) as a new entry, with the texts of the attachments it names (sha256 -> text),
    in one transaction; the newest entry of a run is its record."""
    secrets = list(secrets)
    sealed, texts = seal_attachments(check_record(dict(record), f"run {record.get('run_id')!r}"), attachments or {}, secrets)
    body = record_body(sealed, secrets)
    when = written_at or _now()
    with store.transaction(write=True) as tx:
        attachments_module.keep(tx, texts, when)
        return append_entry(tx, KIND_RECORD, str(record["run_id"]), body, signer, when)


def write_run_record(
    root: Any,
    record: Mapping[str, Any],
    secrets: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    attachments: Mapping[str, str] | None = None,
) -> tuple[Entry, str]:
    """Sign (if the root pins archive keys) and append ``record`` to the store the root pins; returns the entry and the store's location.

    ``attachments``: sha256 -> text of the files the record names (RunRecorder.attachment_texts()).
    Raises ArchiveNotWritable (fail closed): no signing key where one is pinned, or a store that cannot be written.
    """
    signer = load_signer(root, environ)
    try:
        with pinned_store(root, environ) as store:
            return append_record(store, record, secrets, signer, attachments=attachments), store.settings.location
    except StoreError as exc:
        raise ArchiveNotWritable(f"the operations archive cannot be written: {exc}") from None


class _ProbeDone(Exception):
    """Raised inside the probe's transaction so that the store rolls it back."""


def _probe(store: Store, signer: ArchiveSigner | None) -> None:
    try:
        with store.transaction(write=True) as tx:
            append_entry(tx, KIND_RECORD, "opsgate-archive-probe", canonical_json({"probe": True}), signer)
            # A role that may append entries but not attachments would lose a run's end record: probe both.
            attachments_module.keep(tx, {"0" * 64: "opsgate-archive-probe"}, _now())
            raise _ProbeDone
    except _ProbeDone:
        pass


def check_archive_writable(root: Any, environ: Mapping[str, str] | None = None, store: Store | None = None) -> None:
    """Raise ArchiveNotWritable unless a record could be appended now: for the approval gate, before any host.

    Checks the signing key (present, readable, pinned; only if the root pins archive keys), that
    the store the root pins is reachable, and that this controller may append to ``archive_entries``
    under the writer lock: a signed probe entry is inserted and rolled back, so nothing is left.
    ``store``: a connection the caller has open to the pinned store already (none: one is opened and closed).
    """
    signer = load_signer(root, environ)
    try:
        if store is not None:
            _probe(store, signer)
            return
        with pinned_store(root, environ) as opened:
            _probe(opened, signer)
    except StoreError as exc:
        raise ArchiveNotWritable(f"the operations archive cannot be written: {exc}") from None


def write_record(directory: Any, record: Mapping[str, Any], secrets: Iterable[str] = ()) -> str:
    """Kept for ``bin/opsgate-approval ratify``: appends to the pinned store; ``directory`` (the old folder) is ignored.

    Returns a description of the entry (store, seq, hash) where the old function returned a file path.
    """
    del directory
    try:
        from ...module_utils.approval.trust_root import load_trust_root
    except ImportError:
        from approval.trust_root import load_trust_root  # type: ignore[no-redef]
    entry, location = write_run_record(load_trust_root(), record, secrets)
    return f"{location} seq {entry.seq} sha256 {entry.entry_hash}"


# reading ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRecord:
    """A run's newest record and the entry that holds it."""

    seq: int
    entry_hash: str
    written_at: str
    record: dict[str, Any]


def _record_of(seq: Any, run_id: Any, body: Any) -> dict[str, Any]:
    where = f"archive entry seq {seq} (run {run_id})"
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ArchiveError(f"{where}: the body is not JSON: {exc}") from None
    return check_record(data, where)


def entries_in(tx: Transaction) -> list[Entry]:
    """Every entry, in seq order, read in the caller's transaction."""
    return [entry_from_row(row) for row in tx.rows(f"SELECT {ENTRY_COLUMNS} FROM archive_entries ORDER BY seq")]


def read_entries(store: Store) -> list[Entry]:
    """Every entry, in seq order (what verify reads)."""
    with store.transaction() as tx:
        return entries_in(tx)


def read_head(store: Store) -> ChainHead | None:
    with store.transaction() as tx:
        row = tx.row("SELECT seq, entry_hash FROM archive_entries ORDER BY seq DESC LIMIT 1")
    return ChainHead(int(row[0]), str(row[1])) if row else None


def iter_records(store: Store) -> list[StoredRecord]:
    """The newest record of every run, oldest run first (by start time, then run id)."""
    sql = (
        "SELECT seq, run_id, written_at, body, entry_hash FROM archive_entries "
        "WHERE kind = ? AND seq IN (SELECT MAX(seq) FROM archive_entries WHERE kind = ? GROUP BY run_id)"
    )
    with store.transaction() as tx:
        rows = tx.rows(sql, (KIND_RECORD, KIND_RECORD))
    found = [StoredRecord(int(seq), str(hashed), str(written_at), _record_of(seq, run_id, body)) for seq, run_id, written_at, body, hashed in rows]
    return sorted(found, key=lambda stored: (str(stored.record.get("started") or ""), str(stored.record["run_id"]), stored.seq))


def find_record(store: Store, run_id: str) -> StoredRecord:
    """By full run id or a unique prefix of it."""
    matches = [stored for stored in iter_records(store) if str(stored.record["run_id"]).startswith(run_id)]
    if not run_id or not matches:
        raise ArchiveError(f"run_id {run_id!r}: no record in the archive ({store.settings.location})")
    if len(matches) > 1:
        raise ArchiveError(f"run_id {run_id!r}: {len(matches)} records match; give more of the id")
    return matches[0]


def run_entries(store: Store, run_ids: Collection[str]) -> list[Entry]:
    """Every entry (each write) of these runs, in seq order."""
    wanted = set(run_ids)
    if not wanted:
        return []
    with store.transaction() as tx:
        rows = tx.rows(f"SELECT {ENTRY_COLUMNS} FROM archive_entries WHERE kind = ? ORDER BY seq", (KIND_RECORD,))
    return [entry for entry in map(entry_from_row, rows) if entry.run_id in wanted]


def pinned_archive_keys(root: Any) -> dict[str, Any]:
    """keyid -> Ed25519 public key of the archive keys the trust root pins."""
    return {keyid: admin.public_key for keyid, admin in (getattr(root, "archive_keys", None) or {}).items()}


def verify_entries(tx: Transaction, root: Any, expected_head: str | None = None) -> tuple[list[Entry], Verification]:
    """The chain (hashes, links, signatures) and every attachment a record names, read in the caller's transaction."""
    entries = entries_in(tx)
    verification = verify_chain(entries, pinned_archive_keys(root), expected_head)
    found, checked = attachments_module.problems(tx, entries)
    if checked:
        verification = replace(verification, problems=verification.problems + tuple(found), notes=(*verification.notes, f"{checked} attachment(s) checked"))
    return entries, verification


def verify_store(store: Store, root: Any, expected_head: str | None = None) -> Verification:
    with store.transaction() as tx:
        return verify_entries(tx, root, expected_head)[1]


def read_attachments(store: Store, records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """sha256 -> stored text of every attachment these records name (for an export); a missing one is absent."""
    digests = [str(item["sha256"]) for record in records for item in attachments_module.stored_references(record)]
    with store.transaction() as tx:
        return attachments_module.read(tx, digests)
