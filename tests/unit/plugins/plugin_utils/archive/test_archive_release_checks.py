# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 15 in the archive: verification results and their JUnit reports, migrations and the change's documents,
from the record built of task results to the store (both backends), verify, prune, the evidence bundle and the report."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime
from typing import Any

import pytest
from archive_events import (
    BACKUP_SHA,
    DB_PASSWORD,
    DOCUMENTS,
    SQL_DOWN,
    SQL_EXPAND,
    SUITE_SHA,
    at,
    change_result,
    event,
    junit,
    migrate_result,
    recorder,
    release_check_events,
    verify_result,
)
from archive_kit import ArchiveSite, site

from ansible_collections.opsgate.release.plugins.plugin_utils.archive import attachments, chain
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.errors import ArchiveError
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.evidence import evidence_files, tar_bundle
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.record import MAX_ATTACHMENT_BYTES, RunRecorder, attachment_text, text_sha256
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.render import render_html, render_markdown
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.retention import prune
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.signing import load_signer
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import (
    append_record,
    iter_records,
    read_attachments,
    run_entries,
    verify_store,
    write_run_record,
)

__all__ = ["site"]  # the fixture

WEB2_FAILING = "test_sample_app.py::test_orders_table_readable_v2[ansible://web2]"
TOKEN = "opsgate-approval-token-" + "x" * 40


def _run(events: list | None = None) -> RunRecorder:
    run = recorder()
    run.play_started("Deploy a release", ["web1", "web2"])
    for item in events if events is not None else release_check_events():
        run.task_result(item)
    run.ended({"web1": {"ok": 9, "changed": 4}, "web2": {"ok": 6, "changed": 3, "failures": 1}})
    return run


def _write(site: ArchiveSite, run: RunRecorder, secrets: tuple[str, ...] = (), **extra: Any) -> chain.Entry:
    return write_run_record(site.root, {**run.record(ended=at(5)), **extra}, secrets, site.environ, attachments=run.attachment_texts())[0]


# the record ----------------------------------------------------------------------------------------


def test_each_host_keeps_its_verification_and_the_junit_report_is_an_attachment() -> None:
    record = _run().record(ended=at(5))
    web1, web2 = record["hosts"]["web1"]["verify"], record["hosts"]["web2"]["verify"]
    assert web1 == {
        "suite_sha256": SUITE_SHA,
        "suite_name": "test_sample_app.py",
        "junit_sha256": text_sha256(junit("web1")),
        "tests": 3,
        "passed": 3,
        "failed": 0,
        "errors": 0,
        "skipped": 0,
        "duration": 2.345,
        "failures": [],
    }
    assert (web2["tests"], web2["passed"], web2["failed"], web2["skipped"], web2["failures"]) == (5, 3, 1, 1, [WEB2_FAILING])
    # A failing suite is a failed gate of that host, recorded with its message.
    assert record["hosts"]["web2"]["failed_gate"]["gate"] == "verify"
    assert "verification failed: 1 of 5 tests failed" in record["hosts"]["web2"]["failed_gate"]["message"]
    assert record["hosts"]["web1"]["failed_gate"] is None
    # The XML is not in the host entry: the record names it by digest, the store keeps it.
    assert "junit" not in web1 and "<testsuite" not in json.dumps(record)
    assert record["attachments"] == [
        {
            "name": f"verify/{host}.junit.xml",
            "sha256": text_sha256(text),
            "bytes": len(text.encode()),
            "media_type": "application/xml",
            "kind": "junit",
            "host": host,
        }
        for host, text in (("web1", junit("web1")), ("web2", junit("web2", ("test_orders_table_readable_v2",), ("test_tls",))))
    ]


def test_migrations_are_kept_per_call_at_run_level_without_sql_passwords_or_tokens() -> None:
    record = _run().record(ended=at(5))
    expand, restore = record["migrations"]
    assert expand == {
        "phase": "expand",
        "database": {"kind": "postgresql", "run_on": "db1", "name": "appdb"},
        "applied": ["001_orders_status"],
        "already_applied": ["000_baseline"],
        "backup": {"path": "/var/backups/opsgate/accounts-api-1.1.0-CHG-2025-0042-abababababab.dump", "sha256": BACKUP_SHA, "bytes": 48213},
        "restored": None,
        "migrations_table": [
            {"step_id": "000_baseline", "sha256": "00" * 32, "release_id": "1.0.0-CHG-2025-0001-aaaaaaaaaaaa"},
            {"step_id": "001_orders_status", "sha256": "01" * 32, "release_id": "1.1.0-CHG-2025-0042-abababababab"},
        ],
        "failed": False,
        "msg": "expand: applied 1 step(s)",
        "host_verified": True,
        "reported_for": "web1",
        "task": "Apply the migration phase on the database host, or put the database back",
    }
    assert restore["phase"] == "restore" and restore["restored"] == {"method": "backup", "steps": ["001_orders_status"]}
    # Not a host entry's: the phase ran on db1, whatever host the result was reported for.
    assert all("migrations" not in entry for entry in record["hosts"].values())
    text = json.dumps(record)
    for secret in (SQL_EXPAND, SQL_DOWN, "ALTER TABLE", DB_PASSWORD, TOKEN, "login_password", "down_sql", '"sql"'):
        assert secret not in text


