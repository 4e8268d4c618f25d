# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bin/opsgate-archive as a user runs it: a subprocess, a pinned trust root, the store it names (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from approval_kit import ApprovalKit
from archive_events import BACKUP_SHA, at, deploy_events, event, junit, recorder, release_check_events
from archive_kit import BACKENDS, ArchiveSite, backend_environ, make_root, record, signing_key

from ansible_collections.opsgate.release.plugins.plugin_utils.archive.signing import SIGNING_KEY_ENV, load_signer
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import append_record, write_run_record

REPO = Path(__file__).resolve().parents[5]
CLI = REPO / "bin" / "opsgate-archive"
DEPLOY = "deploy00-2222-4333-8444-555555555555"
INVENTORY = "invent00-2222-4333-8444-555555555555"
CHECKED = "checked0-2222-4333-8444-555555555555"


@dataclass
class Cli:
    site: ArchiveSite
    env: dict[str, str]
    cwd: Path

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(CLI), *args], cwd=self.cwd, env=env or self.env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(params=BACKENDS)
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    """A trust root installed as the security team would (root-owned), pinning the store and one archive key."""
    pinned, environ = backend_environ(request.param, request)
    key = signing_key(tmp_path / "keys", "ee-pod-1")
    ledger = tmp_path / "ledger"
    kit = ApprovalKit(str(ledger), state_store=pinned)
    root_path = kit.install(tmp_path / "etc", archive_retention_years=10)
    root_path.write_bytes(kit.root_document(archive_keys=[key.root_entry()]))
    # A bare interpreter environment: the CLI must not need the collection on PYTHONPATH.
    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "OPSGATE_ARCHIVE_DIR", SIGNING_KEY_ENV)}
    env.update(environ, OPSGATE_TRUST_ROOT=str(root_path))
    env[SIGNING_KEY_ENV] = str(key.path)
    site = ArchiveSite(make_root(str(ledger), pinned, [key]), {**environ, SIGNING_KEY_ENV: str(key.path)}, key)
    (tmp_path / "work").mkdir()
    return Cli(site, env, tmp_path / "work")


def _fill(cli: Cli) -> None:
    deploy = recorder(start=at(30))
    deploy.run_id = DEPLOY
    cli.site.write(deploy.record())
    for item in deploy_events():
        deploy.task_result(item)
    deploy.ended({"web1": {"ok": 5, "changed": 3}, "web2": {"ok": 4, "failures": 1}})
    cli.site.write(deploy.record(ended=at(33)))
    other = recorder(playbook="playbooks/host_inventory.yml", start=at(60 * 24 * 3))
    other.run_id = INVENTORY
    other.task_result(event("db1", "opsgate.release.host_facts", "ok"))
    other.ended({"db1": {"ok": 1}})
    cli.site.write(other.record(ended=at(60 * 24 * 3 + 1)))


