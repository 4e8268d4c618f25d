# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The change document: everything that decides what happens on each host, under one digest.

The token's ``change_sha256`` claim is the sha256 of the canonical JSON of this document, so the
approvers sign, through one hash, every host's release: base_dir, artifacts and digests, the sha256
of every rendered config file and service unit, hooks, service, health check, backup paths,
owner/group/modes, retention, the address each host is reached at, and the rollout plan.

Config contents are kept as their sha256 (they may hold secrets and the document goes to every
host); the host hashes what it is asked to write and compares. The same function
(``release_spec``) turns the release steps' inputs into a host's entry on the controller, when the
document is built, and turns the step's arguments into the same form on the host, when it is
checked: there is one definition of "what the change says".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from . import errors
from .canonical import canonical_json
from .identity import shown

CHANGE_TYPE = "opsgate.release/change"
CHANGE_KEYS = ("_type", "action", "app", "version", "artifact_sha256", "change_id", "env", "hosts", "rollout")
HOST_KEYS = ("address", "release")

# What a host's entry binds, per step input. Inputs not listed here are the step's own bookkeeping
# (mode, event, note, target_release_id, who, token_id) and are checked by the step itself.
RELEASE_KEYS = (
    "host",
    "base_dir",
    "release_id",
    "app",
    "version",
    "artifact_sha256",
    "change_id",
    "artifacts",
    "config_files",
    "shared_paths",
    "owner",
    "group",
    "dir_mode",
    "file_mode",
    "config_mode",
    "service",
    "health",
    "after_stage",
    "before_switch",
    "backup_paths",
    "keep_releases",
)
_MODE_KEYS = ("dir_mode", "file_mode", "config_mode")
_TEXT_LIST_KEYS = ("shared_paths", "after_stage", "before_switch", "backup_paths")
_TEXT_KEYS = ("host", "base_dir", "release_id", "app", "version", "artifact_sha256", "change_id", "owner", "group")


def _sha256_text(text: Any) -> str:
    return hashlib.sha256(str(text or "").encode("utf-8")).hexdigest()


