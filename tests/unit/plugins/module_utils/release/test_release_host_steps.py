# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stage, switch, commit, revert and rollback on a real base directory (service type none or a real process)."""

from __future__ import annotations

import os
import time

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.release.layout import Layout, current_release, present_releases
from ansible_collections.opsgate.release.plugins.module_utils.release.ledger import LedgerEntry, append_entry, latest_states, read_ledger
from ansible_collections.opsgate.release.plugins.module_utils.release.service import ServiceDefinition, is_active, restart, running_pid
from ansible_collections.opsgate.release.plugins.module_utils.release.settle import commit_release, fail_release, release_report, rollback_release
from ansible_collections.opsgate.release.plugins.module_utils.release.stage import StageError, stage_release
from ansible_collections.opsgate.release.plugins.module_utils.release.switch import SwitchRequest, switch_release

from .release_fixtures import make_artifact, stage_request


def _deploy(base: str, artifacts: str, version: str, backup_paths: list[str] | None = None, keep: int = 3) -> str:
    path, sha = make_artifact(artifacts, version)
    request = stage_request(base, path, sha, version, backup_paths=backup_paths or [])
    stage_release(request)
    switch_release(SwitchRequest(base, request.identity))
    commit_release(base, request.identity, "deploy", keep)
    return request.identity.release_id


