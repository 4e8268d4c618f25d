# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 15: the change document binds the release's migrations, verify suite and documents by digest; the approvers
read them in the summary; a document written before these keys still verifies under the digest it was signed with."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from approval_kit import ApprovalKit
from test_approval_cli import _cli, _iso, workspace  # noqa: F401 # pylint: disable=unused-import  # workspace is a fixture

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.canonical import canonical_json
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import (
    build_change,
    change_digest,
    check_change_matches_claims,
    check_shape,
)
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_summary import summary_lines
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import validate_claims
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.change_inputs import change_from_hostvars

SHA = "a1" * 32
STEP1 = "c1" * 32
STEP2 = "c2" * 32
DOWN2 = "d2" * 32
SUITE = "e1" * 32
MANUAL = "f1" * 32
HOSTS = ("web1", "web2")
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


def _release() -> dict[str, Any]:
    """migrations, verify and documents as release_manifest returns them (absolute controller paths)."""
    return {
        "migrations": {
            "database": dict(DATABASE),
            "steps": [
                {"id": "001_orders_status", "phase": "expand", "file": "/play/migrations/001.sql", "sha256": STEP1, "down": None},
                {
                    "id": "002_drop_state",
                    "phase": "contract",
                    "file": "/play/migrations/002.sql",
                    "sha256": STEP2,
                    "down": {"file": "/play/migrations/002.down.sql", "sha256": DOWN2},
                },
            ],
        },
        "verify": {"suite": "/play/tests/test_sample_app.py", "sha256": SUITE, "timeout": 300},
        "documents": [{"kind": "deployment_manual", "title": "Deployment manual 2.0", "location": "https://wiki.example/app/2.0", "sha256": MANUAL}],
    }


def _inputs() -> dict[str, Any]:
    return {"base_dir": "/srv/app", "app": "app", "version": "2.0.0", "artifact_sha256": SHA, "change_id": "CHG-15", "keep_releases": 3}


def _header() -> dict[str, Any]:
    return {"action": "deploy", "app": "app", "version": "2.0.0", "artifact_sha256": SHA, "change_id": "CHG-15", "env": "prod"}


def _document(**release: Any) -> dict[str, Any]:
    return build_change(**_header(), hosts={name: {"address": name, "inputs": _inputs()} for name in HOSTS}, **release)


def test_the_three_keys_are_in_the_documents_shape_without_a_file_path() -> None:
    document = _document(**_release())
    assert document["migrations"] == {
        "database": DATABASE,
        "steps": [
            {"id": "001_orders_status", "phase": "expand", "sha256": STEP1, "down_sha256": ""},
            {"id": "002_drop_state", "phase": "contract", "sha256": STEP2, "down_sha256": DOWN2},
        ],
    }
    assert document["verify"] == {"suite_sha256": SUITE, "suite_name": "test_sample_app.py", "timeout": 300}
    assert document["documents"] == _release()["documents"]
    # Paths are the controller's: every host receives the document.
    assert "/play/" not in json.dumps(document)
    assert check_shape(copy.deepcopy(document)) == document


def test_a_release_without_them_has_the_keys_as_null() -> None:
    for empty in ({}, {"migrations": {}, "verify": {}, "documents": []}, {"migrations": None, "verify": None, "documents": None}):
        document = _document(**empty)
        assert (document["migrations"], document["verify"], document["documents"]) == (None, None, None)


