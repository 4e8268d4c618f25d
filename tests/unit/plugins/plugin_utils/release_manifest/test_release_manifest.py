# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Manifest validation (key path and value in every error), release id, artifact digests on the controller."""

from __future__ import annotations

import copy
import hashlib
import os

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.release.digest import release_digest
from ansible_collections.opsgate.release.plugins.plugin_utils.release_manifest.artifacts import ArtifactDigestError, verify_artifacts
from ansible_collections.opsgate.release.plugins.plugin_utils.release_manifest.manifest import ManifestError, validate_manifest
from ansible_collections.opsgate.release.plugins.plugin_utils.release_manifest.release_id import release_id_for

SHA = "ab" * 32

VALID = {
    "app": "sample_app",
    "version": "1.2.3",
    "change_id": "CHG-2025-0042",
    "base_dir": "/srv/sample_app",
    "artifacts": [{"src": "files/sample_app-1.2.3.tar.gz", "sha256": SHA}],
    "config_files": [{"src": "app.json.j2", "dest": "config/app.json"}, {"src": "notes.j2", "dest": "/etc/sample_app/notes.conf", "mode": "0600"}],
    "backup_paths": ["/srv/sample_app/shared/data"],
    "service": {"type": "systemd", "start": "/usr/bin/python3 sample_app.py"},
    "health": {"url": "http://127.0.0.1:8080/health", "jmespath": "status == 'ok'", "version_field": "version"},
}


def _with(path: str, value: object) -> dict:
    data = copy.deepcopy(VALID)
    target = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is _DELETE:
        del target[keys[-1]]
    elif isinstance(target, list):
        target[int(keys[-1])] = value
    else:
        target[keys[-1]] = value
    return data


_DELETE = object()


def test_valid_manifest_is_normalised_with_defaults():
    manifest = validate_manifest(VALID).data
    assert manifest["artifacts"][0] == {
        "name": "sample_app-1.2.3.tar.gz",
        "src": "files/sample_app-1.2.3.tar.gz",
        "url": None,
        "sha256": SHA,
        "dest": ".",
        "unpack": True,
    }
    assert manifest["config_files"][1]["mode"] == 0o600
    assert manifest["dir_mode"] == 0o755 and manifest["config_mode"] == 0o640 and manifest["file_mode"] is None
    assert manifest["service"]["name"] == "sample_app"
    assert manifest["health"]["type"] == "http" and manifest["health"]["status"] == 200 and manifest["health"]["retries"] == 10
    assert manifest["keep_releases"] == 3
    assert manifest["hooks"] == {"after_stage": [], "before_switch": []}


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("app", _DELETE, "opsgate_release.app: is required"),
        ("app", "Sample App", "opsgate_release.app: must be lowercase letters, digits, '_', '.', '-' (got 'Sample App')"),
        ("version", "1.0 beta", "opsgate_release.version: must be a version like 1.2.3"),
        ("change_id", "", "opsgate_release.change_id: must be a change id like CHG-2025-0042 (got '')"),
        ("base_dir", "srv/app", "opsgate_release.base_dir: must be an absolute path other than / (got 'srv/app')"),
        ("base_dir", "/", "opsgate_release.base_dir: must be an absolute path other than / (got '/')"),
        ("artifacts", [], "opsgate_release.artifacts: must be a non-empty list of artifacts (got [])"),
        ("artifacts.0.sha256", "abc", "opsgate_release.artifacts[0].sha256: must be 64 hex characters (sha256sum of the artifact) (got 'abc')"),
        ("artifacts.0.url", "http://x/a.tgz", "opsgate_release.artifacts[0]: needs exactly one of src (a file on the controller) or url"),
        ("artifacts.0.dest", "../outside", "opsgate_release.artifacts[0].dest: must be a path inside the release directory (got '../outside')"),
        ("artifacts.0.unpack", "yes", "opsgate_release.artifacts[0].unpack: must be true or false (got 'yes')"),
        ("artifacts.0.colour", "red", "opsgate_release.artifacts[0].colour: unknown key"),
        ("config_files.1.mode", 644, 'opsgate_release.config_files[1].mode: must be an octal mode in quotes like "0640" (got 644)'),
        ("config_files.0.dest", "../../etc/passwd", "opsgate_release.config_files[0].dest: must be a path inside the release directory"),
        ("backup_paths", ["data"], "opsgate_release.backup_paths[0]: must be an absolute path (got 'data')"),
        ("backup_paths", ["/srv/sample_app"], "opsgate_release.backup_paths[0]: must not be the base dir or a release directory"),
        ("service.type", "upstart", "opsgate_release.service.type: must be one of systemd, command, none (got 'upstart')"),
        ("service.start", _DELETE, "opsgate_release.service.start: is required for a systemd service"),
        ("health.url", "ftp://x", "opsgate_release.health.url: must be an http(s):// URL (got 'ftp://x')"),
        ("health.retries", 0, "opsgate_release.health.retries: must be an integer from 1 to 1000 (got 0)"),
        # The gate evaluates the condition on the host: what it cannot evaluate is refused here, before any host.
        ("health.jmespath", "checks[?status=='fail']", 'opsgate_release.health.jmespath: unsupported syntax at "?status'),
        ("health.jmespath", "length(checks) > `0`", "opsgate_release.health.jmespath: unsupported syntax"),
        (
            "health.version_field",
            "version == '1'",
            "opsgate_release.health.version_field: must be a key path such as version or build.version (got \"version == '1'\")",
        ),
        ("health.retries", True, "opsgate_release.health.retries: must be an integer from 1 to 1000 (got True)"),
        ("keep_releases", 0, "opsgate_release.keep_releases: must be an integer from 1 to 100 (got 0)"),
        ("flavour", "x", "opsgate_release.flavour: unknown key"),
        ("hooks", {"after_stage": "make"}, "opsgate_release.hooks.after_stage: must be a list of commands (got 'make')"),
    ],
)
def test_errors_name_the_key_path_and_the_value(path, value, error):
    with pytest.raises(ManifestError) as caught:
        validate_manifest(_with(path, value))
    assert str(caught.value).startswith(error)


