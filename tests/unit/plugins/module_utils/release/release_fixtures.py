# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build real artifacts and ledgers for the release tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile

from ansible_collections.opsgate.release.plugins.module_utils.release.ledger import LedgerEntry
from ansible_collections.opsgate.release.plugins.module_utils.release.stage import Ownership, ReleaseIdentity, StageRequest


def make_artifact(directory: str, version: str, extra: dict[str, bytes] | None = None) -> tuple[str, str]:
    files = {"app.py": b"print('hello')\n", "VERSION": f"{version}\n".encode(), **(extra or {})}
    path = os.path.join(directory, f"app-{version}.tar.gz")
    # gzip's header carries a time stamp unless told otherwise: mtime=0 makes the same version the same bytes.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed, tarfile.open(fileobj=packed, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    with open(path, "rb") as handle:
        return path, hashlib.sha256(handle.read()).hexdigest()


def stage_request(base: str, artifact: str, sha: str, version: str, **kwargs: object) -> StageRequest:
    identity = ReleaseIdentity(
        release_id=f"{version}-CHG-{sha[:12]}", app="app", version=version, artifact_sha256=sha, change_id="CHG", token_id="apv-test", who="tester"
    )
    return StageRequest(
        base_dir=base,
        identity=identity,
        artifacts=[{"name": os.path.basename(artifact), "sha256": sha, "dest": ".", "unpack": True, "src": artifact}],
        config_files=kwargs.pop("config_files", [{"dest": "config/app.conf", "content": f"version={version}\n"}]),  # type: ignore[arg-type]
        ownership=Ownership(),
        service={"type": "none"},
        **kwargs,  # type: ignore[arg-type]
    )


def entry(release_id: str, state: str, event: str, version: str = "", previous: str = "") -> LedgerEntry:
    return LedgerEntry(release_id=release_id, state=state, event=event, at="2025-01-01T00:00:00Z", version=version or release_id, previous=previous)


def deployed(*release_ids: str) -> list[LedgerEntry]:
    """Ledger of successful deploys in order."""
    out: list[LedgerEntry] = []
    previous = ""
    for release_id in release_ids:
        out += [entry(release_id, "deploying", "stage"), entry(release_id, "deploying", "switch", previous=previous), entry(release_id, "good", "deploy")]
        previous = release_id
    return out
