# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The archive's errors: what cannot be read, and what stops a record from being written (fail closed)."""

from __future__ import annotations


class ArchiveError(Exception):
    """A record or entry that cannot be read or written; the message names the run, entry or file and the field."""

    code = "ARCHIVE_ERROR"

    @property
    def message(self) -> str:
        return str(self)


class ArchiveNotWritable(ArchiveError):
    """The archive cannot take a record: the store is unreachable or read-only, or the signing key is absent or not pinned.

    The approval gate raises it (``check_archive_writable``) before any host of a change run is touched.
    """

    code = "ARCHIVE_NOT_WRITABLE"
