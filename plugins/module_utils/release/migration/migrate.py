# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The database migration step (module release_migrate) as a plain function: its arguments, the host-side
verification, the backup, the steps, the restore.

Order of a phase: check every step's SQL against its digest, verify the approval on this host (where a
root is pinned), read the migrations table and plan (refuse a changed digest before anything runs),
back up once per release, apply each step with its row in one transaction, and on the first failure
undo what this release applied and fail saying how. Nothing here imports Ansible.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

from ..digest import file_sha256
from ..host_guard import StepRefused, verify_migration
from ..ledger import LedgerError
from . import host_ledger
from .database import AppliedStep, Backup, Connection, Database, DatabaseError
from .plan import BACKUP, DOWN, NONE, PhasePlan, RestorePlan, Step, plan_phase, plan_restore
from .postgresql import PostgreSQL

DEFAULT_BACKUP_DIR = "/var/backups/opsgate"
LOCK_NAME = ".opsgate-migrations.lock"
PHASES = ("expand", "contract", "restore")
# The engines behind the seam (database.Database), by the manifest's database.kind.
ENGINES: dict[str, Callable[[Connection], Database]] = {"postgresql": PostgreSQL}

DATABASE_OPTIONS: dict[str, dict[str, Any]] = {
    "kind": {"type": "str", "required": True, "choices": sorted(ENGINES)},
    "run_on": {"type": "str", "required": True},
    "name": {"type": "str", "required": True},
    "host": {"type": "str", "default": ""},
    "port": {"type": "int", "default": 5432},
    "user": {"type": "str", "default": "postgres"},
    "os_user": {"type": "str", "default": "postgres"},
    "schemas": {"type": "list", "elements": "str", "default": []},
    "backup_dir": {"type": "path", "default": DEFAULT_BACKUP_DIR},
}
STEP_OPTIONS: dict[str, dict[str, Any]] = {
    "id": {"type": "str", "required": True},
    "phase": {"type": "str", "required": True, "choices": ["expand", "contract"]},
    "sha256": {"type": "str", "required": True},
    # Controller side: the action plugin reads these files and sends their content as sql / down_sql.
    "file": {"type": "str"},
    "down": {"type": "dict", "options": {"file": {"type": "str"}, "sha256": {"type": "str"}}},
    "sql": {"type": "str"},
    "down_sha256": {"type": "str", "default": ""},
    "down_sql": {"type": "str"},
}
MIGRATE_SPEC: dict[str, dict[str, Any]] = {
    "approval": {"type": "dict"},
    "change": {"type": "dict"},
    "host_token": {"type": "str", "no_log": True},
    "host_policy": {"type": "str"},
    "host_change": {"type": "dict"},
    "app": {"type": "str", "required": True},
    "version": {"type": "str", "required": True},
    "release_id": {"type": "str", "required": True},
    "artifact_sha256": {"type": "str", "required": True},
    "change_id": {"type": "str", "default": ""},
    "token_id": {"type": "str", "default": ""},
    "who": {"type": "str", "default": ""},
    "phase": {"type": "str", "required": True, "choices": list(PHASES)},
    "database": {"type": "dict", "required": True, "options": DATABASE_OPTIONS},
    "steps": {"type": "list", "elements": "dict", "required": True, "options": STEP_OPTIONS},
    "login_password": {"type": "str", "no_log": True},
}
# Both end up in a file name (<app>-<release_id>.dump) in the backup folder.
_FILE_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+@:-]{0,199}")


