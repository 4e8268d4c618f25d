# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The change document in words an approver reads before signing (opsgate-approval request --change).

Also what differs from the release each host runs now: read from the hosts (release_info) when the
document is written, kept in a sidecar file next to it (FILE + RUNNING_SUFFIX) and never signed. It is
information for the approvers; the document alone decides what happens on a host.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import errors
from .change_document import change_digest, release_spec
from .identity import shown

RUNNING_TYPE = "opsgate.release/running"
RUNNING_SUFFIX = ".running.json"
RUNNING_KEYS = ("_type", "change_sha256", "hosts")
RUNNING_HEADING = "what differs from what runs now (read from the hosts when the change was written; not signed):"
# The marker keys a host entry of the change also has, in the entry's form (release_id is shown, change_id always differs).
_RUNNING_TEXT = ("app", "version", "artifact_sha256")
_RUNNING_COMPARED = (("service", "service"), ("health", "health check"), ("shared_paths", "shared paths"))
_REASON_LENGTH = 200

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


def summary_lines(document: Mapping[str, Any], running: Mapping[str, Any] | None = None) -> list[str]:
    """The document in words; with ``running`` (a checked sidecar), what differs from each host's release after it."""
    lines = _document_lines(document)
    if running is not None:
        lines.append(RUNNING_HEADING)
        lines.extend("  " + line for line in difference_lines(document, running))
    return lines


def _document_lines(document: Mapping[str, Any]) -> list[str]:
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
    lines.extend(_migration_lines(document.get("migrations")))
    lines.extend(_verify_lines(document.get("verify")))
    lines.extend(_documents_lines(document.get("documents")))
    return lines


def _printable(value: Any) -> str:
    """Text from the manifest as an approver's terminal shows it: control characters escaped, other scripts kept (a Chinese title)."""
    text = _text(value)
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


def _migration_lines(migrations: Mapping[str, Any] | None) -> list[str]:
    if not migrations:
        return ["database migrations: none"]
    database = migrations["database"]
    where = f"{database['host']}:{database['port']}" if database["host"] else f"the local socket on {_printable(database['run_on'])}"
    if migrations.get("restore_release_id"):
        # A rollback's: no step, the database put back to before the release the hosts leave.
        return [
            f"database restore on {_printable(database['run_on'])}: {database['kind']} database {_printable(database['name'])} "
            f"as {_printable(database['user'])} via {_printable(where)}, schemas {_printable(database['schemas'] or 'all')}: "
            f"put back to before release {_printable(migrations['restore_release_id'])} from its backup in {_printable(database['backup_dir'])} "
            "when that release applied migrations (data written since is lost), after every host rolled back",
        ]
    lines = [
        f"database migrations on {_printable(database['run_on'])}: {database['kind']} database {_printable(database['name'])} "
        f"as {_printable(database['user'])} via {_printable(where)}, schemas {_printable(database['schemas'] or 'all')}; "
        f"backed up to {_printable(database['backup_dir'])} before the first step",
    ]
    for step in migrations["steps"]:
        down = f"down yes (sha256 {step['down_sha256']})" if step["down_sha256"] else "down no"
        lines.append(f"migration {_printable(step['id'])} ({step['phase']}): sha256 {step['sha256']}, {down}")
    return lines


def _verify_lines(verify: Mapping[str, Any] | None) -> list[str]:
    if not verify:
        return ["verify suite: none"]
    name = _printable(verify["suite_name"])
    return [f"verify suite {name} sha256 {verify['suite_sha256']}, run against each host after its health check, timeout {verify['timeout']} s"]


def _documents_lines(documents: list[Mapping[str, Any]] | None) -> list[str]:
    if not documents:
        return ["documents: none"]
    return [f"document {item['kind']}: {_printable(item['title'])} at {_printable(item['location'])} sha256 {item['sha256']}" for item in documents]


def running_path(change_path: str) -> str:
    return change_path + RUNNING_SUFFIX


