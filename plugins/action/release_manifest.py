# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validate the manifest, verify every artifact, migration file and verify suite by its digest, and choose the release id, on the controller only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.opsgate.release.plugins.module_utils.release.digest import release_digest
from ansible_collections.opsgate.release.plugins.plugin_utils.release_manifest.artifacts import ArtifactDigestError, verify_artifacts
from ansible_collections.opsgate.release.plugins.plugin_utils.release_manifest.bound_files import BoundFileError, resolve_bound_files
from ansible_collections.opsgate.release.plugins.plugin_utils.release_manifest.manifest import ManifestError, validate_manifest
from ansible_collections.opsgate.release.plugins.plugin_utils.release_manifest.release_id import release_id_for

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    # Checked here, not by the argument spec: a missing manifest is named with where it goes.
    "manifest": {"type": "raw"},
    "caller": {"type": "str", "default": ""},
    "artifact_cache_dir": {"type": "path", "default": "~/.cache/opsgate/artifacts"},
    "download_timeout": {"type": "int", "default": 60},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars or {})
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        given = args["manifest"]
        if not isinstance(given, Mapping) or not given:
            host = str((task_vars or {}).get("inventory_hostname", ""))
            got = "nothing" if given in (None, {}, "") else type(given).__name__
            via_role = f", or pass {args['caller']}_manifest to the role" if args["caller"] else ""
            result.update(
                failed=True,
                changed=False,
                error_path="opsgate_release",
                msg=f"no release manifest for {host}: set opsgate_release (app, version, artifacts, base_dir, service, health; docs/deploy.md) "
                f"for the target hosts in the inventory, e.g. in group_vars/<group>/release.yml{via_role}; got {got}",
            )
            return result
        try:
            manifest = validate_manifest(args["manifest"]).data
        except ManifestError as exc:
            result.update(failed=True, changed=False, error_path=exc.path, msg=f"invalid release manifest: {exc}")
            return result
        base_dir = self._loader.get_basedir()
        try:
            # Before the artifacts (which may be downloaded): a changed SQL file or suite is found without waiting for them.
            manifest = resolve_bound_files(manifest, base_dir)
        except BoundFileError as exc:
            result.update(failed=True, changed=False, msg=f"migration or verify file check failed on the controller; nothing was copied to any host: {exc}")
            return result
        try:
            artifacts = verify_artifacts(manifest["artifacts"], base_dir, args["artifact_cache_dir"], args["download_timeout"])
        except ArtifactDigestError as exc:
            result.update(failed=True, changed=False, msg=f"artifact check failed on the controller: {exc}")
            return result
        digest = release_digest([(a["name"], a["sha256"]) for a in artifacts])
        # Migrations, verify and documents stay out of the id: the change document binds them (module_utils/approval/change_document.py).
        release_id = release_id_for(manifest["change_id"], manifest["version"], digest)
        release = {**manifest, "artifacts": artifacts, "artifact_sha256": digest, "release_id": release_id}
        result.update(
            changed=False,
            release=release,
            release_id=release_id,
            artifact_sha256=digest,
            msg=f"{manifest['app']} {manifest['version']}: {len(artifacts)} artifact(s) verified, release id {release_id}",
        )
        return result
