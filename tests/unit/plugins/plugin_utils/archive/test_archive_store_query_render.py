# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writing, reading, filtering and rendering archive records."""

from __future__ import annotations

import json
import os
import stat
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
from archive_events import APPROVAL, at, deploy_events, event, recorder

from ansible_collections.opsgate.release.plugins.plugin_utils.archive.query import QueryError, RunFilter, select
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.render import render_html, render_markdown
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import ArchiveError, find_record, iter_records, secret_strings, write_record


def _deploy(start_minutes: int = 0) -> dict:
    run = recorder(start=at(start_minutes))
    run.run_id = f"{start_minutes:08d}-2222-4333-8444-555555555555"
    for item in deploy_events():
        run.task_result(item)
    run.ended({"web1": {"ok": 5, "changed": 3}, "web2": {"ok": 4, "failures": 1}})
    return run.record(ended=at(start_minutes + 3))


def test_write_is_private_and_replaces_the_same_run(tmp_path: Path) -> None:
    directory = tmp_path / "archive"
    record = _deploy()
    path = write_record(str(directory), {**record, "status": "running"})
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert write_record(str(directory), record) == path
    assert [entry.name for entry in directory.iterdir()] == [os.path.basename(path)]
    assert json.loads(Path(path).read_text())["status"] == "failed"


def test_secrets_are_redacted_even_inside_a_mapping_token(tmp_path: Path) -> None:
    token = "v1.eyJjbGFpbXMiOnsiY2hhbmdlX2lkIjoiQ0hHIn19.c2lnbmF0dXJl"
    record = {**_deploy(), "note": f"a result echoed {token} and {token[3:40]}"}
    secrets = secret_strings({"opsgate_approval_token": token}) + secret_strings(token[3:40])
    path = write_record(str(tmp_path), record, secrets)
    text = Path(path).read_text()
    assert token not in text
    assert token[3:40] not in text
    assert "[REDACTED]" in text


def test_read_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "20250101T000000Z-11111111-2222-4333-8444-555555555555.json"
    path.write_text(json.dumps({"run_id": "x", "started": "2025", "status": "success", "hosts": []}))
    with pytest.raises(ArchiveError, match=r"field 'hosts' must be an object"):
        list(iter_records(str(tmp_path)))
    path.write_text("{")
    with pytest.raises(ArchiveError, match=str(path.name)):
        list(iter_records(str(tmp_path)))


def test_find_by_prefix_and_ambiguity(tmp_path: Path) -> None:
    write_record(str(tmp_path), _deploy(0))
    write_record(str(tmp_path), _deploy(10))
    assert find_record(str(tmp_path), "00000010").record["started"] == "2025-05-30T20:10:00Z"
    with pytest.raises(ArchiveError, match="2 records match"):
        find_record(str(tmp_path), "0000")
    with pytest.raises(ArchiveError, match="no record"):
        find_record(str(tmp_path), "ffff")


def test_filters() -> None:
    deploy = _deploy()
    other = {**deploy, "change_id": "CHG-9", "app": "web", "hosts": {"db1": {}}, "status": "success", "started": "2025-06-03T01:00:00Z"}
    records = [deploy, other]
    assert select(records, RunFilter(change="CHG-2025-0042")) == [deploy]
    assert select(records, RunFilter(app="web")) == [other]
    assert select(records, RunFilter(host="web2")) == [deploy]
    assert select(records, RunFilter(status="success")) == [other]
    assert select(records, RunFilter(since=date(2025, 5, 31))) == [other]
    assert select(records, RunFilter(until=date(2025, 5, 30))) == [deploy]
    with pytest.raises(QueryError, match="--status"):
        RunFilter(status="done")
    with pytest.raises(QueryError, match="after --until"):
        RunFilter(since=date(2025, 2, 1), until=date(2025, 1, 1))


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _change_runs() -> list[dict]:
    preflight = recorder(playbook="playbooks/preflight.yml", declared_change_id="CHG-2025-0042")
    preflight.task_result(event("localhost", "opsgate.release.preflight_evaluate", "ok", {"summary": {"hosts": 2, "hosts_ready": 2, "not_ready": []}}))
    preflight.ended({"localhost": {"ok": 3}})
    return [preflight.record(ended=at(1)), _deploy(20)]


def test_markdown_report_lists_runs_hosts_versions_rollbacks_and_signers() -> None:
    text = render_markdown("CHG-2025-0042", _change_runs(), "2025-06-01T00:00:00Z")
    assert text.startswith("# Operations archive: change CHG-2025-0042")
    assert "## 1. preflight — success" in text
    assert "## 2. deploy — failed" in text
    assert "2/2 hosts ready" in text
    assert "| web2 | failed | — | 1.0.0-CHG-2025-0001-aaaaaaaaaaaa" not in text  # versions, not release ids, in the version columns
    assert "| web1 | changed | — | 1.1.0 | no | — |" in text
    assert "| hosts rolled back | web2 |" in text
    assert APPROVAL["token_id"] in text
    assert "business_head, it_head, ops_director, risk_compliance" in text
    assert "health: Status code was 503" in text


def test_html_report_is_self_contained_and_escaped() -> None:
    runs = _change_runs()
    runs[1]["hosts"]["<script>alert(1)</script>"] = {"result": "ok"}
    page = render_html("CHG-2025-0042", runs, "2025-06-01T00:00:00Z")
    parser = _Collector()
    parser.feed(page)
    tags = {tag for tag, _attrs in parser.tags}
    assert "script" not in tags
    assert not [attrs for _tag, attrs in parser.tags if "src" in attrs or "href" in attrs]
    assert "<script>alert(1)</script>" in "".join(parser.text)
    assert "rolled-back" in page
    assert APPROVAL["token_id"] in page
