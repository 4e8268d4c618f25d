# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The manifest's migrations, verify and documents (issue 15): validation with key paths and values, every error at once,
and the files they name resolved and checked by digest on the controller."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.release_manifest.bound_files import BoundFileError, resolve_bound_files
from ansible_collections.opsgate.release.plugins.plugin_utils.release_manifest.manifest import ManifestError, validate_manifest

SHA = "ab" * 32
UP = "cd" * 32
DOWN = "ef" * 32
SUITE = "12" * 32
DOC = "34" * 32

BASE: dict[str, Any] = {
    "app": "sample_app",
    "version": "2.0.0",
    "change_id": "CHG-2025-0300",
    "base_dir": "/srv/sample_app",
    "artifacts": [{"src": "files/sample_app-2.0.0.tar.gz", "sha256": SHA}],
}
FULL: dict[str, Any] = {
    **BASE,
    "migrations": {
        "database": {"kind": "postgresql", "run_on": "db-1", "name": "appdb"},
        "steps": [
            {"id": "001_orders_status", "phase": "expand", "file": "migrations/001.sql", "sha256": UP.upper()},
            {"id": "002_drop_old", "phase": "contract", "file": "/abs/002.sql", "sha256": UP, "down": {"file": "migrations/002.down.sql", "sha256": DOWN}},
        ],
    },
    "verify": {"suite": "tests/test_sample_app.py", "sha256": SUITE},
    "documents": [{"kind": "deployment_manual", "title": "部署手册 2.0", "location": "https://wiki.example/app/2.0/deploy", "sha256": DOC}],
}


def _with(path: str, value: object) -> dict[str, Any]:
    """FULL with the value at ``path`` (dots; list indexes as numbers) replaced, or deleted for _DELETE."""
    data = copy.deepcopy(FULL)
    target: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last: Any = int(keys[-1]) if isinstance(target, list) else keys[-1]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return data


_DELETE = object()


def test_absent_keys_are_empty_so_the_roles_test_their_length() -> None:
    manifest = validate_manifest(BASE).data
    assert manifest["migrations"] == {} and manifest["verify"] == {} and manifest["documents"] == []
    # Empty or null, as a normalised manifest says it, is the same as absent.
    again = validate_manifest({**BASE, "migrations": {}, "verify": {}, "documents": []}).data
    assert (again["migrations"], again["verify"], again["documents"]) == ({}, {}, [])
    assert validate_manifest({**BASE, "migrations": None, "verify": None, "documents": None}).data["documents"] == []


def test_every_default_is_filled_and_digests_are_lowercase() -> None:
    manifest = validate_manifest(FULL).data
    assert manifest["migrations"] == {
        "database": {
            "kind": "postgresql",
            "run_on": "db-1",
            "name": "appdb",
            "host": "",
            "port": 5432,
            "user": "postgres",
            "os_user": "postgres",
            "schemas": [],
            "backup_dir": "/var/backups/opsgate",
        },
        "steps": [
            {"id": "001_orders_status", "phase": "expand", "file": "migrations/001.sql", "sha256": UP, "down": None},
            {"id": "002_drop_old", "phase": "contract", "file": "/abs/002.sql", "sha256": UP, "down": {"file": "migrations/002.down.sql", "sha256": DOWN}},
        ],
    }
    assert manifest["verify"] == {"suite": "tests/test_sample_app.py", "sha256": SUITE, "timeout": 300}
    assert manifest["documents"] == FULL["documents"]


