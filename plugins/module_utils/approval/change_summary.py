# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The change document in words an approver reads before signing (opsgate-approval request --change)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .change_document import change_digest

# Shown once when every host has the same value, else per host.
_SHOWN = (
    ("base_dir", "release directory"),
    ("owner", "owner"),
    ("group", "group"),
    ("dir_mode", "directory mode"),
    ("file_mode", "file mode"),
    ("config_mode", "config mode"),
    ("shared_paths", "shared paths"),
    ("backup_paths", "backed up before any hook"),
    ("after_stage", "hook after_stage (runs as root)"),
    ("before_switch", "hook before_switch (runs as root)"),
    ("service", "service"),
    ("health", "health check"),
    ("keep_releases", "releases kept"),
)


_MODES = {"dir_mode", "file_mode", "config_mode"}


def _mode(value: Any) -> str:
    return f"{value:04o}" if isinstance(value, int) and not isinstance(value, bool) else _text(value)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value) if value else "none"
    if isinstance(value, Mapping):
        return "; ".join(f"{key}={_text(item)}" for key, item in sorted(value.items())) or "none"
    return "none" if value in (None, "") else str(value)


def summary_lines(document: Mapping[str, Any]) -> list[str]:
    hosts = document["hosts"]
    releases = {name: entry["release"] for name, entry in hosts.items()}
    lines = [
        f"change {document['change_id']}: {document['action']} {document['app']} {document['version']} to {document['env']}",
        f"change document sha256 {change_digest(document)} (the token's change_sha256)",
        f"artifact digest {document['artifact_sha256']}",
        f"hosts ({len(hosts)}): " + ", ".join(f"{name} at {entry['address']}" for name, entry in sorted(hosts.items())),
    ]
    first = next(iter(releases.values()))
    for artifact in first.get("artifacts", []):
        lines.append(f"artifact {artifact['name']} sha256 {artifact['sha256']} into {artifact['dest']}{' (unpacked)' if artifact['unpack'] else ''}")
    for key, label in _SHOWN:
        values = {name: release.get(key) for name, release in releases.items() if key in release}
        if not values:
            continue
        distinct = {repr(value) for value in values.values()}
        if len(distinct) == 1:
            shown = _mode if key in _MODES else _text
            lines.append(f"{label}: {shown(next(iter(values.values())))}")
        else:
            shown = _mode if key in _MODES else _text
            lines.extend(f"{label} on {name}: {shown(value)}" for name, value in sorted(values.items()))
    for name, release in sorted(releases.items()):
        for item in release.get("config_files", []):
            lines.append(f"config {item['dest']} on {name}: sha256 {item['content_sha256']}{' mode ' + _mode(item['mode']) if item.get('mode') else ''}")
    if document.get("rollout"):
        lines.append(f"rollout plan: {_text(document['rollout'])}")
    return lines
