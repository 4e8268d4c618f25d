# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``opsgate_release``: what to deploy, validated on the controller before any host is contacted.

Every error is reported, each with its key path (``opsgate_release.artifacts[1].sha256``) and the value found.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import DATABASE_KINDS, DOCUMENT_KINDS, MIGRATION_PHASES
from ansible_collections.opsgate.release.plugins.module_utils.release.health_condition import HealthConditionError, compile_condition, lookup_path
from ansible_collections.opsgate.release.plugins.module_utils.schema.engine import Field, Issues, Schema, SchemaError, SchemaIssue, collect

MANIFEST_VAR = "opsgate_release"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_TEXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@:-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MODE = re.compile(r"0?[0-7]{3,4}")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_UNIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")
_STEP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# PostgreSQL identifiers are at most 63 bytes; no quoting, no blanks: they are handed to psql/pg_dump as arguments.
_DB_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.$-]{0,62}")
_OS_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")
_NO_BLANKS = re.compile(r"\S+")
_SHA256_HINT = "64 hex characters (sha256sum of the file)"
DEFAULT_BACKUP_DIR = "/var/backups/opsgate"
DEFAULT_VERIFY_TIMEOUT = 300

_TOP = {
    "app": "the application name",
    "version": "the version",
    "change_id": "the change this release belongs to",
    "env": "the environment",
    "base_dir": "where releases/, shared/ and current live",
    "artifacts": "files to deploy, each with its sha256",
    "config_files": "templates rendered into the release",
    "shared_paths": "paths linked to shared/",
    "backup_paths": "host paths backed up before the switch",
    "owner": "owner of the files",
    "group": "group of the files",
    "dir_mode": "mode of directories",
    "file_mode": "mode of files",
    "config_mode": "mode of rendered config files",
    "service": "how the application runs",
    "health": "how to tell it works",
    "hooks": "commands run during the deploy",
    "keep_releases": "how many good releases to keep",
    "migrations": "database migration steps, each file with its sha256, and the database they run against",
    "verify": "a testinfra suite run against each host once it is healthy",
    "documents": "documents handed over with the release, each with its sha256",
}
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.xz", ".tar.bz2")


class ManifestError(SchemaError):
    """Every problem of a manifest, one per line; ``path`` is the first one's key path."""

    def __init__(self, path: str | list[SchemaIssue], message: str = "") -> None:
        super().__init__([SchemaIssue(path, message)] if isinstance(path, str) else path)


@dataclass(frozen=True)
class Manifest:
    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


def _inside_release(text: str) -> str | None:
    if os.path.isabs(text) or os.path.normpath(text).startswith(".."):
        return "must be a path inside the release directory"
    return None


def _health_condition(text: str) -> str | None:
    # The gate evaluates the condition on the host without a jmespath library: refuse here what it cannot evaluate.
    try:
        compile_condition(text)
    except HealthConditionError as exc:
        return str(exc)
    return None


def _key_path(text: str) -> str | None:
    try:
        lookup_path({}, text)
    except HealthConditionError as exc:
        return str(exc)
    return None


def _absolute(text: str) -> str | None:
    return None if os.path.isabs(text) else "must be an absolute path"


def _config_dest(text: str) -> str | None:
    # Absolute: a file outside the release (/etc/app/x.conf); relative: inside it, never above it.
    return None if os.path.isabs(text) else _inside_release(text)


def _base_dir(text: str) -> str | None:
    return None if os.path.isabs(text) and os.path.normpath(text) != "/" else "must be an absolute path other than /"


def _artifact_name(artifact: dict[str, Any]) -> str:
    source = artifact.get("src") or artifact.get("url") or ""
    return artifact.get("name") or os.path.basename(source.split("?")[0])


def _artifact_rules(artifact: dict[str, Any], path: str, issues: Issues) -> None:
    if ("src" in artifact) == ("url" in artifact):
        issues.add(path, "needs exactly one of src (a file on the controller) or url")
        return
    name = _artifact_name(artifact)
    if "name" not in artifact and not re.fullmatch(_FILE_NAME.pattern, name):
        issues.add(f"{path}.name", "must be a file name (none given, and the source does not end in one)", name)