def test_a_database_reached_over_tcp_with_schemas() -> None:
    database = {
        "kind": "postgresql",
        "run_on": "db-1",
        "name": "appdb",
        "host": "10.0.0.5",
        "port": 6432,
        "user": "app_owner",
        "schemas": ["orders", "billing"],
    }
    manifest = validate_manifest(_with("migrations.database", {**database, "backup_dir": "/data/backups/"})).data
    assert manifest["migrations"]["database"] == {**database, "os_user": "postgres", "backup_dir": "/data/backups"}


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("migrations", [], "opsgate_release.migrations: must be a mapping with database and steps (got [])"),
        ("migrations.database", _DELETE, "opsgate_release.migrations.database: is required (the database the steps run against)"),
        ("migrations.database.kind", "mysql", "opsgate_release.migrations.database.kind: must be one of postgresql (got 'mysql')"),
        ("migrations.database.run_on", _DELETE, "opsgate_release.migrations.database.run_on: is required (the inventory host that runs psql"),
        ("migrations.database.run_on", "db 1", "opsgate_release.migrations.database.run_on: must be an inventory host name (got 'db 1')"),
        ("migrations.database.name", "app;drop", "opsgate_release.migrations.database.name: must be a database name (letters, digits, _.$-; at most 63)"),
        ("migrations.database.host", "a b", "opsgate_release.migrations.database.host: must have no blanks (got 'a b')"),
        ("migrations.database.port", 0, "opsgate_release.migrations.database.port: must be an integer from 1 to 65535 (got 0)"),
        ("migrations.database.port", "5432", "opsgate_release.migrations.database.port: must be an integer from 1 to 65535 (got '5432')"),
        ("migrations.database.user", "", "opsgate_release.migrations.database.user: must be a database role name (got '')"),
        ("migrations.database.os_user", "post gres", "opsgate_release.migrations.database.os_user: must be an OS account name (got 'post gres')"),
        ("migrations.database.schemas", "orders", "opsgate_release.migrations.database.schemas: must be a list of schema names (got 'orders')"),
        ("migrations.database.schemas", ["or ders"], "opsgate_release.migrations.database.schemas[0]: must be a schema name (got 'or ders')"),
        ("migrations.database.backup_dir", "backups", "opsgate_release.migrations.database.backup_dir: must be an absolute path other than / (got 'backups')"),
        ("migrations.database.password", "secret", "opsgate_release.migrations.database.password: unknown key"),
        ("migrations.steps", [], "opsgate_release.migrations.steps: must be a non-empty list of steps (got [])"),
        ("migrations.steps.0.id", "-bad", "opsgate_release.migrations.steps[0].id: must be letters, digits, '_', '.', '-' (at most 64) (got '-bad')"),
        ("migrations.steps.1.id", "001_orders_status", "opsgate_release.migrations.steps[1].id: is used by an earlier step (got '001_orders_status')"),
        ("migrations.steps.0.phase", "migrate", "opsgate_release.migrations.steps[0].phase: must be one of expand, contract (got 'migrate')"),
        ("migrations.steps.0.file", _DELETE, "opsgate_release.migrations.steps[0].file: is required (the SQL file on the controller)"),
        ("migrations.steps.0.sha256", "abc", "opsgate_release.migrations.steps[0].sha256: must be 64 hex characters (sha256sum of the file) (got 'abc')"),
        ("migrations.steps.1.down", {"file": "x.sql"}, "opsgate_release.migrations.steps[1].down.sha256: is required (the sha256sum of the down file)"),
        ("migrations.steps.1.down", "x.sql", "opsgate_release.migrations.steps[1].down: must be a mapping with file and sha256 (got 'x.sql')"),
        ("verify.suite", "tests/suite.yml", "opsgate_release.verify.suite: must be a Python file (.py) with the testinfra tests (got 'tests/suite.yml')"),
        ("verify.sha256", _DELETE, "opsgate_release.verify.sha256: is required (the sha256sum of the suite)"),
        ("verify.timeout", 0, "opsgate_release.verify.timeout: must be an integer from 1 to 86400 (got 0)"),
        ("verify.timeout", True, "opsgate_release.verify.timeout: must be an integer from 1 to 86400 (got True)"),
        ("documents", {"kind": "other"}, "opsgate_release.documents: must be a list of documents"),
        (
            "documents.0.kind",
            "manual",
            "opsgate_release.documents[0].kind: must be one of deployment_manual, parameter_list, backup_restore_guide, handover_note, test_report, other "
            "(got 'manual')",
        ),
        ("documents.0.title", "", "opsgate_release.documents[0].title: must be a non-empty string (got '')"),
        ("documents.0.location", _DELETE, "opsgate_release.documents[0].location: is required (a URL or path where it is kept)"),
        ("documents.0.sha256", "0" * 63, "opsgate_release.documents[0].sha256: must be 64 hex characters (sha256sum of the file)"),
    ],
)
def test_errors_name_the_key_path_and_the_value(path: str, value: object, error: str) -> None:
    with pytest.raises(ManifestError) as caught:
        validate_manifest(_with(path, value))
    assert str(caught.value).startswith(error), str(caught.value)


def test_every_error_of_the_three_keys_is_reported_at_once() -> None:
    data = _with("migrations.steps.0.phase", "sideways")
    data["migrations"]["database"]["port"] = -1
    data["verify"]["timeout"] = "300"
    data["documents"][0]["kind"] = "novel"
    data["documents"].append({"kind": "other", "title": "notes"})
    with pytest.raises(ManifestError) as caught:
        validate_manifest(data)
    assert [issue.path for issue in caught.value.errors] == [
        "opsgate_release.migrations.database.port",
        "opsgate_release.migrations.steps[0].phase",
        "opsgate_release.verify.timeout",
        "opsgate_release.documents[0].kind",
        "opsgate_release.documents[1].location",
        "opsgate_release.documents[1].sha256",
    ]


