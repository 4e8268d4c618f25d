# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One release id for the whole run, derived from what the change is, never from a clock."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def release_id_for(change_id: str, version: str, artifact_sha256: str) -> str:
    """``<version>-<change_id>-<first 12 hex of the digest>``: a rerun of the same change gets the same id,
    and a rebuilt artifact under the same version and change gets another one."""
    if len(artifact_sha256) < 12:
        raise ValueError(f"artifact_sha256 is too short: {artifact_sha256!r}")
    parts = [_UNSAFE.sub("_", part).strip("._-") or "x" for part in (version, change_id)]
    release_id = f"{parts[0]}-{parts[1]}-{artifact_sha256[:12].lower()}"
    return release_id[:128]
