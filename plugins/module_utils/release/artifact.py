# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Put an artifact into a staging directory: verified again on the host, unpacked without escaping it."""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile

_HAS_FILTERS = hasattr(tarfile, "data_filter")


class ArtifactError(Exception):
    pass


def _safe_members(archive: tarfile.TarFile, label: str) -> list[tarfile.TarInfo]:
    members = []
    for member in archive.getmembers():
        name = os.path.normpath(member.name)
        if name.startswith(("/", "..")) or os.path.isabs(member.name):
            raise ArtifactError(f"{label}: member {member.name!r} would land outside the release directory")
        if member.issym() or member.islnk():
            target = os.path.normpath(os.path.join(os.path.dirname(name), member.linkname))
            if os.path.isabs(member.linkname) or target.startswith(".."):
                raise ArtifactError(f"{label}: link {member.name!r} -> {member.linkname!r} points outside the release directory")
        elif not (member.isfile() or member.isdir()):
            raise ArtifactError(f"{label}: member {member.name!r} is a device or fifo; refusing it")
        members.append(member)
    return members


def _private_copy(src: str, directory: str) -> tuple[str, str]:
    """Copy ``src`` into ``directory`` in one read, hashing what was read; returns the copy and its sha256.

    Everything after uses the copy: whoever owns ``src`` (the deploy account, when the release agent
    runs the step as root) cannot swap it between the digest check and the unpacking.
    """
    handle, path = tempfile.mkstemp(dir=directory, prefix=".artifact-")
    digest = hashlib.sha256()
    try:
        with open(src, "rb") as source, os.fdopen(handle, "wb") as target:
            for chunk in iter(lambda: source.read(1024 * 1024), b""):
                digest.update(chunk)
                target.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    return path, digest.hexdigest()


def place_artifact(src: str, expected_sha256: str, destination: str, unpack: bool, name: str) -> int:
    """Verify ``src`` and unpack (or copy) it under ``destination``; return the number of files placed.

    Raises ArtifactError on a digest mismatch or a hostile archive, OSError (ENOSPC …) on
    a full disk; the caller removes the staging directory either way.
    """
    os.makedirs(destination, exist_ok=True)
    copy, actual = _private_copy(src, destination)
    try:
        if actual != expected_sha256:
            raise ArtifactError(f"artifact {name}: sha256 on the host is {actual}, the manifest says {expected_sha256}; the copy was altered in transit")
        if not unpack:
            os.replace(copy, os.path.join(destination, name))
            os.chmod(os.path.join(destination, name), 0o644)  # as a plain copy would have it; modes come from the manifest afterwards
            return 1
        return _unpack(copy, destination, name)
    finally:
        if os.path.lexists(copy):
            os.unlink(copy)


def _unpack(archive_path: str, destination: str, name: str) -> int:
    try:
        with tarfile.open(archive_path, "r:*") as archive:
            members = _safe_members(archive, f"artifact {name}")
            for member in members:
                # Modes come from the manifest afterwards; owners are never taken from the archive.
                if _HAS_FILTERS:
                    archive.extract(member, destination, set_attrs=False, filter="data")
                else:  # Python < 3.12 without the backported filters: _safe_members did the checks
                    archive.extract(member, destination, set_attrs=False)
                if member.isfile():
                    os.chmod(os.path.join(destination, member.name), member.mode & 0o777 | 0o400)
            return sum(1 for member in members if member.isfile())
    except tarfile.TarError as exc:
        raise ArtifactError(f"artifact {name}: not a readable tar archive: {exc}") from None