@pytest.fixture
def dirs(tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    return str(tmp_path / "base"), str(artifacts)


def test_deploy_creates_the_layout_config_and_ledger(dirs):
    base, artifacts = dirs
    release_id = _deploy(base, artifacts, "1.0.0")
    layout = Layout(base)
    assert current_release(layout) == release_id
    with open(os.path.join(base, "current", "config", "app.conf")) as handle:
        assert handle.read() == "version=1.0.0\n"
    assert os.stat(os.path.join(base, "current", "config", "app.conf")).st_mode & 0o777 == 0o640
    states = [(e.state, e.event) for e in read_ledger(layout.ledger)]
    assert states == [("deploying", "stage"), ("deploying", "switch"), ("good", "deploy")]
    assert all(e.token_id == "apv-test" and e.who == "tester" and e.host_user for e in read_ledger(layout.ledger))


def test_rerun_of_the_same_release_changes_nothing(dirs):
    base, artifacts = dirs
    _deploy(base, artifacts, "1.0.0")
    path, sha = make_artifact(artifacts, "1.0.0")
    request = stage_request(base, path, sha, "1.0.0")
    with open(Layout(base).ledger) as handle:
        before = handle.read()
    assert stage_release(request)["changed"] is False
    assert switch_release(SwitchRequest(base, request.identity))["changed"] is False
    assert commit_release(base, request.identity, "deploy", 3)["changed"] is False
    with open(Layout(base).ledger) as handle:
        assert handle.read() == before


def test_a_digest_mismatch_on_the_host_leaves_current_and_no_staging(dirs):
    base, artifacts = dirs
    first = _deploy(base, artifacts, "1.0.0")
    path, _sha = make_artifact(artifacts, "2.0.0")
    request = stage_request(base, path, "0" * 64, "2.0.0")
    with pytest.raises(StageError, match=f"current untouched \\({first}\\)"):
        stage_release(request)
    layout = Layout(base)
    assert current_release(layout) == first
    assert not [name for name in os.listdir(layout.releases) if name.startswith(".staging")]
    assert latest_states(read_ledger(layout.ledger))[request.identity.release_id].state == "failed"


def test_a_full_disk_during_unpack_leaves_current_untouched(dirs, monkeypatch):
    base, artifacts = dirs
    first = _deploy(base, artifacts, "1.0.0")
    path, sha = make_artifact(artifacts, "2.0.0", {"big.bin": b"x" * 1000})
    from ansible_collections.opsgate.release.plugins.module_utils.release import stage as stage_module

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", "big.bin")

    monkeypatch.setattr(stage_module, "place_artifact", full_disk)
    with pytest.raises(StageError, match=r"No space left on device.*current untouched"):
        stage_release(stage_request(base, path, sha, "2.0.0"))
    assert current_release(Layout(base)) == first
    assert present_releases(Layout(base)) == [first]


def test_check_mode_changes_nothing(dirs):
    base, artifacts = dirs
    first = _deploy(base, artifacts, "1.0.0")
    path, sha = make_artifact(artifacts, "2.0.0")
    request = stage_request(base, path, sha, "2.0.0")
    snapshot = sorted(os.walk(base))
    assert stage_release(request, check_mode=True)["changed"] is True
    assert switch_release(SwitchRequest(base, request.identity), check_mode=True)["changed"] is True
    assert sorted(os.walk(base)) == snapshot
    assert current_release(Layout(base)) == first


def test_a_release_is_never_changed_in_place(dirs):
    base, artifacts = dirs
    _deploy(base, artifacts, "1.0.0")
    path, sha = make_artifact(artifacts, "1.0.0")
    request = stage_request(base, path, sha, "1.0.0", config_files=[{"dest": "config/app.conf", "content": "changed\n"}])
    with pytest.raises(StageError, match=r"exists with other config \(config/app.conf\)"):
        stage_release(request)


def test_an_interrupted_deploy_is_detected_and_cleaned_by_the_next_run(dirs):
    base, artifacts = dirs
    first = _deploy(base, artifacts, "1.0.0")
    path, sha = make_artifact(artifacts, "2.0.0")
    killed = stage_request(base, path, sha, "2.0.0")
    stage_release(killed)  # the controller died here: deploying, never switched
    path3, sha3 = make_artifact(artifacts, "3.0.0")
    result = stage_release(stage_request(base, path3, sha3, "3.0.0"))
    assert result["interrupted"] == [killed.identity.release_id]
    layout = Layout(base)
    state = latest_states(read_ledger(layout.ledger))[killed.identity.release_id]
    assert (state.state, state.event) == ("failed", "interrupted")
    assert killed.identity.release_id not in present_releases(layout)
    assert current_release(layout) == first


def test_an_interrupted_deploy_of_the_same_release_is_finished(dirs):
    base, artifacts = dirs
    _deploy(base, artifacts, "1.0.0")
    path, sha = make_artifact(artifacts, "2.0.0")
    request = stage_request(base, path, sha, "2.0.0")
    stage_release(request)
    switch_release(SwitchRequest(base, request.identity))  # killed before the health check
    assert stage_release(request)["interrupted"] == []
    again = switch_release(SwitchRequest(base, request.identity))
    assert again["switched"] is False and again["changed"] is True  # restarts the unfinished release
    assert commit_release(base, request.identity, "deploy", 3)["changed"] is True


def test_failed_deploy_switches_back_and_restores_the_backup(dirs, tmp_path):
    base, artifacts = dirs
    data = tmp_path / "data.txt"
    data.write_text("v1 data\n")
    first = _deploy(base, artifacts, "1.0.0", backup_paths=[str(data)])
    path, sha = make_artifact(artifacts, "2.0.0")
    request = stage_request(base, path, sha, "2.0.0", backup_paths=[str(data)])
    stage_release(request)
    switch_release(SwitchRequest(base, request.identity))
    data.write_text("migrated by v2\n")
    result = fail_release(base, request.identity, "health check failed")
    assert result["reverted_to"] == first
    assert result["restored"] == [str(data)]
    assert data.read_text() == "v1 data\n"
    layout = Layout(base)
    assert current_release(layout) == first
    last = read_ledger(layout.ledger)[-1]
    assert (last.release_id, last.state, last.event) == (request.identity.release_id, "failed", "revert")
    assert "health check failed" in last.message and first in last.message


def test_failed_first_deploy_removes_current(dirs):
    base, artifacts = dirs
    path, sha = make_artifact(artifacts, "1.0.0")
    request = stage_request(base, path, sha, "1.0.0")
    stage_release(request)
    switch_release(SwitchRequest(base, request.identity))
    result = fail_release(base, request.identity, "broken")
    assert result["reverted_to"] is None
    assert current_release(Layout(base)) is None


def test_rollback_restores_the_backup_taken_when_the_target_was_left(dirs, tmp_path):
    base, artifacts = dirs
    config = tmp_path / "host.conf"
    config.write_text("v1 host config\n")
    first = _deploy(base, artifacts, "1.0.0", backup_paths=[str(config)])
    second = _deploy(base, artifacts, "2.0.0", backup_paths=[str(config)])
    config.write_text("v2 host config\n")  # what v2 changed after it went live
    report = release_report(base)
    assert report["rollback_target"]["release_id"] == first
    _path, sha1 = make_artifact(artifacts, "1.0.0")
    from ansible_collections.opsgate.release.plugins.module_utils.release.stage import ReleaseIdentity

    identity = ReleaseIdentity(first, "app", "1.0.0", sha1, "CHG-RB", "apv-rb", "tester")
    result = rollback_release(base, identity, None)
    assert result["from_release"] == second and result["release_id"] == first
    assert config.read_text() == "v1 host config\n"
    commit_release(base, identity, "rollback", 3)
    entries = read_ledger(Layout(base).ledger)
    story = [(e.release_id, e.state, e.event) for e in entries if e.event != "cleanup"]
    assert story[-2:] == [(second, "rolled_back", "rollback"), (first, "good", "rollback")]
    refusal = release_report(base)["rollback_refusal"]
    assert "a host with a single release cannot roll back" in refusal


def test_the_report_names_the_release_the_last_rollback_left_while_its_target_runs(dirs):
    """What the rollback role reads on a host that is back already: the release whose database migrations are still to
    be put back (a rollback whose database restore failed, run again with a new approval)."""
    from ansible_collections.opsgate.release.plugins.module_utils.release.stage import ReleaseIdentity

    base, artifacts = dirs
    first = _deploy(base, artifacts, "1.0.0")
    second = _deploy(base, artifacts, "2.0.0")
    assert release_report(base)["rolled_back_from"] is None  # good by its deploy
    _path, sha1 = make_artifact(artifacts, "1.0.0")
    identity = ReleaseIdentity(first, "app", "1.0.0", sha1, "CHG-RB", "apv-rb", "tester")
    rollback_release(base, identity, None)
    assert release_report(base)["rolled_back_from"] is None  # switched back, not recorded good yet
    commit_release(base, identity, "rollback", 1)  # retention removes 2.0.0's directory: its ledger lines stay
    assert release_report(base)["rolled_back_from"] == second
    third = _deploy(base, artifacts, "3.0.0")
    assert release_report(base)["current"] == third and release_report(base)["rolled_back_from"] is None


def test_rollback_refuses_on_the_host_when_the_approved_release_is_not_the_good_target(dirs):
    base, artifacts = dirs
    first = _deploy(base, artifacts, "1.0.0")
    second = _deploy(base, artifacts, "2.0.0")
    from ansible_collections.opsgate.release.plugins.module_utils.release.rollback_target import NoRollbackTarget
    from ansible_collections.opsgate.release.plugins.module_utils.release.stage import ReleaseIdentity

    before = read_ledger(Layout(base).ledger)
    # Approved: 0.9.0, which this host never ran; the good target here is 1.0.0.
    identity = ReleaseIdentity(first, "app", "0.9.0", "ab" * 32, "CHG-RB", "apv-rb", "tester")
    with pytest.raises(NoRollbackTarget, match=r"the approval is for version 0\.9\.0"):
        rollback_release(base, identity, None)
    assert current_release(Layout(base)) == second
    assert read_ledger(Layout(base).ledger) == before


def test_command_mode_runs_without_systemd_and_restarts_the_process(tmp_path):
    run_dir = str(tmp_path / "run")
    service = ServiceDefinition.from_dict({"type": "command", "name": "sleeper", "start": "sleep 60", "stop_timeout": 5})
    restart(service, run_dir, str(tmp_path))
    first = running_pid(run_dir, service)
    assert first is not None and is_active(service, run_dir)
    restart(service, run_dir, str(tmp_path))
    second = running_pid(run_dir, service)
    assert second is not None and second != first
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(first, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"old process {first} still runs")
    os.killpg(second, 15)


def test_command_mode_reports_a_start_command_that_dies(tmp_path):
    from ansible_collections.opsgate.release.plugins.module_utils.release.service import ServiceError

    service = ServiceDefinition.from_dict({"type": "command", "name": "dies", "start": "false"})
    with pytest.raises(ServiceError, match="exited at once with status 1"):
        restart(service, str(tmp_path / "run"), str(tmp_path))


def test_ledger_line_from_an_older_run_is_readable(dirs):
    base, artifacts = dirs
    _deploy(base, artifacts, "1.0.0")
    append_entry(Layout(base).ledger, LedgerEntry(release_id="legacy", state="good", event="deploy", at="2020-01-01T00:00:00Z"))
    assert "legacy" in latest_states(read_ledger(Layout(base).ledger))


def test_a_hostile_archive_fails_mid_unpack_and_leaves_nothing(dirs):
    import io
    import tarfile

    base, artifacts = dirs
    first = _deploy(base, artifacts, "1.0.0")
    path = os.path.join(artifacts, "evil.tar.gz")
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("ok.txt")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"ok"))
        escape = tarfile.TarInfo("../../escape.txt")
        escape.size = 1
        archive.addfile(escape, io.BytesIO(b"x"))
    with open(path, "rb") as handle:
        import hashlib

        sha = hashlib.sha256(handle.read()).hexdigest()
    with pytest.raises(StageError, match="would land outside the release directory"):
        stage_release(stage_request(base, path, sha, "6.6.6"))
    layout = Layout(base)
    assert current_release(layout) == first
    assert sorted(os.listdir(layout.releases)) == [first]
    assert not os.path.exists(os.path.join(os.path.dirname(base), "escape.txt"))