def _json_like(value: Any) -> Any:
    """Plain dicts, lists and str (a registered result arrives in Ansible's own types)."""
    if isinstance(value, Mapping):
        return {str(key): _json_like(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_like(item) for item in value]
    if isinstance(value, str):
        return str(value)
    return value


def _marker_release(marker: Mapping[str, Any]) -> dict[str, Any]:
    """The marker's keys that a host entry of the change also has, in the entry's form."""
    release: dict[str, Any] = {key: str(marker[key]) for key in _RUNNING_TEXT if marker.get(key) is not None}
    if isinstance(marker.get("artifacts"), list):
        release["artifacts"] = [
            {"name": str(item.get("name", "")), "sha256": str(item.get("sha256", "")).lower()} for item in marker["artifacts"] if isinstance(item, Mapping)
        ]
    if isinstance(marker.get("config_files"), list):
        # The marker keeps the sha256 of the content as written, which is the entry's content_sha256.
        release["config_files"] = [
            {"dest": str(item.get("dest", "")), "content_sha256": str(item.get("sha256", ""))} for item in marker["config_files"] if isinstance(item, Mapping)
        ]
    if isinstance(marker.get("shared_paths"), list):
        release["shared_paths"] = [str(item) for item in marker["shared_paths"]]
    if isinstance(marker.get("service"), Mapping):
        # The same shaping as the document's (the unit as its sha256), so equal services compare equal.
        release["service"] = _json_like(release_spec({"service": marker["service"]})["service"])
    if isinstance(marker.get("health"), Mapping):
        release["health"] = _json_like(marker["health"])
    return release


def running_entry(result: Any) -> dict[str, Any]:
    """One host's registered release_info result as a sidecar entry; ``known`` False when it could not be read."""
    if not isinstance(result, Mapping) or result.get("failed") or result.get("unreachable") or result.get("skipped") or "current" not in result:
        reason = str(result.get("msg") or "") if isinstance(result, Mapping) else ""
        return {"known": False, "reason": reason[:_REASON_LENGTH]}
    current = result.get("current")
    if not current:
        return {"known": True, "release_id": None}
    marker = result.get("current_marker")
    state = result.get("current_state")
    return {
        "known": True,
        "release_id": str(current),
        "state": None if state is None else str(state),
        "release": _marker_release(marker) if isinstance(marker, Mapping) else {},
    }


def running_document(document: Mapping[str, Any], entries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The sidecar: every host of the document (unknown where no entry), tied to the document by its sha256."""
    return {
        "_type": RUNNING_TYPE,
        "change_sha256": change_digest(document),
        "hosts": {str(name): _json_like(entries.get(name) or {"known": False, "reason": ""}) for name in sorted(document["hosts"])},
    }


def _refuse(source: str, message: str) -> errors.ApprovalError:
    return errors.ApprovalError(errors.CHANGE_INVALID, f"{source}: {message}")


def _check_running_entry(name: str, entry: Any, source: str) -> None:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("known"), bool):
        raise _refuse(source, f"hosts.{shown(name)} must be a mapping with known true or false")
    if not entry["known"]:
        if not isinstance(entry.get("reason", ""), str):
            raise _refuse(source, f"hosts.{shown(name)}.reason must be text")
        return
    if entry.get("release_id") is None:
        return
    if not isinstance(entry["release_id"], str) or not isinstance(entry.get("state"), str | None) or not isinstance(entry.get("release"), Mapping):
        raise _refuse(source, f"hosts.{shown(name)} must have release_id and state as text and release as a mapping")
    release = entry["release"]
    for key in _RUNNING_TEXT:
        if key in release and not isinstance(release[key], str):
            raise _refuse(source, f"hosts.{shown(name)}.release.{key} must be text")
    for key in ("artifacts", "config_files"):
        if key in release and not (isinstance(release[key], list) and all(isinstance(item, Mapping) for item in release[key])):
            raise _refuse(source, f"hosts.{shown(name)}.release.{key} must be a list of mappings")


def check_running(data: Any, document: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A sidecar as read from ``source``, for ``document`` (checked shape); anything else is an error naming the file."""
    if not isinstance(data, Mapping) or data.get("_type") != RUNNING_TYPE or set(data) != set(RUNNING_KEYS):
        raise _refuse(source, f"not a running-release file ({RUNNING_TYPE}) with exactly the keys {', '.join(RUNNING_KEYS)}")
    digest = change_digest(document)
    if data["change_sha256"] != digest:
        # A sidecar left from an earlier plan would describe another change.
        raise _refuse(source, f"was written for the change document with sha256 {shown(data['change_sha256'])}, not this one ({digest}): write the plan again")
    hosts = data["hosts"]
    if not isinstance(hosts, Mapping) or not set(hosts) <= set(document["hosts"]):
        raise _refuse(source, "hosts must be a mapping of the change document's hosts")
    for name, entry in hosts.items():
        _check_running_entry(name, entry, source)
    return _json_like(data)


def _config_differences(wanted: list[Mapping[str, Any]], running: list[Mapping[str, Any]]) -> list[str]:
    # The marker records the config files written into the release directory (relative dests) only.
    new = {item["dest"]: item.get("content_sha256") for item in wanted if not os.path.isabs(str(item["dest"]))}
    now = {item.get("dest"): item.get("content_sha256") for item in running}
    notes = []
    for dest in sorted(set(new) | set(now), key=str):
        if dest not in now:
            notes.append(f"config {shown(dest)} is new")
        elif dest not in new:
            notes.append(f"config {shown(dest)} is no longer written")
        elif new[dest] != now[dest]:
            notes.append(f"config {shown(dest)} differs")
    return notes


def _artifact_pairs(artifacts: list[Mapping[str, Any]]) -> list[tuple[Any, Any]]:
    return [(item.get("name"), item.get("sha256")) for item in artifacts]


def _release_differences(wanted: Mapping[str, Any], running: Mapping[str, Any]) -> list[str]:
    """What differs, comparing only the keys both the entry and the running release have."""
    notes = []
    if "artifact_sha256" in wanted and "artifact_sha256" in running and wanted["artifact_sha256"] != running["artifact_sha256"]:
        notes.append("artifact sha256 differs")
    elif "artifacts" in wanted and "artifacts" in running and _artifact_pairs(wanted["artifacts"]) != _artifact_pairs(running["artifacts"]):
        notes.append("artifacts differ")
    if "config_files" in wanted and "config_files" in running:
        notes.extend(_config_differences(wanted["config_files"], running["config_files"]))
    for key, label in _RUNNING_COMPARED:
        if key in wanted and key in running and wanted[key] != running[key]:
            notes.append(f"{label} differs")
    return notes


def _host_difference(name: str, document: Mapping[str, Any], entry: Mapping[str, Any] | None) -> str:
    if entry is None or not entry.get("known"):
        reason = entry.get("reason") if entry else ""
        return f"{shown(name)}: running release unknown" + (f" ({shown(reason)})" if reason else "")
    if entry.get("release_id") is None:
        return f"{shown(name)}: nothing running yet"
    running = entry.get("release") or {}
    state = entry.get("state") or "no ledger state"
    going = "back to " if document["action"] == "rollback" else ""
    now = f"now {shown(running.get('version', 'unknown version'))} (release {shown(entry['release_id'])}, {shown(state)})"
    line = f"{shown(name)}: {now} -> {going}{document['version']}"
    notes = _release_differences(document["hosts"][name]["release"], running)
    return "; ".join([line, *notes]) if notes else f"{line}; nothing else compared differs"


def difference_lines(document: Mapping[str, Any], running: Mapping[str, Any]) -> list[str]:
    """Per host of the document, what differs from the release it runs now (``running``: a checked sidecar)."""
    hosts = running.get("hosts") or {}
    return [_host_difference(name, document, hosts.get(name)) for name in sorted(document["hosts"])]