def test_not_a_mapping():
    with pytest.raises(ManifestError, match=r"opsgate_release: must be a mapping \(got \[\]\)"):
        validate_manifest([])


def test_duplicate_artifact_names_are_refused():
    data = _with("artifacts", [{"src": "a/x.tar.gz", "sha256": SHA}, {"src": "b/x.tar.gz", "sha256": SHA}])
    with pytest.raises(ManifestError, match=r"opsgate_release.artifacts\[1\].name: 'x.tar.gz' is used by an earlier artifact"):
        validate_manifest(data)


def test_every_error_is_reported_with_its_path():
    data = _with("keep_releases", "30")
    data["artifacts"][0]["sha256"] = "abc"
    data["service"]["colour"] = "red"
    with pytest.raises(ManifestError) as caught:
        validate_manifest(data)
    assert [issue.path for issue in caught.value.errors] == [
        "opsgate_release.artifacts[0].sha256",
        "opsgate_release.service.colour",
        "opsgate_release.keep_releases",
    ]
    assert caught.value.path == "opsgate_release.artifacts[0].sha256"
    assert "opsgate_release.keep_releases: must be an integer from 1 to 100 (got '30')" in str(caught.value).splitlines()


def test_release_id_is_the_same_for_a_rerun_and_differs_for_another_artifact():
    first = release_id_for("CHG-1", "1.0.0", SHA)
    assert first == release_id_for("CHG-1", "1.0.0", SHA) == f"1.0.0-CHG-1-{SHA[:12]}"
    assert release_id_for("CHG-1", "1.0.0", "cd" * 32) != first
    assert release_id_for("CHG-2", "1.0.0", SHA) != first
    assert release_id_for("CHG 1/../x", "1.0.0", SHA) == f"1.0.0-CHG_1_.._x-{SHA[:12]}"


def test_release_digest_is_the_artifact_digest_for_one_artifact_and_stable_for_many():
    assert release_digest([("a", SHA)]) == SHA
    many = release_digest([("b", "cd" * 32), ("a", SHA)])
    assert many == release_digest([("a", SHA), ("b", "cd" * 32)])
    assert many == hashlib.sha256(f"a {SHA}\nb {'cd' * 32}\n".encode()).hexdigest()


def _artifact(tmp_path, content: bytes = b"artifact bytes") -> tuple[str, str]:
    path = tmp_path / "app.tar.gz"
    path.write_bytes(content)
    return str(path), hashlib.sha256(content).hexdigest()


def test_local_artifact_digest_is_verified(tmp_path):
    path, sha = _artifact(tmp_path)
    (verified,) = verify_artifacts([{"name": "app.tar.gz", "src": "app.tar.gz", "sha256": sha}], str(tmp_path), str(tmp_path / "cache"))
    assert verified["local_path"] == path


def test_local_artifact_mismatch_names_both_digests(tmp_path):
    _path, sha = _artifact(tmp_path)
    with pytest.raises(ArtifactDigestError, match=f"sha256 is {sha}, the manifest says {'0' * 64}; nothing was copied to any host"):
        verify_artifacts([{"name": "app.tar.gz", "src": "app.tar.gz", "sha256": "0" * 64}], str(tmp_path), str(tmp_path / "cache"))


def test_missing_local_artifact(tmp_path):
    with pytest.raises(ArtifactDigestError, match="is not a file on the controller"):
        verify_artifacts([{"name": "x", "src": "nope.tar.gz", "sha256": SHA}], str(tmp_path), str(tmp_path / "cache"))


def test_url_artifact_is_downloaded_to_the_cache_then_verified(tmp_path):
    path, sha = _artifact(tmp_path)
    cache = tmp_path / "cache"
    (verified,) = verify_artifacts([{"name": "app.tar.gz", "url": f"file://{path}", "sha256": sha}], str(tmp_path), str(cache))
    assert verified["local_path"] == str(cache / sha)
    assert (cache / sha).read_bytes() == b"artifact bytes"
    os.unlink(path)  # a second run uses the verified cache
    (again,) = verify_artifacts([{"name": "app.tar.gz", "url": f"file://{path}", "sha256": sha}], str(tmp_path), str(cache))
    assert again["local_path"] == str(cache / sha)


def test_url_artifact_with_wrong_digest_leaves_nothing_in_the_cache(tmp_path):
    path, sha = _artifact(tmp_path)
    cache = tmp_path / "cache"
    with pytest.raises(ArtifactDigestError, match=f"sha256 is {sha}"):
        verify_artifacts([{"name": "app.tar.gz", "url": f"file://{path}", "sha256": "1" * 64}], str(tmp_path), str(cache))
    assert os.listdir(cache) == []