def _ids(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    return [line.split()[0] for line in done.stdout.splitlines()[1:]]


def _no_key(cli: Cli, *outputs: subprocess.CompletedProcess[str]) -> None:
    pem = cli.site.key.pem
    for done in outputs:
        for line in pem.splitlines()[1:-1]:
            assert line not in done.stdout + done.stderr


def test_list_show_and_filters_read_the_store(cli: Cli) -> None:
    _fill(cli)
    assert _ids(cli("list")) == [DEPLOY, INVENTORY]
    assert _ids(cli("list", "--change", "CHG-2025-0042")) == [DEPLOY]
    assert _ids(cli("list", "--host", "db1")) == [INVENTORY]
    assert _ids(cli("list", "--until", "2025-05-30", "--status", "failed")) == [DEPLOY]
    listed = json.loads(cli("list", "--json", "--status", "success").stdout)
    assert [item["run_id"] for item in listed] == [INVENTORY]
    shown = cli("show", "deploy00")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["hosts"]["web2"]["rolled_back"] is True
    missing = cli("show", "nope")
    assert missing.returncode == 2 and "nope" in missing.stderr
    bad = cli("list", "--since", "30/05/2025")
    assert bad.returncode == 2 and "--since" in bad.stderr and "30/05/2025" in bad.stderr


def test_report_prints_the_head_to_keep(cli: Cli) -> None:
    _fill(cli)
    head = cli.site.entries()[-1]
    out = cli.cwd / "out"
    done = cli("report", "--change", "CHG-2025-0042", "--format", "md", "-o", str(out / "chg.md"))
    assert done.returncode == 0, done.stderr
    text = (out / "chg.md").read_text()
    assert "# Operations archive: change CHG-2025-0042" in text and "deploy00" in text and "invent00" not in text
    assert f"seq {head.seq} sha256 {head.entry_hash}" in text and "| archive chain | verified: 3 entries |" in text
    assert f"verify --head {head.seq}:{head.entry_hash}" in done.stderr
    assert stat.S_IMODE(os.stat(out / "chg.md").st_mode) == 0o600
    page = cli("report", "--change", "CHG-2025-0042", "--format", "html")
    assert page.stdout.startswith("<!DOCTYPE html>") and head.entry_hash in page.stdout
    unknown = cli("report", "--change", "CHG-0")
    assert unknown.returncode == 1 and "CHG-0" in unknown.stderr
    needs = cli("report")
    assert needs.returncode == 2 and "--change" in needs.stderr


def test_verify_passes_then_names_each_tampering(cli: Cli) -> None:
    _fill(cli)
    entries = cli.site.entries()
    done = cli("verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"head: seq 3 sha256 {entries[-1].entry_hash}" in done.stdout
    assert "signatures verified: ee-pod-1" in done.stdout and "OK: the archive chain verifies" in done.stdout
    as_json = json.loads(cli("verify", "--json").stdout)
    assert as_json["ok"] is True and as_json["head"]["seq"] == 3 and as_json["signed_by"] == {cli.site.key.keyid: 3}
    kept = f"{entries[-1].seq}:{entries[-1].entry_hash}"
    assert cli("verify", "--head", kept).returncode == 0

    cli.site.sql("DELETE FROM archive_entries WHERE seq = 3")
    assert cli("verify").returncode == 0  # a shorter chain is consistent on its own
    cut = cli("verify", "--head", kept)
    assert cut.returncode == 1 and "seq 3: the head you kept" in cut.stdout and "[truncated]" in cut.stdout
    cli.site.sql("UPDATE archive_entries SET body = replace(body, 'CHG-2025-0042', 'CHG-2025-0043') WHERE seq = 2")
    changed = cli("verify", "--json")
    assert changed.returncode == 1
    assert [(p["seq"], p["code"]) for p in json.loads(changed.stdout)["problems"]] == [(2, "hash_mismatch")]
    assert cli("verify", "--head", "not-a-hash").returncode == 2
    _no_key(cli, done, cut, changed)


def test_export_is_byte_identical_when_made_twice(cli: Cli) -> None:
    _fill(cli)
    first, second, as_json = cli.cwd / "a.tar.gz", cli.cwd / "b.tar.gz", cli.cwd / "c.json"
    one = cli("export", "--change", "CHG-2025-0042", "--out", str(first))
    assert one.returncode == 0, one.stderr
    assert cli("export", "--change", "CHG-2025-0042", "--out", str(second)).returncode == 0
    assert first.read_bytes() == second.read_bytes()
    assert hashlib.sha256(first.read_bytes()).hexdigest() in one.stdout
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o600
    assert cli("export", "--change", "CHG-2025-0042", "--out", str(as_json)).returncode == 0
    bundle = json.loads(as_json.read_text())
    manifest = json.loads(bundle["files"]["MANIFEST.json"]["text"])
    assert [run["run_id"] for run in manifest["runs"]] == [DEPLOY] and manifest["archive"]["verified"] is True
    assert cli("export", "--change", "CHG-NONE", "--out", str(cli.cwd / "x.tar.gz")).returncode == 1
    _no_key(cli, one)


def test_prune_honours_the_policy_and_keeps_verify_green(cli: Cli) -> None:
    signer = load_signer(cli.site.root, cli.site.environ)
    with cli.site.store() as store:
        for number, year in enumerate((2001, 2003, 2024), 1):
            append_record(store, record(f"old-{number:04d}-run", started=f"{year}-01-01T00:00:00Z"), signer=signer, written_at=f"{year}-01-01T00:00:00Z")
    _fill(cli)
    less = cli("prune", "--older-than-years", "5")
    assert less.returncode == 2 and "keeps archive entries 10 years" in less.stderr
    dry = cli("prune", "--dry-run")
    assert dry.returncode == 0 and "would prune 2 entries (seq 1 to 2)" in dry.stdout
    assert len(cli.site.entries()) == 6
    done = cli("prune")
    assert done.returncode == 0, done.stderr
    assert "pruned 2 entries (seq 1 to 2)" in done.stdout and "(10 years)" in done.stdout
    assert [entry.seq for entry in cli.site.entries()] == [3, 4, 5, 6, 7]
    verified = cli("verify")
    assert verified.returncode == 0, verified.stdout
    assert "after entries pruned under the checkpoint at seq 7" in verified.stdout
    assert "nothing to prune" in cli("prune").stdout
    _no_key(cli, done, verified)


def test_import_an_old_folder_once(cli: Cli) -> None:
    folder = cli.cwd / "archive"
    folder.mkdir()
    for run_id, started in (("bbbbbbbb-0001", "2025-03-02T10:00:00Z"), ("aaaaaaaa-0001", "2025-03-01T10:00:00Z")):
        name = f"{started.replace('-', '').replace(':', '')}-{run_id}.json"
        (folder / name).write_text(json.dumps(record(run_id, started=started), indent=2) + "\n")
    done = cli("import", "--from", str(folder))
    assert done.returncode == 0, done.stderr
    assert "imported 2 record(s)" in done.stdout
    again = cli("import", "--from", str(folder))
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert [entry.run_id for entry in cli.site.entries()] == ["aaaaaaaa-0001", "bbbbbbbb-0001"]
    assert cli("verify").returncode == 0
    broken = cli.cwd / "broken"
    broken.mkdir()
    (broken / "20250303T100000Z-cccccccc-0001.json").write_text("{")
    refused = cli("import", "--from", str(broken))
    assert refused.returncode == 2 and "20250303T100000Z-cccccccc-0001.json" in refused.stderr
    assert len(cli.site.entries()) == 2


def test_writing_commands_fail_closed_without_the_pinned_key(cli: Cli) -> None:
    folder = cli.cwd / "archive"
    folder.mkdir()
    env = {name: value for name, value in cli.env.items() if name != SIGNING_KEY_ENV}
    refused = cli("import", "--from", str(folder), env=env)
    assert refused.returncode == 2 and SIGNING_KEY_ENV in refused.stderr
    assert cli("prune", env=env).returncode == 2
    assert cli.site.entries() == []
    # Reading needs no key.
    assert cli("verify", env=env).returncode == 0


def test_report_unratified_lists_emergencies_until_a_ratification_names_them(cli: Cli) -> None:
    def emergency(run_id: str, token_id: str, started: str, ratify_by: str, consumed: bool = True) -> dict[str, object]:
        approval = {"token_id": token_id, "change_id": f"CHG-{token_id}", "kind": "emergency", "incident_id": "INC-7", "consumed": consumed}
        approval["ratify_by"] = ratify_by
        return {"run_id": run_id, "started": started, "ended": started, "status": "success", "app": "accounts-api", "approval": approval, "hosts": {}}

    cli.site.write(emergency("run-old-0001", "apv-emergency-old", "2025-03-07T12:00:00Z", "2025-03-11T15:59:59Z"))
    cli.site.write(emergency("run-new-0001", "apv-emergency-new", "2199-01-01T12:00:00Z", "2199-01-05T15:59:59Z"))
    cli.site.write(emergency("run-check-0001", "apv-emergency-chk", "2025-03-08T12:00:00Z", "2025-03-12T15:59:59Z", consumed=False))
    listed = cli("report", "--unratified", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(item["token_id"], item["overdue"]) for item in json.loads(listed.stdout)] == [("apv-emergency-old", True), ("apv-emergency-new", False)]
    text = cli("report", "--unratified").stdout
    assert "apv-emergency-old" in text and "OVERDUE" in text and "INC-7" in text
    ratification = {
        "run_id": "ratification-apv-ratify-01",
        "kind": "ratification",
        "started": "2025-03-12T09:00:00Z",
        "ended": "2025-03-12T09:00:00Z",
        "status": "success",
        "ratifies": {"token_id": "apv-emergency-old"},
        "hosts": {},
    }
    cli.site.write(ratification)
    assert [item["token_id"] for item in json.loads(cli("report", "--unratified", "--json").stdout)] == ["apv-emergency-new"]
    assert "ratification" in cli("list").stdout


def _release_checks_run(cli: Cli) -> str:
    """A deploy whose record names both hosts' JUnit reports, an expand migration, a restore and the change's documents."""
    run = recorder(start=at(30))
    run.run_id = CHECKED
    run.play_started("Deploy a release", ["web1", "web2"])
    for item in release_check_events():
        run.task_result(item)
    run.ended({"web1": {"ok": 9, "changed": 4}, "web2": {"ok": 6, "failures": 1}})
    write_run_record(cli.site.root, run.record(ended=at(33)), (), cli.site.environ, attachments=run.attachment_texts())
    return run.run_id


def test_report_verify_and_export_keep_the_junit_reports_migrations_and_documents(cli: Cli) -> None:
    run_id = _release_checks_run(cli)
    md = cli("report", "--change", "CHG-2025-0042")
    assert md.returncode == 0, md.stderr
    assert "| web1 | test_sample_app.py sha256 " in md.stdout and "3 passed, 0 failed, 0 errors, 0 skipped of 3" in md.stdout
    assert "3 passed, 1 failed, 0 errors, 1 skipped of 5 | test_sample_app.py::test_orders_table_readable_v2[ansible://web2]" in md.stdout
    assert f"sha256 {BACKUP_SHA} (48213 bytes)" in md.stdout and "| backup: 001_orders_status |" in md.stdout
    assert "[Deployment manual 2.0](https://wiki.example/app/2.0/deploy)" in md.stdout
    page = cli("report", "--change", "CHG-2025-0042", "--format", "html")
    assert '<a href="https://wiki.example/app/2.0/deploy">Deployment manual 2.0</a>' in page.stdout and BACKUP_SHA in page.stdout
    verified = cli("verify")
    assert verified.returncode == 0, verified.stdout
    assert "note: 2 attachment(s) checked" in verified.stdout
    first, second = cli.cwd / "a.tar.gz", cli.cwd / "b.tar.gz"
    assert cli("export", "--change", "CHG-2025-0042", "--out", str(first)).returncode == 0
    assert cli("export", "--change", "CHG-2025-0042", "--out", str(second)).returncode == 0
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first, mode="r:gz") as tar:
        exported = tar.extractfile(f"verify/001-{run_id}/web1.junit.xml").read()
        report = tar.extractfile("report.md").read().decode()
    assert exported == junit("web1").encode()
    assert "### Verification after deployment" in report

    # Someone with write access to the database edits web2's report to hide its failure.
    web2 = json.loads(cli("show", run_id).stdout)["attachments"][1]
    cli.site.sql("UPDATE archive_attachments SET content = replace(content, 'failures=\"1\"', 'failures=\"0\"') WHERE sha256 = ?", (web2["sha256"],))
    tampered = cli("verify", "--json")
    assert tampered.returncode == 1
    [problem] = json.loads(tampered.stdout)["problems"]
    assert problem["code"] == "attachment_mismatch" and "verify/web2.junit.xml" in problem["message"]
    exported_anyway = cli("export", "--change", "CHG-2025-0042", "--out", str(cli.cwd / "c.tar.gz"))
    assert exported_anyway.returncode == 1 and "does not verify" in exported_anyway.stderr
    assert "DOES NOT VERIFY" in cli("report", "--change", "CHG-2025-0042").stdout
