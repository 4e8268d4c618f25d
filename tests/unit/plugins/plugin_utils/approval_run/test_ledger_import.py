# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""import-ledger: a consumed.jsonl and policy-version.json from before the store, imported once, all or nothing, on both backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from approval_kit import NOW, ApprovalKit
from ledger_kit import ledger, ledger_settings

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.ledger_records import RunOwner
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.ledger_import import import_jsonl_ledger
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.token_ledger import TokenLedger

__all__ = ["ledger", "ledger_settings"]  # the fixtures

REPO = Path(__file__).resolve().parents[5]
OWNER = {"controller": "old-controller", "pid": 4242, "start_time": "777"}
LINES: list[dict[str, Any]] = [
    # Written before runs were marked finished: consumed, never resumable.
    {"token_id": "apv-legacy-000001", "token_sha256": "a" * 64, "change_id": "CHG-1", "run_id": "job-1", "consumed_at": "2025-03-01T10:00:00Z"},
    {
        "event": "consumed",
        "token_id": "apv-finished-0002",
        "token_sha256": "b" * 64,
        "change_id": "CHG-2",
        "run_id": "job-2",
        "consumed_at": "2025-03-02T10:00:00Z",
        "fingerprint": "fp-2",
        "app": "accounts-api",
        "env": "prod",
        "hosts": ["web1"],
        "owner": OWNER,
    },
    {"event": "finished", "token_id": "apv-finished-0002", "run_id": "job-2", "outcome": "failed", "finished_at": "2025-03-02T11:00:00Z"},
    {"event": "finished", "token_id": "apv-finished-0002", "run_id": "job-2", "outcome": "succeeded", "finished_at": "2025-03-02T11:05:00Z"},
    {
        "event": "consumed",
        "token_id": "apv-open-run-0003",
        "token_sha256": "c" * 64,
        "change_id": "CHG-3",
        "run_id": "job-3",
        "consumed_at": "2025-03-03T10:00:00Z",
        "fingerprint": "fp-3",
        "app": "ledger-batch",
        "env": "prod",
        "hosts": ["db1"],
        "owner": OWNER,
    },
    {
        "event": "consumed",
        "token_id": "apv-emergency-0004",
        "token_sha256": "d" * 64,
        "change_id": "CHG-4",
        "run_id": "job-4",
        "consumed_at": "2025-03-04T10:00:00Z",
        "fingerprint": "",
        "app": "payments",
        "env": "prod",
        "hosts": ["pay1"],
        "owner": OWNER,
        "kind": "emergency",
        "incident_id": "INC-1",
    },
    {
        "event": "ratified",
        "token_id": "apv-emergency-0004",
        "ratification_token_id": "apv-ratify-000005",
        "ratification_sha256": "e" * 64,
        "change_id": "CHG-4",
        "ratified_at": "2025-03-05T10:00:00Z",
    },
]


def _old_ledger(folder: Path, lines: list[Any] | None = None, policy: dict[str, Any] | None = None) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    rows = LINES if lines is None else lines
    (folder / "consumed.jsonl").write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    (folder / "policy-version.json").write_text(json.dumps(policy or {"version": 3, "sha256": "3" * 64}))
    return folder


def _counts(ledger: TokenLedger) -> dict[str, int]:
    with ledger.store.transaction() as tx:
        return {table: int(tx.row(f"SELECT COUNT(*) FROM {table}")[0]) for table in ("consumptions", "run_outcomes", "ratifications", "policy_seen", "imports")}


def _take(ledger: TokenLedger, token_id: str, run_id: str, sha: str, fingerprint: str, app: str, hosts: tuple[str, ...]) -> bool:
    owner = RunOwner("old-controller", 999_999_999, "0")
    return ledger.consume(token_id, sha, "CHG", run_id, NOW, fingerprint, app, "prod", hosts, owner).resumed


def _refused(code: str, call: object, *args: object) -> errors.ApprovalError:
    with pytest.raises(errors.ApprovalError) as caught:
        call(*args)  # type: ignore[operator]
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_the_old_ledger_is_imported_with_its_rules(ledger: TokenLedger, tmp_path: Path) -> None:
    done = import_jsonl_ledger(ledger, str(_old_ledger(tmp_path / "old")), NOW)
    assert (done.already, done.consumed, done.finished, done.ratified, done.skipped, done.policy_version) == (False, 4, 2, 1, (), 3)
    assert _counts(ledger) == {"consumptions": 4, "run_outcomes": 2, "ratifications": 1, "policy_seen": 1, "imports": 1}
    # Every consumed token stays single-use.
    for token_id in ("apv-legacy-000001", "apv-finished-0002", "apv-open-run-0003", "apv-emergency-0004"):
        assert "it cannot be used by a new run" in _refused(errors.REPLAYED, ledger.check_unused, token_id).message
    assert "ratified an emergency change" in _refused(errors.REPLAYED, ledger.check_unused, "apv-ratify-000005").message
    # The legacy run is finished; the failed end was not overwritten by the later success.
    legacy = _refused(errors.REPLAYED, _take, ledger, "apv-legacy-000001", "job-1", "a" * 64, "", "", ())
    assert "earlier version" in legacy.message
    failed = _refused(errors.REPLAYED, _take, ledger, "apv-finished-0002", "job-2", "b" * 64, "fp-2", "accounts-api", ("web1",))
    assert "finished (failed)" in failed.message
    # The unfinished run resumes on the controller that ran it, once its process is gone (the old rule, kept).
    assert _take(ledger, "apv-open-run-0003", "job-3", "c" * 64, "fp-3", "ledger-batch", ("db1",)) is True
    assert ledger.unratified() == []
    assert "older than version 3" in _refused(errors.POLICY_ROLLBACK, ledger.require_policy_version, 2, "2" * 64).message


