# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading the store's records back, filtering and rendering them (the chain and its tampering: test_archive_store.py)."""

from __future__ import annotations

from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
from archive_events import APPROVAL, at, deploy_events, event, recorder
from archive_kit import make_root, signing_key

from ansible_collections.opsgate.release.plugins.plugin_utils.archive.chain import verify_chain
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.query import QueryError, RunFilter, select
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.render import render_html, render_markdown
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import ArchiveError, find_record, iter_records, read_entries, write_run_record
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import pinned_store


def _deploy(start_minutes: int = 0) -> dict:
    run = recorder(start=at(start_minutes))
    run.run_id = f"{start_minutes:08d}-2222-4333-8444-555555555555"
    for item in deploy_events():
        run.task_result(item)
    run.ended({"web1": {"ok": 5, "changed": 3}, "web2": {"ok": 4, "failures": 1}})
    return run.record(ended=at(start_minutes + 3))


def test_a_record_written_twice_reads_back_as_its_newest_state(tmp_path: Path) -> None:
    root = make_root(str(tmp_path / "ledger"))
    record = _deploy()
    write_run_record(root, {**record, "status": "running", "ended": None}, environ={})
    write_run_record(root, record, environ={})
    with pinned_store(root, {}) as store:
        [stored] = iter_records(store)
        assert stored.record == record
        assert stored.seq == 2


def test_find_by_prefix_and_ambiguity(tmp_path: Path) -> None:
    root = make_root(str(tmp_path / "ledger"))
    write_run_record(root, _deploy(10), environ={})
    write_run_record(root, _deploy(0), environ={})
    with pinned_store(root, {}) as store:
        assert [stored.record["started"] for stored in iter_records(store)] == ["2025-05-30T20:00:00Z", "2025-05-30T20:10:00Z"]
        assert find_record(store, "00000010").record["started"] == "2025-05-30T20:10:00Z"
        with pytest.raises(ArchiveError, match="2 records match"):
            find_record(store, "0000")
        with pytest.raises(ArchiveError, match="no record"):
            find_record(store, "ffff")


def test_an_entry_that_is_not_a_record_names_its_seq(tmp_path: Path) -> None:
    root = make_root(str(tmp_path / "ledger"))
    write_run_record(root, _deploy(), environ={})
    with pinned_store(root, {}) as store:
        with store.transaction(write=True) as tx:
            tx.execute("UPDATE archive_entries SET body = ? WHERE seq = 1", ('{"run_id": "x", "started": "2025", "status": "success", "hosts": []}',))
        with pytest.raises(ArchiveError, match=r"seq 1 .*field 'hosts' must be an object"):
            iter_records(store)


def test_the_report_prints_the_archive_head_and_whether_it_verifies(tmp_path: Path) -> None:
    key = signing_key(tmp_path / "keys")
    root = make_root(str(tmp_path / "ledger"), keys=[key])
    environ = {"OPSGATE_ARCHIVE_SIGNING_KEY": str(key.path)}
    entry, _location = write_run_record(root, _deploy(), environ=environ)
    with pinned_store(root, {}) as store:
        entries = read_entries(store)
    keys = {key.keyid: key.key.public_key()}
    text = render_markdown("CHG-2025-0042", [_deploy()], "now", chain=verify_chain(entries, keys))
    assert f"| archive head (keep it in the change ticket) | seq 1 sha256 {entry.entry_hash} |" in text
    assert "| archive chain | verified: 1 entries |" in text
    page = render_html("CHG-2025-0042", [_deploy()], "now", chain=verify_chain(entries, {}))
    assert entry.entry_hash in page and "unsigned: the trust root pins no archive key" in page
    broken = render_markdown("CHG-2025-0042", [_deploy()], "now", chain=verify_chain([], keys, expected_head=entry.entry_hash))
    assert "DOES NOT VERIFY: 1 problem(s)" in broken


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
