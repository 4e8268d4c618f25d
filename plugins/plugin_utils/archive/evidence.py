# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The evidence bundle of one change: its records, their entries, approvals, readiness, reports and the chain's verification.

Deterministic: the same archive gives the same bytes (sorted names, JSON with sorted keys, a tar
with fixed mtime, owner and mode, gzip without a name or time), so an auditor can make it again
and compare digests. Nothing in it depends on when or where it was made except the archive
itself and the report files it names (read as found at export time; the manifest gives their
sha256, the chain does not cover them). The attachments the records name (each host's JUnit
report) come from the store, under ``verify/NNN-<run_id>/<host>.junit.xml``: the chain covers them.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .attachments import stored_references
from .chain import Entry, Verification
from .query import run_kind
from .render import render_markdown
from .store import StoredRecord

BUNDLE_FORMAT = "opsgate.release.evidence/1"
FILE_MODE = 0o644
_MAX_REPORT_FILE = 32 * 1024 * 1024
_APPROVAL_FIELDS = (
    "token_id",
    "token_sha256",
    "change_sha256",
    "change_id",
    "kind",
    "system_class",
    "signer_roles",
    "signers",
    "hosts",
    "not_after",
    "consumed",
    "resumed",
    "outcome",
    "incident_id",
    "ratify_by",
)


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _safe(name: str) -> str:
    return "".join(char if char.isalnum() or char in "._-" else "_" for char in name) or "_"


def _attachment_path(name: str, prefix: str, taken: Mapping[str, bytes], digest: str) -> str:
    """``verify/web1.junit.xml`` of run 001 -> ``verify/001-<run_id>/web1.junit.xml``: one folder per run, as for reports."""
    folder, _slash, base = name.rpartition("/")
    parts = [_safe(part) for part in (folder or "attachments", base)]
    # Never "." or ".." as a name in a tar an auditor extracts.
    folder, base = ("_" + part if part.startswith(".") else part for part in parts)
    path = f"{folder}/{prefix}/{base}"
    # Two names that differ only in characters a file name cannot hold: the digest tells them apart.
    return f"{folder}/{prefix}/{digest[:12]}-{base}" if path in taken else path


def _attachment_files(record: Mapping[str, Any], prefix: str, texts: Mapping[str, str], files: dict[str, bytes]) -> list[dict[str, Any]]:
    """Adds the run's attachments to ``files``; returns what the manifest says of each (a missing one has no file)."""
    listed = []
    for item in stored_references(record):
        digest = str(item["sha256"])
        text = texts.get(digest)
        entry: dict[str, Any] = {"name": item.get("name"), "host": item.get("host"), "sha256": digest, "found": text is not None, "file": None}
        if text is not None:
            data = text.encode("utf-8")
            path = _attachment_path(str(item.get("name") or digest), prefix, files, digest)
            files[path] = data
            entry.update(file=path, matches=hashlib.sha256(data).hexdigest() == digest)
        listed.append(entry)
    return listed


def _report_dirs(record: Mapping[str, Any]) -> list[str]:
    found = []
    for section in ("preflight", "readiness"):
        value = record.get(section)
        directory = value.get("report_dir") if isinstance(value, Mapping) else None
        if isinstance(directory, str) and directory and directory not in found:
            found.append(directory)
    return found


def _report_files(directory: str) -> dict[str, bytes]:
    """Regular files under ``directory`` (no symbolic links followed), by relative path."""
    files: dict[str, bytes] = {}
    for current, folders, names in os.walk(directory, followlinks=False):
        folders.sort()
        for name in sorted(names):
            path = os.path.join(current, name)
            if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > _MAX_REPORT_FILE:
                continue
            with open(path, "rb") as handle:
                files[os.path.relpath(path, directory).replace(os.sep, "/")] = handle.read()
    return files