def _files(tmp_path: Path) -> dict[str, Any]:
    """A validated manifest whose migration files, down file and suite exist under tmp_path/play (the playbook directory)."""
    play = tmp_path / "play"
    (play / "migrations").mkdir(parents=True)
    (play / "tests").mkdir()
    contents = {
        "migrations/001.sql": b"ALTER TABLE orders ADD COLUMN status text;\n",
        "migrations/002.sql": b"ALTER TABLE orders DROP COLUMN state;\n",
        "migrations/002.down.sql": b"ALTER TABLE orders ADD COLUMN state text;\n",
        "tests/test_sample_app.py": b"def test_up(host):\n    assert host.socket('tcp://127.0.0.1:8080').is_listening\n",
    }
    for name, content in contents.items():
        (play / name).write_bytes(content)
    digest = {name: hashlib.sha256(content).hexdigest() for name, content in contents.items()}
    data = copy.deepcopy(FULL)
    data["migrations"]["steps"][0].update(file="migrations/001.sql", sha256=digest["migrations/001.sql"])
    # An absolute path stays as it is.
    data["migrations"]["steps"][1].update(file=str(play / "migrations/002.sql"), sha256=digest["migrations/002.sql"])
    data["migrations"]["steps"][1]["down"] = {"file": "./migrations/../migrations/002.down.sql", "sha256": digest["migrations/002.down.sql"]}
    data["verify"].update(suite="tests/test_sample_app.py", sha256=digest["tests/test_sample_app.py"])
    return validate_manifest(data).data


def test_relative_paths_are_made_absolute_against_the_playbook_directory(tmp_path: Path) -> None:
    manifest = _files(tmp_path)
    play = tmp_path / "play"
    resolved = resolve_bound_files(manifest, str(play))
    steps = resolved["migrations"]["steps"]
    assert steps[0]["file"] == str(play / "migrations/001.sql")
    assert steps[1]["file"] == str(play / "migrations/002.sql")
    assert steps[1]["down"]["file"] == str(play / "migrations/002.down.sql")
    assert steps[0]["down"] is None
    assert resolved["verify"]["suite"] == str(play / "tests/test_sample_app.py")
    # The validated manifest itself is not changed; everything else is carried over.
    assert manifest["migrations"]["steps"][0]["file"] == "migrations/001.sql"
    assert {key: value for key, value in resolved.items() if key not in ("migrations", "verify")} == {
        key: value for key, value in manifest.items() if key not in ("migrations", "verify")
    }


def test_a_file_changed_on_disk_after_its_digest_was_written_is_refused(tmp_path: Path) -> None:
    manifest = _files(tmp_path)
    play = tmp_path / "play"
    expected = manifest["migrations"]["steps"][1]["sha256"]
    changed = play / "migrations/002.sql"
    changed.write_bytes(b"DROP TABLE orders;\n")
    actual = hashlib.sha256(b"DROP TABLE orders;\n").hexdigest()
    with pytest.raises(BoundFileError) as caught:
        resolve_bound_files(manifest, str(play))
    assert caught.value.problems == [f"opsgate_release.migrations.steps[1].sha256: {changed} has sha256 {actual}, the manifest says {expected}"]


def test_every_missing_or_changed_file_is_reported(tmp_path: Path) -> None:
    manifest = _files(tmp_path)
    play = tmp_path / "play"
    (play / "migrations/001.sql").unlink()
    (play / "migrations/002.down.sql").write_text("-- edited\n")
    (play / "tests/test_sample_app.py").write_text("def test_nothing():\n    pass\n")
    with pytest.raises(BoundFileError) as caught:
        resolve_bound_files(manifest, str(play))
    problems = caught.value.problems
    assert problems[0] == f"opsgate_release.migrations.steps[0].file: {play / 'migrations/001.sql'} is not a file on the controller"
    assert problems[1].startswith(f"opsgate_release.migrations.steps[1].down.sha256: {play / 'migrations/002.down.sql'} has sha256 ")
    assert problems[1].endswith(f"the manifest says {manifest['migrations']['steps'][1]['down']['sha256']}")
    assert problems[2].startswith(f"opsgate_release.verify.sha256: {play / 'tests/test_sample_app.py'} has sha256 ")
    assert len(problems) == 3


def test_a_manifest_without_them_reads_no_file(tmp_path: Path) -> None:
    manifest = validate_manifest(BASE).data
    assert resolve_bound_files(manifest, str(tmp_path / "nowhere")) == manifest
