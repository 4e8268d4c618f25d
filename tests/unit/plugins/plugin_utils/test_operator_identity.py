# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One identity (issue 12): the operator is the real uid's account, or the AWX launching user read from the job's own files."""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from types import SimpleNamespace

import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.host_approval import ApprovalRefused
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.operator_identity import current_operator
from ansible_collections.opsgate.release.plugins.plugin_utils.operator_identity import operator_identity, real_user
from ansible_collections.opsgate.release.plugins.plugin_utils.release_actions.host_change_action import HostChangeAction

ME = pwd.getpwuid(os.getuid()).pw_name
# What AWX writes (awx.main.utils.safe_yaml.safe_dump): one mapping per key, keys and values tagged !unsafe,
# the launch's and survey's extra vars first, its meta vars after them.
AWX_EXTRAVARS = """!unsafe 'opsgate_target_hosts': !unsafe 'app_slots'
!unsafe 'awx_job_id': 4711
!unsafe 'awx_job_template_name': !unsafe 'opsgate deploy'
!unsafe 'awx_user_name': !unsafe 'ops-oncall'
!unsafe 'tower_user_name': !unsafe 'ops-oncall'
"""


def _awx_job(tmp_path: Path, extravars: str = AWX_EXTRAVARS, job_id: str = "4711") -> dict[str, str]:
    private = tmp_path / "awx_job"
    (private / "env").mkdir(parents=True)
    (private / "artifacts" / job_id).mkdir(parents=True)
    (private / "env" / "extravars").write_text(extravars)
    os.chmod(private / "env" / "extravars", 0o600)
    return {"JOB_ID": job_id, "AWX_ISOLATED_DATA_DIR": str(private / "artifacts" / job_id), "USER": "mallory"}


def test_a_local_run_names_the_real_uid_not_user_or_logname(monkeypatch) -> None:
    assert ME != "mallory"
    monkeypatch.setenv("USER", "mallory")
    monkeypatch.setenv("LOGNAME", "mallory")
    monkeypatch.delenv("JOB_ID", raising=False)
    operator = operator_identity()
    assert (operator.user, operator.local_user, operator.source) == (ME, ME, "local")
    assert current_operator()["user"] == ME


def test_awx_variables_name_nobody(monkeypatch) -> None:
    """-e awx_user_name=... (or any variable) reaches neither the archive's operator nor the identity."""
    monkeypatch.delenv("JOB_ID", raising=False)
    record = current_operator({"awx_user_name": "mallory", "awx_job_id": 1, "deploy_who": "mallory"})
    assert record == {"source": "local", "user": ME, "local_user": ME, "controller": record["controller"]}


def test_real_user_of_an_unnamed_uid_is_its_number() -> None:
    unnamed = next(uid for uid in range(54321, 65000) if not _has_account(uid))
    assert real_user(unnamed) == str(unnamed)
    assert operator_identity({}, uid=unnamed, controller="ctl").as_dict() == {
        "source": "local",
        "user": str(unnamed),
        "local_user": str(unnamed),
        "controller": "ctl",
    }


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def test_under_awx_the_launching_user_comes_from_the_jobs_extravars(tmp_path: Path) -> None:
    operator = operator_identity(_awx_job(tmp_path), controller="ee-pod")
    assert operator.as_dict() == {
        "source": "awx",
        "user": "ops-oncall",
        "local_user": ME,
        "controller": "ee-pod",
        "awx_job_id": "4711",
        "awx_job_template": "opsgate deploy",
    }


def test_plain_yaml_or_json_extravars_are_read_too(tmp_path: Path) -> None:
    environ = _awx_job(tmp_path, '{"awx_user_name": "alice", "awx_job_id": "4711"}')
    assert operator_identity(environ).user == "alice"


@pytest.mark.parametrize(
    ("extravars", "why"),
    [
        ("awx_job_id: 4712\nawx_user_name: mallory\n", "name job 4712, the environment JOB_ID 4711"),
        ("awx_job_id: 4711\n", "no awx_user_name"),
        ('awx_job_id: 4711\nawx_user_name: "mal\\nlory"\n', "control characters"),
        ("- not a mapping\n", "not a YAML mapping"),
        ("awx_user_name: [unclosed\n", "not a YAML mapping"),
    ],
)
def test_an_awx_user_that_cannot_be_verified_names_the_real_uid(tmp_path: Path, extravars: str, why: str) -> None:
    operator = operator_identity(_awx_job(tmp_path, extravars))
    assert (operator.user, operator.source, operator.awx_job_id) == (ME, "local", "4711")
    assert why in operator.awx_unverified


def test_an_extravars_file_others_can_write_or_a_link_is_not_trusted(tmp_path: Path) -> None:
    environ = _awx_job(tmp_path)
    extravars = Path(environ["AWX_ISOLATED_DATA_DIR"]).parents[1] / "env" / "extravars"
    os.chmod(extravars, 0o666)
    assert "writable by others" in operator_identity(environ).awx_unverified
    os.chmod(extravars, 0o600)
    real = tmp_path / "elsewhere"
    extravars.rename(real)
    extravars.symlink_to(real)
    assert "not a regular file" in operator_identity(environ).awx_unverified


def test_job_id_without_the_runner_directory_is_unverified() -> None:
    operator = operator_identity({"JOB_ID": "9"})
    assert (operator.user, operator.awx_job_id) == (ME, "9")
    assert "AWX_ISOLATED_DATA_DIR" in operator.awx_unverified
    operator = operator_identity({"JOB_ID": "9", "AWX_ISOLATED_DATA_DIR": "/runner/elsewhere/9"})
    assert "artifacts/<ident>" in operator.awx_unverified


def _action(args: dict[str, object]) -> HostChangeAction:
    action = HostChangeAction.__new__(HostChangeAction)
    action._task = SimpleNamespace(args=args)  # pylint: disable=protected-access
    return action


def test_the_release_actions_set_who_themselves_and_refuse_it_as_a_task_argument(monkeypatch) -> None:
    monkeypatch.setenv("USER", "mallory")
    monkeypatch.delenv("JOB_ID", raising=False)
    approval = {"token_id": "apv-1", "change_id": "CHG-1", "token_sha256": "0" * 64}
    args = _action({"approval": {}, "base_dir": "/srv/app", "release_id": "r1"})._module_args(approval)  # pylint: disable=protected-access
    assert (args["who"], args["token_id"], args["change_id"]) == (ME, "apv-1", "CHG-1")
    assert "approval" not in args
    with pytest.raises(ApprovalRefused, match="who is not a task argument") as refused:
        _action({"approval": {}, "base_dir": "/srv/app", "release_id": "r1", "who": "mallory"})._module_args(approval)  # pylint: disable=protected-access
    assert refused.value.code == "RELEASE_WHO_REFUSED"