@pytest.mark.parametrize(
    "change",
    [
        lambda release: release["migrations"]["steps"][0].update(sha256="0" * 64),
        lambda release: release["migrations"]["steps"][1]["down"].update(sha256="0" * 64),
        lambda release: release["migrations"]["steps"][1].update(down=None),
        lambda release: release["migrations"]["steps"][1].update(phase="expand"),
        lambda release: release["migrations"]["steps"].reverse(),
        lambda release: release["migrations"]["database"].update(run_on="db-2"),
        lambda release: release["migrations"]["database"].update(schemas=["orders"]),
        lambda release: release.update(migrations={}),
        lambda release: release["verify"].update(sha256="0" * 64),
        lambda release: release["verify"].update(timeout=30),
        lambda release: release.update(verify={}),
        lambda release: release["documents"][0].update(sha256="0" * 64),
        lambda release: release["documents"][0].update(location="https://elsewhere.example/"),
        lambda release: release.update(documents=[]),
        lambda release: release["documents"].append({"kind": "test_report", "title": "TR-1", "location": "/shared/tr-1.pdf", "sha256": "9" * 64}),
    ],
)
def test_the_approval_binds_every_digest_id_and_setting(change: Any) -> None:
    """Whatever changes in them changes the sha256 the token signs, so the gate refuses it (APPROVAL_CHANGE_MISMATCH)."""
    signed = change_digest(_document(**_release()))
    release = _release()
    change(release)
    assert change_digest(_document(**release)) != signed


def test_where_the_files_are_on_the_controller_does_not_change_the_digest() -> None:
    release = _release()
    release["migrations"]["steps"][0]["file"] = "/other/checkout/001.sql"
    release["migrations"]["steps"][1]["down"]["file"] = "/other/checkout/002.down.sql"
    release["verify"]["suite"] = "/other/checkout/tests/test_sample_app.py"
    assert change_digest(_document(**release)) == change_digest(_document(**_release()))


def test_the_document_form_gives_the_same_document_again() -> None:
    """The gate rebuilds the document from the hosts' step inputs with these three taken from the document it was handed."""
    document = _document(**_release())
    hostvars = {name: {"release_host_step_inputs": _inputs()} for name in HOSTS}
    task_vars = {"hostvars": hostvars, "ansible_play_hosts_all": list(HOSTS)}
    rebuilt = change_from_hostvars(task_vars, lambda value: value, "release_host_step_inputs", document)
    assert rebuilt == document and change_digest(rebuilt) == change_digest(document)


def _claims(digest: str) -> Any:
    return validate_claims(ApprovalKit.claims(hosts=list(HOSTS), app="app", version="2.0.0", artifact_sha256=SHA, change_id="CHG-15", change_sha256=digest))


def test_a_document_written_before_these_keys_still_verifies_under_its_signed_digest() -> None:
    old = _document()
    for key in ("migrations", "verify", "documents"):
        del old[key]
    # What the code before issue 15 computed and the approvers signed.
    signed = hashlib.sha256(canonical_json(old)).hexdigest()
    assert change_digest(old) == signed == change_digest(_document())
    checked = check_shape(copy.deepcopy(old))
    assert (checked["migrations"], checked["verify"], checked["documents"]) == (None, None, None)
    assert check_change_matches_claims(copy.deepcopy(old), _claims(signed)) == signed
    # A run of the same release today (keys null) is the change that token signed.
    assert check_change_matches_claims(_document(), _claims(signed)) == signed


def test_a_signed_document_with_the_keys_does_not_verify_once_they_are_dropped() -> None:
    document = _document(**_release())
    signed = change_digest(document)
    stripped = {key: value for key, value in document.items() if key not in ("migrations", "verify", "documents")}
    with pytest.raises(errors.ApprovalError) as caught:
        check_change_matches_claims(stripped, _claims(signed))
    assert caught.value.code == errors.CHANGE_MISMATCH


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "migrations",
            {"database": DATABASE, "steps": [{"id": "1", "phase": "expand", "sha256": STEP1}]},
            "change.migrations.steps[0].down_sha256: is required",
        ),
        (
            "migrations",
            {"database": DATABASE, "steps": [{"id": "1", "phase": "expand", "sha256": STEP1, "down_sha256": "", "file": "/x.sql"}]},
            "change.migrations.steps[0].file: unknown key",
        ),
        ("migrations", {"database": {**DATABASE, "kind": "oracle"}, "steps": []}, "change.migrations.database.kind: must be one of postgresql"),
        ("verify", {"suite_sha256": "XYZ", "suite_name": "t.py", "timeout": 1}, "change.verify.suite_sha256: must be 64 lowercase hex characters (got 'XYZ')"),
        ("documents", [], "change.documents: must be a non-empty list"),
        ("documents", [{"kind": "poem", "title": "t", "location": "l", "sha256": MANUAL}], "change.documents[0].kind: must be one of deployment_manual"),
        ("documents", "manual.pdf", "change.documents: must be a list"),
    ],
)
def test_a_malformed_key_is_refused_naming_its_path(key: str, value: Any, message: str) -> None:
    document = {**_document(), key: value}
    with pytest.raises(errors.ApprovalError) as caught:
        check_shape(document)
    assert caught.value.code == errors.CHANGE_INVALID
    assert message in caught.value.message