def test_a_failed_migration_is_kept_with_its_message_under_failed_when_false() -> None:
    """The roles register the task with failed_when: false, so "failed" is false and the task ok: migration_failed says it."""
    message = "migration step 002_orders_index (expand) failed and left nothing of itself: ERROR: syntax error"
    failed = migrate_result("expand", [], restored={"method": "down", "steps": ["001_orders_status"]}, failed=True, msg=message)
    failed["failed_step"] = "002_orders_index"
    run = _run([event("web1", "opsgate.release.release_migrate", "ok", failed, args={"phase": "expand"})])
    [item] = run.record()["migrations"]
    assert (item["failed"], item["msg"], item["failed_step"]) == (True, message, "002_orders_index")
    assert item["restored"] == {"method": "down", "steps": ["001_orders_status"]}
    assert f"FAILED: {message}" in render_markdown("CHG-2025-0042", [run.record()], "now")
    # Refused on the controller before anything was sent: no database answer, but the phase (a task argument) and the code.
    refused = {"failed": False, "migration_failed": True, "migration_error": "RELEASE_MIGRATION_DIGEST_MISMATCH", "msg": "step 001 differs"}
    early = _run([event("web1", "opsgate.release.release_migrate", "ok", refused, args={"phase": "contract"})])
    [item] = early.record()["migrations"]
    assert (item["phase"], item["failed"], item["database"], item["backup"]) == ("contract", True, None, None)
    assert "FAILED [RELEASE_MIGRATION_DIGEST_MISMATCH]: step 001 differs" in render_markdown("CHG-2025-0042", [early.record()], "now")
    # A contract step without a down stays applied: the record and the report say which.
    kept = migrate_result("contract", [], restored={"method": "down", "steps": [], "kept": ["003_drop_old"]}, failed=True)
    [item] = _run([event("web1", "opsgate.release.release_migrate", "ok", kept)]).record()["migrations"]
    assert item["restored"] == {"method": "down", "steps": [], "kept": ["003_drop_old"]}


def test_documents_come_from_the_change_document_and_the_manifest_only_until_then() -> None:
    manifest = {"release": {"app": "accounts-api", "version": "1.1.0", "documents": [DOCUMENTS[0]]}, "release_id": "r"}
    run = _run([event("web1", "opsgate.release.release_manifest", "ok", manifest)])
    assert run.record()["documents"] == [DOCUMENTS[0]]
    run.task_result(event("web1", "opsgate.release.release_change", "ok", change_result()))
    assert run.record()["documents"] == DOCUMENTS
    run.task_result(event("web1", "opsgate.release.release_manifest", "ok", manifest))
    assert run.record()["documents"] == DOCUMENTS  # the signed document wins
    # A change document without documents (or from before issue 15) lists none; a run without either has no key.
    none = _run([event("web1", "opsgate.release.release_change", "ok", {"change": {"app": "accounts-api"}})])
    assert none.record()["documents"] == []
    assert "documents" not in _run([]).record() and "migrations" not in _run([]).record() and "attachments" not in _run([]).record()


def test_a_report_over_the_limit_is_named_but_not_kept_and_text_is_made_storable() -> None:
    huge = verify_result("web1")
    huge["verify"]["junit"] = "<x>" + "a" * MAX_ATTACHMENT_BYTES + "</x>"
    run = _run([event("web1", "opsgate.release.release_verify", "ok", huge)])
    [reference] = run.record()["attachments"]
    assert reference["stored"] is False and reference["bytes"] > MAX_ATTACHMENT_BYTES
    assert run.attachment_texts() == {}
    assert attachment_text("a\x00b\ud800") == "a\ufffdb?"
    # Numbers that are not JSON would make the whole record unwritable: they are dropped.
    odd = verify_result("web1")
    odd["verify"].update(duration=float("inf"), tests=True)
    backup = migrate_result("expand", [])
    backup["backup"]["bytes"] = float("nan")
    record = _run([event("web1", "opsgate.release.release_verify", "ok", odd), event("web1", "opsgate.release.release_migrate", "ok", backup)]).record()
    assert (record["hosts"]["web1"]["verify"]["duration"], record["hosts"]["web1"]["verify"]["tests"]) == (None, None)
    assert record["migrations"][0]["backup"]["bytes"] is None


