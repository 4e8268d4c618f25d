# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one way this collection writes a file that someone may read at any moment.

A private temporary file in the same folder (so the rename cannot cross file systems), the mode
(and owner) set before the first byte is written, the data flushed to disk, then renamed over the
target: a reader sees the old file or the new one, never half of one, and nobody else ever sees a
file with looser permissions. Used on the hosts (module_utils), on the controller (plugin_utils)
and by the command line tools; it lives in the approval package because that package must stay
importable on its own (bin/opsgate-approval imports it as plain ``approval``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile


def write_atomic(path: str, data: bytes | str, mode: int, owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8), with ``mode`` and, when given, ``owner`` (uid, gid)."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        if owner is not None:
            os.fchown(handle, *owner)
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode("utf-8") if isinstance(data, str) else data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
