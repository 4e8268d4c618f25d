# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Readiness reports from one evaluation: fleet JSON, one JSON per host, Markdown, self-contained HTML, JUnit, stdout table."""

from __future__ import annotations

import html
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.approval.atomic_file import write_atomic

from .check_result import ERROR, FAIL, PASS, STATUS_RANK, STATUSES, WAIVED, WARN, CheckResult
from .evaluation import FleetVerdict, HostVerdict


def fleet_report(verdict: FleetVerdict) -> dict[str, Any]:
    """``readiness.json``: ``{"hosts": {NAME: {"ready", "checks": [...]}}, "summary": {...}}``."""
    return {
        "hosts": {name: {"ready": v.ready, "checks": [c.as_report() for c in v.checks]} for name, v in verdict.hosts.items()},
        "summary": verdict.summary(),
    }


def host_report(verdict: FleetVerdict, name: str) -> dict[str, Any]:
    v = verdict.hosts[name]
    return {
        "host": name,
        "ready": v.ready,
        "system_class": v.system_class,
        "generated_at": verdict.generated_at,
        "checks": [c.as_report() for c in v.checks],
        "expired_waivers": v.expired_waivers,
        "unused_waivers": v.unused_waivers,
    }


def _counts(v: HostVerdict) -> dict[str, int]:
    return {s: sum(1 for c in v.checks if c.status == s) for s in STATUSES}


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    return str(value)


def _hosts_worst_first(verdict: FleetVerdict) -> list[HostVerdict]:
    return sorted(verdict.hosts.values(), key=lambda v: (v.ready, min((STATUS_RANK[c.status] for c in v.checks), default=9), v.name))


def _check_ids_worst_first(verdict: FleetVerdict) -> list[str]:
    worst: dict[str, int] = {}
    for v in verdict.hosts.values():
        for c in v.checks:
            worst[c.id] = min(worst.get(c.id, 9), STATUS_RANK[c.status])
    return sorted(worst, key=lambda i: (worst[i], i))


def _findings(verdict: FleetVerdict) -> list[tuple[HostVerdict, CheckResult]]:
    rows = [(v, c) for v in verdict.hosts.values() for c in v.checks if c.status != PASS]
    return sorted(rows, key=lambda r: (STATUS_RANK[r[1].status], r[0].name, r[1].id))


def summary_table(verdict: FleetVerdict, width: int = 60) -> str:
    """Plain-text table for stdout: one line per host, worst first, with the blocking checks."""
    header = ("HOST", "CLASS", "READY", "PASS", "WARN", "FAIL", "WAIVED", "ERROR", "BLOCKING")
    rows = []
    for v in _hosts_worst_first(verdict):
        n = _counts(v)
        blocking = [c.id for c in v.checks if c.status in (FAIL, ERROR) and c.severity == "blocker"]
        shown = ", ".join(blocking)
        if len(shown) > width:
            shown = shown[: width - 3] + "..."
        rows.append((v.name, v.system_class or "-", "yes" if v.ready else "NO", *(str(n[s]) for s in STATUSES), shown or "-"))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *rows]]
    s = verdict.summary()
    lines.append(f"{s['hosts_ready']}/{s['hosts']} hosts ready" + (f"; not ready: {', '.join(s['not_ready'])}" if s["not_ready"] else ""))
    if s["expired_waivers"]:
        lines.append("expired waivers: " + ", ".join(f"{w['host']}:{w['check']} (expired {w['expires']})" for w in s["expired_waivers"]))
    return "\n".join(lines)


def _md(value: Any) -> str:
    return _text(value).replace("|", "\\|").replace("\n", " ")


