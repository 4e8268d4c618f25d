# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Named binaries and packages: executables on PATH under the root, dpkg status, rpm's sqlite database.

No subprocess: dpkg's status file is text, and rpm 4.16+ keeps its database in SQLite
(``rpmdb.sqlite``), read here with the standard library. Older Berkeley-DB rpm databases
(EL7, EL8) are not read: the binary search still finds the programs there.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import quote

from .sysfs import FactReader, describe_os_error

# Where programs live whatever PATH the module was started with (sudo and ssh trim it).
DEFAULT_PATH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_RPM_DATABASES = ("/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite")
_NAME = re.compile(r"^[A-Za-z0-9_.+-][A-Za-z0-9_.+:~-]*$")
# rpm header tags and types (rpmtag.h)
_TAG_NAME, _TAG_VERSION, _TAG_RELEASE, _TAG_EPOCH, _TAG_ARCH = 1000, 1001, 1002, 1003, 1022
_TYPE_INT32, _TYPE_STRING, _TYPE_I18NSTRING = 4, 6, 9


def validate_software_names(names: list[str]) -> None:
    for index, name in enumerate(names):
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"software[{index}]: {name!r} is not a program or package name")


def parse_dpkg_status(text: str) -> dict[str, dict[str, Any]]:
    """Installed packages by name; the first stanza wins for a multi-arch package."""
    packages: dict[str, dict[str, Any]] = {}
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t"):
                continue  # continuation of Description, Conffiles, ...
            key, sep, value = line.partition(":")
            if sep:
                fields[key] = value.strip()
        name = fields.get("Package")
        if not name or not fields.get("Status", "").endswith(" installed"):
            continue
        packages.setdefault(name, {"name": name, "version": fields.get("Version"), "architecture": fields.get("Architecture"), "manager": "dpkg"})
    return packages


def parse_rpm_header(blob: bytes) -> dict[str, Any]:
    """Name, version and arch from an rpm header blob as stored in rpmdb.sqlite (no lead, no magic)."""
    count = int.from_bytes(blob[0:4], "big")
    data_start = 8 + 16 * count
    tags: dict[int, Any] = {}
    for i in range(count):
        entry = blob[8 + 16 * i : 24 + 16 * i]
        tag, kind, offset = (int.from_bytes(entry[j : j + 4], "big") for j in (0, 4, 8))
        if tag not in (_TAG_NAME, _TAG_VERSION, _TAG_RELEASE, _TAG_EPOCH, _TAG_ARCH):
            continue
        start = data_start + offset
        if kind in (_TYPE_STRING, _TYPE_I18NSTRING):
            tags[tag] = blob[start : blob.index(b"\0", start)].decode("utf-8", errors="replace")
        elif kind == _TYPE_INT32:
            tags[tag] = int.from_bytes(blob[start : start + 4], "big")
    version = f"{tags.get(_TAG_VERSION, '')}-{tags.get(_TAG_RELEASE, '')}"
    if tags.get(_TAG_EPOCH):
        version = f"{tags[_TAG_EPOCH]}:{version}"
    return {"name": tags.get(_TAG_NAME), "version": version, "architecture": tags.get(_TAG_ARCH), "manager": "rpm"}


class _RpmDatabase:
    def __init__(self, reader: FactReader) -> None:
        self._connection: Any = None
        for candidate in _RPM_DATABASES:
            real = reader.path(candidate)
            if not os.path.exists(real):
                continue
            try:
                import sqlite3

                self._connection = sqlite3.connect(f"file:{quote(real)}?mode=ro", uri=True, timeout=2)
                self._connection.execute("SELECT 1 FROM Name LIMIT 1")
            except ImportError:
                reader.record(candidate, "Python has no sqlite3 module: rpm packages not looked up")
                self._connection = None
            except Exception as exc:  # sqlite3.Error, whose module may be missing
                reader.record(candidate, describe_os_error(exc) if isinstance(exc, OSError) else f"cannot read rpm database: {exc}")
                self._connection = None
            break

    def lookup(self, name: str) -> dict[str, Any] | None:
        if self._connection is None:
            return None
        row = self._connection.execute("SELECT p.blob FROM Name n JOIN Packages p ON p.hnum = n.hnum WHERE n.key = ? LIMIT 1", (name,)).fetchone()
        return parse_rpm_header(bytes(row[0])) if row else None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


def _path_dirs(reader: FactReader) -> list[str]:
    dirs = list(DEFAULT_PATH_DIRS)
    if reader.root == "/":
        dirs += [d for d in os.environ.get("PATH", "").split(os.pathsep) if d.startswith("/")]
    return list(dict.fromkeys(dirs))


def _find_executable(reader: FactReader, name: str, dirs: list[str]) -> str | None:
    for directory in dirs:
        candidate = f"{directory.rstrip('/')}/{name}"
        real = reader.path(candidate)
        if os.path.isfile(real) and os.access(real, os.X_OK):
            return candidate
    return None


def collect_software(reader: FactReader, names: list[str]) -> dict[str, Any]:
    if not names:
        return {}
    dpkg_text = reader.read_text("/var/lib/dpkg/status", optional=True)
    dpkg = parse_dpkg_status(dpkg_text) if dpkg_text else {}
    rpm = _RpmDatabase(reader)
    dirs = _path_dirs(reader)
    results: dict[str, Any] = {}
    try:
        for name in names:
            path = _find_executable(reader, name, dirs)
            package = dpkg.get(name)
            if package is None:
                try:
                    package = rpm.lookup(name)
                except Exception as exc:  # a corrupt or locked rpm database must not lose the other answers
                    reader.record("/var/lib/rpm/rpmdb.sqlite", f"rpm lookup of {name!r} failed: {exc}")
            results[name] = {"found": path is not None or package is not None, "path": path, "package": package}
    finally:
        rpm.close()
    return results
