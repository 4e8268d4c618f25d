# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sha256 of files and of a release's artifact set."""

from __future__ import annotations

import hashlib

_CHUNK = 1 << 20


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def release_digest(artifact_digests: list[tuple[str, str]]) -> str:
    """The one digest an approval binds: the artifact's own sha256 when there is one
    artifact, else sha256 over sorted ``name sha256`` lines."""
    if len(artifact_digests) == 1:
        return artifact_digests[0][1]
    lines = "".join(f"{name} {sha}\n" for name, sha in sorted(artifact_digests))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()
