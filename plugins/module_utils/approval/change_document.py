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
import posixpath
from collections.abc import Mapping
from typing import Any

from . import errors
from .canonical import canonical_json
from .identity import shown

try:
    from ..schema.engine import Field, Schema, collect
except ImportError:  # bin/opsgate-approval imports this package as plain "approval", next to "schema"
    from schema.engine import Field, Schema, collect  # type: ignore[no-redef]

CHANGE_TYPE = "opsgate.release/change"
# Keys added after documents were first signed (issue 15). Absent and None mean the same (none), and hash the
# same (change_digest), so a document written before them still verifies, and so does a token that signed it.
OPTIONAL_KEYS = ("migrations", "verify", "documents")
CHANGE_KEYS = ("_type", "action", "app", "version", "artifact_sha256", "change_id", "env", "hosts", "rollout", *OPTIONAL_KEYS)
HOST_KEYS = ("address", "release")

# The vocabulary the manifest, the change document and the policy's required_documents share.
DATABASE_KINDS = ("postgresql",)
MIGRATION_PHASES = ("expand", "contract")
DOCUMENT_KINDS = ("deployment_manual", "parameter_list", "backup_restore_guide", "handover_note", "test_report", "other")
DATABASE_KEYS = ("kind", "run_on", "name", "host", "port", "user", "os_user", "schemas", "backup_dir")
STEP_KEYS = ("id", "phase", "sha256", "down_sha256")
VERIFY_KEYS = ("suite_sha256", "suite_name", "timeout")
DOCUMENT_KEYS = ("kind", "title", "location", "sha256")

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


_HEX64 = r"[0-9a-f]{64}"
_DIGEST = Field("str", required=True, pattern=_HEX64, hint="64 lowercase hex characters")
_DATABASE_SPEC = Schema(
    {
        "kind": Field("str", required=True, choices=DATABASE_KINDS),
        "run_on": Field("str", required=True),
        "name": Field("str", required=True),
        "host": Field("str", required=True, allow_empty=True),
        "port": Field("int", required=True, minimum=1, maximum=65535),
        "user": Field("str", required=True),
        "os_user": Field("str", required=True),
        "schemas": Field("list", required=True, item=Field("str")),
        "backup_dir": Field("str", required=True),
    }
)
_STEP_SPEC = Schema(
    {
        "id": Field("str", required=True),
        "phase": Field("str", required=True, choices=MIGRATION_PHASES),
        "sha256": _DIGEST,
        # Empty: the step has no down-migration; a restore then uses the backup.
        "down_sha256": Field("str", required=True, allow_empty=True, pattern=f"({_HEX64})?", hint="64 lowercase hex characters, or empty"),
    }
)


def _steps_or_restore(migrations: dict[str, Any], path: str, issues: Any) -> None:
    """A release's migrations list its steps; a rollback's name the release whose migrations the database is put back
    from (``restore_release_id``: the release the hosts leave) and no step, since a rollback applies none."""
    if "restore_release_id" not in migrations and not migrations["steps"]:
        issues.add(f"{path}.steps", "must be a non-empty list", [])
    elif "restore_release_id" in migrations and migrations["steps"]:
        ids = [step.get("id") for step in migrations["steps"]]
        issues.add(f"{path}.steps", "must be empty when restore_release_id is given: a rollback applies no migration step", ids)


_MIGRATIONS_SPEC = Schema(
    {
        "database": Field("mapping", required=True, schema=_DATABASE_SPEC),
        "steps": Field("list", required=True, item=Field("mapping", schema=_STEP_SPEC)),
        # Only in a rollback's document (absent in a release's, so documents signed before it keep their digest).
        "restore_release_id": Field("str"),
    },
    checks=(_steps_or_restore,),
)
_VERIFY_SPEC = Schema({"suite_sha256": _DIGEST, "suite_name": Field("str", required=True), "timeout": Field("int", required=True, minimum=1)})
_DOCUMENTS_SPEC = Field(
    "list",
    min_items=1,
    item=Field(
        "mapping",
        schema=Schema(
            {
                "kind": Field("str", required=True, choices=DOCUMENT_KINDS),
                "title": Field("str", required=True),
                "location": Field("str", required=True),
                "sha256": _DIGEST,
            }
        ),
    ),
)
_OPTIONAL_SPECS: dict[str, Any] = {"migrations": _MIGRATIONS_SPEC, "verify": _VERIFY_SPEC, "documents": _DOCUMENTS_SPEC}


def _checked(key: str, value: Any) -> Any:
    """``value`` in the document's form for ``key``, or CHANGE_INVALID listing every problem with its key path."""
    normalised, issues = collect(_OPTIONAL_SPECS[key], value, f"change.{key}")
    if issues:
        raise errors.ApprovalError(errors.CHANGE_INVALID, "; ".join(str(issue) for issue in issues))
    return normalised


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _none(value: Any) -> bool:
    return value is None or (isinstance(value, (Mapping, list, tuple)) and not value)


