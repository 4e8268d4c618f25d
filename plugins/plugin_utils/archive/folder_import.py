# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Import an archive folder from before the store (one ``<stamp>-<run_id>.json`` per run) once, all or nothing.

Every file is read and checked before anything is written; then one write transaction appends the
records oldest first (by file name: start time, then run id) and notes the folder in ``imports``,
so a second import of the same folder does nothing. A run the store holds already is kept as the
store has it. Each imported record carries ``imported_from`` (file name and its sha256), so an
auditor can match it against a backup of the old folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .chain import KIND_RECORD
from .errors import ArchiveError
from .record import format_time
from .signing import ArchiveSigner
from .store import append_entry, check_record, record_body

try:  # the collection
    from ..state_store.store import Store
except ImportError:  # bin/ scripts
    from state_store.store import Store  # type: ignore[no-redef]

RECORD_FILE = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)-(?P<run_id>[0-9A-Za-z-]{8,64})\.json$")
SOURCE_PREFIX = "archive-folder:"
_MAX_RECORD_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class FolderImport:
    source: str
    already: bool
    imported_at: str
    imported: int = 0
    skipped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def read_record_file(path: str) -> tuple[dict[str, Any], str]:
    """A record of the old folder and the sha256 of its bytes; ArchiveError names the file and the field."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_RECORD_BYTES + 1)
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read the record: {exc.strerror}") from None
    if len(data) > _MAX_RECORD_BYTES:
        raise ArchiveError(f"{path}: larger than {_MAX_RECORD_BYTES} bytes, not a record")
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArchiveError(f"{path}: cannot read the record: {exc}") from None
    return check_record(record, path), hashlib.sha256(data).hexdigest()


def folder_records(directory: str) -> tuple[list[tuple[str, dict[str, Any], str]], list[str]]:
    """(name, record, sha256) of every record file, oldest first, and the names that are not record files."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise ArchiveError(f"{directory}: cannot list the archive folder: {exc.strerror}") from None
    records, ignored = [], []
    for name in names:
        match = RECORD_FILE.match(name)
        path = os.path.join(directory, name)
        if match is None or not os.path.isfile(path) or os.path.islink(path):
            ignored.append(name)
            continue
        record, digest = read_record_file(path)
        if record["run_id"] != match.group("run_id"):
            raise ArchiveError(f"{path}: the file name says run {match.group('run_id')}, the record says run {record['run_id']!r}")
        records.append((name, record, digest))
    return records, ignored


def import_folder(store: Store, directory: str, signer: ArchiveSigner | None, now: datetime | None = None) -> FolderImport:
    """Append every record of ``directory`` once; raises ArchiveError (nothing written) if any file is not a record."""
    source = SOURCE_PREFIX + os.path.realpath(directory)
    if not os.path.isdir(directory):
        raise ArchiveError(f"{directory}: not a folder")
    records, ignored = folder_records(directory)
    stamp = format_time(now or datetime.now(UTC))
    with store.transaction(write=True) as tx:
        done = tx.row("SELECT imported_at, items FROM imports WHERE source = ?", (source,))
        if done is not None:
            return FolderImport(source, True, str(done[0]), int(done[1]))
        known = {str(row[0]) for row in tx.rows("SELECT DISTINCT run_id FROM archive_entries WHERE kind = ?", (KIND_RECORD,))}
        skipped, imported = [], 0
        for name, record, digest in records:
            if record["run_id"] in known:
                skipped.append(record["run_id"])
                continue
            body = record_body({**record, "imported_from": {"file": name, "sha256": digest}})
            append_entry(tx, KIND_RECORD, record["run_id"], body, signer, stamp)
            known.add(record["run_id"])
            imported += 1
        tx.execute("INSERT INTO imports (source, imported_at, items) VALUES (?, ?, ?)", (source, stamp, imported))
    return FolderImport(source, False, stamp, imported, skipped, ignored)
