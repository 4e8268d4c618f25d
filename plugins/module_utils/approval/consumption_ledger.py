# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Single use: the controller's record of consumed tokens, finished runs and the newest policy seen.

``consumed.jsonl`` is append-only: a ``consumed`` line when a run takes a token, a ``finished``
line when that run ends. Reading and appending happen under one exclusive ``flock`` on
``ledger.lock``, so two runs racing for one token cannot both win. The ledger fails closed: a line
it cannot read stops every run until an operator looks at it. Its folder comes from the pinned
trust root and must be writable by this user (or root) only; anyone else who could write it
could delete a consumption.

A token is consumed by one run. That run, and only that run, may take it up again (resume) while
it is unfinished: same run id, same token, same release and batch fingerprint, its controller
process gone, no ``finished`` line, and no later change of the same app and environment on any of
its hosts (superseded). Everything else is a replay.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import errors
from .atomic_file import write_atomic
from .claims import KIND_EMERGENCY, KIND_NORMAL, format_timestamp
from .file_safety import check_directory, check_file

LEDGER_FILE = "consumed.jsonl"
LOCK_FILE = "ledger.lock"
POLICY_VERSION_FILE = "policy-version.json"
OUTCOMES = ("succeeded", "failed", "rolled_back")


@dataclass(frozen=True)
class RunOwner:
    """The ansible-playbook process that consumed a token: controller host name, pid and start time."""

    controller: str
    pid: int
    start_time: str


@dataclass(frozen=True)
class Consumption:
    token_id: str
    token_sha256: str
    change_id: str
    run_id: str
    consumed_at: str
    fingerprint: str
    app: str
    env: str
    hosts: tuple[str, ...]
    owner: RunOwner | None
    sequence: int
    kind: str = KIND_NORMAL
    incident_id: str | None = None


@dataclass(frozen=True)
class Ratification:
    """A normal quorum's approval, after the fact, of the run an emergency token started."""

    emergency_token_id: str
    token_id: str
    token_sha256: str
    change_id: str
    ratified_at: str


@dataclass(frozen=True)
class ConsumeOutcome:
    consumption: Consumption
    resumed: bool


@dataclass(frozen=True)
class _State:
    consumptions: list[Consumption]
    finished: dict[tuple[str, str], str]
    # emergency token id -> its ratification
    ratified: dict[str, Ratification]


def process_start_time(pid: int) -> str:
    """When process ``pid`` started, so a recycled pid never passes for it; "gone" once it has ended.

    Runs on the controller, which is Linux (ansible-core's controller needs a POSIX system; the gate needs
    /proc). Without /proc it refuses rather than guess whether the run that holds a token is alive.
    """
    if not os.path.isdir("/proc/self"):
        raise errors.ApprovalError(
            errors.LEDGER_ERROR, "this controller has no /proc: the token ledger tells live runs from ended ones by /proc/<pid>/stat (Linux)"
        )
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            stat = handle.read()
    except OSError:
        return "gone"
    # Field 22 (starttime, clock ticks since boot); the command name before ")" may hold spaces.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else "unknown"