def test_a_second_import_of_the_same_files_is_a_no_op(ledger: TokenLedger, tmp_path: Path) -> None:
    folder = _old_ledger(tmp_path / "old")
    first = import_jsonl_ledger(ledger, str(folder), NOW)
    before = _counts(ledger)
    again = import_jsonl_ledger(ledger, str(folder), NOW)
    assert (again.already, again.imported_at, again.consumed) == (True, first.imported_at, 0)
    assert _counts(ledger) == before


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ('{"event": "consumed", "token_id": "apv-x"', "Expecting"),
        (json.dumps({"event": "consumed", "token_id": "apv-x", "token_sha256": "f" * 64, "change_id": "C", "run_id": "r"}), "missing 'consumed_at'"),
        (json.dumps({"event": "exploded"}), "unknown event 'exploded'"),
        (json.dumps({**LINES[1], "token_id": "apv-hosts-0009", "hosts": "web1"}), "hosts must be a list"),
    ],
    ids=["truncated", "missing_key", "unknown_event", "hosts_not_a_list"],
)
def test_a_line_it_cannot_read_stops_the_import_with_nothing_written(ledger: TokenLedger, tmp_path: Path, bad: str, why: str) -> None:
    ledger.require_policy_version(1, "1" * 64)
    before = _counts(ledger)
    folder = _old_ledger(tmp_path / "old", [*LINES[:5], bad, *LINES[5:]])
    error = _refused(errors.LEDGER_ERROR, import_jsonl_ledger, ledger, str(folder), NOW)
    assert f"{folder / 'consumed.jsonl'} line 6 is unreadable" in error.message
    assert why in error.message
    assert "nothing was imported" in error.message
    assert _counts(ledger) == before
    ledger.check_unused("apv-legacy-000001")  # the good lines before it were not written either


def test_a_token_the_store_holds_keeps_the_stores_record(ledger: TokenLedger, tmp_path: Path) -> None:
    """Two controllers' old files may both hold one token (the replay the store ends): the first consumption in the store stays."""
    ledger.consume("apv-open-run-0003", "9" * 64, "CHG-OTHER", "job-x", NOW, "", "ledger-batch", "prod", ("db1",), RunOwner("c2", 1, "1"))
    done = import_jsonl_ledger(ledger, str(_old_ledger(tmp_path / "old")), NOW)
    assert done.skipped == ("apv-open-run-0003",)
    assert "(change CHG-OTHER)" in _refused(errors.REPLAYED, ledger.check_unused, "apv-open-run-0003").message


def test_two_policies_with_one_version_stop_the_import(ledger: TokenLedger, tmp_path: Path) -> None:
    ledger.require_policy_version(3, "f" * 64)
    error = _refused(errors.POLICY_ROLLBACK, import_jsonl_ledger, ledger, str(_old_ledger(tmp_path / "old")), NOW)
    assert "two different policies carry one version" in error.message
    assert _counts(ledger)["consumptions"] == 0


def test_a_folder_without_the_old_files_is_refused(ledger: TokenLedger, tmp_path: Path) -> None:
    assert "nothing to import" in _refused(errors.LEDGER_ERROR, import_jsonl_ledger, ledger, str(tmp_path), NOW).message


def _cli(*args: str, trust_root: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["OPSGATE_TRUST_ROOT"] = str(trust_root)
    return subprocess.run([sys.executable, str(REPO / "bin" / "opsgate-approval"), *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_the_command_imports_once_and_refuses_a_corrupt_file(tmp_path: Path) -> None:
    kit = ApprovalKit(str(tmp_path / "ledger"))
    trust_root = kit.install(tmp_path / "etc")
    old = _old_ledger(tmp_path / "old")
    first = _cli("import-ledger", "--from", str(old), trust_root=trust_root)
    assert first.returncode == 0, first.stderr
    assert f"OK: imported {old} into {tmp_path / 'ledger' / 'state.sqlite3'}: 4 consumed token(s), 2 run outcome(s), 1 ratification(s)" in first.stdout
    again = _cli("import-ledger", "--from", str(old), trust_root=trust_root)
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout and "imported into" in again.stdout
    broken = _old_ledger(tmp_path / "broken", [LINES[0], "{not json"])
    refused = _cli("import-ledger", "--from", str(broken), trust_root=trust_root)
    assert refused.returncode == 2
    assert f"REFUSED APPROVAL_LEDGER_ERROR: {broken / 'consumed.jsonl'} line 2 is unreadable" in refused.stderr