# the store, verify and prune -----------------------------------------------------------------------


def test_the_reports_are_stored_once_and_verify_checks_them(site: ArchiveSite) -> None:
    run = _run()
    first = _write(site, run)
    second = _write(site, run)  # the end record written again: the same texts, one row each
    with site.store() as store, store.transaction() as tx:
        rows = dict(tx.rows("SELECT sha256, content FROM archive_attachments"))
    assert rows == {text_sha256(text): text for text in (junit("web1"), junit("web2", ("test_orders_table_readable_v2",), ("test_tls",)))}
    assert all("<testsuite" not in entry.body for entry in (first, second))
    result = site.verify()
    assert result.ok, result.problems
    assert "2 attachment(s) checked" in result.notes


@pytest.mark.parametrize("tamper", ["changed", "deleted"])
def test_a_report_changed_or_deleted_afterwards_fails_verify(site: ArchiveSite, tamper: str) -> None:
    run = _run()
    _write(site, run)
    newest = _write(site, run)
    digest = text_sha256(junit("web1"))
    if tamper == "changed":
        forged = junit("web1").replace('failures="0"', 'failures="0" ')
        site.sql("UPDATE archive_attachments SET content = ? WHERE sha256 = ?", (forged, digest))
    else:
        site.sql("DELETE FROM archive_attachments WHERE sha256 = ?", (digest,))
    result = site.verify()
    code = attachments.ATTACHMENT_MISMATCH if tamper == "changed" else attachments.ATTACHMENT_MISSING
    assert [(problem.seq, problem.code) for problem in result.problems] == [(newest.seq, code)]
    assert "verify/web1.junit.xml" in result.problems[0].message and digest in result.problems[0].message
    # The chain itself is intact: only the attachment check names it.
    assert chain.verify_chain(site.entries(), {site.key.keyid: site.key.key.public_key()}).ok


def test_a_secret_in_a_report_is_redacted_and_the_record_names_what_is_stored(site: ArchiveSite) -> None:
    leaky = verify_result("web1")
    leaky["verify"]["junit"] = junit("web1").replace("</testsuites>", f"<system-out>password={DB_PASSWORD}</system-out></testsuites>")
    run = _run([event("web1", "opsgate.release.release_verify", "ok", leaky)])
    entry = _write(site, run, secrets=(DB_PASSWORD,))
    [reference] = json.loads(entry.body)["attachments"]
    assert reference["redacted"] is True
    with site.store() as store, store.transaction() as tx:
        [(digest, content)] = tx.rows("SELECT sha256, content FROM archive_attachments")
    assert DB_PASSWORD not in content and "[REDACTED]" in content
    assert digest == reference["sha256"] == text_sha256(content)
    assert site.verify().ok


def test_a_record_naming_a_report_it_does_not_bring_is_refused(site: ArchiveSite) -> None:
    run = _run()
    with site.store() as store:
        with pytest.raises(ArchiveError, match=r"verify/web1\.junit\.xml .*not given with the record"):
            append_record(store, run.record(), attachments={})
        with pytest.raises(ArchiveError, match="sha256"):
            append_record(store, {**run.record(), "attachments": [{"name": "x", "sha256": "nothex"}]})
    assert site.entries() == []


def test_prune_removes_the_reports_only_pruned_entries_named(site: ArchiveSite) -> None:
    signer = load_signer(site.root, site.environ)
    old, new = _run(), _run([event("web1", "opsgate.release.release_verify", "ok", verify_result("web1"))])
    old.run_id, new.run_id = "run-2012", "run-2025"
    with site.store() as store:
        append_record(store, old.record(), signer=signer, written_at="2012-03-01T10:00:00Z", attachments=old.attachment_texts())
        append_record(store, new.record(), signer=signer, written_at="2025-03-01T10:00:00Z", attachments=new.attachment_texts())
        done = prune(store, site.root, signer, 10, now=datetime(2026, 6, 1, tzinfo=UTC))
        with store.transaction() as tx:
            left = [row[0] for row in tx.rows("SELECT sha256 FROM archive_attachments")]
    # web1's report is the same text in both runs (content-addressed): kept for the run that stays; web2's goes.
    assert (done.pruned, done.attachments_pruned) == (1, 1)
    assert left == [text_sha256(junit("web1"))]
    assert site.verify().ok


# the evidence bundle and the report ----------------------------------------------------------------


def _bundle(site: ArchiveSite) -> dict[str, bytes]:
    with site.store() as store:
        records = [stored for stored in iter_records(store) if stored.record.get("change_id") == "CHG-2025-0042"]
        entries = run_entries(store, {stored.record["run_id"] for stored in records})
        texts = read_attachments(store, (stored.record for stored in records))
        return evidence_files("CHG-2025-0042", records, entries, verify_store(store, site.root), store.settings.location, texts)


