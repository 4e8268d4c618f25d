# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Import once: a token ledger from before the state store (``consumed.jsonl``, ``policy-version.json``) into the store.

The old format, as the flock-based ledger wrote it: ``consumed.jsonl`` holds one JSON object a line,
``event`` ``consumed`` (a run took a token), ``finished`` (how that run ended) or ``ratified`` (a
ratification of an emergency run); a line without ``event`` was written before runs were marked
finished and counts as consumed and never resumable. ``policy-version.json`` holds the newest policy
(``version``, ``sha256``) that controller used.

Every line is read and checked before anything is written, and one transaction writes it all with the
source in ``imports`` (keyed by the files' sha256): a line that cannot be read stops the import naming
file and line, with nothing written, and the same files imported again change nothing. A token the store
holds already keeps the store's record (its first consumption); the file's is skipped and named.
``bin/opsgate-approval import-ledger`` runs it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

try:
    from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
    from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import KIND_NORMAL, format_timestamp, parse_timestamp
    from ansible_collections.opsgate.release.plugins.module_utils.approval.ledger_records import Consumption, RunOwner
except ImportError:  # bin/opsgate-approval: plugins/plugin_utils and plugins/module_utils on sys.path
    from approval import errors  # type: ignore[no-redef]
    from approval.claims import KIND_NORMAL, format_timestamp, parse_timestamp  # type: ignore[no-redef]
    from approval.ledger_records import Consumption, RunOwner  # type: ignore[no-redef]

from .token_ledger import Ratification, TokenLedger, store_transaction

LEDGER_FILE = "consumed.jsonl"
POLICY_VERSION_FILE = "policy-version.json"
# What a consumption from before the outcome lines reads as: finished, never resumable.
LEGACY_OUTCOME = "unknown (ledger written by an earlier version)"


@dataclass
class _Read:
    consumptions: list[tuple[Consumption, bool]] = field(default_factory=list)  # (record, legacy)
    finished: list[tuple[str, str, str, str]] = field(default_factory=list)  # token_id, run_id, outcome, finished_at
    ratified: list[Ratification] = field(default_factory=list)
    policy: tuple[int, str] | None = None
    lines: int = 0


@dataclass(frozen=True)
class LedgerImport:
    """What an import did; ``already`` True: these files were imported before (``imported_at``) and nothing was written."""

    directory: str
    source: str
    already: bool = False
    imported_at: str = ""
    consumed: int = 0
    finished: int = 0
    ratified: int = 0
    skipped: tuple[str, ...] = ()
    policy_version: int | None = None


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value


def _owner(value: Any) -> RunOwner | None:
    if value is None:
        return None
    if not isinstance(value, dict) or isinstance(value.get("pid"), bool) or not isinstance(value.get("pid"), int):
        raise ValueError("owner must hold controller, pid and start_time")
    return RunOwner(_text(value, "controller"), int(value["pid"]), _text(value, "start_time"))


def _consumption(data: dict[str, Any]) -> Consumption:
    hosts = data.get("hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(host, str) for host in hosts):
        raise ValueError("hosts must be a list of host names")
    consumed_at = _text(data, "consumed_at")
    parse_timestamp(consumed_at, "consumed_at", errors.LEDGER_ERROR)
    incident = data.get("incident_id")
    return Consumption(
        token_id=_text(data, "token_id"),
        token_sha256=_text(data, "token_sha256"),
        change_id=_text(data, "change_id"),
        run_id=_text(data, "run_id"),
        consumed_at=consumed_at,
        fingerprint=str(data.get("fingerprint", "")),
        app=str(data.get("app", "")),
        env=str(data.get("env", "")),
        hosts=tuple(hosts),
        owner=_owner(data.get("owner")),
        sequence=0,
        kind=str(data.get("kind", KIND_NORMAL)),
        incident_id=None if incident is None else str(incident),
    )


def _read_line(read: _Read, data: Any) -> None:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    event = data.get("event", "legacy")
    if event == "finished":
        read.finished.append((_text(data, "token_id"), _text(data, "run_id"), _text(data, "outcome"), str(data.get("finished_at", ""))))
    elif event == "ratified":
        read.ratified.append(
            Ratification(
                _text(data, "token_id"),
                _text(data, "ratification_token_id"),
                _text(data, "ratification_sha256"),
                _text(data, "change_id"),
                _text(data, "ratified_at"),
            )
        )
    elif event in ("consumed", "legacy"):
        read.consumptions.append((_consumption(data), event == "legacy"))
    else:
        raise ValueError(f"unknown event {event!r}")


def _refused(path: str, where: str, why: str) -> errors.ApprovalError:
    return errors.ApprovalError(errors.LEDGER_ERROR, f"{path}{' ' + where if where else ''} is unreadable ({why}); nothing was imported")


def _read(directory: str) -> tuple[_Read, str]:
    """Every line of the old files, checked; and the source key (sha256 over both files' bytes)."""
    read = _Read()
    digest = hashlib.sha256()
    found = False
    for name in (LEDGER_FILE, POLICY_VERSION_FILE):
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            digest.update(f"{name}: none\0".encode())
            continue
        except OSError as exc:
            raise errors.ApprovalError(errors.LEDGER_ERROR, f"cannot read {path}: {exc.strerror}; nothing was imported") from None
        found = True
        digest.update(f"{name}: {len(data)}\0".encode() + data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _refused(path, f"byte {exc.start}", "not UTF-8") from None
        if name == POLICY_VERSION_FILE:
            try:
                seen = json.loads(text)
                version, sha256 = seen["version"], seen["sha256"]
                if isinstance(version, bool) or not isinstance(version, int) or not isinstance(sha256, str):
                    raise TypeError("version must be an integer and sha256 a string")
            except (ValueError, KeyError, TypeError) as exc:
                raise _refused(path, "", str(exc) or type(exc).__name__) from None
            read.policy = (version, sha256)
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                _read_line(read, json.loads(line))
            except (ValueError, KeyError, TypeError, errors.ApprovalError) as exc:
                why = exc.message if isinstance(exc, errors.ApprovalError) else (f"missing {exc}" if isinstance(exc, KeyError) else str(exc))
                raise _refused(path, f"line {number}", why) from None
            read.lines += 1
    if not found:
        raise errors.ApprovalError(errors.LEDGER_ERROR, f"neither {LEDGER_FILE} nor {POLICY_VERSION_FILE} in {directory}: nothing to import")
    return read, f"token-ledger sha256:{digest.hexdigest()}"


def import_jsonl_ledger(ledger: TokenLedger, directory: str, now: datetime) -> LedgerImport:
    """Import the old files of ``directory`` into the ledger's store, in one transaction, once."""
    directory = os.path.abspath(directory)
    read, source = _read(directory)
    with store_transaction(ledger.store, write=True) as tx:
        done = tx.row("SELECT imported_at FROM imports WHERE source = ?", (source,))
        if done is not None:
            return LedgerImport(directory, source, already=True, imported_at=str(done[0]))
        if read.policy is not None:
            version, sha256 = read.policy
            seen_version, seen_sha = ledger.seen_policy(tx)
            if version == seen_version and sha256 != seen_sha:
                raise errors.ApprovalError(
                    errors.POLICY_ROLLBACK,
                    f"{os.path.join(directory, POLICY_VERSION_FILE)} names policy version {version} with sha256 {sha256[:16]}…, the store has "
                    f"version {version} with sha256 {seen_sha[:16]}…: two different policies carry one version; nothing was imported",
                )
            if version > seen_version:
                ledger.store_policy(tx, version, sha256)
        skipped: list[str] = []
        consumed = 0
        for record, legacy in read.consumptions:
            if ledger.consumption_of(tx, record.token_id) is not None:
                skipped.append(record.token_id)
                continue
            ledger.insert_consumption(tx, replace(record, sequence=tx.next_seq("consumptions")))
            consumed += 1
            if legacy:
                ledger.record_outcome(tx, record.token_id, record.run_id, LEGACY_OUTCOME, record.consumed_at)
        for token_id, run_id, outcome, finished_at in read.finished:
            ledger.record_outcome(tx, token_id, run_id, outcome, finished_at)
        ratified = 0
        for item in read.ratified:
            if ledger.ratification_of(tx, item.emergency_token_id) is not None or ledger.used_to_ratify(tx, item.token_id):
                skipped.append(item.token_id)
                continue
            tx.execute(
                "INSERT INTO ratifications (emergency_token_id, ratification_token_id, ratification_sha256, change_id, ratified_at) VALUES (?, ?, ?, ?, ?)",
                (item.emergency_token_id, item.token_id, item.token_sha256, item.change_id, item.ratified_at),
            )
            ratified += 1
        stamp = format_timestamp(now)
        tx.execute("INSERT INTO imports (source, imported_at, items) VALUES (?, ?, ?)", (source, stamp, read.lines + (read.policy is not None)))
    return LedgerImport(
        directory,
        source,
        imported_at=stamp,
        consumed=consumed,
        finished=len(read.finished),
        ratified=ratified,
        skipped=tuple(skipped),
        policy_version=read.policy[0] if read.policy else None,
    )