def migrations_spec(value: Any) -> dict[str, Any] | None:
    """The document form of a release's migrations: the manifest's (files with their sha256, ``down: {file, sha256}``)
    or a document's own (``down_sha256``); None when there are none. File paths stay out: they are the controller's."""
    if _none(value):
        return None
    if not isinstance(value, Mapping):
        raise errors.ApprovalError(errors.CHANGE_INVALID, f"change.migrations must be a mapping with database and steps, got {type(value).__name__}")
    database = value.get("database")
    steps = value.get("steps")
    spec: dict[str, Any] = {
        "database": {key: _plain(database[key]) for key in DATABASE_KEYS if key in database} if isinstance(database, Mapping) else database,
        "steps": steps,
    }
    if value.get("restore_release_id") is not None:
        # A rollback's: the database goes back to before this release (see _steps_or_restore).
        spec["restore_release_id"] = value["restore_release_id"]
    if isinstance(steps, (list, tuple)):
        spec["steps"] = []
        for step in steps:
            if not isinstance(step, Mapping):
                spec["steps"].append(step)  # refused below, with its key path
                continue
            if "down" in step:  # the manifest's form: a mapping with file and sha256, or null
                down = step["down"]
                down_sha256 = down.get("sha256") if isinstance(down, Mapping) else ""
            else:
                down_sha256 = step.get("down_sha256", "")
            spec["steps"].append(
                {"id": step.get("id"), "phase": step.get("phase"), "sha256": _lower(step.get("sha256")), "down_sha256": _lower(down_sha256 or "")}
            )
    return _checked("migrations", _plain(spec))


def verify_spec(value: Any) -> dict[str, Any] | None:
    """The document form of a release's verify suite: the manifest's (``suite`` path, ``sha256``) or a document's own; None when none."""
    if _none(value):
        return None
    if not isinstance(value, Mapping):
        raise errors.ApprovalError(errors.CHANGE_INVALID, f"change.verify must be a mapping with the suite's sha256, got {type(value).__name__}")
    if "suite" in value:
        suite = value.get("suite")
        # The name only: which suite it was, for the approvers and the archive; the digest binds it.
        spec = {"suite_sha256": _lower(value.get("sha256")), "suite_name": posixpath.basename(suite) if isinstance(suite, str) else suite}
    else:
        spec = {"suite_sha256": _lower(value.get("suite_sha256")), "suite_name": value.get("suite_name")}
    spec["timeout"] = value.get("timeout")
    return _checked("verify", _plain({key: spec[key] for key in VERIFY_KEYS}))


def documents_spec(value: Any) -> list[dict[str, Any]] | None:
    """The document form of the documents handed over with a release; None when none."""
    if _none(value):
        return None
    if not isinstance(value, (list, tuple)):
        raise errors.ApprovalError(errors.CHANGE_INVALID, f"change.documents must be a list of documents, got {type(value).__name__}")
    spec = [
        {key: _lower(item.get(key)) if key == "sha256" else item.get(key) for key in DOCUMENT_KEYS} if isinstance(item, Mapping) else item for item in value
    ]
    return _checked("documents", _plain(spec))


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
    migrations: Mapping[str, Any] | None = None,
    verify: Mapping[str, Any] | None = None,
    documents: list[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The change document; ``hosts`` maps each host name to ``{address, inputs}`` (the step inputs of that host).

    ``migrations``, ``verify`` and ``documents`` are the release's (manifest form, see migrations_spec); they enter the
    document as digests and ids, the same for every host, so the approvers sign them with the rest.
    """
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
            "migrations": migrations_spec(migrations),
            "verify": verify_spec(verify),
            "documents": documents_spec(documents),
        }
    )
    change_digest(document)  # refuse now what could not be hashed later
    return document


def change_digest(document: Mapping[str, Any]) -> str:
    plain = _plain(document)
    if isinstance(plain, dict):
        # None and absent are one change (OPTIONAL_KEYS): a token that signed a document from before these keys still matches.
        plain = {key: value for key, value in plain.items() if not (key in OPTIONAL_KEYS and value is None)}
    try:
        return hashlib.sha256(canonical_json(plain)).hexdigest()
    except ValueError as exc:
        raise errors.ApprovalError(errors.CHANGE_INVALID, f"the change document cannot be hashed: {exc}") from None


def check_shape(document: Any) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        raise errors.ApprovalError(errors.CHANGE_INVALID, f"the change document must be a mapping, got {type(document).__name__}")
    document = _plain(document)
    required = set(CHANGE_KEYS) - set(OPTIONAL_KEYS)
    if document.get("_type") != CHANGE_TYPE or not required <= set(document) <= set(CHANGE_KEYS):
        raise errors.ApprovalError(
            errors.CHANGE_INVALID,
            f"the change document must be a {CHANGE_TYPE} with exactly the keys {', '.join(CHANGE_KEYS)} "
            f"({', '.join(OPTIONAL_KEYS)} may be absent in a document written before them), got {sorted(document)}",
        )
    for key in OPTIONAL_KEYS:
        # Missing is none (a document from before these keys); present, it must be in the document's own form.
        document[key] = None if document.get(key) is None else _checked(key, document[key])
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