def test_the_bundle_holds_each_report_as_a_file_and_is_byte_identical_when_made_again(site: ArchiveSite) -> None:
    run = _run()
    _write(site, run)
    files = _bundle(site)
    head_time = site.entries()[-1].written_at
    assert tar_bundle(files, head_time) == tar_bundle(_bundle(site), head_time)
    prefix = f"001-{run.run_id}"
    assert files[f"verify/{prefix}/web1.junit.xml"] == junit("web1").encode()
    manifest = json.loads(files["MANIFEST.json"])
    web2 = manifest["attachments"][run.run_id][1]
    assert web2["file"] == f"verify/{prefix}/web2.junit.xml" and web2["found"] is True and web2["matches"] is True
    assert manifest["files"][web2["file"]] == web2["sha256"]
    with tarfile.open(fileobj=io.BytesIO(tar_bundle(files, head_time)), mode="r:gz") as tar:
        assert tar.extractfile(f"verify/{prefix}/web2.junit.xml").read().decode().count("<testcase") == 5


def test_a_bundle_made_after_tampering_says_so(site: ArchiveSite) -> None:
    run = _run()
    _write(site, run)
    digest = text_sha256(junit("web1"))
    site.sql("UPDATE archive_attachments SET content = ? WHERE sha256 = ?", ("<forged/>", digest))
    files = _bundle(site)
    manifest = json.loads(files["MANIFEST.json"])
    assert manifest["archive"]["verified"] is False
    assert manifest["attachments"][run.run_id][0]["matches"] is False
    assert json.loads(files["verification.json"])["problems"][0]["code"] == attachments.ATTACHMENT_MISMATCH


def test_the_markdown_report_shows_verification_migrations_and_document_links() -> None:
    record = _run().record(ended=at(5))
    text = render_markdown("CHG-2025-0042", [record], "now")
    assert "### Verification after deployment" in text
    assert f"| web1 | test_sample_app.py sha256 {SUITE_SHA} | 3 passed, 0 failed, 0 errors, 0 skipped of 3 |" in text
    assert f"| web2 | test_sample_app.py sha256 {SUITE_SHA} | 3 passed, 1 failed, 0 errors, 1 skipped of 5 | {WEB2_FAILING} |" in text
    assert text_sha256(junit("web1")) in text
    assert "### Database migrations" in text
    assert (
        f"| expand | postgresql appdb on db1 | ok | 001_orders_status | 000_baseline | "
        f"/var/backups/opsgate/accounts-api-1.1.0-CHG-2025-0042-abababababab.dump sha256 {BACKUP_SHA} (48213 bytes) | — |"
    ) in text
    assert "| restore | postgresql appdb on db1 | ok | — | 000_baseline |" in text and "| backup: 001_orders_status |" in text
    assert "## Documents of the change" in text
    assert f"- deployment_manual: [Deployment manual 2.0](https://wiki.example/app/2.0/deploy), sha256 {'d0' * 32}" in text
    # A path with a space still makes one link.
    assert "- backup_restore_guide: [Backup & restore \\<appdb\\>](/srv/docs/app%202.0/restore.pdf)" in text


def test_the_html_report_links_documents_escaped_and_never_a_script_url() -> None:
    hostile = [
        {"kind": "handover_note", "title": "Note <script>alert(1)</script>", "location": 'https://x.example/a"onmouseover="x', "sha256": "d2" * 32},
        {"kind": "other", "title": "Click me", "location": "javascript:alert(1)", "sha256": "d3" * 32},
    ]
    run = _run()
    run.task_result(event("web1", "opsgate.release.release_change", "ok", change_result(DOCUMENTS + hostile)))
    page = render_html("CHG-2025-0042", [run.record(ended=at(5))], "now")
    assert '<a href="https://wiki.example/app/2.0/deploy">Deployment manual 2.0</a>' in page
    assert '<a href="/srv/docs/app%202.0/restore.pdf">Backup &amp; restore &lt;appdb&gt;</a>' in page
    assert "<script>" not in page and "Note &lt;script&gt;" in page
    assert 'href="https://x.example/a%22onmouseover=%22x"' in page
    assert 'href="javascript' not in page and "Click me (location not linked: javascript:alert(1))" in page
    assert '<tr class="verify-failed"><td>web2</td>' in page and "3 passed, 1 failed, 0 errors, 1 skipped of 5" in page
    assert BACKUP_SHA in page and "backup: 001_orders_status" in page


def test_a_run_without_them_renders_as_before() -> None:
    record = _run([]).record(ended=at(5))
    text = render_markdown("CHG-2025-0042", [record], "now")
    assert "Verification after deployment" not in text and "Database migrations" not in text and "Documents of the change" not in text