def _mode(value: Any, key: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise errors.ApprovalError(errors.CHANGE_INVALID, f"release.{key} must be an octal mode, got {value!r}")
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        raise errors.ApprovalError(errors.CHANGE_INVALID, f"release.{key} must be an octal mode, got {value!r}") from None


def _config_files(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise errors.ApprovalError(errors.CHANGE_INVALID, f"release.config_files must be a list, got {type(value).__name__}")
    files = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping) or "dest" not in item:
            raise errors.ApprovalError(errors.CHANGE_INVALID, f"release.config_files[{index}] must be a mapping with dest")
        files.append(
            {
                "dest": str(item["dest"]),
                "mode": _mode(item.get("mode"), f"config_files[{index}].mode"),
                # The content itself stays out of the document: it may hold secrets, and every host sees the document.
                "content_sha256": item["content_sha256"] if "content_sha256" in item else _sha256_text(item.get("content")),
            }
        )
    return files


def _artifacts(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise errors.ApprovalError(errors.CHANGE_INVALID, f"release.artifacts must be a list, got {type(value).__name__}")
    result = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise errors.ApprovalError(errors.CHANGE_INVALID, f"release.artifacts[{index}] must be a mapping")
        # Where the bytes come from (src, url, a transferred local_path) does not matter: the host checks their sha256.
        result.append(
            {
                "name": str(item.get("name", "")),
                "sha256": str(item.get("sha256", "")).lower(),
                "dest": str(item.get("dest", ".")),
                "unpack": bool(item.get("unpack", True)),
            }
        )
    return result


def _service(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise errors.ApprovalError(errors.CHANGE_INVALID, f"release.service must be a mapping, got {type(value).__name__}")
    service = {str(key): item for key, item in value.items() if key != "unit"}
    if "unit" in value:
        service["unit_sha256"] = _sha256_text(value.get("unit"))
    return service


def release_spec(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The document form of the release inputs given (a step's arguments or all of a host's step inputs).

    Only the keys present in ``inputs`` appear, so a step's arguments give the part of the entry that step applies.
    """
    spec: dict[str, Any] = {}
    for key in RELEASE_KEYS:
        if key not in inputs:
            continue
        value = inputs[key]
        if key in _TEXT_KEYS:
            spec[key] = "" if value is None else str(value)
        elif key in _MODE_KEYS:
            spec[key] = _mode(value, key)
        elif key in _TEXT_LIST_KEYS:
            if not isinstance(value, list):
                raise errors.ApprovalError(errors.CHANGE_INVALID, f"release.{key} must be a list, got {value!r}")
            spec[key] = [str(item) for item in value]
        elif key == "config_files":
            spec[key] = _config_files(value)
        elif key == "artifacts":
            spec[key] = _artifacts(value)
        elif key == "service":
            spec[key] = _service(value)
        elif key == "keep_releases":
            try:
                spec[key] = int(value)
            except (TypeError, ValueError):
                raise errors.ApprovalError(errors.CHANGE_INVALID, f"release.keep_releases must be an integer, got {value!r}") from None
        else:
            spec[key] = value
    return spec


def _plain(value: Any) -> Any:
    """Mappings and sequences as dicts and lists (Ansible hands over its own container types)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # canonical JSON has no floats; the rollout plan may give a ratio
    return value


def build_change(
    *,
    action: str,
    app: str,
    version: str,
    artifact_sha256: str,
    change_id: str,
    env: str,
    hosts: Mapping[str, Mapping[str, Any]],
    rollout: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The change document; ``hosts`` maps each host name to ``{address, inputs}`` (the step inputs of that host)."""
    entries = {}
    for name in sorted(hosts):
        host = hosts[name]
        inputs = dict(host.get("inputs") or {})
        inputs["host"] = name
        entries[str(name)] = {"address": str(host.get("address") or name), "release": release_spec(inputs)}
    document = _plain(
        {
            "_type": CHANGE_TYPE,
            "action": str(action),
            "app": str(app),
            "version": str(version),
            "artifact_sha256": str(artifact_sha256),
            "change_id": str(change_id),
            "env": str(env),
            "hosts": entries,
            "rollout": rollout or None,
        }
    )
    change_digest(document)  # refuse now what could not be hashed later
    return document


def change_digest(document: Mapping[str, Any]) -> str:
    try:
        return hashlib.sha256(canonical_json(_plain(document))).hexdigest()
    except ValueError as exc:
        raise errors.ApprovalError(errors.CHANGE_INVALID, f"the change document cannot be hashed: {exc}") from None


def check_shape(document: Any) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        raise errors.ApprovalError(errors.CHANGE_INVALID, f"the change document must be a mapping, got {type(document).__name__}")
    document = _plain(document)
    if document.get("_type") != CHANGE_TYPE or set(document) != set(CHANGE_KEYS):
        raise errors.ApprovalError(
            errors.CHANGE_INVALID, f"the change document must be a {CHANGE_TYPE} with exactly the keys {', '.join(CHANGE_KEYS)}, got {sorted(document)}"
        )
    hosts = document["hosts"]
    if not isinstance(hosts, dict) or not hosts:
        raise errors.ApprovalError(errors.CHANGE_INVALID, "change.hosts must be a non-empty mapping of host names")
    for name, entry in hosts.items():
        if not isinstance(entry, dict) or set(entry) != set(HOST_KEYS) or not isinstance(entry["release"], dict):
            raise errors.ApprovalError(errors.CHANGE_INVALID, f"change.hosts.{shown(name)} must have exactly address and release")
    return document


def check_change_matches_claims(document: Any, claims: Any) -> str:
    """The document is the one the token signs (``change_sha256``) and says what the token says. Returns the digest."""
    document = check_shape(document)
    approved = getattr(claims, "change_sha256", None)
    if not approved:
        raise errors.ApprovalError(
            errors.CHANGE_NOT_BOUND,
            f"token {claims.token_id} binds no change document (no change_sha256): request it with "
            "opsgate-approval request --change FILE, from the change the playbook writes (docs/approvals.md 'The change document')",
        )
    digest = change_digest(document)
    if digest != approved:
        raise errors.ApprovalError(
            errors.CHANGE_MISMATCH,
            f"the change of this run (sha256 {digest}) is not the change the approvers signed (sha256 {approved}): "
            "something that decides what happens on a host (manifest, config, hooks, hosts, addresses, rollout plan) differs "
            "from what was requested; write the plan again (docs/approvals.md 'The change document') and compare it with the signed one",
        )
    for key in ("action", "app", "version", "artifact_sha256", "change_id", "env"):
        if document[key] != getattr(claims, key):
            raise errors.ApprovalError(errors.CHANGE_MISMATCH, f"change.{key} is {shown(document[key])!r}, the token approves {shown(getattr(claims, key))!r}")
    if sorted(document["hosts"]) != sorted(claims.hosts):
        raise errors.ApprovalError(errors.CHANGE_MISMATCH, "change.hosts are not the token's hosts")
    return digest


def check_step(document: Mapping[str, Any], host: str, address: str | None, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """What a step is asked to apply on ``host`` must be that host's entry of the change, key by key.

    ``address`` None skips the address comparison (a host that does not know the address it is reached at).
    Returns the host's entry.
    """
    entry = document["hosts"].get(host)
    if entry is None:
        raise errors.ApprovalError(
            errors.CHANGE_HOST_NOT_IN_CHANGE,
            f"{shown(host)} is not a host of change {shown(document.get('change_id'))} (approved: {', '.join(sorted(document['hosts']))})",
        )
    if address is not None and entry["address"] != address:
        raise errors.ApprovalError(
            errors.CHANGE_ADDRESS_MISMATCH,
            f"{shown(host)} is reached at {shown(address)!r}, the approved change reaches it at {shown(entry['address'])!r}",
        )
    asked = release_spec({**arguments, "host": host})
    approved = entry["release"]
    for key, value in asked.items():
        if key not in approved:
            raise errors.ApprovalError(errors.CHANGE_STEP_MISMATCH, f"{shown(host)}: release.{key} is not part of the approved change")
        if value != approved[key]:
            raise errors.ApprovalError(
                errors.CHANGE_STEP_MISMATCH,
                f"{shown(host)}: release.{key} differs from the approved change (asked {_brief(value)}, approved {_brief(approved[key])})",
            )
    return entry


def _brief(value: Any) -> str:
    text = canonical_json(value).decode("utf-8") if not isinstance(value, str) else repr(value)
    return text if len(text) <= 160 else text[:157] + "..."
