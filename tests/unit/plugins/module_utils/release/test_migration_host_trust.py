# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The database host verifies the migration step itself when it pins a trust root: real Ed25519 signatures, a real
root, policy and change document (with its top-level ``migrations``), a real PostgreSQL database that must not change
when the host refuses. Also the comparison the controller makes with the same function (host_check.check_migration_step).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pg_cluster
import pytest
from approval_kit import ApprovalKit, live_claims

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors, host_check
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import build_change, change_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import new_token_id
from ansible_collections.opsgate.release.plugins.module_utils.release.migration import host_ledger
from ansible_collections.opsgate.release.plugins.module_utils.release.migration.migrate import MigrationFailed, run_migration

from .migration_kit import AUDIT, STATUS, STATUS_DOWN, Database, sha, step

HOSTS = ["web1", "web2", "web3"]
RELEASE = {
    "release_id": "1.4.2-CHG-2025-0117-3f3f3f3f3f3f",
    "app": "accounts-api",
    "version": "1.4.2",
    "artifact_sha256": "3f" * 32,
    "change_id": "CHG-2025-0117",
}
STEPS = [step("001_status", "expand", STATUS, down=STATUS_DOWN), step("002_audit", "expand", AUDIT)]


def _manifest_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps as the manifest has them (file paths, down as file + sha256): what the change is built from."""
    result = []
    for item in steps:
        down = {"file": f"/release/{item['id']}.down.sql", "sha256": item["down_sha256"]} if item["down_sha256"] else None
        result.append({"id": item["id"], "phase": item["phase"], "file": f"/release/{item['id']}.sql", "sha256": item["sha256"], "down": down})
    return result


class PinnedDatabaseHost:
    """db1: a pinned root and identity in its trust folder, and the signed change whose migrations it runs."""

    def __init__(
        self, tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch, name: str = "db1", change: dict[str, Any] | None = None, **claims: Any
    ) -> None:
        self.db = db
        self.kit = ApprovalKit(str(tmp_path / "ledger"))
        trust = tmp_path / "db-host-opsgate"
        trust.mkdir(mode=0o755)
        (trust / "trust.json").write_bytes(self.kit.root_document())
        (trust / "host.json").write_text(json.dumps({"_type": host_check.HOST_IDENTITY_TYPE, "name": name, "address": "10.0.9.1"}))
        for path in (trust / "trust.json", trust / "host.json"):
            path.chmod(0o644)
        monkeypatch.setattr(host_check, "DEFAULT_TRUST_ROOT", str(tmp_path / "no-etc" / "trust.json"))
        monkeypatch.setenv(host_check.HOST_TRUST_DIR_ENV, str(trust))
        self.change = change or build_change(
            action="deploy",
            env="prod",
            hosts={host: {"address": f"10.0.0.{index}", "inputs": RELEASE} for index, host in enumerate(HOSTS, 1)},
            migrations={"database": db.database(), "steps": _manifest_steps(STEPS)},
            **{key: RELEASE[key] for key in ("app", "version", "artifact_sha256", "change_id")},
        )
        self.token = self.kit.sign(live_claims(HOSTS, change_sha256=change_digest(self.change), token_id=new_token_id(), **claims))
        self.policy = self.kit.policy_document().decode("utf-8")

    def params(self, phase: str, steps: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "release_id": RELEASE["release_id"],
            "app": RELEASE["app"],
            "version": RELEASE["version"],
            "change_id": RELEASE["change_id"],
            "host_token": self.token,
            "host_policy": self.policy,
            "host_change": self.change,
            "token_id": "",
        }
        values.update(over)
        return self.db.params(phase, steps, **values)

    def refused(self, code: str, phase: str, steps: list[dict[str, Any]], *words: str, **over: Any) -> MigrationFailed:
        state, relations = self.db.orders(), self.db.relations()
        with pytest.raises(MigrationFailed) as caught:
            run_migration(self.params(phase, steps, **over), False)
        assert caught.value.fields.get("approval_error") == code, caught.value.msg
        for word in words:
            assert word in caught.value.msg
        assert (self.db.orders(), self.db.relations()) == (state, relations), "the database changed"
        assert not self.db.backup_dir.exists(), "a backup or ledger line was written"
        assert self.token not in caught.value.msg
        return caught.value


@pytest.fixture
def db(postgresql_cluster: pg_cluster.Cluster, tmp_path: Path) -> Database:
    return Database(postgresql_cluster, tmp_path)


@pytest.fixture
def pinned(tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch) -> PinnedDatabaseHost:
    return PinnedDatabaseHost(tmp_path, db, monkeypatch)


def test_the_signed_migrations_run_on_the_pinned_host_and_the_verified_token_is_recorded(pinned: PinnedDatabaseHost) -> None:
    result = run_migration(pinned.params("expand", STEPS), False)
    assert result["host_verified"] is True and result["host_verification"]["host"] == "db1"
    assert result["applied"] == ["001_status", "002_audit"]
    token_id = result["host_verification"]["token_id"]
    applied = [event for event in host_ledger.read_events(str(pinned.db.backup_dir / host_ledger.LEDGER_NAME)) if event["event"] == "applied"]
    assert {event["token_id"] for event in applied} == {token_id}
    assert pinned.token not in json.dumps(result)


def test_sql_whose_digest_is_not_in_the_signed_change_is_refused_and_the_database_is_unchanged(pinned: PinnedDatabaseHost) -> None:
    # What a tampered controller sends: other SQL, with a sha256 that matches it, so only the signed change can tell.
    evil = [step("001_status", "expand", "DROP TABLE orders;", down=STATUS_DOWN), STEPS[1]]
    error = pinned.refused(errors.CHANGE_STEP_MISMATCH, "expand", evil, "migrations.steps[0].sha256 of step 001_status", sha("DROP TABLE orders;"))
    assert "nothing was changed" in error.msg


def test_a_down_migration_not_in_the_signed_change_is_refused(pinned: PinnedDatabaseHost) -> None:
    evil = [step("001_status", "expand", STATUS, down="DROP TABLE orders;"), STEPS[1]]
    pinned.refused(errors.CHANGE_STEP_MISMATCH, "restore", evil, "migrations.steps[0].down_sha256")


def test_a_step_left_out_or_added_is_refused(pinned: PinnedDatabaseHost) -> None:
    pinned.refused(errors.CHANGE_STEP_MISMATCH, "expand", STEPS[:1], "migrations.steps (ids in order)")
    pinned.refused(errors.CHANGE_STEP_MISMATCH, "expand", [*STEPS, step("003_extra", "expand", "SELECT 1;")], "003_extra")


def test_another_database_than_the_signed_one_is_refused(pinned: PinnedDatabaseHost, postgresql_cluster: pg_cluster.Cluster) -> None:
    pinned.refused(errors.CHANGE_STEP_MISMATCH, "expand", STEPS, "migrations.database.name", database={"name": "opsgate"})
    pinned.refused(errors.CHANGE_STEP_MISMATCH, "expand", STEPS, "migrations.database.backup_dir", database={"backup_dir": "/tmp"})


def test_another_release_than_the_changes_is_refused(pinned: PinnedDatabaseHost) -> None:
    pinned.refused(errors.CHANGE_STEP_MISMATCH, "restore", STEPS, "release_id", release_id="1.4.1-CHG-2025-0100-0000")


def test_a_host_that_is_not_run_on_refuses(tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    other = PinnedDatabaseHost(tmp_path, db, monkeypatch, name="db2")
    other.refused(errors.CHANGE_HOST_NOT_IN_CHANGE, "expand", STEPS, "this host is db2", "runs its migrations on db1")


def test_a_step_without_the_token_policy_and_change_is_refused(pinned: PinnedDatabaseHost) -> None:
    pinned.refused(errors.CHANGE_NOT_BOUND, "expand", STEPS, "sent no token", host_token=None)


def test_the_controller_compares_the_manifest_steps_with_the_same_function(pinned: PinnedDatabaseHost) -> None:
    document = pinned.change
    arguments = {**RELEASE, "phase": "expand", "database": pinned.db.database(), "steps": _manifest_steps(STEPS)}
    assert host_check.check_migration_step(document, arguments) == document["migrations"]
    for changed, words in (
        ({"steps": _manifest_steps([step("001_status", "expand", STATUS + "--x\n", down=STATUS_DOWN), STEPS[1]])}, "steps[0].sha256"),
        ({"steps": _manifest_steps([STEPS[1], STEPS[0]])}, "ids in order"),
        ({"database": pinned.db.database(port=6432)}, "database.port"),
        ({"version": "1.4.3"}, "version"),
    ):
        with pytest.raises(errors.ApprovalError) as caught:
            host_check.check_migration_step(document, {**arguments, **changed})
        assert caught.value.code == errors.CHANGE_STEP_MISMATCH and words in caught.value.message
    without = {**document, "migrations": None}
    with pytest.raises(errors.ApprovalError) as caught:
        host_check.check_migration_step(without, arguments)
    assert "approves no database migrations" in caught.value.message


def test_a_token_is_spent_on_the_database_once_another_token_migrated_it() -> None:
    events = [
        {"event": "backup", "token_id": "apv-1", "release_id": "r1", "at": "2026-01-01T00:00:00Z"},
        {"event": "applied", "token_id": "apv-1", "release_id": "r1", "at": "2026-01-01T00:00:01Z"},
        {"event": "refused", "token_id": "apv-3", "release_id": "r3", "at": "2026-01-02T00:00:00Z"},
        {"event": "applied", "token_id": "apv-2", "release_id": "r2", "at": "2026-01-03T00:00:00Z"},
    ]
    reason = host_ledger.token_spent(events, "apv-1")
    assert reason is not None and "apv-2" in reason and "r2" in reason
    assert host_ledger.token_spent(events, "apv-2") is None
    # A refusal changed nothing: it spends no one's token.
    assert host_ledger.token_spent(events[:3], "apv-1") is None


# A rollback's change: the hosts return to 1.4.1, and the database goes back to before the release they leave (the
# release above, whose expand ran under its own deploy token). The approvers signed that database and that release.
ROLLBACK = {"app": "accounts-api", "version": "1.4.1", "artifact_sha256": "3e" * 32, "change_id": "CHG-2025-0118"}


def _rollback_change(db: Database, restore_release_id: str = RELEASE["release_id"]) -> dict[str, Any]:
    inputs = {"base_dir": "/srv/accounts-api", **ROLLBACK, "keep_releases": 3}
    return build_change(
        action="rollback",
        env="prod",
        hosts={host: {"address": f"10.0.0.{index}", "inputs": inputs} for index, host in enumerate(HOSTS, 1)},
        migrations={"database": db.database(), "restore_release_id": restore_release_id, "steps": []},
        **ROLLBACK,
    )


@pytest.fixture
def rollback(tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch) -> PinnedDatabaseHost:
    """db1 after the release's expand ran (under its deploy, before this host pinned a root), with a rollback token."""
    monkeypatch.setattr(host_check, "DEFAULT_TRUST_ROOT", str(tmp_path / "no-etc" / "trust.json"))
    monkeypatch.delenv(host_check.HOST_TRUST_DIR_ENV, raising=False)
    db.run("expand", STEPS, release_id=RELEASE["release_id"], app=RELEASE["app"])
    return PinnedDatabaseHost(tmp_path, db, monkeypatch, change=_rollback_change(db), action="rollback", **ROLLBACK)


