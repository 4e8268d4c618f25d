# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 15, "a rollback of the release restores it": the rollback's change document names the database and the release
the hosts leave (migrations.restore_release_id, no step), and the controller lets a rollback token put that database back
to before that release and nothing else (host_check, the same functions the database host runs; the pinned host's side is
in tests/unit/plugins/module_utils/release/test_migration_host_trust.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ansible_collections.opsgate.release.plugins.action.release_change import _rollback_database
from ansible_collections.opsgate.release.plugins.module_utils.approval import errors, host_check
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import build_change, change_digest, check_shape, check_step
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_summary import summary_lines

HOSTS = ["web1", "web2"]
LEFT = "2.0.0-CHG-2025-0200-5d5d5d5d5d5d"
ROLLBACK = {"app": "shop", "version": "1.0.0", "artifact_sha256": "1a" * 32, "change_id": "CHG-2025-0201"}
DATABASE = {
    "kind": "postgresql",
    "run_on": "db-1",
    "name": "appdb",
    "host": "",
    "port": 5432,
    "user": "postgres",
    "os_user": "postgres",
    "schemas": [],
    "backup_dir": "/var/backups/opsgate",
}
INPUTS = {"base_dir": "/srv/shop", **ROLLBACK, "keep_releases": 3}


def _change(action: str = "rollback", migrations: Any = "restore", **header: Any) -> dict[str, Any]:
    if migrations == "restore":
        migrations = {"database": DATABASE, "restore_release_id": LEFT, "steps": []}
    return build_change(
        action=action,
        env="prod",
        hosts={host: {"address": f"10.0.0.{index}", "inputs": INPUTS} for index, host in enumerate(HOSTS, 1)},
        migrations=migrations,
        **{**ROLLBACK, **header},
    )


def _restore_step(**over: Any) -> dict[str, Any]:
    """What roles/rollback asks release_migrate (through release_host's migrate entry point) after every host is back."""
    arguments = {
        **ROLLBACK,
        "release_id": LEFT,
        "phase": "restore",
        "database": dict(DATABASE),
        "steps": [],
        "login_password": "not compared",
    }
    arguments.update(over)
    return arguments


def test_the_rollback_change_names_the_database_and_the_release_it_goes_back_before() -> None:
    change = _change()
    assert change["migrations"] == {"database": DATABASE, "restore_release_id": LEFT, "steps": []}
    assert change["verify"] is None and change["documents"] is None
    # The form the gate rebuilds it from (the document itself) gives the same document, so the same digest.
    assert check_shape(copy.deepcopy(change)) == change
    assert change_digest(_change(migrations=change["migrations"])) == change_digest(change)
    assert change_digest(_change(migrations={"database": DATABASE, "restore_release_id": "2.0.1-x", "steps": []})) != change_digest(change)


def test_a_release_document_gains_no_key_so_a_signed_one_keeps_its_digest() -> None:
    steps = [{"id": "001", "phase": "expand", "file": "/m/001.sql", "sha256": "ab" * 32, "down": None}]
    deploy = _change(action="deploy", migrations={"database": DATABASE, "steps": steps})
    assert set(deploy["migrations"]) == {"database", "steps"}
    without = {key: value for key, value in deploy.items() if key not in ("migrations", "verify", "documents")}
    assert change_digest(without) == change_digest({**deploy, "migrations": None, "verify": None, "documents": None})


@pytest.mark.parametrize(
    ("migrations", "words"),
    [
        ({"database": DATABASE, "steps": []}, "change.migrations.steps: must be a non-empty list"),
        (
            {"database": DATABASE, "restore_release_id": LEFT, "steps": [{"id": "001", "phase": "expand", "sha256": "ab" * 32, "down_sha256": ""}]},
            "change.migrations.steps: must be empty when restore_release_id is given",
        ),
        ({"database": DATABASE, "restore_release_id": "", "steps": []}, "change.migrations.restore_release_id: must be a non-empty string"),
        ({"database": {**DATABASE, "port": "5432"}, "restore_release_id": LEFT, "steps": []}, "change.migrations.database.port"),
    ],
)
def test_a_malformed_restore_is_refused_when_the_document_is_built(migrations: dict[str, Any], words: str) -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        _change(migrations=migrations)
    assert caught.value.code == errors.CHANGE_INVALID and words in caught.value.message


def test_the_approvers_read_which_database_goes_back_before_which_release() -> None:
    lines = summary_lines(_change())
    restore = [line for line in lines if line.startswith("database restore on db-1")]
    assert restore and LEFT in restore[0] and "appdb" in restore[0] and "data written since is lost" in restore[0]
    assert not any(line.startswith("migration ") for line in lines)
    assert "database migrations: none" in summary_lines(_change(migrations=None))


def test_the_inventory_database_is_completed_with_the_manifests_defaults_and_checked() -> None:
    given = {"restore_release_id": LEFT, "steps": [], "database": {"kind": "postgresql", "run_on": "db-1", "name": "appdb"}}
    assert _rollback_database(given) == {**given, "database": DATABASE}
    deploy = {"database": {"kind": "postgresql"}, "steps": [{"id": "x"}]}
    assert _rollback_database(deploy) is deploy  # a release's: the manifest action normalised it already
    with pytest.raises(errors.ApprovalError) as caught:
        _rollback_database({**given, "database": {**given["database"], "port": 0, "backup_dir": "relative"}})
    assert "rollback_database.port" in caught.value.message and "rollback_database.backup_dir" in caught.value.message


def test_the_controller_lets_a_rollback_token_restore_the_signed_database() -> None:
    change = _change()
    arguments = _restore_step()
    host_check.refuse_outside_rollback("rollback", "release_migrate", arguments)
    compared = host_check.arguments_to_compare("rollback", "release_migrate", arguments)
    # The hosts' entries name the release they return to, not the one left: that one is migrations.restore_release_id.
    assert "release_id" not in compared
    check_step(change, "web1", "10.0.0.1", compared)
    assert host_check.check_migration_step(change, arguments) == change["migrations"]
    assert host_check.check_migration_host(change, "db-1", arguments) == change["migrations"]
    with pytest.raises(errors.ApprovalError) as caught:
        host_check.check_migration_host(change, "web1", arguments)
    assert caught.value.code == errors.CHANGE_HOST_NOT_IN_CHANGE


@pytest.mark.parametrize(
    ("over", "words"),
    [
        ({"database": {**DATABASE, "name": "otherdb"}}, "migrations.database.name differs"),
        ({"database": {**DATABASE, "backup_dir": "/tmp"}}, "migrations.database.backup_dir differs"),
        ({"database": {**DATABASE, "run_on": "db-2"}}, "migrations.database.run_on differs"),
        ({"release_id": "1.9.0-CHG-2025-0100-0000"}, "restore_release_id"),
        ({"phase": "expand"}, "not the migration phase 'expand'"),
        ({"phase": "contract"}, "not the migration phase 'contract'"),
        ({"steps": [{"id": "001", "phase": "expand", "sha256": "ab" * 32}]}, "migrations.steps differs"),
        ({"version": "2.0.0"}, "version differs"),
    ],
)
def test_the_controller_refuses_a_restore_the_rollback_did_not_sign(over: dict[str, Any], words: str) -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        host_check.check_migration_step(_change(), _restore_step(**over))
    assert caught.value.code == errors.CHANGE_STEP_MISMATCH and words in caught.value.message, caught.value.message


@pytest.mark.parametrize("phase", ["expand", "contract"])
def test_a_rollback_token_never_migrates_forward_even_with_the_signed_database(phase: str) -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        host_check.refuse_outside_rollback("rollback", "release_migrate", _restore_step(phase=phase))
    assert caught.value.code == errors.STEP_NOT_APPROVED and f"phase={phase}" in caught.value.message


def test_a_restore_release_id_belongs_to_a_rollback_and_a_rollback_restores_only_by_it() -> None:
    # A deploy's change that names a release to go back before (the approvers signed a deploy, not a rollback).
    deploy = _change(action="deploy")
    with pytest.raises(errors.ApprovalError) as caught:
        host_check.check_migration_step(deploy, _restore_step())
    assert caught.value.code == errors.CHANGE_STEP_MISMATCH and "only a rollback's change" in caught.value.message
    # A rollback's change that signed steps but no release to go back before: no restore runs under it.
    steps = [{"id": "001", "phase": "expand", "file": "/m/001.sql", "sha256": "ab" * 32, "down": {"file": "/m/001.down.sql", "sha256": "cd" * 32}}]
    rollback = _change(migrations={"database": DATABASE, "steps": steps})
    with pytest.raises(errors.ApprovalError) as caught:
        host_check.check_migration_step(rollback, _restore_step(steps=steps))
    assert caught.value.code == errors.CHANGE_STEP_MISMATCH and "name no restore_release_id" in caught.value.message


def test_a_deploys_restore_is_checked_as_before() -> None:
    steps = [{"id": "001", "phase": "expand", "file": "/m/001.sql", "sha256": "ab" * 32, "down": None}]
    release = {**INPUTS, "release_id": LEFT, "version": "2.0.0"}
    change = build_change(
        action="deploy",
        env="prod",
        hosts={host: {"address": host, "inputs": release} for host in HOSTS},
        migrations={"database": DATABASE, "steps": steps},
        **{**ROLLBACK, "version": "2.0.0"},
    )
    arguments = {**_restore_step(steps=steps), "version": "2.0.0"}
    assert host_check.arguments_to_compare("deploy", "release_migrate", arguments) == arguments
    assert host_check.check_migration_step(change, arguments) == change["migrations"]
