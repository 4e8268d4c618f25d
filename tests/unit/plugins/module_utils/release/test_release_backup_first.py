# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Backup first (issue 12): backup_paths and absolute config files are saved before any hook runs,
and a failed deploy (or a rollback) gives back what the hooks changed."""

from __future__ import annotations

import os
import shlex

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.release.backup import read_index
from ansible_collections.opsgate.release.plugins.module_utils.release.layout import Layout, current_release, present_releases
from ansible_collections.opsgate.release.plugins.module_utils.release.ledger import read_ledger
from ansible_collections.opsgate.release.plugins.module_utils.release.settle import commit_release, fail_release, rollback_release
from ansible_collections.opsgate.release.plugins.module_utils.release.stage import StageError, stage_release
from ansible_collections.opsgate.release.plugins.module_utils.release.switch import SwitchRequest, switch_release

from .release_fixtures import make_artifact, stage_request


@pytest.fixture
def host(tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    data = tmp_path / "shared-data"
    data.mkdir()
    (data / "accounts.db").write_text("original\n")
    return {"base": str(tmp_path / "base"), "artifacts": str(artifacts), "data": data, "notes": tmp_path / "etc" / "notes.conf"}


def _rewrite(path: os.PathLike[str]) -> str:
    return f"printf 'rewritten by a hook\\n' > {shlex.quote(str(path))}"


def _request(host, version: str, after_stage: list[str] | None = None, notes: str | None = None):
    path, sha = make_artifact(host["artifacts"], version)
    configs = [{"dest": "config/app.conf", "content": f"version={version}\n"}]
    if notes is not None:
        configs.append({"dest": str(host["notes"]), "content": notes})
    return stage_request(host["base"], path, sha, version, backup_paths=[str(host["data"])], after_stage=after_stage or [], config_files=configs)


def _deploy_good(host, version: str, notes: str | None = None) -> str:
    request = _request(host, version, notes=notes)
    stage_release(request)
    switch_release(SwitchRequest(host["base"], request.identity, config_files=request.config_files))
    commit_release(host["base"], request.identity, "deploy", 3)
    return request.identity.release_id


def _accounts(host) -> str:
    return (host["data"] / "accounts.db").read_text()


def test_a_before_switch_hook_that_rewrites_data_is_undone_when_the_health_check_fails(host):
    first = _deploy_good(host, "1.0.0", notes="notes of v1\n")
    request = _request(host, "2.0.0", notes="notes of v2\n")
    staged = stage_release(request)
    assert staged["backed_up"] == [str(host["data"]), str(host["notes"])]
    layout = Layout(host["base"])
    stage_line = read_ledger(layout.ledger)[-1]
    assert (stage_line.event, stage_line.extra) == ("stage", {"backup": True})

    switch_release(SwitchRequest(host["base"], request.identity, config_files=request.config_files, before_switch=[_rewrite(host["data"] / "accounts.db")]))
    assert _accounts(host) == "rewritten by a hook\n"
    assert host["notes"].read_text() == "notes of v2\n"

    result = fail_release(host["base"], request.identity, "health check failed")  # what the role does when the health check fails

    assert _accounts(host) == "original\n"
    assert host["notes"].read_text() == "notes of v1\n"
    assert sorted(result["restored"]) == sorted([str(host["data"]), str(host["notes"])])
    assert result["reverted_to"] == first and current_release(layout) == first
    last = read_ledger(layout.ledger)[-1]
    assert (last.state, last.event) == ("failed", "revert")
    assert f"backup restored: {host['data']}" in last.message


def test_an_after_stage_hook_that_rewrites_data_is_undone_when_the_health_check_fails(host):
    first = _deploy_good(host, "1.0.0")
    request = _request(host, "2.0.0", after_stage=[_rewrite(host["data"] / "accounts.db")])
    stage_release(request)
    assert _accounts(host) == "rewritten by a hook\n"
    index = read_index(Layout(host["base"]).backup(request.identity.release_id))
    assert [item["path"] for item in index["paths"]] == [str(host["data"])]
    switch_release(SwitchRequest(host["base"], request.identity, config_files=request.config_files))

    result = fail_release(host["base"], request.identity, "health check failed")

    assert _accounts(host) == "original\n"
    assert result["restored"] == [str(host["data"])]
    assert current_release(Layout(host["base"])) == first


def test_a_failing_after_stage_hook_restores_what_it_changed_and_drops_the_backup(host):
    first = _deploy_good(host, "1.0.0")
    request = _request(host, "2.0.0", after_stage=[_rewrite(host["data"] / "accounts.db") + " && exit 3"])

    with pytest.raises(StageError, match=rf"exited with 3.*current untouched \({first}\); backup restored: {host['data']}"):
        stage_release(request)

    layout = Layout(host["base"])
    assert _accounts(host) == "original\n"
    assert current_release(layout) == first
    assert present_releases(layout) == [first]
    assert not os.path.exists(layout.backup(request.identity.release_id))
    last = read_ledger(layout.ledger)[-1]
    assert (last.release_id, last.state, last.event) == (request.identity.release_id, "failed", "stage")
    assert "backup restored" in last.message
    # The revert the role runs next has nothing left to undo.
    assert fail_release(host["base"], request.identity, "stage failed")["changed"] is False


def test_a_stage_that_fails_before_any_hook_restores_nothing(host, monkeypatch):
    """Data the running release wrote after the backup is kept when no hook ran."""
    _deploy_good(host, "1.0.0")
    request = _request(host, "2.0.0", after_stage=[_rewrite(host["data"] / "accounts.db")])
    from ansible_collections.opsgate.release.plugins.module_utils.release import stage as stage_module

    def app_writes_then_disk_fills(*args, **kwargs):
        (host["data"] / "accounts.db").write_text("written by the running v1\n")
        raise OSError(28, "No space left on device", "big.bin")

    monkeypatch.setattr(stage_module, "place_artifact", app_writes_then_disk_fills)
    with pytest.raises(StageError, match="No space left on device") as raised:
        stage_release(request)
    assert "backup restored" not in str(raised.value)
    assert _accounts(host) == "written by the running v1\n"
    assert not os.path.exists(Layout(host["base"]).backup(request.identity.release_id))


def test_a_failing_before_switch_hook_is_undone_by_the_revert_with_current_untouched(host):
    first = _deploy_good(host, "1.0.0")
    request = _request(host, "2.0.0")
    stage_release(request)
    hook = _rewrite(host["data"] / "accounts.db") + " && false"
    with pytest.raises(StageError, match="before_switch hook"):
        switch_release(SwitchRequest(host["base"], request.identity, config_files=request.config_files, before_switch=[hook]))
    assert _accounts(host) == "rewritten by a hook\n"

    result = fail_release(host["base"], request.identity, "before_switch failed")

    assert _accounts(host) == "original\n"
    assert result["restored"] == [str(host["data"])]
    assert result["reverted_to"] is None
    assert current_release(Layout(host["base"])) == first


def test_the_switch_refuses_without_a_backup_from_this_deploys_stage(host, tmp_path):
    _deploy_good(host, "1.0.0")
    request = _request(host, "2.0.0")
    stage_release(request)
    fail_release(host["base"], request.identity, "stopped between stage and switch")  # the stage's backup is used up
    sentinel = tmp_path / "hook-ran"
    with pytest.raises(StageError, match=r"no backup was taken for .* before its hooks: run release_stage first"):
        switch_release(SwitchRequest(host["base"], request.identity, before_switch=[f"touch {shlex.quote(str(sentinel))}"]))
    assert not sentinel.exists()


def test_the_switch_refuses_an_absolute_config_the_stage_did_not_back_up(host, tmp_path):
    _deploy_good(host, "1.0.0")
    request = _request(host, "2.0.0")
    stage_release(request)
    other = {"dest": str(tmp_path / "elsewhere.conf"), "content": "x\n"}
    with pytest.raises(StageError, match=r"does not hold .*elsewhere\.conf"):
        switch_release(SwitchRequest(host["base"], request.identity, config_files=[*request.config_files, other]))
    assert not (tmp_path / "elsewhere.conf").exists()


def test_restaging_an_interrupted_release_takes_a_fresh_backup_before_its_hooks(host):
    """A release staged by a run that died before the switch: the next run backs up the data as it is now."""
    _deploy_good(host, "1.0.0")
    request = _request(host, "2.0.0")
    stage_release(request)  # the controller died here
    (host["data"] / "accounts.db").write_text("written by v1 since\n")
    again = stage_release(request)
    assert again["staged"] is False and again["changed"] is True
    switch_release(SwitchRequest(host["base"], request.identity, config_files=request.config_files, before_switch=[_rewrite(host["data"] / "accounts.db")]))
    fail_release(host["base"], request.identity, "health check failed")
    assert _accounts(host) == "written by v1 since\n"


def test_a_rollback_gives_back_the_data_as_it_was_before_the_hooks(host):
    first = _deploy_good(host, "1.0.0")
    request = _request(host, "2.0.0")
    stage_release(request)
    switch_release(SwitchRequest(host["base"], request.identity, config_files=request.config_files, before_switch=[_rewrite(host["data"] / "accounts.db")]))
    commit_release(host["base"], request.identity, "deploy", 3)
    assert _accounts(host) == "rewritten by a hook\n"

    from ansible_collections.opsgate.release.plugins.module_utils.release.stage import ReleaseIdentity

    path, sha1 = make_artifact(host["artifacts"], "1.0.0")
    assert path
    result = rollback_release(host["base"], ReleaseIdentity(first, "app", "1.0.0", sha1, "CHG-RB", "apv-rb", "tester"), None)

    assert result["restored"] == [str(host["data"])]
    assert _accounts(host) == "original\n"
