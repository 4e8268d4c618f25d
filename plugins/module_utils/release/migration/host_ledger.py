# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The migration ledger on the database host: ``<backup_dir>/opsgate-migrations.jsonl``, appended, never rewritten.

One JSON object per event (``backup``, ``applied``, ``failed``, ``down``, ``restored``, ``refused``) with
the release, change, token and operator it happened under. It is the record a backup's digest is
checked against before the backup is restored: a dump changed on disk is refused.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..ledger import LedgerError, append_json_line, utc_now

LEDGER_NAME = "opsgate-migrations.jsonl"
EVENTS = ("backup", "applied", "failed", "down", "restored", "refused")
# Events that changed the database or its backup; a refusal changed nothing.
_CHANGES = frozenset(("backup", "applied", "down", "restored"))


def ledger_path(backup_dir: str) -> str:
    return os.path.join(backup_dir, LEDGER_NAME)


def record(ledger_file: str, event: str, /, **fields: Any) -> dict[str, Any]:
    """Append one event (empty fields left out; ``path`` may be one: the backup's); returns the line written."""
    if event not in EVENTS:
        raise ValueError(f"event must be one of {', '.join(EVENTS)}, got {event!r}")
    line = {"at": utc_now(), "event": event, **{key: value for key, value in fields.items() if value not in (None, "", [], {})}}
    append_json_line(ledger_file, line)
    return line


def read_events(path: str) -> list[dict[str, Any]]:
    """Every event, oldest first. A torn last line (the writer was killed mid-append) is ignored; any other bad line is an error."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise LedgerError(f"cannot read the migration ledger {path}: {exc.strerror}") from None
    lines = text.split("\n")
    events = []
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            if not isinstance(event, dict) or event.get("event") not in EVENTS:
                raise ValueError(f"not an event object: {line[:80]!r}")
        except ValueError as exc:
            if index == len(lines) - 1 and not text.endswith("\n"):
                break
            raise LedgerError(f"migration ledger {path} line {index + 1}: {exc}") from None
        events.append(event)
    return events


def recorded_backup(events: list[dict[str, Any]], app: str, release_id: str) -> dict[str, Any] | None:
    """The backup event of ``release_id`` (the last one, should a run have recorded it twice)."""
    found = None
    for event in events:
        if event["event"] == "backup" and event.get("app") == app and event.get("release_id") == release_id:
            found = event
    return found


def token_spent(events: list[dict[str, Any]], token_id: str) -> str | None:
    """Why ``token_id`` may not change this database again, or None.

    Spent once a later event that changed the database was written under another token: putting back or
    re-applying an older release's migrations over a newer one's is an approval of its own.
    """
    changes = [event for event in events if event["event"] in _CHANGES]
    last = max((index for index, event in enumerate(changes) if event.get("token_id") == token_id), default=None)
    if last is None:
        return None
    later = [event for event in changes[last + 1 :] if event.get("token_id") and event.get("token_id") != token_id]
    if not later:
        return None
    first = later[0]
    return (
        f"token {token_id} migrated this database before, and then {first['event']} of {first.get('release_id', '?')} "
        f"ran under token {first['token_id']} at {first.get('at', '?')}"
    )