def _service_rules(service: dict[str, Any], path: str, issues: Issues) -> None:
    if service["type"] != "none" and "start" not in service:
        issues.add(f"{path}.start", f"is required for a {service['type']} service (the command that starts the application)")


def _health_type(health: dict[str, Any]) -> str | None:
    return health.get("type", "http" if "url" in health else "command" if "command" in health else None)


def _health_rules(health: dict[str, Any], path: str, issues: Issues) -> None:
    kind = _health_type(health)
    if kind is None:
        issues.add(f"{path}.type", "must be http, command or none (or give url or command)")
    elif kind == "http" and "url" not in health:
        issues.add(f"{path}.url", "is required for an http health check")
    elif kind == "command" and "command" not in health:
        issues.add(f"{path}.command", "is required for a command health check")


def _mode(default: int | None = None) -> Field:
    return Field("str", pattern=_MODE.pattern, hint='an octal mode in quotes like "0640"', normalize=lambda text: int(text, 8), default=default)


def _commands() -> Field:
    return Field("list", hint="a list of commands", item=Field("str"), default=list)


_ARTIFACT = Schema(
    {
        "name": Field("str", pattern=_FILE_NAME.pattern, hint="a file name"),
        "src": Field("str"),
        "url": Field("str", pattern=r"(https?|file)://.*", hint="an http(s):// or file:// URL"),
        "sha256": Field(
            "str", required=True, doc="the sha256sum of the artifact", pattern=r"[0-9a-fA-F]{64}", hint="64 hex characters (sha256sum of the artifact)"
        ),
        "dest": Field("str", default=".", check=_inside_release),
        "unpack": Field("bool"),
    },
    checks=(_artifact_rules,),
)
_CONFIG = Schema(
    {
        "src": Field("str", required=True, doc="the template on the controller"),
        "dest": Field("str", required=True, doc="where the rendered file goes", check=_config_dest),
        "mode": _mode(),
    }
)
_SERVICE = Schema(
    {
        "type": Field("str", choices=("systemd", "command", "none"), default="systemd"),
        "name": Field("str", pattern=_UNIT_NAME.pattern, hint="a unit name"),
        "start": Field("str"),
        "stop": Field("str", default=""),
        "user": Field("str", default=""),
        "group": Field("str", default=""),
        "environment": Field(
            "mapping", key_pattern=r"[A-Za-z_][A-Za-z0-9_]*", key_hint="a shell variable name", values=Field("str", allow_empty=True), default=dict
        ),
        "stop_timeout": Field("int", minimum=1, maximum=600, default=10),
    },
    checks=(_service_rules,),
)
_HEALTH = Schema(
    {
        "type": Field("str", choices=("http", "command", "none")),
        "url": Field("str", pattern=r"https?://.*", hint="an http(s):// URL"),
        "status": Field("int", minimum=100, maximum=599, default=200),
        "jmespath": Field("str", default="", check=lambda text: _health_condition(text) if text else None),
        "version_field": Field("str", default="", check=lambda text: _key_path(text) if text else None),
        "command": Field("str"),
        "retries": Field("int", minimum=1, maximum=1000, default=10),
        "interval": Field("int", minimum=0, maximum=3600, default=2),
        "timeout": Field("int", minimum=1, maximum=600, default=5),
        "start_delay": Field("int", minimum=0, maximum=3600, default=0),
    },
    checks=(_health_rules,),
)


def _sha256(doc: str) -> Field:
    return Field("str", required=True, doc=doc, pattern=r"[0-9a-fA-F]{64}", hint=_SHA256_HINT, normalize=str.lower)


def _migrations_rules(migrations: dict[str, Any], path: str, issues: Issues) -> None:
    # The id is the key of the database's migrations table: one id, one step, whatever its phase.
    seen: set[str] = set()
    for index, step in enumerate(migrations["steps"]):
        if step["id"] in seen:
            issues.add(f"{path}.steps[{index}].id", "is used by an earlier step", step["id"])
        seen.add(step["id"])


def _suite_file(text: str) -> str | None:
    # pytest collects nothing from a file given by name unless it is a Python module.
    return None if text.endswith(".py") else "must be a Python file (.py) with the testinfra tests"