def evidence_files(
    change_id: str,
    records: Sequence[StoredRecord],
    entries: Sequence[Entry],
    verification: Verification,
    store_location: str,
    attachments: Mapping[str, str] | None = None,
) -> dict[str, bytes]:
    """Every file of the bundle by name; MANIFEST.json lists the others with their sha256.

    ``attachments``: sha256 -> stored text of the attachments the records name (store.read_attachments).
    """
    files: dict[str, bytes] = {}
    kept: dict[str, Any] = {}
    plain = [stored.record for stored in records]
    runs = []
    approvals = []
    readiness = []
    reports: dict[str, Any] = {}
    for number, stored in enumerate(records, 1):
        record = stored.record
        run_id = str(record["run_id"])
        prefix = f"{number:03d}-{_safe(run_id)}"
        files[f"records/{prefix}.json"] = _json(record)
        listed = _attachment_files(record, prefix, attachments or {}, files)
        if listed:
            kept[run_id] = listed
        runs.append(
            {
                "run_id": run_id,
                "kind": run_kind(record),
                "status": record.get("status"),
                "started": record.get("started"),
                "ended": record.get("ended"),
                "record_seq": stored.seq,
                "record_entry_hash": stored.entry_hash,
                "entries": [{"seq": e.seq, "entry_hash": e.entry_hash, "written_at": e.written_at} for e in entries if e.run_id == run_id],
            }
        )
        approval = record.get("approval") if isinstance(record.get("approval"), Mapping) else {}
        approvals.append(
            {
                "run_id": run_id,
                "token_id": record.get("token_id"),
                "approval": {key: approval[key] for key in _APPROVAL_FIELDS if key in approval},
                "approval_error": record.get("approval_error"),
            }
        )
        preflight = record.get("preflight") if isinstance(record.get("preflight"), Mapping) else {}
        readiness.append({"run_id": run_id, "kind": run_kind(record), "preflight_summary": preflight.get("summary"), "readiness": record.get("readiness")})
        for index, directory in enumerate(_report_dirs(record), 1):
            if not os.path.isdir(directory):
                reports.setdefault(run_id, []).append({"report_dir": directory, "found": False})
                continue
            found = _report_files(directory)
            base = f"reports/{prefix}/{index}"
            for relative, data in found.items():
                files[f"{base}/{relative}"] = data
            reports.setdefault(run_id, []).append({"report_dir": directory, "found": True, "files": sorted(f"{base}/{name}" for name in found)})
    files["entries.json"] = _json([entry.as_dict() for entry in entries])
    files["approvals.json"] = _json(approvals)
    files["readiness.json"] = _json(readiness)
    files["verification.json"] = _json(verification.as_dict())
    head = verification.head
    generated = f"archive head {head.text()}" if head else "an empty archive"
    files["report.md"] = render_markdown(change_id, plain, generated, chain=verification).encode("utf-8")
    manifest = {
        "format": BUNDLE_FORMAT,
        "change_id": change_id,
        "archive": {"store": store_location, "head": head.as_dict() if head else None, "verified": verification.ok},
        "runs": runs,
        "reports": reports,
        "attachments": kept,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    files["MANIFEST.json"] = _json(manifest)
    return files


def _epoch(text: str | None) -> int:
    if not text:
        return 0
    try:
        return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
    except ValueError:
        return 0


def tar_bundle(files: Mapping[str, bytes], mtime_of: str | None) -> bytes:
    """A gzipped tar: sorted names, every member mode 0644, uid/gid 0, no owner names, one mtime; gzip with mtime 0 and no name."""
    mtime = _epoch(mtime_of)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = mtime
            info.mode = FILE_MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as stream:
        stream.write(raw.getvalue())
    return packed.getvalue()


def json_bundle(files: Mapping[str, bytes]) -> bytes:
    """One JSON document: each file as text (UTF-8) or, if it is not text, base64."""
    out: dict[str, Any] = {}
    for name in sorted(files):
        data = files[name]
        try:
            out[name] = {"text": data.decode("utf-8")}
        except UnicodeDecodeError:
            out[name] = {"base64": base64.b64encode(data).decode("ascii")}
    return _json({"format": BUNDLE_FORMAT, "files": out})
