# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the runs of one change for an auditor: Markdown, or one self-contained HTML page."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .query import run_kind

if TYPE_CHECKING:
    from .chain import Verification

_HOST_COLUMNS = ("host", "result", "version before", "version after", "rolled back", "failed gate")
_VERIFY_COLUMNS = ("host", "suite", "result", "failing tests", "duration (s)", "JUnit report sha256")
_MIGRATION_COLUMNS = ("phase", "database", "outcome", "applied", "already applied (skipped)", "backup", "restore")
# A document's location becomes a link only with one of these schemes, or as a path: never javascript: or data:.
_LINK_SCHEMES = ("http", "https", "file")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value) or "—"
    return str(value)


def _gate(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    parts = [str(value.get("gate") or "?")]
    if value.get("code"):
        parts.append(str(value["code"]))
    if value.get("message"):
        parts.append(str(value["message"]))
    return ": ".join(parts)


def _operator(record: Mapping[str, Any]) -> str:
    operator = record.get("operator") or {}
    text = str(operator.get("user") or "?")
    if operator.get("source") == "awx":
        text += f" (AWX job {operator.get('awx_job_id') or '?'})"
    if operator.get("controller"):
        text += f" on {operator['controller']}"
    return text


def _host_rows(record: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for name, entry in sorted((record.get("hosts") or {}).items()):
        rows.append(
            [
                name,
                _cell(entry.get("result")),
                _cell(entry.get("version_before")),
                _cell(entry.get("version_after")),
                _cell(entry.get("rolled_back")),
                _cell(_gate(entry.get("failed_gate"))),
            ]
        )
    return rows


def _run_facts(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    preflight = record.get("preflight") or {}
    summary = preflight.get("summary") or {}
    facts = [
        ("run id", _cell(record.get("run_id"))),
        ("playbook", _cell(record.get("playbook"))),
        ("status", _cell(record.get("status"))),
        ("started / ended (UTC)", f"{_cell(record.get('started'))} / {_cell(record.get('ended'))}"),
        ("operator", _operator(record)),
        ("limit", _cell(record.get("limit"))),
        ("check mode", _cell(record.get("check_mode"))),
        ("app / version", f"{_cell(record.get('app'))} {_cell(record.get('version'))}"),
        ("approval token id", _cell(record.get("token_id"))),
        ("signer roles", _cell(record.get("signer_roles"))),
    ]
    error = record.get("approval_error")
    if isinstance(error, Mapping):
        facts.append(("approval refused", f"{_cell(error.get('code'))}: {_cell(error.get('message'))}"))
    if summary:
        facts.append(("preflight", f"{summary.get('hosts_ready', '?')}/{summary.get('hosts', '?')} hosts ready; not ready: {_cell(summary.get('not_ready'))}"))
    if record.get("interrupted_by"):
        facts.append(("interrupted by", _cell(record["interrupted_by"])))
    return facts


def _count(value: Any) -> str:
    return "?" if value is None else str(value)


def _junit_cell(record: Mapping[str, Any], host: str, verify: Mapping[str, Any]) -> str:
    """The digest of the report the archive keeps for ``host`` (what verify checks), else the one the step reported."""
    for item in record.get("attachments") or []:
        if isinstance(item, Mapping) and item.get("host") == host and item.get("kind") == "junit":
            if item.get("stored") is False:
                return f"{item.get('sha256')} (not kept: {item.get('bytes')} bytes, over the archive's limit)"
            return f"{item.get('sha256')}" + (" (secrets redacted)" if item.get("redacted") else "")
    return f"{verify['junit_sha256']} (report not kept)" if verify.get("junit_sha256") else "—"


def _verify_rows(record: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for name, entry in sorted((record.get("hosts") or {}).items()):
        verify = entry.get("verify")
        if not isinstance(verify, Mapping):
            continue
        result = (
            f"{_count(verify.get('passed'))} passed, {_count(verify.get('failed'))} failed, {_count(verify.get('errors'))} errors, "
            f"{_count(verify.get('skipped'))} skipped of {_count(verify.get('tests'))}"
        )
        suite = " ".join(part for part in (verify.get("suite_name"), f"sha256 {verify['suite_sha256']}" if verify.get("suite_sha256") else None) if part)
        rows.append([name, _cell(suite), result, _cell(verify.get("failures")), _cell(verify.get("duration")), _junit_cell(record, name, verify)])
    return rows


def _database(value: Any) -> str:
    if not isinstance(value, Mapping):
        return "—"
    return f"{_cell(value.get('kind'))} {_cell(value.get('name'))} on {_cell(value.get('run_on'))}"


def _migration_rows(record: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for item in record.get("migrations") or []:
        if not isinstance(item, Mapping):
            continue
        outcome = "ok"
        if item.get("failed"):
            code = item.get("migration_error") or item.get("approval_error")
            outcome = "FAILED" + (f" [{code}]" if code else "") + f": {_cell(item.get('msg'))}"
        backup = item.get("backup")
        saved = f"{_cell(backup.get('path'))} sha256 {_cell(backup.get('sha256'))} ({_cell(backup.get('bytes'))} bytes)" if isinstance(backup, Mapping) else "—"
        restored = item.get("restored")
        undone = "—"
        if isinstance(restored, Mapping):
            undone = f"{_cell(restored.get('method'))}: {_cell(restored.get('steps'))}"
            if restored.get("kept"):
                undone += f"; still applied: {_cell(restored['kept'])}"
        applied = _cell(item.get("applied")) if "would_apply" not in item else f"check mode, would apply: {_cell(item['would_apply'])}"
        rows.append([_cell(item.get("phase")), _database(item.get("database")), outcome, applied, _cell(item.get("already_applied")), saved, undone])
    return rows


def _documents(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The change's documents, each once, in the order the runs recorded them (a re-approved change may add some)."""
    seen: list[Mapping[str, Any]] = []
    for record in records:
        for item in record.get("documents") or []:
            if isinstance(item, Mapping) and item not in seen:
                seen.append(item)
    return seen


def _link_target(location: Any) -> str | None:
    """The href of a document's location, or None when it must not be a link (another scheme, or nothing)."""
    text = str(location or "").strip()
    match = _SCHEME.match(text)
    if not text or any(ord(char) < 32 for char in text) or (match and match.group(1).lower() not in _LINK_SCHEMES):
        return None
    # A path or URL as given, with what would end a Markdown link or break out of an attribute percent-encoded.
    return quote(text, safe="/:?#[]@!$&'*+,;=%-._~")


def _summary(change_id: str, records: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    hosts = sorted({host for record in records for host in (record.get("hosts") or {})})
    rolled = sorted({host for record in records for host, entry in (record.get("hosts") or {}).items() if entry.get("rolled_back")})
    tokens = sorted({str(record["token_id"]) for record in records if record.get("token_id")})
    roles = sorted({str(role) for record in records for role in record.get("signer_roles") or []})
    apps = sorted({str(record["app"]) for record in records if record.get("app")})
    runs = ", ".join(f"{run_kind(record)}: {record.get('status')}" for record in records) or "none"
    return [
        ("change", change_id),
        ("application", _cell(apps)),
        ("runs", f"{len(records)} ({runs})"),
        ("first run / last run (UTC)", f"{_cell(records[0].get('started') if records else None)} / {_cell(records[-1].get('ended') if records else None)}"),
        ("hosts", _cell(hosts)),
        ("hosts rolled back", _cell(rolled)),
        ("approval token ids", _cell(tokens)),
        ("signer roles", _cell(roles)),
    ]


def _chain_facts(chain: Verification | None) -> list[tuple[str, str]]:
    """The archive's head when the report was made: kept in the change ticket, ``opsgate-archive verify --head`` checks it later."""
    if chain is None:
        return []
    head = chain.head.text() if chain.head else "the archive is empty"
    if chain.ok:
        state = f"verified: {chain.entries} entries" + ("" if chain.keys_pinned else " (unsigned: the trust root pins no archive key)")
    else:
        state = f"DOES NOT VERIFY: {len(chain.problems)} problem(s); run opsgate-archive verify"
    return [("archive head (keep it in the change ticket)", head), ("archive chain", state)]


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_escape(cell) for cell in row) + " |" for row in rows]
    return lines


def _md_text(text: Any) -> str:
    # Backslash-escaped, a title cannot end its link early or become inline HTML or emphasis.
    return re.sub(r"([\\\[\]<>*_`])", r"\\\1", str(text)).replace("\n", " ")


def _md_documents(records: Sequence[Mapping[str, Any]]) -> list[str]:
    documents = _documents(records)
    if not documents:
        return []
    lines = ["", "## Documents of the change", ""]
    for item in documents:
        title = _md_text(item.get("title") or item.get("location") or "?")
        target = _link_target(item.get("location"))
        shown = f"[{title}]({target})" if target else f"{title} (location not linked: {_md_text(item.get('location') or '—')})"
        # The kind is one word of change_document.py's vocabulary: shown as it is.
        lines.append(f"- {_md_escape(_cell(item.get('kind')))}: {shown}, sha256 {_md_text(_cell(item.get('sha256')))}")
    return lines


def render_markdown(change_id: str, records: Sequence[Mapping[str, Any]], generated_at: str, chain: Verification | None = None) -> str:
    lines = [f"# Operations archive: change {change_id}", "", f"Generated {generated_at} from the opsgate.release operations archive.", ""]
    lines += _md_table(("", ""), _summary(change_id, records) + _chain_facts(chain))
    lines += _md_documents(records)
    for number, record in enumerate(records, 1):
        lines += ["", f"## {number}. {run_kind(record)} — {_cell(record.get('status'))} — {_cell(record.get('started'))}", ""]
        lines += _md_table(("field", "value"), _run_facts(record))
        lines += [""]
        lines += _md_table(_HOST_COLUMNS, _host_rows(record))
        verify = _verify_rows(record)
        if verify:
            lines += ["", "### Verification after deployment", "", *_md_table(_VERIFY_COLUMNS, verify)]
        migrations = _migration_rows(record)
        if migrations:
            lines += ["", "### Database migrations", "", *_md_table(_MIGRATION_COLUMNS, migrations)]
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eee}
.status-success{color:#176f2c;font-weight:bold}
.status-failed,.status-interrupted{color:#a40e0e;font-weight:bold}
.rolled-back{background:#fff4d6}
.verify-failed,.migration-failed{background:#fde2e2}
"""


def _html_pairs(pairs: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>" for key, value in pairs)
    return f"<table>{rows}</table>"


def _html_hosts(record: Mapping[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(column)}</th>" for column in _HOST_COLUMNS)
    body = []
    for row in _host_rows(record):
        css = ' class="rolled-back"' if row[4] == "yes" else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _html_table(columns: Sequence[str], rows: Sequence[Sequence[str]], failed: Sequence[bool], css: str) -> str:
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    body = []
    for row, bad in zip(rows, failed, strict=True):
        mark = f' class="{css}"' if bad else ""
        body.append(f"<tr{mark}>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _html_run_checks(record: Mapping[str, Any]) -> list[str]:
    parts = []
    verify = _verify_rows(record)
    if verify:
        hosts = record.get("hosts") or {}
        failed = [bool((hosts[row[0]]["verify"].get("failed") or 0) + (hosts[row[0]]["verify"].get("errors") or 0)) for row in verify]
        parts += ["<h3>Verification after deployment</h3>", _html_table(_VERIFY_COLUMNS, verify, failed, "verify-failed")]
    migrations = _migration_rows(record)
    if migrations:
        failed = [row[2] != "ok" for row in migrations]
        parts += ["<h3>Database migrations</h3>", _html_table(_MIGRATION_COLUMNS, migrations, failed, "migration-failed")]
    return parts


def _html_documents(records: Sequence[Mapping[str, Any]]) -> list[str]:
    documents = _documents(records)
    if not documents:
        return []
    items = []
    for item in documents:
        title = html.escape(str(item.get("title") or item.get("location") or "?"))
        target = _link_target(item.get("location"))
        if target:
            shown = f'<a href="{html.escape(target, quote=True)}">{title}</a>'
        else:
            shown = f"{title} (location not linked: {html.escape(_cell(item.get('location')))})"
        items.append(f"<li>{html.escape(_cell(item.get('kind')))}: {shown}, sha256 <code>{html.escape(_cell(item.get('sha256')))}</code></li>")
    return ["<h2>Documents of the change</h2>", f"<ul>{''.join(items)}</ul>"]


def render_html(change_id: str, records: Sequence[Mapping[str, Any]], generated_at: str, chain: Verification | None = None) -> str:
    """One file, inline CSS, no scripts or external assets: it opens the same on an air-gapped auditor's laptop."""
    title = html.escape(f"Operations archive: change {change_id}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        f"<p>Generated {html.escape(generated_at)} from the opsgate.release operations archive.</p>",
        _html_pairs(_summary(change_id, records) + _chain_facts(chain)),
        *_html_documents(records),
    ]
    for number, record in enumerate(records, 1):
        status = str(record.get("status"))
        parts.append(
            f'<h2>{number}. {html.escape(run_kind(record))} — <span class="status-{html.escape(status)}">{html.escape(status)}</span>'
            f" — {html.escape(_cell(record.get('started')))}</h2>"
        )
        parts.append(_html_pairs(_run_facts(record)))
        parts.append(_html_hosts(record))
        parts.extend(_html_run_checks(record))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
