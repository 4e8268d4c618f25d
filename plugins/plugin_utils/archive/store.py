# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The archive folder: one ``<started>-<run_id>.json`` per run, 0600 in a 0700 folder, replaced atomically."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

try:
    from ansible_collections.opsgate.release.plugins.module_utils.approval.atomic_file import write_atomic
except ImportError:  # bin/opsgate-archive and bin/opsgate-approval import this package with module_utils on sys.path
    from approval.atomic_file import write_atomic  # type: ignore[no-redef]

DIR_MODE = 0o700
FILE_MODE = 0o600
_NAME = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)-(?P<run_id>[0-9A-Za-z-]{8,64})\.json$")
_MIN_SECRET = 12


class ArchiveError(Exception):
    """A record that cannot be read or written; the message names the file and the field."""


def record_name(record: Mapping[str, Any]) -> str:
    stamp = str(record["started"]).replace("-", "").replace(":", "")
    return f"{stamp}-{record['run_id']}.json"


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
        for form in (secret, json.dumps(secret)[1:-1]):
            if form and form in text:
                text = text.replace(form, "[REDACTED]")
    return text


def serialise(record: Mapping[str, Any], secrets: Iterable[str] = ()) -> str:
    text = json.dumps(record, indent=2, sort_keys=True, default=str) + "\n"
    return redact(text, secrets)


def write_record(directory: str, record: Mapping[str, Any], secrets: Iterable[str] = ()) -> str:
    """Write (or replace) the run's file; a reader never sees half a record, other users never see any."""
    os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
    text = serialise(record, secrets)
    target = os.path.join(directory, record_name(record))
    write_atomic(target, text, FILE_MODE)
    return target


@dataclass(frozen=True)
class StoredRecord:
    path: str
    record: dict[str, Any]


def read_record(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"{path}: cannot read the record: {exc}") from None
    if not isinstance(data, dict):
        raise ArchiveError(f"{path}: a record is a JSON object, found {type(data).__name__}")
    for key in ("run_id", "started", "status", "hosts"):
        if key not in data:
            raise ArchiveError(f"{path}: field {key!r} is missing")
    if not isinstance(data["hosts"], dict):
        raise ArchiveError(f"{path}: field 'hosts' must be an object keyed by host name, found {data['hosts']!r:.80}")
    return data


def iter_records(directory: str) -> Iterator[StoredRecord]:
    """Records oldest first (the file name starts with the start time); files that are not records are skipped."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return
    for name in names:
        if _NAME.match(name):
            path = os.path.join(directory, name)
            yield StoredRecord(path, read_record(path))


def find_record(directory: str, run_id: str) -> StoredRecord:
    """By full run id or a unique prefix of it."""
    matches = [stored for stored in iter_records(directory) if str(stored.record["run_id"]).startswith(run_id)]
    if not run_id or not matches:
        raise ArchiveError(f"run_id {run_id!r}: no record in {directory}")
    if len(matches) > 1:
        raise ArchiveError(f"run_id {run_id!r}: {len(matches)} records match; give more of the id")
    return matches[0]
