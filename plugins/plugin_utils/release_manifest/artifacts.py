# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check every artifact's digest on the controller before anything is copied to a host.

A URL is downloaded into a controller cache first (named by its sha256) and verified there;
a local file is read in place. A mismatch stops the run with both digests.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from ansible.module_utils.urls import open_url

from ansible_collections.opsgate.release.plugins.module_utils.release.digest import file_sha256

_CHUNK = 1 << 20


class ArtifactDigestError(Exception):
    pass


def _download(url: str, cache_dir: str, timeout: int) -> str:
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".download-", dir=cache_dir)
    try:
        with os.fdopen(fd, "wb") as handle, open_url(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                handle.write(chunk)
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary


def verify_artifacts(artifacts: list[dict[str, Any]], base_dir: str, cache_dir: str, timeout: int = 60) -> list[dict[str, Any]]:
    """Return the artifacts with ``local_path`` (a verified file on the controller) set, or raise."""
    verified = []
    for index, artifact in enumerate(artifacts):
        label = f"opsgate_release.artifacts[{index}] ({artifact['name']})"
        expected = artifact["sha256"]
        if artifact.get("src"):
            path = artifact["src"] if os.path.isabs(artifact["src"]) else os.path.join(base_dir, artifact["src"])
            if not os.path.isfile(path):
                raise ArtifactDigestError(f"{label}: src {path} is not a file on the controller")
            actual = file_sha256(path)
        else:
            path = os.path.join(cache_dir, expected)
            if os.path.isfile(path) and file_sha256(path) == expected:
                actual = expected
            else:
                try:
                    temporary = _download(artifact["url"], cache_dir, timeout)
                except OSError as exc:
                    raise ArtifactDigestError(f"{label}: cannot download {artifact['url']}: {exc}") from None
                actual = file_sha256(temporary)
                if actual != expected:
                    os.unlink(temporary)
                else:
                    shutil.move(temporary, path)
        if actual != expected:
            raise ArtifactDigestError(
                f"{label}: sha256 is {actual}, the manifest says {expected}; nothing was copied to any host"
            )
        verified.append({**artifact, "local_path": path})
    return verified
