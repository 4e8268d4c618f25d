# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Single use: the controllers' record of consumed tokens, how their runs ended, ratifications and the newest policy seen.

It lives here, in ``approval_run`` (the controller's side of an approved run), and not in ``state_store``:
the store is the storage layer that the ledger, the receipts, the rollout state and the archive share;
the rules of a token's life are the approval's. It runs on the controller only (module_utils, which hosts
run too, keeps just the records: ``module_utils/approval/ledger_records.py``).

Its tables are the store's ``consumptions``, ``run_outcomes``, ``ratifications`` and ``policy_seen``, on
SQLite or on a PostgreSQL that several controllers share. Single use rests on the unique ``token_id`` and
on the store's writer lock, which every rule that reads before it writes holds: of two runs that take one
token at the same instant, on one controller or on two, exactly one inserts it. A store that cannot be
reached, read or written refuses every token (``APPROVAL_STATE_STORE_ERROR``, naming the store, never
its password).

A token is consumed by one run. That run, and only that run, may take it up again (resume) while it is
unfinished: same run id, same token, same release and batch fingerprint, no outcome recorded, and no later
change of the same app and environment on any of its hosts (superseded). And it must not be held: the run
released it when it stopped resumably (a gray release paused for an approval or a freeze; then any
controller may resume it), or it was held on this controller by a process that has ended. A run held by a
live process, or by an unreleased one on another controller, is refused. Everything else is a replay.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

try:
    from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
    from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import KIND_EMERGENCY, KIND_NORMAL, format_timestamp
    from ansible_collections.opsgate.release.plugins.module_utils.approval.ledger_records import Consumption, RunOwner
    from ansible_collections.opsgate.release.plugins.module_utils.approval.task_inputs import pinned_root_and_policy
    from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import StoreError
    from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import Store, Transaction, pinned_store
except ImportError:  # bin/opsgate-approval: plugins/plugin_utils and plugins/module_utils on sys.path
    from approval import errors  # type: ignore[no-redef]
    from approval.claims import KIND_EMERGENCY, KIND_NORMAL, format_timestamp  # type: ignore[no-redef]
    from approval.ledger_records import Consumption, RunOwner  # type: ignore[no-redef]
    from approval.task_inputs import pinned_root_and_policy  # type: ignore[no-redef]
    from state_store.settings import StoreError  # type: ignore[no-redef]
    from state_store.store import Store, Transaction, pinned_store  # type: ignore[no-redef]

if TYPE_CHECKING:
    from ansible_collections.opsgate.release.plugins.module_utils.approval.policy import Policy
    from ansible_collections.opsgate.release.plugins.module_utils.approval.trust_root import TrustRoot

OUTCOMES = ("succeeded", "failed", "rolled_back")
_COLUMNS = "seq, token_id, token_sha256, change_id, run_id, consumed_at, fingerprint, app, env, hosts, owner, kind, incident_id, released_at"


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


def store_refusal(exc: StoreError) -> errors.ApprovalError:
    """A store failure as the approval code reports it; the StoreError names the backend and location, never a password."""
    return errors.ApprovalError(
        errors.STATE_STORE_ERROR,
        f"{exc}; the token ledger and the approval receipts live in this store, so nothing passes the approval gate without it (fail closed)",
    )


@contextmanager
def store_transaction(store: Store, write: bool = False) -> Iterator[Transaction]:
    """``store.transaction`` with its failures turned into APPROVAL_STATE_STORE_ERROR; an ApprovalError of the body rolls back and passes."""
    try:
        with store.transaction(write=write) as tx:
            yield tx
    except StoreError as exc:
        raise store_refusal(exc) from None


def _is_unique_violation(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg") and any(cls.__name__ == "IntegrityError" for cls in type(exc).__mro__)


def owner_json(owner: RunOwner) -> str:
    return json.dumps({"controller": owner.controller, "pid": owner.pid, "start_time": owner.start_time}, sort_keys=True)


def _owner_from(text: Any) -> RunOwner | None:
    if text is None:
        return None
    data = json.loads(text)
    return RunOwner(str(data["controller"]), int(data["pid"]), str(data["start_time"]))


def _consumption(row: Sequence[Any]) -> Consumption:
    seq, token_id, token_sha256, change_id, run_id, consumed_at, fingerprint, app, env, hosts, owner, kind, incident_id, released_at = row
    try:
        return Consumption(
            token_id=str(token_id),
            token_sha256=str(token_sha256),
            change_id=str(change_id),
            run_id=str(run_id),
            consumed_at=str(consumed_at),
            fingerprint=str(fingerprint),
            app=str(app),
            env=str(env),
            hosts=tuple(str(host) for host in json.loads(hosts)),
            owner=_owner_from(owner),
            sequence=int(seq),
            kind=str(kind),
            incident_id=None if incident_id is None else str(incident_id),
            released_at=None if released_at is None else str(released_at),
        )
    except (ValueError, KeyError, TypeError):
        raise errors.ApprovalError(
            errors.LEDGER_ERROR, f"the consumption of token {token_id} in the state store is unreadable; refusing every token until an operator repairs it"
        ) from None


def _holder(owner: RunOwner) -> str:
    return f"controller {owner.controller} (pid {owner.pid})"


class TokenLedger:
    """The ledger over one store connection; every method is one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def location(self) -> str:
        """Where the ledger lives, for messages: a file path or postgresql://user@host:port/dbname."""
        return str(self.store.settings.location)

    # --- reading ----------------------------------------------------------------------------------

    @staticmethod
    def consumption_of(tx: Transaction, token_id: str) -> Consumption | None:
        row = tx.row(f"SELECT {_COLUMNS} FROM consumptions WHERE token_id = ?", (token_id,))
        return _consumption(row) if row else None

    @staticmethod
    def _outcome(tx: Transaction, token_id: str, run_id: str) -> str | None:
        row = tx.row("SELECT outcome FROM run_outcomes WHERE token_id = ? AND run_id = ?", (token_id, run_id))
        return str(row[0]) if row else None

    @staticmethod
    def ratification_of(tx: Transaction, emergency_token_id: str) -> Ratification | None:
        row = tx.row(
            "SELECT emergency_token_id, ratification_token_id, ratification_sha256, change_id, ratified_at FROM ratifications WHERE emergency_token_id = ?",
            (emergency_token_id,),
        )
        return Ratification(*(str(value) for value in row)) if row else None

    @staticmethod
    def used_to_ratify(tx: Transaction, token_id: str) -> bool:
        return tx.row("SELECT 1 FROM ratifications WHERE ratification_token_id = ?", (token_id,)) is not None

    @staticmethod
    def _unratified(tx: Transaction, app: str | None) -> list[Consumption]:
        sql = f"SELECT {_COLUMNS} FROM consumptions c WHERE kind = ? AND NOT EXISTS (SELECT 1 FROM ratifications r WHERE r.emergency_token_id = c.token_id)"
        params: list[Any] = [KIND_EMERGENCY]
        if app is not None:
            sql += " AND app = ?"
            params.append(app)
        return [_consumption(row) for row in tx.rows(sql + " ORDER BY seq", params)]

    @staticmethod
    def _replayed(record: Consumption, why: str) -> errors.ApprovalError:
        # The run id is not printed: it is one of the things a resume must match. The first run is named by where it ran.
        first = f" (the first run: ansible-playbook pid {record.owner.pid} on controller {record.owner.controller})" if record.owner else ""
        return errors.ApprovalError(
            errors.REPLAYED,
            f"token {record.token_id} (change {record.change_id}) was consumed at {record.consumed_at}; {why}; a token is single-use{first}",
        )

    def unratified(self, app: str | None = None) -> list[Consumption]:
        """Emergency runs no ratification has approved yet, oldest first; all apps when ``app`` is None."""
        with store_transaction(self.store) as tx:
            return self._unratified(tx, app)

    def check_unused(self, token_id: str) -> None:
        """Raise REPLAYED if the token was ever consumed (or ratified an emergency); read-only (the CLI's --check-ledger)."""
        with store_transaction(self.store) as tx:
            record = self.consumption_of(tx, token_id)
            ratified = record is None and self.used_to_ratify(tx, token_id)
        if record is not None:
            raise self._replayed(record, "it cannot be used by a new run")
        if ratified:
            raise errors.ApprovalError(errors.REPLAYED, f"token {token_id} ratified an emergency change; a token is single-use")

    # --- emergencies -------------------------------------------------------------------------------

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
        with store_transaction(self.store, write=True) as tx:
            emergency = self.consumption_of(tx, emergency_token_id)
            if emergency is None or emergency.kind != KIND_EMERGENCY:
                raise errors.ApprovalError(
                    errors.RATIFICATION_INVALID,
                    f"token {emergency_token_id} is not an emergency change this controller ran: nothing to ratify",
                )
            done = self.ratification_of(tx, emergency_token_id)
            if done is not None:
                raise errors.ApprovalError(
                    errors.RATIFICATION_INVALID, f"emergency {emergency_token_id} was ratified at {done.ratified_at} by token {done.token_id}"
                )
            if self.consumption_of(tx, token_id) is not None or self.used_to_ratify(tx, token_id):
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
            tx.execute(
                "INSERT INTO ratifications (emergency_token_id, ratification_token_id, ratification_sha256, change_id, ratified_at) VALUES (?, ?, ?, ?, ?)",
                (emergency_token_id, token_id, token_sha256, change_id, format_timestamp(now)),
            )
            return emergency

    # --- consume, resume, release, finish ----------------------------------------------------------

    def _check_resume(self, tx: Transaction, record: Consumption, token_sha256: str, run_id: str, fingerprint: str, owner: RunOwner) -> None:
        if run_id != record.run_id:
            raise self._replayed(record, "only the unfinished run that consumed it may resume, with its run id")
        outcome = self._outcome(tx, record.token_id, record.run_id)
        if outcome is not None:
            raise self._replayed(record, f"the run that consumed it finished ({outcome}) and cannot be resumed")
        if token_sha256 != record.token_sha256:
            raise self._replayed(record, "this token string is not the one that started the run")
        if fingerprint != record.fingerprint:
            raise self._replayed(record, "the release or its batches differ from the run that consumed it, so this is not a resume")
        after = tx.rows(f"SELECT {_COLUMNS} FROM consumptions WHERE seq > ? AND app = ? AND env = ? ORDER BY seq", (record.sequence, record.app, record.env))
        later = [other for other in map(_consumption, after) if set(other.hosts) & set(record.hosts)]
        if later:
            raise self._replayed(
                record, f"change {later[-1].change_id} (token {later[-1].token_id}) ran on the same hosts at {later[-1].consumed_at} and superseded it"
            )
        if record.released_at is not None:
            return  # it stopped resumably and let go: any controller may take it up
        holder = record.owner
        if holder is None:
            raise self._replayed(record, "no controller is recorded as holding it and it was never released, so it cannot be resumed")
        if holder.controller != owner.controller:
            raise self._replayed(
                record,
                f"it is held by a run on another controller ({holder.controller}, pid {holder.pid}) that has not released it: that run is still "
                f"going, or it stopped without pausing (only a pause for an approval or a freeze releases a run); resume it on {holder.controller} "
                "once that process has ended",
            )
        if holder.pid != owner.pid and process_start_time(holder.pid) == holder.start_time:
            raise self._replayed(record, f"the run that consumed it is still running (pid {holder.pid})")

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
        """Record the token as used by ``run_id``, or resume that run if the resume rule allows it (``owner`` then holds it).

        ``record_it`` False runs the same checks and writes nothing (check mode). ``before_fresh``
        runs, under the writer lock, only when this is a first use; it refuses by raising.
        """
        with store_transaction(self.store, write=record_it) as tx:
            existing = self.consumption_of(tx, token_id)
            if existing is not None:
                self._check_resume(tx, existing, token_sha256, run_id, fingerprint, owner)
                if record_it:
                    tx.execute("UPDATE consumptions SET owner = ?, released_at = NULL WHERE token_id = ?", (owner_json(owner), token_id))
                return ConsumeOutcome(replace(existing, owner=owner, released_at=None), resumed=True)
            if self.used_to_ratify(tx, token_id):
                raise errors.ApprovalError(errors.REPLAYED, f"token {token_id} ratified an emergency change; a token is single-use")
            if kind == KIND_NORMAL:
                self._refuse_while_unratified(self._unratified(tx, app), app)
            if before_fresh is not None:
                before_fresh()
            consumption = Consumption(
                token_id,
                token_sha256,
                change_id,
                run_id,
                format_timestamp(now),
                fingerprint,
                app,
                env,
                tuple(hosts),
                owner,
                tx.next_seq("consumptions"),
                kind=kind,
                incident_id=incident_id,
            )
            if record_it:
                self.insert_consumption(tx, consumption)
            return ConsumeOutcome(consumption, resumed=False)

    @staticmethod
    def insert_consumption(tx: Transaction, record: Consumption) -> None:
        try:
            tx.execute(
                f"INSERT INTO consumptions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.sequence,
                    record.token_id,
                    record.token_sha256,
                    record.change_id,
                    record.run_id,
                    record.consumed_at,
                    record.fingerprint,
                    record.app,
                    record.env,
                    json.dumps(list(record.hosts)),
                    owner_json(record.owner) if record.owner else None,
                    record.kind,
                    record.incident_id,
                    record.released_at,
                ),
            )
        except Exception as exc:
            # The writer lock makes this unreachable; the unique constraint stays the last word on single use.
            if _is_unique_violation(exc):
                raise errors.ApprovalError(
                    errors.REPLAYED, f"token {record.token_id} was consumed by another run at the same moment; a token is single-use"
                ) from None
            raise

    def release(self, token_id: str, run_id: str, now: datetime | None = None, owner: RunOwner | None = None) -> Consumption:
        """The run stopped resumably (paused for an approval or a freeze): any controller may resume it under the resume rule.

        ``owner`` given: refuse unless it is the process that holds the token (the gate passes this run's).
        """
        with store_transaction(self.store, write=True) as tx:
            record = self.consumption_of(tx, token_id)
            if record is None or record.run_id != run_id:
                raise errors.ApprovalError(errors.LEDGER_ERROR, f"token {token_id} was not consumed by this run; nothing to release")
            outcome = self._outcome(tx, token_id, run_id)
            if outcome is not None:
                raise errors.ApprovalError(
                    errors.LEDGER_ERROR, f"the run that consumed token {token_id} finished ({outcome}); a finished run is never released"
                )
            if owner is not None and record.owner != owner:
                held = _holder(record.owner) if record.owner else "no recorded process"
                raise errors.ApprovalError(
                    errors.LEDGER_ERROR, f"token {token_id} is held by {held}, not by this process; only the run that holds a token releases it"
                )
            stamp = format_timestamp(now or datetime.now(UTC))
            tx.execute("UPDATE consumptions SET released_at = ? WHERE token_id = ?", (stamp, token_id))
            return replace(record, released_at=stamp)

    def finish(self, token_id: str, run_id: str, outcome: str, now: datetime) -> None:
        """Mark the run that consumed ``token_id`` as ended; it can never resume after this. A failure is not overwritten by a later success."""
        if outcome not in OUTCOMES:
            raise errors.ApprovalError(errors.SCOPE_INVALID, f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        with store_transaction(self.store, write=True) as tx:
            record = self.consumption_of(tx, token_id)
            if record is None or record.run_id != run_id:
                raise errors.ApprovalError(errors.LEDGER_ERROR, f"token {token_id} was not consumed by this run; nothing to finish")
            self.record_outcome(tx, token_id, run_id, outcome, format_timestamp(now))

    @staticmethod
    def record_outcome(tx: Transaction, token_id: str, run_id: str, outcome: str, finished_at: str) -> None:
        """The worst outcome stays: a run where one host failed stays failed when the others then end well."""
        current = tx.row("SELECT outcome FROM run_outcomes WHERE token_id = ? AND run_id = ?", (token_id, run_id))
        if current is None:
            tx.execute("INSERT INTO run_outcomes (token_id, run_id, outcome, finished_at) VALUES (?, ?, ?, ?)", (token_id, run_id, outcome, finished_at))
        elif current[0] == "succeeded" and outcome != "succeeded":
            tx.execute("UPDATE run_outcomes SET outcome = ?, finished_at = ? WHERE token_id = ? AND run_id = ?", (outcome, finished_at, token_id, run_id))

    # --- the policy ---------------------------------------------------------------------------------

    @staticmethod
    def seen_policy(tx: Transaction) -> tuple[int, str]:
        row = tx.row("SELECT version, sha256 FROM policy_seen WHERE id = 1")
        return (int(row[0]), str(row[1])) if row else (0, "")

    @staticmethod
    def compare_policy(version: int, sha256: str, seen: tuple[int, str], where: str = "this controller") -> bool:
        """Refuse an older policy, or another one with the newest version; True when ``version`` is newer than ``seen``."""
        seen_version, seen_sha = seen
        if version < seen_version:
            raise errors.ApprovalError(errors.POLICY_ROLLBACK, f"policy version {version} is older than version {seen_version}, which {where} has already used")
        if version == seen_version and sha256 != seen_sha:
            raise errors.ApprovalError(
                errors.POLICY_ROLLBACK,
                f"policy version {version} differs from the version {version} {where} has already used (sha256 {seen_sha[:16]}…)",
            )
        return version > seen_version

    @classmethod
    def store_policy(cls, tx: Transaction, version: int, sha256: str) -> None:
        if tx.execute("UPDATE policy_seen SET version = ?, sha256 = ? WHERE id = 1", (version, sha256)) == 0:
            tx.execute("INSERT INTO policy_seen (id, version, sha256) VALUES (1, ?, ?)", (version, sha256))

    def require_policy_version(self, version: int, sha256: str) -> None:
        """Refuse a policy older than the newest any controller of this store has used (an old signed policy replayed)."""
        with store_transaction(self.store) as tx:
            newer = self.compare_policy(version, sha256, self.seen_policy(tx))
        if not newer:
            return
        # Read again under the writer lock: another controller may have recorded a newer one meanwhile.
        with store_transaction(self.store, write=True) as tx:
            if self.compare_policy(version, sha256, self.seen_policy(tx)):
                self.store_policy(tx, version, sha256)


@contextmanager
def pinned_ledger(root: TrustRoot, environ: Mapping[str, str] | None = None) -> Iterator[TokenLedger]:
    """The ledger in the store the pinned root names; a store that cannot be opened is APPROVAL_STATE_STORE_ERROR."""
    try:
        store = pinned_store(root, environ)
    except StoreError as exc:
        raise store_refusal(exc) from None
    try:
        yield TokenLedger(store)
    finally:
        store.close()


@contextmanager
def policy_and_ledger(
    task_vars: Mapping[str, Any], template: Callable[[Any], Any], now: datetime | None = None, trust_root: str | None = None
) -> Iterator[tuple[Policy, TokenLedger]]:
    """What every controller-side approval check starts with: the signed policy, checked against the newest one this store has seen, and the ledger."""
    root, policy = pinned_root_and_policy(task_vars, template, now, trust_root)
    with pinned_ledger(root) as ledger:
        ledger.require_policy_version(policy.version, policy.sha256)
        yield policy, ledger
