# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.evaluation import evaluate_fleet
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.reports import summary_table, write_reports

from .synthetic_fleet import TODAY, six_hosts


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    verdict = evaluate_fleet(six_hosts(), today=TODAY)
    directory = tmp_path_factory.mktemp("reports")
    write_reports(verdict, directory)
    return directory, verdict


def test_fleet_json_has_the_documented_shape(written: tuple[Path, object]) -> None:
    directory, verdict = written
    report = json.loads((directory / "readiness.json").read_text())
    assert set(report) == {"hosts", "summary"}
    assert set(report["hosts"]) == set(verdict.hosts)
    for host in report["hosts"].values():
        assert set(host) == {"ready", "checks"}
        for check in host["checks"]:
            assert {"id", "status", "severity", "expected", "actual", "message"} <= set(check)
            assert check["status"] in {"pass", "warn", "fail", "waived", "error"}
    assert report["hosts"]["cb-db02"]["ready"] is False
    assert report["summary"]["not_ready"] == ["cb-db02", "cb-db03", "cs-web02", "it-bak01"]


def test_one_json_per_host(written: tuple[Path, object]) -> None:
    directory, verdict = written
    files = sorted(p.stem for p in (directory / "hosts").glob("*.json"))
    assert files == sorted(verdict.hosts)
    db3 = json.loads((directory / "hosts" / "cb-db03.json").read_text())
    waived = [c for c in db3["checks"] if c["status"] == "waived"]
    assert waived[0]["id"] == "hw.hba.speed" and waived[0]["waiver"]["approved_by"] == "IT head (Wang L.)"


def test_junit_parses_with_failures_errors_and_skips(written: tuple[Path, object]) -> None:
    directory, verdict = written
    root = ET.parse(directory / "junit.xml").getroot()
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == set(verdict.hosts)
    db2 = suites["cb-db02"]
    assert db2.get("failures") == "1"
    failing = [c.get("name") for c in db2.findall("testcase") if c.find("failure") is not None]
    assert failing == ["sec.forbidden_software"]
    assert len(db2.findall("testcase")) == len(verdict.hosts["cb-db02"].checks)
    assert [c.get("name") for c in suites["cs-web01"].findall("testcase") if c.find("skipped") is not None] == ["hw.nic.speed"]


class _Matrix(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.headers: list[str] = []
        self.rows: list[str] = []
        self._in_th = self._in_check = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("link", "script", "img") or (a.get("src") or "").startswith("http"):
            self.external.append(tag)
        if tag == "span" and a.get("class") == "hostname":
            self._in_th = True
        if tag == "td" and a.get("class") == "check":
            self._in_check = True

    def handle_data(self, data: str) -> None:
        if self._in_th:
            self.headers.append(data)
            self._in_th = False
        if self._in_check:
            self.rows.append(data)
            self._in_check = False


def test_html_is_self_contained_matrix_failing_first(written: tuple[Path, object]) -> None:
    directory, verdict = written
    text = (directory / "readiness.html").read_text()
    parsed = _Matrix()
    parsed.feed(text)
    assert parsed.external == [] and "<style>" in text
    assert set(parsed.headers) == set(verdict.hosts)
    assert parsed.headers[-2:] == ["cb-db01", "cs-web01"] or set(parsed.headers[-2:]) == {"cb-db01", "cs-web01"}  # ready hosts last
    assert parsed.rows[0] == "env.sysctl.net.ipv4.tcp_syncookies" or parsed.rows[0] in {"facts.collected", "sec.forbidden_software", "hw.memory.min"}
    worst = {c.id: c.status for v in verdict.hosts.values() for c in v.checks if c.status == "fail"}
    first_pass_row = next(i for i, r in enumerate(parsed.rows) if r not in worst)
    assert all(r in worst for r in parsed.rows[:first_pass_row]) and not any(r in worst for r in parsed.rows[first_pass_row:])
    assert "required at least 500 GiB memory, found 251 GiB" in text


def test_markdown_and_stdout_table(written: tuple[Path, object]) -> None:
    directory, verdict = written
    md = (directory / "readiness.md").read_text()
    assert "**2 of 6 hosts ready.**" in md
    assert re.search(r"\| cb-db02 \| `sec.forbidden_software` \| fail \| blocker \| required no compilers", md)
    table = summary_table(verdict).splitlines()
    assert table[0].split() == ["HOST", "CLASS", "READY", "PASS", "WARN", "FAIL", "WAIVED", "ERROR", "BLOCKING"]
    assert table[-2] == "2/6 hosts ready; not ready: cb-db02, cb-db03, cs-web02, it-bak01"
    assert table[-1].startswith("expired waivers: cs-web02:env.sysctl.net.ipv4.tcp_syncookies")