def _restore(rollback: PinnedDatabaseHost, phase: str = "restore", steps: list[dict[str, Any]] | None = None, **over: Any) -> dict[str, Any]:
    values = {"version": ROLLBACK["version"], "artifact_sha256": ROLLBACK["artifact_sha256"], "change_id": ROLLBACK["change_id"], **over}
    return rollback.params(phase, [] if steps is None else steps, **values)


def _refused_rollback(rollback: PinnedDatabaseHost, code: str, *words: str, **arguments: Any) -> None:
    state, rows, events = rollback.db.orders(), rollback.db.rows(), rollback.db.ledger()
    with pytest.raises(MigrationFailed) as caught:
        run_migration(_restore(rollback, **arguments), False)
    assert caught.value.fields.get("approval_error") == code, caught.value.msg
    for word in words:
        assert word in caught.value.msg, caught.value.msg
    assert (rollback.db.orders(), rollback.db.rows(), rollback.db.ledger()) == (state, rows, events), "the database or its ledger changed"
    assert rollback.token not in caught.value.msg


def test_a_rollback_token_puts_the_database_back_to_before_the_release_it_names(rollback: PinnedDatabaseHost) -> None:
    result = run_migration(_restore(rollback), False)
    assert result["host_verified"] is True and result["host_verification"]["host"] == "db1"
    assert result["restored"] == {"method": "backup", "steps": ["002_audit", "001_status"]}
    assert rollback.db.rows() == [] and "status" not in rollback.db.orders()
    restored = rollback.db.ledger()[-1]
    assert restored["event"] == "restored" and restored["release_id"] == RELEASE["release_id"]
    assert restored["token_id"] == result["host_verification"]["token_id"] and restored["change_id"] == ROLLBACK["change_id"]