class MigrationFailed(Exception):
    """The phase failed or was refused: the message, and the result fields that go with it."""

    def __init__(self, msg: str, **fields: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.fields = fields


@contextmanager
def _locked(path: str) -> Iterator[None]:
    """One migration run per database host and backup folder at a time: a second run (a resume started while the
    first still runs) would find the first's step half-done, fail on its row, and then restore over the first's work."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MigrationFailed(f"another migration run holds {path}; wait for it or check for a stuck process; nothing was run", changed=False) from None
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class ReceivedStep:
    """A step as the host received it, its digests computed here from the SQL."""

    step: Step
    sql: str
    down_sql: str


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def received_steps(params: Mapping[str, Any]) -> list[ReceivedStep]:
    """Every step with SQL whose sha256 is the one named; the error names the step, the expected and the actual digest."""
    steps = []
    for index, item in enumerate(params["steps"]):
        where = f"steps[{index}] ({item['id']})"
        if item.get("sql") is None:
            raise MigrationFailed(f"{where}: no sql was sent; run release_migrate through its action plugin, which reads the step's file", changed=False)
        actual = _sha256(item["sql"])
        expected = str(item["sha256"]).lower()
        if actual != expected:
            raise MigrationFailed(f"{where}: the SQL received has sha256 {actual}, the step names {expected}; nothing was run", changed=False)
        down_sql = item.get("down_sql") or ""
        down_expected = str(item.get("down_sha256") or "").lower()
        if down_sql and _sha256(down_sql) != down_expected:
            raise MigrationFailed(
                f"{where}: the down SQL received has sha256 {_sha256(down_sql)}, the step names {down_expected or 'none'}; nothing was run", changed=False
            )
        if down_expected and not down_sql:
            raise MigrationFailed(f"{where}: the step names a down-migration (sha256 {down_expected}) but none was sent", changed=False)
        steps.append(ReceivedStep(Step(item["id"], item["phase"], actual, _sha256(down_sql) if down_sql else ""), item["sql"], down_sql))
    ids = [received.step.id for received in steps]
    duplicates = sorted({step_id for step_id in ids if ids.count(step_id) > 1})
    if duplicates:
        raise MigrationFailed(f"steps: the ids {', '.join(duplicates)} are given more than once", changed=False)
    return steps


def host_arguments(params: Mapping[str, Any], steps: list[ReceivedStep]) -> dict[str, Any]:
    """What the host checks against the signed change: the release, the database, and the steps as received."""
    arguments = {key: params[key] for key in ("app", "version", "release_id", "artifact_sha256", "change_id", "phase")}
    arguments["database"] = dict(params["database"])
    arguments["steps"] = [{"id": item.step.id, "phase": item.step.phase, "sha256": item.step.sha256, "down_sha256": item.step.down_sha256} for item in steps]
    return arguments


def connection_of(database: Mapping[str, Any], password: str | None) -> Connection:
    return Connection(
        name=database["name"],
        host=database.get("host") or "",
        port=int(database.get("port") or 5432),
        user=database.get("user") or "postgres",
        os_user=database.get("os_user") or "postgres",
        schemas=tuple(database.get("schemas") or ()),
        password=password or "",
    )


class MigrationRun:
    """One call of the module: a phase of one release against one database."""

    def __init__(self, params: Mapping[str, Any], steps: list[ReceivedStep], database: Database, check_mode: bool, host_verified: bool = False) -> None:
        self.params = params
        self.host_verified = host_verified
        self.app: str = params["app"]
        self.release_id: str = params["release_id"]
        self.steps = steps
        self.sql = {item.step.id: item for item in steps}
        self.database = database
        self.check_mode = check_mode
        self.backup_dir: str = params["database"]["backup_dir"]
        self.ledger = host_ledger.ledger_path(self.backup_dir)
        self.backup_path = os.path.join(self.backup_dir, f"{self.app}-{self.release_id}.dump")

    # -- bookkeeping --------------------------------------------------------------------------------------------

    def record(self, event: str, **fields: Any) -> None:
        if self.check_mode:
            return
        params = self.params
        host_ledger.record(
            self.ledger,
            event,
            app=self.app,
            release_id=self.release_id,
            version=params["version"],
            change_id=params.get("change_id"),
            token_id=params.get("token_id"),
            who=params.get("who"),
            database=params["database"]["name"],
            **fields,
        )

    def events(self) -> list[dict[str, Any]]:
        try:
            return host_ledger.read_events(self.ledger)
        except LedgerError as exc:
            raise MigrationFailed(f"{exc}; nothing was run", changed=False) from None

    def recorded_backup(self) -> Backup | None:
        event = host_ledger.recorded_backup(self.events(), self.app, self.release_id)
        if event is None:
            return None
        return Backup(str(event.get("path") or self.backup_path), str(event.get("sha256")), int(event.get("bytes") or 0))

    def existing_backup(self) -> Backup | None:
        """This release's backup when one was taken (by this run or an earlier one), checked against the ledger."""
        recorded = self.recorded_backup()
        if not os.path.exists(self.backup_path):
            return None
        actual = file_sha256(self.backup_path)
        if recorded is None:
            # Renamed into place, then the run died before the ledger line: complete (dump() renames only a finished
            # dump), and taken before any step of this release ran (steps run only after the ledger line).
            size = os.path.getsize(self.backup_path)
            self.record("backup", path=self.backup_path, sha256=actual, bytes=size, message="recorded by a later run")
            return Backup(self.backup_path, actual, size)
        if actual != recorded.sha256:
            raise MigrationFailed(
                f"the backup {self.backup_path} has sha256 {actual}, the migration ledger {self.ledger} recorded {recorded.sha256} "
                "when it was taken: it was changed on disk and is not used",
                changed=False,
                backup={"path": self.backup_path, "sha256": actual, "recorded_sha256": recorded.sha256},
            )
        return recorded

    def rows(self) -> list[AppliedStep]:
        return self.database.applied_steps(self.app)

    def table(self, rows: list[AppliedStep] | None = None) -> list[dict[str, str]]:
        return [{"step_id": row.step_id, "sha256": row.sha256, "release_id": row.release_id} for row in (self.rows() if rows is None else rows)]

    def base_result(self) -> dict[str, Any]:
        database = self.params["database"]
        return {"phase": self.params["phase"], "database": {"kind": database["kind"], "run_on": database["run_on"], "name": database["name"]}}

    # -- phases -------------------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        if self.check_mode:
            return self._run()
        os.makedirs(self.backup_dir, mode=0o700, exist_ok=True)
        with _locked(os.path.join(self.backup_dir, LOCK_NAME)):
            self.database.ensure_table()
            return self._run()

    def _run(self) -> dict[str, Any]:
        # As the release hosts do (host_guard.token_spent_on_host): only a verified token id means anything here.
        spent = host_ledger.token_spent(self.events(), self.params.get("token_id") or "") if self.host_verified else None
        if spent:
            raise MigrationFailed(f"release_migrate refused by the host [APPROVAL_HOST_TOKEN_SPENT]: {spent}; an approval is used once", changed=False)
        if self.params["phase"] == "restore":
            return self.restore_phase()
        return self.apply_phase(self.params["phase"])

    def apply_phase(self, phase: str) -> dict[str, Any]:
        plan = plan_phase([item.step for item in self.steps], phase, self.rows(), self.app)
        result = self.base_result()
        if plan.refused:
            reasons = "; ".join(refusal.describe() for refusal in plan.refused)
            for refusal in plan.refused:
                self.record("refused", phase=phase, step_id=refusal.step_id, sha256=refusal.new_sha256, applied_sha256=refusal.applied_sha256)
            raise MigrationFailed(
                f"{phase} of {self.release_id} refused: {reasons}; an applied step is never changed, ship a new step instead; nothing was run",
                changed=False,
                refused=[refusal.step_id for refusal in plan.refused],
                **result,
            )
        # Not "skipped": Ansible reads that result key as "the task was skipped".
        result.update(already_applied=[step.id for step in plan.skip], applied=[], backup=None)
        if self.check_mode:
            existing = self.recorded_backup()
            result.update(changed=bool(plan.run), would_apply=[step.id for step in plan.run], backup=existing.as_dict() if existing else None)
            result["migrations_table"] = self.table()
            return result
        backup = self.existing_backup()
        if plan.run and backup is None:
            backup = self.take_backup()
        result["backup"] = backup.as_dict() if backup else None
        self.apply_steps(plan, phase, result)
        result["changed"] = bool(result["applied"])
        result["migrations_table"] = self.table()
        return result

    def take_backup(self) -> Backup:
        try:
            backup = self.database.dump(self.backup_path)
        except (DatabaseError, OSError) as exc:
            raise MigrationFailed(
                f"the backup of {self.params['database']['name']} before the first step failed: {exc}; nothing was run", changed=False
            ) from None
        self.record("backup", path=backup.path, sha256=backup.sha256, bytes=backup.bytes)
        return backup

    def apply_steps(self, plan: PhasePlan, phase: str, result: dict[str, Any]) -> None:
        for step in plan.run:
            row = AppliedStep(self.app, step.id, phase, step.sha256, self.release_id, self.params.get("token_id") or "")
            try:
                self.database.apply_step(self.sql[step.id].sql, row)
            except DatabaseError as exc:
                self.record("failed", phase=phase, step_id=step.id, sha256=step.sha256, message=str(exc))
                self.fail_and_restore(step, phase, str(exc), result)
            self.record("applied", phase=phase, step_id=step.id, sha256=step.sha256)
            result["applied"].append(step.id)

    def fail_and_restore(self, step: Step, phase: str, error: str, result: dict[str, Any]) -> NoReturn:
        """Undo and fail. After expand: everything this release applied (the old release still runs). After contract:
        only the contract steps, by their downs; the backup predates the expand the running release needs."""
        failed = f"migration step {step.id} ({phase}) of {self.release_id} failed and left nothing of itself: {error}"
        phases = ("expand", "contract") if phase == "expand" else ("contract",)
        try:
            plan, restored = self.restore(phases=phases, backup_allowed=phase == "expand")
        except MigrationFailed as exc:
            raise MigrationFailed(f"{failed}; then the restore failed: {exc.msg}", changed=bool(result["applied"]), failed_step=step.id, **result) from None
        result.update(restored=restored, failed_step=step.id, migrations_table=self.table())
        if plan.method == BACKUP:
            backup = result.get("backup") or {}
            said = f"the database was restored from the backup {backup.get('path')} (sha256 {backup.get('sha256')})"
        elif plan.method == DOWN:
            said = f"the down-migrations of {', '.join(plan.steps)} were run, in that order"
        elif plan.kept:
            said = (
                f"{', '.join(plan.kept)} stay applied: a contract step without a down-migration is not undone, and the backup "
                "predates the expand the running release needs"
            )
        else:
            said = "this release had applied nothing else, so nothing was restored"
        raise MigrationFailed(f"{failed}; {said}", changed=plan.method != NONE or bool(result["applied"]), **result)

    def restore_phase(self) -> dict[str, Any]:
        result = self.base_result()
        if self.check_mode:
            plan = plan_restore([item.step for item in self.steps], self.rows(), self.app, self.release_id)
            existing = self.recorded_backup()
            result.update(changed=plan.method != NONE, restored={"method": plan.method, "steps": list(plan.steps)})
            result.update(backup=existing.as_dict() if existing else None, applied=[], already_applied=[], migrations_table=self.table())
            return result
        plan, restored = self.restore()
        backup = self.recorded_backup()
        result.update(changed=plan.method != NONE, restored=restored, applied=[], already_applied=[], backup=backup.as_dict() if backup else None)
        result["migrations_table"] = self.table()
        return result

    def restore(self, phases: tuple[str, ...] = ("expand", "contract"), backup_allowed: bool = True) -> tuple[RestorePlan, dict[str, Any]]:
        """Undo what this release applied (in ``phases``): by the downs when all have one, else from the backup."""
        plan = plan_restore([item.step for item in self.steps], self.rows(), self.app, self.release_id, phases, backup_allowed)
        if plan.method == DOWN:
            try:
                for step_id in plan.steps:
                    self.database.run_down(self.sql[step_id].down_sql, self.app, step_id, self.release_id)
                    self.record("down", step_id=step_id, sha256=self.sql[step_id].step.down_sha256)
            except DatabaseError as exc:
                if not backup_allowed:
                    raise MigrationFailed(f"the down-migration of {step_id} failed: {exc}", changed=True) from None
                # A failed down leaves the steps before it undone and itself not: the backup puts everything back.
                plan = RestorePlan(BACKUP, plan.steps)
                self.restore_backup()
                restored = {"method": BACKUP, "steps": list(plan.steps), "down_failed": step_id, "down_error": str(exc)}
                self.record("restored", method=BACKUP, steps=list(plan.steps), message=f"down of {step_id} failed: {exc}")
                return plan, restored
        elif plan.method == BACKUP:
            self.restore_backup()
        restored = {"method": plan.method, "steps": list(plan.steps)}
        if plan.kept:
            restored["kept"] = list(plan.kept)
        if plan.method != NONE:
            self.record("restored", method=plan.method, steps=list(plan.steps))
        return plan, restored

    def restore_backup(self) -> None:
        backup = self.existing_backup()
        if backup is None:
            # With no steps given (a rollback of the hosts) no down-migration reached this host: the backup is the only way back.
            why = "applied steps without a down-migration" if self.steps else "applied migration steps (their down-migrations are not on this host)"
            raise MigrationFailed(
                f"{self.release_id} {why} and its backup {self.backup_path} is missing: the database cannot be put back by this step",
                changed=False,
            )
        try:
            self.database.restore(backup.path, self.app, self.release_id)
        except (DatabaseError, OSError) as exc:
            raise MigrationFailed(f"the restore from the backup {backup.path} failed: {exc}", changed=False) from None


def run_migration(params: dict[str, Any], check_mode: bool, engines: Mapping[str, Callable[[Connection], Database]] | None = None) -> dict[str, Any]:
    """The module's body; raises MigrationFailed. The password never enters a result or a message."""
    for key in ("app", "release_id"):
        if not _FILE_SAFE.fullmatch(params[key] or ""):
            raise MigrationFailed(f"{key} must be letters, digits and _.+@:- (it names the backup file), got {params[key]!r}", changed=False)
    steps = received_steps(params)
    try:
        host_check = verify_migration(params, host_arguments(params, steps), check_mode)
    except StepRefused as exc:
        raise MigrationFailed(exc.msg, **exc.fields) from None
    database = (engines or ENGINES)[params["database"]["kind"]](connection_of(params["database"], params.get("login_password")))
    password = params.get("login_password") or ""
    try:
        result = MigrationRun(params, steps, database, check_mode, host_verified=host_check["host_verified"]).run()
    except MigrationFailed as exc:
        exc.fields.update(host_check)
        raise
    except (DatabaseError, LedgerError, OSError) as exc:
        message = str(exc).replace(password, "********") if password else str(exc)
        raise MigrationFailed(f"{params['phase']} of {params['release_id']} failed: {message}", **host_check) from None
    return {**result, **host_check}
