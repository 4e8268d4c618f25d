# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bin/opsgate-archive as a user runs it: a subprocess over a real archive folder."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from archive_events import at, deploy_events, event, recorder

from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import write_record

REPO = Path(__file__).resolve().parents[5]
CLI = REPO / "bin" / "opsgate-archive"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A bare interpreter environment: the CLI must not need the collection on PYTHONPATH.
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "OPSGATE_ARCHIVE_DIR")}
    return subprocess.run([sys.executable, str(CLI), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    directory = tmp_path / "archive"
    deploy = recorder(start=at(30))
    deploy.run_id = "deploy00-2222-4333-8444-555555555555"
    for item in deploy_events():
        deploy.task_result(item)
    deploy.ended({"web1": {"ok": 5, "changed": 3}, "web2": {"ok": 4, "failures": 1}})
    write_record(str(directory), deploy.record(ended=at(33)))
    other = recorder(playbook="playbooks/host_inventory.yml", start=at(60 * 24 * 3))
    other.run_id = "invent00-2222-4333-8444-555555555555"
    other.task_result(event("db1", "opsgate.release.host_facts", "ok"))
    other.ended({"db1": {"ok": 1}})
    write_record(str(directory), other.record(ended=at(60 * 24 * 3 + 1)))
    return directory


def _ids(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    return [line.split()[0] for line in done.stdout.splitlines()[1:]]


def test_list_and_filters(archive: Path) -> None:
    cwd = archive.parent
    assert _ids(_cli("list", cwd=cwd)) == ["deploy00-2222-4333-8444-555555555555", "invent00-2222-4333-8444-555555555555"]
    assert _ids(_cli("list", "--change", "CHG-2025-0042", cwd=cwd)) == ["deploy00-2222-4333-8444-555555555555"]
    assert _ids(_cli("list", "--app", "accounts-api", cwd=cwd)) == ["deploy00-2222-4333-8444-555555555555"]
    assert _ids(_cli("list", "--host", "db1", cwd=cwd)) == ["invent00-2222-4333-8444-555555555555"]
    assert _ids(_cli("list", "--since", "2025-06-01", cwd=cwd)) == ["invent00-2222-4333-8444-555555555555"]
    assert _ids(_cli("list", "--until", "2025-05-30", "--status", "failed", cwd=cwd)) == ["deploy00-2222-4333-8444-555555555555"]
    listed = json.loads(_cli("--archive-dir", str(archive), "list", "--json", "--status", "success", cwd=Path("/")).stdout)
    assert [record["run_id"] for record in listed] == ["invent00-2222-4333-8444-555555555555"]


def test_bad_filter_names_the_option(archive: Path) -> None:
    done = _cli("list", "--since", "30/05/2025", cwd=archive.parent)
    assert done.returncode == 2
    assert "--since" in done.stderr and "30/05/2025" in done.stderr


def test_show(archive: Path) -> None:
    done = _cli("show", "deploy00", cwd=archive.parent)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["hosts"]["web2"]["rolled_back"] is True
    missing = _cli("show", "nope", cwd=archive.parent)
    assert missing.returncode == 2 and "nope" in missing.stderr


def test_report_md_and_html(archive: Path) -> None:
    out = archive.parent / "out"
    done = _cli("report", "--change", "CHG-2025-0042", "--format", "md", "-o", str(out / "chg.md"), cwd=archive.parent)
    assert done.returncode == 0, done.stderr
    text = (out / "chg.md").read_text()
    assert "# Operations archive: change CHG-2025-0042" in text and "deploy00" in text and "invent00" not in text
    assert stat.S_IMODE(os.stat(out / "chg.md").st_mode) == 0o600
    done = _cli("report", "--change", "CHG-2025-0042", "--format", "html", "-o", str(out / "chg.html"), cwd=archive.parent)
    assert done.returncode == 0, done.stderr
    page = (out / "chg.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "apv-0123456789abcdef" in page
    unknown = _cli("report", "--change", "CHG-0", cwd=archive.parent)
    assert unknown.returncode == 1 and "CHG-0" in unknown.stderr


def _emergency_record(run_id: str, token_id: str, started: str, ratify_by: str, consumed: bool = True) -> dict[str, object]:
    approval = {"token_id": token_id, "change_id": f"CHG-{token_id}", "kind": "emergency", "incident_id": "INC-7", "consumed": consumed, "ratify_by": ratify_by}
    return {"run_id": run_id, "started": started, "ended": started, "status": "success", "app": "accounts-api", "approval": approval, "hosts": {}}


def test_report_unratified_lists_emergencies_until_a_ratification_names_them(tmp_path: Path) -> None:
    directory = tmp_path / "archive"
    write_record(str(directory), _emergency_record("run-old-0001", "apv-emergency-old", "2025-03-07T12:00:00Z", "2025-03-11T15:59:59Z"))
    write_record(str(directory), _emergency_record("run-new-0001", "apv-emergency-new", "2199-01-01T12:00:00Z", "2199-01-05T15:59:59Z"))
    write_record(str(directory), _emergency_record("run-check-0001", "apv-emergency-chk", "2025-03-08T12:00:00Z", "2025-03-12T15:59:59Z", consumed=False))
    listed = _cli("--archive-dir", str(directory), "report", "--unratified", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    waiting = json.loads(listed.stdout)
    assert [(item["token_id"], item["overdue"]) for item in waiting] == [("apv-emergency-old", True), ("apv-emergency-new", False)]
    text = _cli("--archive-dir", str(directory), "report", "--unratified", cwd=tmp_path)
    assert "apv-emergency-old" in text.stdout
    assert "OVERDUE" in text.stdout
    assert "INC-7" in text.stdout

    ratification = {
        "run_id": "ratification-apv-ratify-01",
        "kind": "ratification",
        "started": "2025-03-12T09:00:00Z",
        "ended": "2025-03-12T09:00:00Z",
        "status": "success",
        "ratifies": {"token_id": "apv-emergency-old"},
        "hosts": {},
    }
    write_record(str(directory), ratification)
    after = json.loads(_cli("--archive-dir", str(directory), "report", "--unratified", "--json", cwd=tmp_path).stdout)
    assert [item["token_id"] for item in after] == ["apv-emergency-new"]
    kinds = _cli("--archive-dir", str(directory), "list", cwd=tmp_path).stdout
    assert "ratification" in kinds


def test_report_needs_a_change_or_unratified(tmp_path: Path) -> None:
    done = _cli("--archive-dir", str(tmp_path), "report", cwd=tmp_path)
    assert done.returncode == 2
    assert "--change" in done.stderr
