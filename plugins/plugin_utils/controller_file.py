# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A file on the controller that an approval binds by digest (a migration step, its down, a verify suite).

One way to read it: the path made absolute against the playbook directory, at most ``max_bytes`` read (a bigger file
is refused, never hashed in part), and its sha256. The callers compare the digest and word the refusal with their own
error code and key path.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ControllerFile:
    path: str
    content: bytes
    sha256: str


class ControllerFileUnreadable(Exception):
    """Why the file cannot be used (missing, unreadable, too large), naming the absolute path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def controller_path(path: str, base_dir: str) -> str:
    """``path`` absolute: a relative path is relative to ``base_dir`` (the playbook directory, as an artifact's ``src``)."""
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(base_dir, path))


def read_controller_file(path: str, base_dir: str, max_bytes: int) -> ControllerFile:
    """The file's bytes and sha256, or ControllerFileUnreadable."""
    full = controller_path(path, base_dir)
    try:
        with open(full, "rb") as handle:
            content = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ControllerFileUnreadable(full, f"cannot read {full}: {exc.strerror or exc}") from None
    if len(content) > max_bytes:
        raise ControllerFileUnreadable(full, f"{full} is larger than {max_bytes} bytes")
    return ControllerFile(full, content, hashlib.sha256(content).hexdigest())
