# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read files under a root path; a failed read gives ``None`` and an error entry, never an exception."""

from __future__ import annotations

import errno
import os


def describe_os_error(exc: OSError) -> str:
    """``EINVAL: Invalid argument`` -- the symbolic name first, so reports can be grepped."""
    name = errno.errorcode.get(exc.errno or 0, "")
    text = exc.strerror or str(exc)
    return f"{name}: {text}" if name else text


class FactReader:
    """Reads ``<root>/<relative path>`` and remembers what could not be read.

    Paths given to the methods are host paths (``/sys/class/net/eth0/speed``); errors are
    reported with that host path, so results from a fixture tree look like a real host's.
    ``optional=True`` is for attributes that many drivers or distributions legitimately
    leave out: a missing file is then silent, but any other failure (EACCES, EINVAL, EIO)
    is still recorded.
    """

    def __init__(self, root: str = "/") -> None:
        self.root = os.path.abspath(root or "/")
        self.errors: list[dict[str, str | None]] = []
        self.subset: str | None = None

    # -- paths ---------------------------------------------------------------------------
    def path(self, host_path: str) -> str:
        if self.root == "/":
            return host_path
        return os.path.join(self.root, host_path.lstrip("/"))

    def host_path(self, real_path: str) -> str:
        """The inverse of :meth:`path`, for paths found by resolving links."""
        if self.root == "/":
            return real_path
        rel = os.path.relpath(real_path, self.root)
        return "/" if rel == "." else "/" + rel

    def record(self, host_path: str, error: str) -> None:
        self.errors.append({"subset": self.subset, "path": host_path, "error": error})

    # -- reads ---------------------------------------------------------------------------
    def read_text(self, host_path: str, optional: bool = False, ignore: frozenset[int] = frozenset()) -> str | None:
        """The whole file, or ``None``. Binary garbage is replaced rather than raised.

        ``ignore``: errno values that mean "this device has no such value" rather than a failure
        (EOPNOTSUPP from ``speed`` of a bridge).
        """
        try:
            with open(self.path(host_path), "rb") as handle:
                data = handle.read()
        except OSError as exc:
            if not ((optional and exc.errno == errno.ENOENT) or exc.errno in ignore):
                self.record(host_path, describe_os_error(exc))
            return None
        return data.decode("utf-8", errors="replace")

    def read_bytes(self, host_path: str, optional: bool = False) -> bytes | None:
        try:
            with open(self.path(host_path), "rb") as handle:
                return handle.read()
        except OSError as exc:
            if not (optional and exc.errno == errno.ENOENT):
                self.record(host_path, describe_os_error(exc))
            return None

    def read_str(self, host_path: str, optional: bool = False, ignore: frozenset[int] = frozenset()) -> str | None:
        """A one-value attribute, stripped; an empty attribute is ``None`` (drivers write blanks)."""
        text = self.read_text(host_path, optional=optional, ignore=ignore)
        if text is None:
            return None
        text = text.strip()
        return text or None

    def read_int(self, host_path: str, optional: bool = False, base: int = 10, ignore: frozenset[int] = frozenset()) -> int | None:
        text = self.read_str(host_path, optional=optional, ignore=ignore)
        if text is None:
            return None
        try:
            return int(text, base)
        except ValueError:
            self.record(host_path, f"not an integer: {text[:60]!r}")
            return None

    def read_first(self, host_paths: list[str], optional: bool = False) -> str | None:
        """The first of several spellings of one attribute (qla2xxx ``model_name``, lpfc ``modelname``)."""
        for candidate in host_paths:
            if os.path.lexists(self.path(candidate)):
                return self.read_str(candidate)
        if not optional and host_paths:
            self.record(host_paths[0], "ENOENT: No such file or directory" + (f" (nor {', '.join(host_paths[1:])})" if len(host_paths) > 1 else ""))
        return None

    # -- directories and links -----------------------------------------------------------
    def exists(self, host_path: str) -> bool:
        return os.path.exists(self.path(host_path))

    def is_dir(self, host_path: str) -> bool:
        return os.path.isdir(self.path(host_path))

    def list_dir(self, host_path: str, optional: bool = True) -> list[str]:
        """Sorted entries; a missing directory is an empty list (no FC HBA means no fc_host)."""
        try:
            return sorted(os.listdir(self.path(host_path)))
        except OSError as exc:
            if not (optional and exc.errno == errno.ENOENT):
                self.record(host_path, describe_os_error(exc))
            return []

    def link_name(self, host_path: str) -> str | None:
        """The basename of a symlink's target (``device/driver`` -> ``mlx5_core``), or ``None``."""
        try:
            return os.path.basename(os.readlink(self.path(host_path)).rstrip("/")) or None
        except OSError:
            return None

    def resolve(self, host_path: str) -> str:
        """The host path a sysfs link points at (``/sys/devices/pci0000:00/...``)."""
        return self.host_path(os.path.realpath(self.path(host_path)))
