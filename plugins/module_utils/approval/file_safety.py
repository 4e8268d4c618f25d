# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Who could have written a file: the checks sshd's StrictModes makes, for the trust root, policy, ledger and keys.

A file is only as trustworthy as the least protected directory above it: whoever can write a
parent can rename the file away and put their own in its place. Each directory from ``/`` down,
for the path as given and for the path its symlinks resolve to, must belong to an allowed owner
and be writable by no one else. One exception, as in most Unix tools: a directory owned by root
with the sticky bit (``/tmp``) may be world-writable, because nobody but root and the owner of an
entry can rename or remove that entry.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection

from . import errors


def _owner_text(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _parents(path: str) -> list[str]:
    chain = []
    current = os.path.dirname(path)
    while True:
        chain.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            return chain
        current = parent


def _check_directory(directory: str, owners: Collection[int], what: str, code: str) -> None:
    try:
        info = os.stat(directory)
    except OSError as exc:
        raise errors.ApprovalError(code, f"cannot check {directory}, a folder above {what}: {exc.strerror}") from None
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid not in owners and info.st_uid != 0:
        raise errors.ApprovalError(
            code, f"{what}: the folder {directory} belongs to {_owner_text(info.st_uid)}, who could replace the file; it must belong to root"
        )
    if mode & 0o022 and not (info.st_uid == 0 and mode & stat.S_ISVTX):
        raise errors.ApprovalError(code, f"{what}: the folder {directory} is writable by group or others (mode {mode:04o}); chmod go-w {directory}")


def check_file(path: str, what: str, code: str, owners: Collection[int] = (0,), private: bool = False) -> None:
    """Refuse ``path`` unless it and every folder above it could only have been written by ``owners`` (root always counts).

    ``private`` also refuses a file that group or others can read (private keys).
    """
    absolute = os.path.abspath(path)
    try:
        info = os.stat(absolute)
    except OSError as exc:
        raise errors.ApprovalError(code, f"cannot read {what} {absolute}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise errors.ApprovalError(code, f"{what} {absolute} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid not in owners and info.st_uid != 0:
        allowed = ", ".join(_owner_text(uid) for uid in sorted({0, *owners}))
        raise errors.ApprovalError(code, f"{what} {absolute} belongs to {_owner_text(info.st_uid)}; only {allowed} may own it")
    if mode & 0o022:
        raise errors.ApprovalError(code, f"{what} {absolute} is writable by group or others (mode {mode:04o}); chmod go-w {absolute}")
    if private and mode & 0o077:
        raise errors.ApprovalError(code, f"{what} {absolute} is readable by group or others (mode {mode:04o}); chmod 600 {absolute}")
    real = os.path.realpath(absolute)
    for directory in dict.fromkeys([*_parents(absolute), *_parents(real)]):
        _check_directory(directory, owners, f"{what} {absolute}", code)


def check_directory(path: str, what: str, code: str, owners: Collection[int] = (0,)) -> None:
    """Refuse the folder ``path`` unless it and every folder above it could only have been written by ``owners``."""
    absolute = os.path.abspath(path)
    real = os.path.realpath(absolute)
    for directory in dict.fromkeys([absolute, real, *_parents(absolute), *_parents(real)]):
        _check_directory(directory, owners, f"{what} {absolute}", code)
