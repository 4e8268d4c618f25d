# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Size, free space and mount options of the listed mount points only, each statvfs under a deadline.

statvfs on a dead NFS server blocks in the kernel; doing it in daemon threads with one
overall deadline lets the module answer (``timed out``) instead of hanging the play.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from .sysfs import FactReader, describe_os_error

_ESCAPES = {"\\040": " ", "\\011": "\t", "\\012": "\n", "\\134": "\\"}


def validate_mount_points(mount_points: list[str]) -> None:
    for index, mount_point in enumerate(mount_points):
        if not isinstance(mount_point, str) or not mount_point.startswith("/") or "\0" in mount_point:
            raise ValueError(f"filesystems[{index}]: {mount_point!r} is not an absolute mount point")


def _unescape(field: str) -> str:
    for escaped, plain in _ESCAPES.items():
        field = field.replace(escaped, plain)
    return field


def parse_mounts(text: str) -> dict[str, dict[str, Any]]:
    """Mount point -> device, fstype, options; a later mount on the same point hides the earlier one."""
    mounts: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        mounts[_unescape(fields[1])] = {"device": _unescape(fields[0]), "fstype": fields[2], "options": fields[3].split(",")}
    return mounts


def statvfs_with_deadline(paths: list[str], timeout: float, statvfs: Callable[[str], Any] = os.statvfs) -> dict[str, Any]:
    """path -> statvfs result or OSError; a path missing from the answer did not finish in time."""
    results: dict[str, Any] = {}

    def measure(path: str) -> None:
        try:
            results[path] = statvfs(path)
        except OSError as exc:
            results[path] = exc

    threads = [threading.Thread(target=measure, args=(p,), name=f"statvfs {p}", daemon=True) for p in dict.fromkeys(paths)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + max(timeout, 0)
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    return dict(results)


def collect_filesystems(reader: FactReader, mount_points: list[str], timeout: float = 10.0, statvfs: Callable[[str], Any] = os.statvfs) -> dict[str, Any]:
    if not mount_points:
        return {}
    mounts_text = reader.read_text("/proc/self/mounts", optional=True)
    if mounts_text is None:
        mounts_text = reader.read_text("/proc/mounts")
    mounts = parse_mounts(mounts_text) if mounts_text is not None else None

    normalised = {mp: os.path.normpath(mp) if mp != "/" else "/" for mp in mount_points}
    to_measure = [normalised[mp] for mp in mount_points if mounts is None or normalised[mp] in mounts]
    measured = statvfs_with_deadline([reader.path(mp) for mp in to_measure], timeout, statvfs)

    results: dict[str, Any] = {}
    for requested in mount_points:
        mount_point = normalised[requested]
        entry = (mounts or {}).get(mount_point)
        fact: dict[str, Any] = {
            "mount_point": mount_point,
            "mounted": None if mounts is None else entry is not None,
            "device": entry["device"] if entry else None,
            "fstype": entry["fstype"] if entry else None,
            "options": entry["options"] if entry else [],
            "size_bytes": None,
            "free_bytes": None,
            "available_bytes": None,
            "inodes_total": None,
            "inodes_free": None,
        }
        if mount_point in to_measure:
            result = measured.get(reader.path(mount_point))
            if result is None:
                reader.record(mount_point, f"statvfs timed out after {timeout:g} s")
            elif isinstance(result, OSError):
                reader.record(mount_point, describe_os_error(result))
            else:
                fact.update(
                    size_bytes=result.f_blocks * result.f_frsize,
                    free_bytes=result.f_bfree * result.f_frsize,
                    available_bytes=result.f_bavail * result.f_frsize,
                    inodes_total=result.f_files,
                    inodes_free=result.f_ffree,
                )
        results[requested] = fact
    return results
