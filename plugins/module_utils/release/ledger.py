# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release ledger on each host: one JSON object per line, appended and fsync'd, never rewritten.

A release's state is the state of its last line. The order of lines, not file times,
is the history that retention and rollback read.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

DEPLOYING = "deploying"
GOOD = "good"
FAILED = "failed"
ROLLED_BACK = "rolled_back"
STATES = (DEPLOYING, GOOD, FAILED, ROLLED_BACK)

# What happened; the state says where the release stands afterwards.
EVENTS = ("stage", "switch", "deploy", "rollback", "revert", "interrupted", "cleanup")

_REQUIRED = ("release_id", "state", "event", "at")


class LedgerError(Exception):
    """The ledger cannot be read or written; deploys stop rather than guess."""


@dataclass(frozen=True)
class LedgerEntry:
    release_id: str
    state: str
    event: str
    at: str
    version: str = ""
    app: str = ""
    change_id: str = ""
    token_id: str = ""
    who: str = ""
    host_user: str = ""
    artifact_sha256: str = ""
    previous: str = ""
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not data["extra"]:
            del data["extra"]
        return data


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def parse_line(line: str, number: int) -> LedgerEntry:
    """One ledger line; the error names the line number and the field."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise LedgerError(f"ledger line {number} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise LedgerError(f"ledger line {number} must be a JSON object, got {type(data).__name__}")
    for key in _REQUIRED:
        if not isinstance(data.get(key), str) or not data[key]:
            raise LedgerError(f"ledger line {number}: {key} must be a non-empty string, got {data.get(key)!r}")
    if data["state"] not in STATES:
        raise LedgerError(f"ledger line {number}: state must be one of {', '.join(STATES)}, got {data['state']!r}")
    known = set(LedgerEntry.__dataclass_fields__)
    values = {key: data[key] for key in known if key in data and key != "extra"}
    extra = {key: value for key, value in data.items() if key not in known}
    if isinstance(data.get("extra"), dict):
        extra.update(data["extra"])
    for key, value in values.items():
        if not isinstance(value, str):
            raise LedgerError(f"ledger line {number}: {key} must be a string, got {value!r}")
    return LedgerEntry(extra=extra, **values)


def parse_ledger(text: str) -> list[LedgerEntry]:
    """A torn last line (the writer was killed mid-append) is ignored; any other bad line is an error."""
    lines = text.split("\n")
    entries: list[LedgerEntry] = []
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        is_torn_tail = index == len(lines) - 1 and not text.endswith("\n")
        try:
            entries.append(parse_line(line, index + 1))
        except LedgerError:
            if is_torn_tail:
                break
            raise
    return entries


def read_ledger(path: str) -> list[LedgerEntry]:
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_ledger(handle.read())
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise LedgerError(f"cannot read ledger {path}: {exc.strerror}") from None


def append_entry(path: str, entry: LedgerEntry) -> None:
    """Append one line with O_APPEND and fsync it (and the directory when the file is new)."""
    append_json_line(path, entry.as_dict())


def append_json_line(path: str, data: dict[str, Any]) -> None:
    """The append of every host ledger (releases, database migrations): one JSON object, one write, fsync'd."""
    line = json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"
    is_new = not os.path.exists(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if is_new:
            _fsync_directory(os.path.dirname(path) or ".")
    except OSError as exc:
        raise LedgerError(f"cannot append to ledger {path}: {exc.strerror}") from None


def _fsync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def latest_states(entries: list[LedgerEntry]) -> dict[str, LedgerEntry]:
    """The last entry of every release id, in the order releases first appeared."""
    latest: dict[str, LedgerEntry] = {}
    for entry in entries:
        latest[entry.release_id] = entry
    return latest


def state_of(entries: list[LedgerEntry], release_id: str) -> str | None:
    entry = latest_states(entries).get(release_id)
    return entry.state if entry else None


def deploy_order(entries: list[LedgerEntry]) -> list[str]:
    """Releases in the order they last became good by a deploy (oldest first).

    A rollback re-confirms a release without moving it forward in history, so two
    rollbacks in a row walk further back instead of bouncing between two releases.
    """
    position: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if entry.state == GOOD and entry.event == "deploy":
            position[entry.release_id] = index
    return sorted(position, key=position.__getitem__)


def interrupted_releases(entries: list[LedgerEntry]) -> list[str]:
    """Releases whose last entry is still ``deploying``: a run died before finishing or reverting them."""
    return [release_id for release_id, entry in latest_states(entries).items() if entry.state == DEPLOYING]


def last_entry(entries: list[LedgerEntry], release_id: str, event: str | None = None) -> LedgerEntry | None:
    for entry in reversed(entries):
        if entry.release_id == release_id and (event is None or entry.event == event):
            return entry
    return None