def test_an_unknown_top_level_key_is_still_refused() -> None:
    with pytest.raises(errors.ApprovalError, match=r"with exactly the keys .*may be absent in a document written before them"):
        check_shape({**_document(), "backdoor": True})


def test_the_summary_lists_every_step_the_suite_and_the_documents() -> None:
    release = _release()
    release["documents"].append({"kind": "handover_note", "title": "交接说明\x1b[2J", "location": "/shared/handover.pdf", "sha256": "9" * 64})
    lines = summary_lines(_document(**release))
    assert (
        "database migrations on db-1: postgresql database appdb as postgres via the local socket on db-1, schemas all; "
        "backed up to /var/backups/opsgate before the first step"
    ) in lines
    assert f"migration 001_orders_status (expand): sha256 {STEP1}, down no" in lines
    assert f"migration 002_drop_state (contract): sha256 {STEP2}, down yes (sha256 {DOWN2})" in lines
    assert f"verify suite test_sample_app.py sha256 {SUITE}, run against each host after its health check, timeout 300 s" in lines
    assert f"document deployment_manual: Deployment manual 2.0 at https://wiki.example/app/2.0 sha256 {MANUAL}" in lines
    # A Chinese title is shown as it is; a terminal escape is not sent to the approver's terminal.
    assert f"document handover_note: 交接说明\\x1b[2J at /shared/handover.pdf sha256 {'9' * 64}" in lines


def test_the_summary_says_when_there_are_none() -> None:
    lines = summary_lines(_document())
    assert lines[-3:] == ["database migrations: none", "verify suite: none", "documents: none"]
    database = {**DATABASE, "host": "10.0.0.5", "port": 6432, "schemas": ["orders", "billing"]}
    release = _release()
    release["migrations"]["database"] = database
    assert (
        "database migrations on db-1: postgresql database appdb as postgres via 10.0.0.5:6432, schemas orders, billing; "
        "backed up to /var/backups/opsgate before the first step"
    ) in summary_lines(_document(**release))


def test_the_approvers_cli_shows_them_and_signs_an_old_document_under_its_digest(workspace: Path) -> None:  # noqa: F811 - the fixture
    def request(change: dict[str, Any], out: str) -> Any:
        (workspace / "change.json").write_text(json.dumps(change))
        now = datetime.now(UTC)
        return _cli(
            workspace,
            "request",
            "--change", "change.json",
            "--system", "accounts",
            "--system-class", "core_business",
            "--plan-filed-at", _iso(now - timedelta(days=14)),
            "--not-before", _iso(now - timedelta(hours=1)),
            "--not-after", _iso(now + timedelta(hours=3)),
            "--requested-by", "erin",
            "--key", "erin.key",
            "--test-report", "TR-88",
            "--acceptance-report", "UAT-12",
            "--out", out,
        )  # fmt: skip

    document = _document(**_release())
    done = request(document, "new.token")
    assert done.returncode == 0, done.stderr
    assert f"migration 002_drop_state (contract): sha256 {STEP2}, down yes (sha256 {DOWN2})" in done.stdout
    assert f"verify suite test_sample_app.py sha256 {SUITE}" in done.stdout
    assert "document deployment_manual: Deployment manual 2.0" in done.stdout
    old = {key: value for key, value in _document().items() if key not in ("migrations", "verify", "documents")}
    done = request(old, "old.token")
    assert done.returncode == 0, done.stderr
    assert "database migrations: none" in done.stdout
    inspected = _cli(workspace, "inspect", "--in", "old.token")
    assert json.loads(inspected.stdout)["claims"]["change_sha256"] == hashlib.sha256(canonical_json(old)).hexdigest()