_DATABASE = Schema(
    {
        "kind": Field("str", required=True, doc="the database engine", choices=DATABASE_KINDS),
        "run_on": Field(
            "str", required=True, doc="the inventory host that runs psql, pg_dump and pg_restore", pattern=_NO_BLANKS.pattern, hint="an inventory host name"
        ),
        "name": Field("str", required=True, doc="the database name", pattern=_DB_NAME.pattern, hint="a database name (letters, digits, _.$-; at most 63)"),
        # Empty: the local unix socket on run_on.
        "host": Field("str", allow_empty=True, default="", check=lambda text: None if not text or _NO_BLANKS.fullmatch(text) else "must have no blanks"),
        "port": Field("int", minimum=1, maximum=65535, default=5432),
        "user": Field("str", default="postgres", pattern=_DB_NAME.pattern, hint="a database role name"),
        "os_user": Field("str", default="postgres", pattern=_OS_USER.pattern, hint="an OS account name"),
        # Empty: the whole database is backed up and restored.
        "schemas": Field("list", default=list, hint="a list of schema names", item=Field("str", pattern=_DB_NAME.pattern, hint="a schema name")),
        "backup_dir": Field("str", default=DEFAULT_BACKUP_DIR, check=_base_dir, normalize=os.path.normpath),
    }
)
_DOWN = Schema({"file": Field("str", required=True, doc="the down-migration on the controller"), "sha256": _sha256("the sha256sum of the down file")})
_STEP = Schema(
    {
        "id": Field("str", required=True, doc="the step's unique id", pattern=_STEP_ID.pattern, hint="letters, digits, '_', '.', '-' (at most 64)"),
        "phase": Field("str", required=True, doc="expand (before the first batch) or contract (after the last)", choices=MIGRATION_PHASES),
        "file": Field("str", required=True, doc="the SQL file on the controller"),
        "sha256": _sha256("the sha256sum of the file"),
        "down": Field("mapping", nullable=True, schema=_DOWN, hint="a mapping with file and sha256"),
    }
)
# The manifest's migrations.database, also a rollback's rollback_database (the database it puts back), with defaults filled.
DATABASE_SCHEMA = _DATABASE
_MIGRATIONS = Schema(
    {
        "database": Field("mapping", required=True, doc="the database the steps run against", schema=_DATABASE, hint="a mapping with kind, run_on, name"),
        "steps": Field("list", required=True, doc="the migration steps", min_items=1, hint="a non-empty list of steps", item=Field("mapping", schema=_STEP)),
    },
    checks=(_migrations_rules,),
)
_VERIFY = Schema(
    {
        "suite": Field("str", required=True, doc="the testinfra suite on the controller", check=_suite_file),
        "sha256": _sha256("the sha256sum of the suite"),
        "timeout": Field("int", minimum=1, maximum=86400, default=DEFAULT_VERIFY_TIMEOUT),
    }
)
_DOCUMENT = Schema(
    {
        "kind": Field("str", required=True, doc="what the document is", choices=DOCUMENT_KINDS),
        "title": Field("str", required=True, doc="the document's title"),
        # Not read: a URL or a path the approvers and auditors open; its sha256 binds the content.
        "location": Field("str", required=True, doc="a URL or path where it is kept"),
        "sha256": _sha256("the sha256sum of the document"),
    }
)


def _manifest_rules(manifest: dict[str, Any], path: str, issues: Issues) -> None:
    names: set[str] = set()
    for index, artifact in enumerate(manifest["artifacts"]):
        name = _artifact_name(artifact)
        if name in names:
            issues.add(f"{path}.artifacts[{index}].name", f"{name!r} is used by an earlier artifact")
        names.add(name)
    base = manifest["base_dir"]
    for index, item in enumerate(manifest["backup_paths"]):
        if os.path.normpath(item) == base or os.path.normpath(item).startswith(os.path.join(base, "releases")):
            issues.add(f"{path}.backup_paths[{index}]", "must not be the base dir or a release directory", item)


def _required(key: str, **options: Any) -> Field:
    return Field("str", required=True, doc=_TOP[key], **options)