def markdown_report(verdict: FleetVerdict) -> str:
    s = verdict.summary()
    out = [
        "# Readiness report",
        "",
        f"Generated {verdict.generated_at}. **{s['hosts_ready']} of {s['hosts']} hosts ready.**"
        + (f" Not ready: {', '.join(s['not_ready'])}." if s["not_ready"] else ""),
        "",
        "| Host | Class | Ready | pass | warn | fail | waived | error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in _hosts_worst_first(verdict):
        n = _counts(v)
        out.append(f"| {_md(v.name)} | {_md(v.system_class)} | {'yes' if v.ready else '**NO**'} | " + " | ".join(str(n[st]) for st in STATUSES) + " |")
    findings = _findings(verdict)
    out += ["", "## Findings", ""]
    if findings:
        out += ["| Host | Check | Status | Severity | Message | Remediation |", "|---|---|---|---|---|---|"]
        for v, c in findings:
            label = "Expired waiver" if c.waiver and c.waiver.get("expired") else "Waiver"
            note = f" {label}: {c.waiver.get('reason')} (approved by {c.waiver.get('approved_by', '-')}, expires {c.waiver.get('expires')})" if c.waiver else ""
            out.append(f"| {_md(v.name)} | `{c.id}` | {c.status} | {c.severity} | {_md(c.message)}{_md(note)} | {_md(c.remediation)} |")
    else:
        out.append("Every check passed on every host.")
    if s["expired_waivers"]:
        out += ["", "## Expired waivers (ignored)", ""]
        out += [f"- {w['host']}: `{w['check']}` expired {w['expires']} ({w.get('reason', '')})" for w in s["expired_waivers"]]
    out += ["", "## All checks", ""]
    for v in _hosts_worst_first(verdict):
        out += [f"### {v.name} — {'ready' if v.ready else 'NOT READY'}", "", "| Check | Status | Expected | Actual |", "|---|---|---|---|"]
        out += [f"| `{c.id}` | {c.status} | {_md(c.expected)} | {_md(c.actual)} |" for c in v.checks]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:24px;color:#1f2328;background:#fff;font-size:14px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.sub{color:#57606a;margin-bottom:16px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:8px}
.card{border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;min-width:150px}
.card .big{font-size:24px;font-weight:600}
.card.bad{border-color:#cf222e;background:#ffebe9} .card.good{border-color:#1a7f37;background:#dafbe1}
table{border-collapse:collapse}
.matrix th,.matrix td{border:1px solid #d0d7de;padding:4px 8px;text-align:center;white-space:nowrap}
.matrix th.check,.matrix td.check{text-align:left;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
.matrix td.check{position:sticky;left:0;background:#f6f8fa}
.matrix thead th{background:#f6f8fa;position:sticky;top:0}
.matrix thead th.notready{background:#ffebe9;color:#a40e26} .matrix thead th.ready{background:#dafbe1;color:#116329}
.hostname{display:block;font-size:14px} .verdict{display:block;font-size:11px;font-weight:600;letter-spacing:.04em}
.cls{display:block;font-size:11px;font-weight:400;color:#57606a}
.why{margin:8px 0 0;padding:0;list-style:none}
.why li{border-left:4px solid #cf222e;background:#fff5f5;padding:6px 10px;margin-bottom:6px;border-radius:0 4px 4px 0}
.why li b{font-size:14px} .why .item{display:block;margin-top:2px} .why code{font-weight:600}
.s{display:inline-block;min-width:56px;border-radius:4px;padding:2px 6px;font-weight:600;font-size:12px}
.pass{background:#dafbe1;color:#116329} .warn{background:#fff8c5;color:#7d4e00} .fail{background:#cf222e;color:#fff}
.waived{background:#ddf4ff;color:#0550ae} .error{background:#8250df;color:#fff} .na{color:#8c959f}
.act{display:block;font-size:11px;color:#57606a;max-width:170px;overflow:hidden;text-overflow:ellipsis;margin:2px auto 0}
.findings td,.findings th{border-bottom:1px solid #d0d7de;padding:6px 8px;text-align:left;vertical-align:top}
.findings th{background:#f6f8fa}
.findings td.msg{max-width:560px} .findings td.fix{max-width:360px;color:#57606a}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
.legend span{margin-right:8px}
.wrap{overflow:auto;max-height:80vh;border:1px solid #d0d7de;border-radius:6px;display:inline-block;max-width:100%}
"""


def _cell(c: CheckResult | None) -> str:
    if c is None:
        return '<td class="na" title="not checked on this host">&middot;</td>'
    tip = html.escape(c.message + (f" | fix: {c.remediation}" if c.remediation else ""), quote=True)
    actual = html.escape(_text(c.actual)[:40]) if c.status != PASS and c.actual is not None else ""
    return f'<td title="{tip}"><span class="s {c.status}">{c.status.upper()}</span>' + (f'<span class="act">{actual}</span>' if actual else "") + "</td>"


def html_report(verdict: FleetVerdict) -> str:
    """One file, inline CSS, no script, no external asset: it opens from an archive years later."""
    s = verdict.summary()
    hosts = _hosts_worst_first(verdict)
    ids = _check_ids_worst_first(verdict)
    by_host = {v.name: {c.id: c for c in v.checks} for v in hosts}
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Readiness report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Readiness report</h1>",
        f"<div class='sub'>Generated {esc(verdict.generated_at)} &middot; {s['hosts']} hosts &middot; {len(ids)} checks</div>",
        "<div class='cards'>",
        f"<div class='card {'good' if s['ready'] else 'bad'}'><div>Fleet</div><div class='big'>{'READY' if s['ready'] else 'NOT READY'}</div></div>",
        f"<div class='card'><div>Hosts ready</div><div class='big'>{s['hosts_ready']} / {s['hosts']}</div></div>",
    ]
    for status in (FAIL, ERROR, WARN, WAIVED):
        parts.append(f"<div class='card'><div><span class='s {status}'>{status.upper()}</span></div><div class='big'>{s['checks'][status]}</div></div>")
    parts.append("</div>")
    blocked = [v for v in hosts if not v.ready]
    if blocked:
        # The first thing an operator needs: which hosts are blocked, and by what.
        parts.append("<h2>Why hosts are not ready</h2><ul class='why'>")
        for v in blocked:
            reasons = [c for c in v.checks if c.status in (FAIL, ERROR) and c.severity == "blocker"]
            items = "".join(f"<span class='item'><code>{esc(c.id)}</code> &mdash; {esc(c.message)}</span>" for c in reasons)
            parts.append(f"<li><b>{esc(v.name)}</b> <small>{esc(v.system_class or '')}</small>{items}</li>")
        parts.append("</ul>")
    parts.append("<h2>Hosts &times; checks (failing first)</h2>")
    parts.append(
        "<p class='legend'>"
        + "".join(f"<span class='s {st}'>{st.upper()}</span>" for st in (FAIL, ERROR, WARN, WAIVED, PASS))
        + " <span class='na'>&middot; not checked on that host</span> &nbsp; Hover a cell for the full message.</p>"
    )
    parts.append("<div class='wrap'><table class='matrix'><thead><tr><th class='check'>check</th>")
    for v in hosts:
        verdict_text = "READY" if v.ready else "NOT READY"
        parts.append(
            f"<th class='{'ready' if v.ready else 'notready'}'><span class='hostname'>{esc(v.name)}</span>"
            f"<span class='verdict'>{verdict_text}</span><span class='cls'>{esc(v.system_class or '')}</span></th>"
        )
    parts.append("</tr></thead><tbody>")
    for check_id in ids:
        parts.append(f"<tr><td class='check'>{esc(check_id)}</td>" + "".join(_cell(by_host[v.name].get(check_id)) for v in hosts) + "</tr>")
    parts.append("</tbody></table></div>")
    findings = _findings(verdict)
    parts.append(f"<h2>Findings ({len(findings)})</h2>")
    if findings:
        parts.append("<table class='findings'><thead><tr><th>host</th><th>check</th><th>status</th><th>message</th><th>remediation</th></tr></thead><tbody>")
        for v, c in findings:
            note = ""
            if c.waiver:
                state = "expired" if c.waiver.get("expired") else "waived"
                note = (
                    f"<br><i>{state}: {esc(str(c.waiver.get('reason', '')))} &mdash; approved by {esc(str(c.waiver.get('approved_by', '-')))},"
                    f" expires {esc(str(c.waiver.get('expires')))}</i>"
                )
            parts.append(
                f"<tr><td>{esc(v.name)}</td><td><code>{esc(c.id)}</code></td><td><span class='s {c.status}'>{c.status.upper()}</span>"
                f"<br><small>{esc(c.severity)}</small></td><td class='msg'>{esc(c.message)}{note}</td><td class='fix'>{esc(c.remediation)}</td></tr>"
            )
        parts.append("</tbody></table>")
    else:
        parts.append("<p>Every check passed on every host.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def junit_report(verdict: FleetVerdict) -> str:
    """One testsuite per host, one testcase per check; waived checks are skipped, warnings pass with output."""
    suites = ET.Element("testsuites", name="opsgate readiness")
    for v in verdict.hosts.values():
        n = _counts(v)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=v.name,
            tests=str(len(v.checks)),
            failures=str(n[FAIL]),
            errors=str(n[ERROR]),
            skipped=str(n[WAIVED]),
            timestamp=verdict.generated_at,
        )
        for c in v.checks:
            case = ET.SubElement(suite, "testcase", classname=v.name, name=c.id)
            detail = f"expected: {_text(c.expected)}\nactual: {_text(c.actual)}\nseverity: {c.severity}\nremediation: {c.remediation}"
            if c.status == FAIL:
                ET.SubElement(case, "failure", message=c.message, type=c.severity).text = detail
            elif c.status == ERROR:
                ET.SubElement(case, "error", message=c.message, type=c.severity).text = detail
            elif c.status == WAIVED:
                ET.SubElement(case, "skipped", message=f"waived: {(c.waiver or {}).get('reason', '')} (expires {(c.waiver or {}).get('expires')})")
            elif c.status == WARN:
                ET.SubElement(case, "system-out").text = f"WARNING: {c.message}"
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _safe_name(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", host) or "_"


def _write(path: Path, text: str) -> None:
    # Write then rename: a reader (CI, a browser) never sees half a report.
    write_atomic(str(path), text, 0o644)


def write_reports(verdict: FleetVerdict, directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Write every report into ``directory``; return their paths."""
    root = Path(directory)
    (root / "hosts").mkdir(parents=True, exist_ok=True)
    paths: dict[str, Any] = {
        "json": root / "readiness.json",
        "markdown": root / "readiness.md",
        "html": root / "readiness.html",
        "junit": root / "junit.xml",
    }
    _write(paths["json"], json.dumps(fleet_report(verdict), indent=2, sort_keys=False, default=str) + "\n")
    _write(paths["markdown"], markdown_report(verdict))
    _write(paths["html"], html_report(verdict))
    _write(paths["junit"], junit_report(verdict))
    hosts = {}
    for name in verdict.hosts:
        hosts[name] = root / "hosts" / f"{_safe_name(name)}.json"
        _write(hosts[name], json.dumps(host_report(verdict, name), indent=2, default=str) + "\n")
    return {**{k: str(v) for k, v in paths.items()}, "hosts": {k: str(v) for k, v in hosts.items()}}
