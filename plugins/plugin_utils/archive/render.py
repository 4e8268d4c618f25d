# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the runs of one change for an auditor: Markdown, or one self-contained HTML page."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .query import run_kind

if TYPE_CHECKING:
    from .chain import Verification

_HOST_COLUMNS = ("host", "result", "version before", "version after", "rolled back", "failed gate")


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


def render_markdown(change_id: str, records: Sequence[Mapping[str, Any]], generated_at: str, chain: Verification | None = None) -> str:
    lines = [f"# Operations archive: change {change_id}", "", f"Generated {generated_at} from the opsgate.release operations archive.", ""]
    lines += _md_table(("", ""), _summary(change_id, records) + _chain_facts(chain))
    for number, record in enumerate(records, 1):
        lines += ["", f"## {number}. {run_kind(record)} — {_cell(record.get('status'))} — {_cell(record.get('started'))}", ""]
        lines += _md_table(("field", "value"), _run_facts(record))
        lines += [""]
        lines += _md_table(_HOST_COLUMNS, _host_rows(record))
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eee}
.status-success{color:#176f2c;font-weight:bold}
.status-failed,.status-interrupted{color:#a40e0e;font-weight:bold}
.rolled-back{background:#fff4d6}
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
    ]
    for number, record in enumerate(records, 1):
        status = str(record.get("status"))
        parts.append(
            f'<h2>{number}. {html.escape(run_kind(record))} — <span class="status-{html.escape(status)}">{html.escape(status)}</span>'
            f" — {html.escape(_cell(record.get('started')))}</h2>"
        )
        parts.append(_html_pairs(_run_facts(record)))
        parts.append(_html_hosts(record))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