class ConsumptionLedger:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.path = os.path.join(directory, LEDGER_FILE)
        self._lock_path = os.path.join(directory, LOCK_FILE)

    def _ensure_directory(self) -> None:
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise errors.ApprovalError(errors.LEDGER_ERROR, f"cannot create ledger directory {self.directory}: {exc.strerror}") from None
        check_directory(self.directory, "the approval ledger", errors.LEDGER_UNSAFE, owners=(0, os.geteuid()))
        for name in (LEDGER_FILE, POLICY_VERSION_FILE):
            path = os.path.join(self.directory, name)
            if os.path.lexists(path):
                check_file(path, "the approval ledger file", errors.LEDGER_UNSAFE, owners=(0, os.geteuid()))

    @contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        self._ensure_directory()
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise errors.ApprovalError(errors.LEDGER_ERROR, f"cannot open ledger lock {self._lock_path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _unreadable(self, number: int) -> errors.ApprovalError:
        return errors.ApprovalError(errors.LEDGER_ERROR, f"ledger {self.path} line {number} is unreadable; refusing every token until an operator repairs it")

    def _read(self) -> _State:
        try:
            with open(self.path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return _State([], {}, {})
        except (OSError, UnicodeDecodeError) as exc:
            raise errors.ApprovalError(errors.LEDGER_ERROR, f"cannot read ledger {self.path}: {exc}") from None
        consumptions: list[Consumption] = []
        finished: dict[tuple[str, str], str] = {}
        ratified: dict[str, Ratification] = {}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data: dict[str, Any] = json.loads(line)
                event = data.get("event", "legacy")
                if event == "finished":
                    # A run where one host failed stays failed when the others then end well.
                    key = (str(data["token_id"]), str(data["run_id"]))
                    if finished.get(key, "succeeded") == "succeeded":
                        finished[key] = str(data["outcome"])
                    continue
                if event == "ratified":
                    emergency = str(data["token_id"])
                    ratified[emergency] = Ratification(
                        emergency,
                        str(data["ratification_token_id"]),
                        str(data["ratification_sha256"]),
                        str(data["change_id"]),
                        str(data["ratified_at"]),
                    )
                    continue
                owner = data.get("owner")
                consumptions.append(
                    Consumption(
                        token_id=str(data["token_id"]),
                        token_sha256=str(data["token_sha256"]),
                        change_id=str(data["change_id"]),
                        run_id=str(data["run_id"]),
                        consumed_at=str(data["consumed_at"]),
                        fingerprint=str(data.get("fingerprint", "")),
                        app=str(data.get("app", "")),
                        env=str(data.get("env", "")),
                        hosts=tuple(str(host) for host in data.get("hosts", [])),
                        owner=RunOwner(str(owner["controller"]), int(owner["pid"]), str(owner["start_time"])) if owner else None,
                        sequence=number,
                        kind=str(data.get("kind", KIND_NORMAL)),
                        incident_id=str(data["incident_id"]) if data.get("incident_id") is not None else None,
                    )
                )
                if event == "legacy":
                    # Written before runs were marked finished: never resumable.
                    finished[(str(data["token_id"]), str(data["run_id"]))] = "unknown (ledger written by an earlier version)"
            except (ValueError, KeyError, TypeError):
                raise self._unreadable(number) from None
        return _State(consumptions, finished, ratified)

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise errors.ApprovalError(errors.LEDGER_ERROR, f"cannot append to ledger {self.path}: {exc.strerror}") from None

    @staticmethod
    def _first(state: _State, token_id: str) -> Consumption | None:
        return next((record for record in state.consumptions if record.token_id == token_id), None)

    @staticmethod
    def _replayed(record: Consumption, why: str) -> errors.ApprovalError:
        # The run id is not printed: it is one of the things a resume must match.
        return errors.ApprovalError(
            errors.REPLAYED, f"token {record.token_id} (change {record.change_id}) was consumed at {record.consumed_at}; {why}; a token is single-use"
        )

    @staticmethod
    def _unratified(state: _State, app: str | None) -> list[Consumption]:
        return [
            record
            for record in state.consumptions
            if record.kind == KIND_EMERGENCY and record.token_id not in state.ratified and (app is None or record.app == app)
        ]

    def unratified(self, app: str | None = None) -> list[Consumption]:
        """Emergency runs no ratification has approved yet, oldest first; all apps when ``app`` is None."""
        with self._locked(exclusive=False):
            return self._unratified(self._read(), app)

    @staticmethod
    def _refuse_while_unratified(waiting: list[Consumption], app: str) -> None:
        if not waiting:
            return
        first = waiting[0]
        more = f" (and {len(waiting) - 1} more)" if len(waiting) > 1 else ""
        raise errors.ApprovalError(
            errors.UNRATIFIED_EMERGENCY,
            f"emergency change {first.change_id} of {app} in {first.env} (token {first.token_id}, incident {first.incident_id}) ran at "
            f"{first.consumed_at} and is not ratified yet{more}: a normal quorum ratifies it (opsgate-approval ratify) before the next normal change",
        )

    def ratify(
        self,
        emergency_token_id: str,
        token_id: str,
        token_sha256: str,
        change_id: str,
        app: str,
        env: str,
        hosts: tuple[str, ...],
        now: datetime,
    ) -> Consumption:
        """Record that ``token_id`` (a verified ratification) approves the emergency run of ``emergency_token_id``."""
        with self._locked(exclusive=True):
            state = self._read()
            emergency = self._first(state, emergency_token_id)
            if emergency is None or emergency.kind != KIND_EMERGENCY:
                raise errors.ApprovalError(
                    errors.RATIFICATION_INVALID,
                    f"token {emergency_token_id} is not an emergency change this controller ran: nothing to ratify",
                )
            done = state.ratified.get(emergency_token_id)
            if done is not None:
                raise errors.ApprovalError(
                    errors.RATIFICATION_INVALID, f"emergency {emergency_token_id} was ratified at {done.ratified_at} by token {done.token_id}"
                )
            used = self._first(state, token_id) is not None or any(item.token_id == token_id for item in state.ratified.values())
            if used:
                raise errors.ApprovalError(errors.REPLAYED, f"token {token_id} was used before; a token is single-use")
            for name, approved, ran in (("app", app, emergency.app), ("env", env, emergency.env)):
                if approved != ran:
                    raise errors.ApprovalError(
                        errors.RATIFICATION_INVALID, f"{name} differs: the ratification names {approved!r}, the emergency run changed {ran!r}"
                    )
            if set(hosts) != set(emergency.hosts):
                raise errors.ApprovalError(
                    errors.RATIFICATION_INVALID,
                    f"hosts differ: the ratification names {len(set(hosts))} hosts, the emergency run changed {len(set(emergency.hosts))}: "
                    "a ratification approves exactly what ran",
                )
            self._append(
                {
                    "event": "ratified",
                    "token_id": emergency_token_id,
                    "ratification_token_id": token_id,
                    "ratification_sha256": token_sha256,
                    "change_id": change_id,
                    "ratified_at": format_timestamp(now),
                }
            )
            return emergency

    def check_unused(self, token_id: str) -> None:
        """Raise REPLAYED if the token was ever consumed; read-only (the CLI's --check-ledger)."""
        with self._locked(exclusive=False):
            record = self._first(self._read(), token_id)
        if record is not None:
            raise self._replayed(record, "it cannot be used by a new run")

    def _check_resume(self, state: _State, record: Consumption, token_sha256: str, run_id: str, fingerprint: str, owner: RunOwner) -> None:
        if run_id != record.run_id:
            raise self._replayed(record, "only the unfinished run that consumed it may resume, with its run id")
        outcome = state.finished.get((record.token_id, record.run_id))
        if outcome is not None:
            raise self._replayed(record, f"the run that consumed it finished ({outcome}) and cannot be resumed")
        if token_sha256 != record.token_sha256:
            raise self._replayed(record, "this token string is not the one that started the run")
        if fingerprint != record.fingerprint:
            raise self._replayed(record, "the release or its batches differ from the run that consumed it, so this is not a resume")
        later = [
            other
            for other in state.consumptions
            if other.sequence > record.sequence and other.app == record.app and other.env == record.env and set(other.hosts) & set(record.hosts)
        ]
        if later:
            raise self._replayed(
                record, f"change {later[-1].change_id} (token {later[-1].token_id}) ran on the same hosts at {later[-1].consumed_at} and superseded it"
            )
        if record.owner is None or record.owner.controller != owner.controller:
            raise self._replayed(record, "it was consumed on another controller; resume there")
        if record.owner.pid != owner.pid and process_start_time(record.owner.pid) == record.owner.start_time:
            raise self._replayed(record, f"the run that consumed it is still running (pid {record.owner.pid})")

    def consume(
        self,
        token_id: str,
        token_sha256: str,
        change_id: str,
        run_id: str,
        now: datetime,
        fingerprint: str,
        app: str,
        env: str,
        hosts: tuple[str, ...],
        owner: RunOwner,
        record_it: bool = True,
        before_fresh: Callable[[], None] | None = None,
        kind: str = KIND_NORMAL,
        incident_id: str | None = None,
    ) -> ConsumeOutcome:
        """Record the token as used by ``run_id``, or resume that run if the resume rule allows it.

        ``record_it`` False runs the same checks and writes nothing (check mode). ``before_fresh``
        runs, under the lock, only when this is a first use; it refuses by raising.
        """
        with self._locked(exclusive=record_it):
            state = self._read()
            existing = self._first(state, token_id)
            if existing is not None:
                self._check_resume(state, existing, token_sha256, run_id, fingerprint, owner)
                return ConsumeOutcome(existing, resumed=True)
            if any(item.token_id == token_id for item in state.ratified.values()):
                raise errors.ApprovalError(errors.REPLAYED, f"token {token_id} ratified an emergency change; a token is single-use")
            if kind == KIND_NORMAL:
                self._refuse_while_unratified(self._unratified(state, app), app)
            if before_fresh is not None:
                before_fresh()
            record = {
                "event": "consumed",
                "token_id": token_id,
                "token_sha256": token_sha256,
                "change_id": change_id,
                "run_id": run_id,
                "consumed_at": format_timestamp(now),
                "fingerprint": fingerprint,
                "app": app,
                "env": env,
                "hosts": list(hosts),
                "owner": {"controller": owner.controller, "pid": owner.pid, "start_time": owner.start_time},
            }
            if kind != KIND_NORMAL:
                record.update(kind=kind, incident_id=incident_id)
            if record_it:
                self._append(record)
            consumption = Consumption(
                token_id,
                token_sha256,
                change_id,
                run_id,
                record["consumed_at"],
                fingerprint,
                app,
                env,
                tuple(hosts),
                owner,
                len(state.consumptions) + 1,
                kind=kind,
                incident_id=incident_id,
            )
            return ConsumeOutcome(consumption, resumed=False)

    def finish(self, token_id: str, run_id: str, outcome: str, now: datetime) -> None:
        """Mark the run that consumed ``token_id`` as ended; it can never resume after this."""
        if outcome not in OUTCOMES:
            raise errors.ApprovalError(errors.SCOPE_INVALID, f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        with self._locked(exclusive=True):
            record = self._first(self._read(), token_id)
            if record is None or record.run_id != run_id:
                raise errors.ApprovalError(errors.LEDGER_ERROR, f"token {token_id} was not consumed by this run; nothing to finish")
            self._append({"event": "finished", "token_id": token_id, "run_id": run_id, "outcome": outcome, "finished_at": format_timestamp(now)})

    def require_policy_version(self, version: int, sha256: str) -> None:
        """Refuse a policy older than the newest this controller has used (an old signed policy replayed)."""
        path = os.path.join(self.directory, POLICY_VERSION_FILE)
        with self._locked(exclusive=True):
            try:
                with open(path, encoding="utf-8") as handle:
                    seen = json.load(handle)
                seen_version, seen_sha = int(seen["version"]), str(seen["sha256"])
            except FileNotFoundError:
                seen_version, seen_sha = 0, ""
            except (OSError, ValueError, KeyError, TypeError):
                raise errors.ApprovalError(errors.LEDGER_ERROR, f"{path} is unreadable; refusing every token until an operator repairs it") from None
            if version < seen_version:
                raise errors.ApprovalError(
                    errors.POLICY_ROLLBACK, f"policy version {version} is older than version {seen_version}, which this controller has already used"
                )
            if version == seen_version and sha256 != seen_sha:
                raise errors.ApprovalError(
                    errors.POLICY_ROLLBACK,
                    f"policy version {version} differs from the version {version} this controller has already used (sha256 {seen_sha[:16]}…)",
                )
            if version > seen_version:
                write_atomic(path, json.dumps({"version": version, "sha256": sha256}), 0o644)