_MANIFEST = Schema(
    {
        "app": _required("app", pattern=_NAME.pattern, hint="lowercase letters, digits, '_', '.', '-'"),
        "version": _required("version", pattern=_TEXT.pattern, hint="a version like 1.2.3 (letters, digits, ._+@:-)"),
        "change_id": _required("change_id", pattern=_TEXT.pattern, hint="a change id like CHG-2025-0042"),
        "env": Field("str", default=""),
        "base_dir": _required("base_dir", check=_base_dir, normalize=os.path.normpath),
        "artifacts": Field(
            "list", required=True, doc=_TOP["artifacts"], min_items=1, hint="a non-empty list of artifacts", item=Field("mapping", schema=_ARTIFACT)
        ),
        "config_files": Field("list", item=Field("mapping", schema=_CONFIG), default=list),
        "shared_paths": Field("list", item=Field("str", check=_inside_release), default=list),
        "backup_paths": Field("list", item=Field("str", check=_absolute), default=list),
        # Empty: the files keep the deploy account's owner and group.
        "owner": Field("str", allow_empty=True, default=""),
        "group": Field("str", allow_empty=True, default=""),
        "dir_mode": _mode(0o755),
        "file_mode": _mode(),
        "config_mode": _mode(0o640),
        "service": Field("mapping", schema=_SERVICE, default=lambda: {"type": "none"}),
        "health": Field("mapping", schema=_HEALTH, default=lambda: {"type": "none"}),
        "hooks": Field("mapping", schema=Schema({"after_stage": _commands(), "before_switch": _commands()}), default=dict),
        "keep_releases": Field("int", minimum=1, maximum=100, default=3),
        # Empty when absent, so the roles test `| length` instead of `is defined`.
        "migrations": Field("mapping", schema=_MIGRATIONS, hint="a mapping with database and steps"),
        "verify": Field("mapping", schema=_VERIFY, hint="a mapping with suite and sha256"),
        "documents": Field("list", item=Field("mapping", schema=_DOCUMENT), default=list, hint="a list of documents"),
    },
    # `owner:` with nothing after it is no owner, like leaving the key out.
    none_is_missing=True,
    checks=(_manifest_rules,),
)


def _artifact(artifact: dict[str, Any]) -> dict[str, Any]:
    name = _artifact_name(artifact)
    return {
        "name": name,
        "src": artifact.get("src"),
        "url": artifact.get("url"),
        "sha256": artifact["sha256"].lower(),
        "dest": artifact["dest"],
        "unpack": artifact.get("unpack", name.endswith(_ARCHIVE_SUFFIXES)),
    }


def _service(service: dict[str, Any], app: str) -> dict[str, Any]:
    result: dict[str, Any] = {"type": service["type"], "name": service.get("name", app)}
    if service["type"] != "none":
        result["start"] = service["start"]
    result.update({key: service[key] for key in ("stop", "user", "group", "environment", "stop_timeout")})
    return result


def _health(health: dict[str, Any]) -> dict[str, Any]:
    kind = _health_type(health)
    result: dict[str, Any] = {"type": kind, **{key: health[key] for key in ("retries", "interval", "timeout", "start_delay")}}
    if kind == "http":
        result.update({key: health[key] for key in ("url", "status", "jmespath", "version_field")})
    elif kind == "command":
        result["command"] = health["command"]
    return result


def validate_manifest(raw: Any, path: str = MANIFEST_VAR) -> Manifest:
    """Validate and normalise the manifest: defaults filled, modes as integers, digests lowercase; ``ManifestError`` lists every error."""
    if isinstance(raw, Mapping):
        # `migrations: {}` is no migrations, as the normalised manifest says it: validating that again gives the same.
        raw = {key: value for key, value in raw.items() if not (key in ("migrations", "verify") and isinstance(value, Mapping) and not value)}
    data, issues = collect(_MANIFEST, raw, path)
    if issues:
        raise ManifestError(issues)
    manifest = dict(data)
    manifest["artifacts"] = [_artifact(artifact) for artifact in data["artifacts"]]
    manifest["service"] = _service(data["service"], data["app"])
    manifest["health"] = _health(data["health"])
    manifest.setdefault("file_mode", None)
    manifest.setdefault("migrations", {})
    manifest.setdefault("verify", {})
    if manifest["migrations"]:
        manifest["migrations"] = {
            "database": manifest["migrations"]["database"],
            "steps": [{**step, "down": step.get("down")} for step in manifest["migrations"]["steps"]],
        }
    return Manifest(manifest)
