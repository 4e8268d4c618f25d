# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``opsgate_release``: what to deploy, validated on the controller before any host is contacted.

Every error names the key path (``opsgate_release.artifacts[1].sha256``) and the value found.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

MANIFEST_VAR = "opsgate_release"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_TEXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@:-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MODE = re.compile(r"0?[0-7]{3,4}")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_UNIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")

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
}
_ARTIFACT = {"name", "src", "url", "sha256", "dest", "unpack"}
_CONFIG = {"src", "dest", "mode"}
_SERVICE = {"type", "name", "start", "stop", "user", "group", "environment", "stop_timeout"}
_HEALTH = {"type", "url", "status", "jmespath", "version_field", "command", "retries", "interval", "timeout", "start_delay"}
_HOOKS = {"after_stage", "before_switch"}


class ManifestError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass(frozen=True)
class Manifest:
    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


def _unknown(value: dict[str, Any], allowed: set[str] | dict[str, str], path: str) -> None:
    extra = sorted(set(value) - set(allowed))
    if extra:
        raise ManifestError(f"{path}.{extra[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _mapping(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ManifestError(path, f"must be a mapping, got {type(value).__name__} {value!r}")
    return value


def _string(value: Any, path: str, pattern: re.Pattern[str] | None = None, hint: str = "") -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(path, f"must be a non-empty string, got {value!r}")
    if pattern is not None and not pattern.fullmatch(value):
        raise ManifestError(path, f"must be {hint}, got {value!r}")
    return value


def _int(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ManifestError(path, f"must be an integer from {low} to {high}, got {value!r}")
    return value


def _mode(value: Any, path: str) -> int:
    text = value if isinstance(value, str) else None
    if text is None or not _MODE.fullmatch(text):
        raise ManifestError(path, f"must be an octal mode in quotes like \"0640\", got {value!r}")
    return int(text, 8)


def _relative(value: Any, path: str) -> str:
    text = _string(value, path)
    if os.path.isabs(text) or os.path.normpath(text).startswith(".."):
        raise ManifestError(path, f"must be a path inside the release directory, got {text!r}")
    return text


def _artifacts(value: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise ManifestError(path, f"must be a non-empty list of artifacts, got {value!r}")
    result = []
    names: set[str] = set()
    for index, raw in enumerate(value):
        item_path = f"{path}[{index}]"
        item = _mapping(raw, item_path)
        _unknown(item, _ARTIFACT, item_path)
        if ("src" in item) == ("url" in item):
            raise ManifestError(item_path, "needs exactly one of src (a file on the controller) or url")
        if "src" in item:
            source = _string(item["src"], f"{item_path}.src")
        else:
            source = _string(item["url"], f"{item_path}.url")
            if not re.match(r"(https?|file)://", source):
                raise ManifestError(f"{item_path}.url", f"must be an http(s):// or file:// URL, got {source!r}")
        sha = item.get("sha256")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha.lower()):
            raise ManifestError(f"{item_path}.sha256", f"must be 64 hex characters (sha256sum of the artifact), got {sha!r}")
        name = _string(item.get("name") or os.path.basename(source.split("?")[0]), f"{item_path}.name", _FILE_NAME, "a file name")
        if name in names:
            raise ManifestError(f"{item_path}.name", f"{name!r} is used by an earlier artifact")
        names.add(name)
        unpack = item.get("unpack", name.endswith((".tar.gz", ".tgz", ".tar", ".tar.xz", ".tar.bz2")))
        if not isinstance(unpack, bool):
            raise ManifestError(f"{item_path}.unpack", f"must be true or false, got {unpack!r}")
        result.append(
            {
                "name": name,
                "src": item.get("src"),
                "url": item.get("url"),
                "sha256": sha.lower(),
                "dest": _relative(item.get("dest", "."), f"{item_path}.dest"),
                "unpack": unpack,
            }
        )
    return result


def _config_files(value: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ManifestError(path, f"must be a list, got {value!r}")
    result = []
    for index, raw in enumerate(value):
        item_path = f"{path}[{index}]"
        item = _mapping(raw, item_path)
        _unknown(item, _CONFIG, item_path)
        dest = _string(item.get("dest"), f"{item_path}.dest")
        if not os.path.isabs(dest):
            _relative(dest, f"{item_path}.dest")
        entry = {"src": _string(item.get("src"), f"{item_path}.src"), "dest": dest}
        if "mode" in item:
            entry["mode"] = _mode(item["mode"], f"{item_path}.mode")
        result.append(entry)
    return result


def _string_list(value: Any, path: str, absolute: bool) -> list[str]:
    if not isinstance(value, list):
        raise ManifestError(path, f"must be a list, got {value!r}")
    result = []
    for index, item in enumerate(value):
        text = _string(item, f"{path}[{index}]")
        if absolute and not os.path.isabs(text):
            raise ManifestError(f"{path}[{index}]", f"must be an absolute path, got {text!r}")
        if not absolute:
            _relative(text, f"{path}[{index}]")
        result.append(text)
    return result


def _service(value: Any, path: str, app: str) -> dict[str, Any]:
    service = _mapping(value, path)
    _unknown(service, _SERVICE, path)
    kind = service.get("type", "systemd")
    if kind not in ("systemd", "command", "none"):
        raise ManifestError(f"{path}.type", f"must be systemd, command or none, got {kind!r}")
    result: dict[str, Any] = {"type": kind, "name": _string(service.get("name", app), f"{path}.name", _UNIT_NAME, "a unit name")}
    if kind != "none":
        result["start"] = _string(service.get("start"), f"{path}.start")
    result["stop"] = _string(service["stop"], f"{path}.stop") if "stop" in service else ""
    result["user"] = _string(service["user"], f"{path}.user") if "user" in service else ""
    result["group"] = _string(service["group"], f"{path}.group") if "group" in service else ""
    environment = _mapping(service.get("environment", {}), f"{path}.environment")
    for key, item in environment.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)):
            raise ManifestError(f"{path}.environment.{key}", "must be a shell variable name")
        _string(item, f"{path}.environment.{key}")
    result["environment"] = {str(k): str(v) for k, v in environment.items()}
    result["stop_timeout"] = _int(service.get("stop_timeout", 10), f"{path}.stop_timeout", 1, 600)
    return result


def _health(value: Any, path: str) -> dict[str, Any]:
    health = _mapping(value, path)
    _unknown(health, _HEALTH, path)
    kind = health.get("type", "http" if "url" in health else "command" if "command" in health else None)
    if kind not in ("http", "command", "none"):
        raise ManifestError(f"{path}.type", f"must be http, command or none, got {kind!r}")
    result: dict[str, Any] = {
        "type": kind,
        "retries": _int(health.get("retries", 10), f"{path}.retries", 1, 1000),
        "interval": _int(health.get("interval", 2), f"{path}.interval", 0, 3600),
        "timeout": _int(health.get("timeout", 5), f"{path}.timeout", 1, 600),
        "start_delay": _int(health.get("start_delay", 0), f"{path}.start_delay", 0, 3600),
    }
    if kind == "http":
        url = _string(health.get("url"), f"{path}.url")
        if not re.match(r"https?://", url):
            raise ManifestError(f"{path}.url", f"must be an http(s):// URL, got {url!r}")
        result.update(
            url=url,
            status=_int(health.get("status", 200), f"{path}.status", 100, 599),
            jmespath=_string(health["jmespath"], f"{path}.jmespath") if "jmespath" in health else "",
            version_field=_string(health["version_field"], f"{path}.version_field") if "version_field" in health else "",
        )
    elif kind == "command":
        result["command"] = _string(health.get("command"), f"{path}.command")
    return result


def _hooks(value: Any, path: str) -> dict[str, list[str]]:
    hooks = _mapping(value, path)
    _unknown(hooks, _HOOKS, path)
    result = {}
    for key in sorted(_HOOKS):
        items = hooks.get(key, [])
        if not isinstance(items, list):
            raise ManifestError(f"{path}.{key}", f"must be a list of commands, got {items!r}")
        result[key] = [_string(item, f"{path}.{key}[{index}]") for index, item in enumerate(items)]
    return result


def validate_manifest(raw: Any, path: str = MANIFEST_VAR) -> Manifest:
    """Validate and normalise the manifest: defaults filled, modes as integers, digests lowercase."""
    data = _mapping(raw, path)
    _unknown(data, _TOP, path)
    for key in ("app", "version", "change_id", "base_dir", "artifacts"):
        if key not in data:
            raise ManifestError(f"{path}.{key}", f"is required ({_TOP[key]})")
    app = _string(data["app"], f"{path}.app", _NAME, "lowercase letters, digits, '_', '.', '-'")
    base_dir = _string(data["base_dir"], f"{path}.base_dir")
    if not os.path.isabs(base_dir) or os.path.normpath(base_dir) == "/":
        raise ManifestError(f"{path}.base_dir", f"must be an absolute path other than /, got {base_dir!r}")
    manifest: dict[str, Any] = {
        "app": app,
        "version": _string(data["version"], f"{path}.version", _TEXT, "a version like 1.2.3 (letters, digits, ._+@:-)"),
        "change_id": _string(data["change_id"], f"{path}.change_id", _TEXT, "a change id like CHG-2025-0042"),
        "env": _string(data["env"], f"{path}.env") if "env" in data else "",
        "base_dir": os.path.normpath(base_dir),
        "artifacts": _artifacts(data["artifacts"], f"{path}.artifacts"),
        "config_files": _config_files(data.get("config_files", []), f"{path}.config_files"),
        "shared_paths": _string_list(data.get("shared_paths", []), f"{path}.shared_paths", absolute=False),
        "backup_paths": _string_list(data.get("backup_paths", []), f"{path}.backup_paths", absolute=True),
        "owner": _string(data["owner"], f"{path}.owner") if data.get("owner") else "",
        "group": _string(data["group"], f"{path}.group") if data.get("group") else "",
        "dir_mode": _mode(data.get("dir_mode", "0755"), f"{path}.dir_mode"),
        "file_mode": _mode(data["file_mode"], f"{path}.file_mode") if "file_mode" in data else None,
        "config_mode": _mode(data.get("config_mode", "0640"), f"{path}.config_mode"),
        "service": _service(data.get("service", {"type": "none"}), f"{path}.service", app),
        "health": _health(data.get("health", {"type": "none"}), f"{path}.health"),
        "hooks": _hooks(data.get("hooks", {}), f"{path}.hooks"),
        "keep_releases": _int(data.get("keep_releases", 3), f"{path}.keep_releases", 1, 100),
    }
    base = manifest["base_dir"]
    for index, item in enumerate(manifest["backup_paths"]):
        if os.path.normpath(item) == base or os.path.normpath(item).startswith(os.path.join(base, "releases")):
            raise ManifestError(f"{path}.backup_paths[{index}]", f"must not be the base dir or a release directory, got {item!r}")
    return Manifest(manifest)
