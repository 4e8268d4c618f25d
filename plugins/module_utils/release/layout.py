# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The directory layout ops know from ansistrano, plus the atomic switch of ``current``.

    <base>/releases/<release_id>/   one directory per release, complete or absent
    <base>/releases/.staging-<id>/  a release being unpacked; never a rollback target
    <base>/shared/                  data that outlives releases, linked into each
    <base>/backups/<release_id>/    what the listed paths held before <release_id> went live
    <base>/current -> releases/<id> switched with a temporary link and rename(2)
    <base>/ledger.jsonl             the release ledger
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

MARKER = ".opsgate-release.json"
STAGING_PREFIX = ".staging-"
_RELEASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


class LayoutError(Exception):
    pass


def check_release_id(release_id: str) -> str:
    if not isinstance(release_id, str) or not _RELEASE_ID.fullmatch(release_id) or ".." in release_id:
        raise LayoutError(f"release_id must be 1-128 characters of [A-Za-z0-9._+-] starting with a letter or digit, got {release_id!r}")
    return release_id


@dataclass(frozen=True)
class Layout:
    base: str

    @property
    def releases(self) -> str:
        return os.path.join(self.base, "releases")

    @property
    def shared(self) -> str:
        return os.path.join(self.base, "shared")

    @property
    def backups(self) -> str:
        return os.path.join(self.base, "backups")

    @property
    def current(self) -> str:
        return os.path.join(self.base, "current")

    @property
    def ledger(self) -> str:
        return os.path.join(self.base, "ledger.jsonl")

    @property
    def run(self) -> str:
        return os.path.join(self.base, "run")

    @property
    def lock(self) -> str:
        return os.path.join(self.base, ".opsgate.lock")

    def release(self, release_id: str) -> str:
        return os.path.join(self.releases, check_release_id(release_id))

    def staging(self, release_id: str) -> str:
        return os.path.join(self.releases, STAGING_PREFIX + check_release_id(release_id))

    def backup(self, release_id: str) -> str:
        return os.path.join(self.backups, check_release_id(release_id))


def ensure_layout(layout: Layout, dir_mode: int = 0o755) -> bool:
    """Create the base directories; True if any was missing."""
    created = False
    for path in (layout.base, layout.releases, layout.shared, layout.backups, layout.run):
        if not os.path.isdir(path):
            os.makedirs(path, mode=dir_mode, exist_ok=True)
            created = True
    return created


def current_release(layout: Layout) -> str | None:
    """The release id ``current`` points at, or None when there is no link yet."""
    try:
        target = os.readlink(layout.current)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LayoutError(f"{layout.current} exists but is not a symlink ({exc.strerror}); refusing to guess the current release") from None
    release_id = os.path.basename(os.path.normpath(target))
    if os.path.normpath(os.path.join(layout.base, target)) != os.path.normpath(os.path.join(layout.releases, release_id)):
        raise LayoutError(f"{layout.current} points at {target}, outside {layout.releases}")
    return release_id


def switch_current(layout: Layout, release_id: str) -> str | None:
    """Point ``current`` at a complete release atomically; return the release it pointed at before.

    A temporary link is created next to ``current`` and renamed over it: readers see the
    old or the new target, never a missing link.
    """
    release_dir = layout.release(release_id)
    if not os.path.isfile(os.path.join(release_dir, MARKER)):
        raise LayoutError(f"release {release_id} is not complete ({release_dir} has no {MARKER}); refusing to switch to it")
    previous = current_release(layout)
    temporary = os.path.join(layout.base, f".current.tmp-{os.getpid()}")
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(os.path.join("releases", release_id), temporary)
    os.replace(temporary, layout.current)
    fd = os.open(layout.base, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return previous


def read_marker(layout: Layout, release_id: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(layout.release(release_id), MARKER), encoding="utf-8") as handle:
            data = json.load(handle)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:
        raise LayoutError(f"cannot read the marker of release {release_id}: {exc}") from None
    return data if isinstance(data, dict) else None


def present_releases(layout: Layout) -> list[str]:
    """Complete release directories (with a marker), sorted by name: presence only, never order."""
    try:
        names = os.listdir(layout.releases)
    except FileNotFoundError:
        return []
    return sorted(name for name in names if not name.startswith(".") and os.path.isfile(os.path.join(layout.releases, name, MARKER)))


def leftover_staging(layout: Layout) -> list[str]:
    try:
        names = os.listdir(layout.releases)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(layout.releases, name) for name in names if name.startswith(STAGING_PREFIX))


@contextmanager
def locked(layout: Layout) -> Iterator[None]:
    """One changing operation per base directory at a time (two runs must not interleave)."""
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LayoutError(f"another run holds {layout.lock}; wait for it or check for a stuck process") from None
        yield
    finally:
        os.close(fd)
