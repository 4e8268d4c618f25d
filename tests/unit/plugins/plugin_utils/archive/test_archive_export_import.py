# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The evidence bundle (deterministic) and the import of an archive folder from before the store, on both backends."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from archive_kit import ArchiveSite, record, site

from ansible_collections.opsgate.release.plugins.plugin_utils.archive.errors import ArchiveError
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.evidence import evidence_files, json_bundle, tar_bundle
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.folder_import import import_folder
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.signing import load_signer
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import iter_records, read_entries, run_entries, verify_store

__all__ = ["site"]  # the fixture

APPROVAL = {"token_id": "apv-0123456789abcdef", "token_sha256": "cd" * 32, "change_sha256": "ef" * 32, "signer_roles": ["it_head"], "consumed": True}


def _change_runs(site: ArchiveSite, reports: Path) -> None:
    (reports / "hosts").mkdir(parents=True)
    (reports / "readiness.json").write_text('{"ready": true}\n')
    (reports / "hosts" / "web1.json").write_text('{"host": "web1"}\n')
    preflight = {"summary": {"hosts": 1, "hosts_ready": 1}, "ready": True, "report_dir": str(reports)}
    site.write(record("pre-0001-run", "running", "2025-05-30T19:00:00Z", playbook="playbooks/preflight.yml"))
    site.write(record("pre-0001-run", "success", "2025-05-30T19:00:00Z", playbook="playbooks/preflight.yml", preflight=preflight))
    site.write(record("other-0001-run", change_id="CHG-OTHER"))
    site.write(record("dep-0001-run", "running", "2025-05-30T20:00:00Z", approval=APPROVAL, token_id=APPROVAL["token_id"]))
    site.write(record("dep-0001-run", "failed", "2025-05-30T20:00:00Z", approval=APPROVAL, token_id=APPROVAL["token_id"], readiness={"ready": True}))


def _bundle(site: ArchiveSite, change: str = "CHG-2025-0042") -> dict[str, bytes]:
    with site.store() as store:
        records = [stored for stored in iter_records(store) if stored.record.get("change_id") == change]
        entries = run_entries(store, {stored.record["run_id"] for stored in records})
        return evidence_files(change, records, entries, verify_store(store, site.root), store.settings.location)


def test_the_bundle_holds_the_change_and_is_byte_identical_when_made_again(site: ArchiveSite, tmp_path: Path) -> None:
    _change_runs(site, tmp_path / "reports")
    files = _bundle(site)
    head_time = site.entries()[-1].written_at
    first, second = tar_bundle(files, head_time), tar_bundle(_bundle(site), head_time)
    assert first == second
    assert json_bundle(files) == json_bundle(_bundle(site))
    assert first[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        members = tar.getmembers()
        names = [member.name for member in members]
        assert names == sorted(names)
        assert {(m.mode, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0o644, 0, 0, "", "")}
        assert len({m.mtime for m in members}) == 1
        manifest = json.loads(tar.extractfile("MANIFEST.json").read())
        entries = json.loads(tar.extractfile("entries.json").read())
        approvals = json.loads(tar.extractfile("approvals.json").read())
        verification = json.loads(tar.extractfile("verification.json").read())
        report = tar.extractfile("report.md").read().decode()
        readiness_copy = tar.extractfile("reports/001-pre-0001-run/1/readiness.json").read()
    assert [run["run_id"] for run in manifest["runs"]] == ["pre-0001-run", "dep-0001-run"]
    assert [len(run["entries"]) for run in manifest["runs"]] == [2, 2]
    assert {entry["run_id"] for entry in entries} == {"pre-0001-run", "dep-0001-run"}
    assert approvals[1]["approval"]["token_sha256"] == "cd" * 32 and approvals[1]["token_id"] == "apv-0123456789abcdef"
    assert verification["ok"] is True and verification["head"]["seq"] == 5
    assert manifest["archive"]["head"] == verification["head"]
    assert "archive head (keep it in the change ticket)" in report and site.entries()[-1].entry_hash in report
    assert readiness_copy == b'{"ready": true}\n'
    assert manifest["files"]["report.md"] == hashlib.sha256(files["report.md"]).hexdigest()
    assert "CHG-OTHER" not in json.dumps(manifest)


def test_a_tampered_chain_is_in_the_bundle(site: ArchiveSite, tmp_path: Path) -> None:
    _change_runs(site, tmp_path / "reports")
    site.sql("DELETE FROM archive_entries WHERE seq = 3")
    verification = json.loads(_bundle(site)["verification.json"])
    assert verification["ok"] is False and verification["problems"][0]["code"] == "deleted"


def _old_folder(directory: Path) -> list[str]:
    """An archive folder as the callback wrote it before the store: one indented JSON file per run, newest state only."""
    directory.mkdir(mode=0o700)
    names = []
    for run_id, started in (("b2222222-0000", "2025-03-02T10:00:00Z"), ("a1111111-0000", "2025-03-01T10:00:00Z"), ("c3333333-0000", "2025-03-03T10:00:00Z")):
        name = f"{started.replace('-', '').replace(':', '')}-{run_id}.json"
        (directory / name).write_text(json.dumps(record(run_id, started=started), indent=2, sort_keys=True) + "\n")
        names.append(name)
    (directory / "README.txt").write_text("not a record\n")
    return names


def test_import_once_oldest_first_then_a_no_op(site: ArchiveSite, tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    names = _old_folder(folder)
    signer = load_signer(site.root, site.environ)
    with site.store() as store:
        done = import_folder(store, str(folder), signer)
        assert (done.already, done.imported, done.ignored) == (False, 3, ["README.txt"])
        entries = read_entries(store)
        assert [entry.run_id for entry in entries] == ["a1111111-0000", "b2222222-0000", "c3333333-0000"]
        first = json.loads(entries[0].body)["imported_from"]
        assert first["file"] == sorted(names)[0]
        assert first["sha256"] == hashlib.sha256((folder / sorted(names)[0]).read_bytes()).hexdigest()
        again = import_folder(store, str(folder), signer)
        assert (again.already, again.imported) == (True, 3)
        assert len(read_entries(store)) == 3
    result = site.verify()
    assert result.ok and result.signed_by == {site.key.keyid: 3}


def test_import_skips_runs_the_store_holds(site: ArchiveSite, tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    _old_folder(folder)
    site.write(record("b2222222-0000", started="2025-03-02T10:00:00Z"))
    with site.store() as store:
        done = import_folder(store, str(folder), load_signer(site.root, site.environ))
    assert (done.imported, done.skipped) == (2, ["b2222222-0000"])


@pytest.mark.parametrize("corruption", ["not json", "no hosts", "wrong run id"])
def test_a_corrupt_file_is_refused_and_nothing_is_written(site: ArchiveSite, tmp_path: Path, corruption: str) -> None:
    folder = tmp_path / "archive"
    names = _old_folder(folder)
    broken = folder / sorted(names)[-1]
    if corruption == "not json":
        broken.write_text('{"run_id": "c3333333-0000", ')
    elif corruption == "no hosts":
        broken.write_text(json.dumps({k: v for k, v in record("c3333333-0000").items() if k != "hosts"}))
    else:
        broken.write_text(json.dumps(record("d4444444-0000")))
    with site.store() as store:
        with pytest.raises(ArchiveError, match=broken.name):
            import_folder(store, str(folder), load_signer(site.root, site.environ))
        assert read_entries(store) == []
        with store.transaction() as tx:
            assert tx.rows("SELECT source FROM imports") == []