def test_a_rollback_token_refuses_another_database_than_the_signed_one(rollback: PinnedDatabaseHost) -> None:
    _refused_rollback(rollback, errors.CHANGE_STEP_MISMATCH, "migrations.database.name", database={"name": "opsgate"})
    _refused_rollback(rollback, errors.CHANGE_STEP_MISMATCH, "migrations.database.run_on", database={"run_on": "db2"})


def test_a_rollback_token_refuses_to_put_back_another_release(rollback: PinnedDatabaseHost) -> None:
    _refused_rollback(rollback, errors.CHANGE_STEP_MISMATCH, "restore_release_id", "1.4.0-CHG-2025-0001-aaaa", release_id="1.4.0-CHG-2025-0001-aaaa")


@pytest.mark.parametrize(("phase", "steps"), [("expand", STEPS), ("contract", []), ("expand", [])])
def test_a_rollback_token_never_migrates_forward(rollback: PinnedDatabaseHost, phase: str, steps: list[dict[str, Any]]) -> None:
    _refused_rollback(rollback, errors.STEP_NOT_APPROVED, f"release_migrate phase={phase} is not part of a rollback", phase=phase, steps=steps)


def test_a_rollback_token_refuses_steps_it_did_not_sign(rollback: PinnedDatabaseHost) -> None:
    # SQL the controller sends as down-migrations: the rollback's change names no step at all.
    _refused_rollback(rollback, errors.CHANGE_STEP_MISMATCH, "migrations.steps", "001_status", steps=STEPS)
