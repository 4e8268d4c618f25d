# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record building from synthetic event sequences."""

from __future__ import annotations

import json

from archive_events import APPROVAL, args, at, deploy_events, event, recorder

from ansible_collections.opsgate.release.plugins.plugin_utils.archive.record import format_time

OLD = "1.0.0-CHG-2025-0001-aaaaaaaaaaaa"


def _deploy_record() -> dict:
    run = recorder()
    run.play_started("Deploy a release", ["web1", "web2", "web3"])
    for item in deploy_events():
        run.task_result(item)
    run.ended(
        {
            "web1": {"ok": 6, "changed": 4, "failures": 0, "unreachable": 0, "rescued": 0},
            "web2": {"ok": 5, "changed": 3, "failures": 1, "unreachable": 0, "rescued": 1},
        }
    )
    return run.record(ended=at(5))


def test_deploy_run_records_versions_rollback_gate_and_approval() -> None:
    record = _deploy_record()
    assert record["status"] == "failed"
    assert record["change_id"] == "CHG-2025-0042"
    assert record["app"] == "accounts-api"
    assert record["version"] == "1.1.0"
    assert record["token_id"] == "apv-0123456789abcdef"
    assert record["signer_roles"] == APPROVAL["signer_roles"]
    web1, web2, web3 = (record["hosts"][name] for name in ("web1", "web2", "web3"))
    assert web1["result"] == "changed"
    assert web1["release_before"] == OLD
    assert web1["version_after"] == "1.1.0"
    assert web1["rolled_back"] is False
    assert web1["failed_gate"] is None
    assert web2["result"] == "failed"
    assert web2["rolled_back"] is True
    assert web2["release_after"] == OLD
    assert web2["failed_gate"]["gate"] == "health"
    assert "503" in web2["failed_gate"]["message"]
    # web3 was targeted but never reached: it is in the record, untouched.
    assert web3["result"] == "skipped"
    assert web3["version_after"] is None
    assert record["started"] == "2025-05-30T20:00:00Z"
    assert record["ended"] == "2025-05-30T20:05:00Z"
    json.dumps(record)


def test_rescued_failure_does_not_fail_a_host_that_stats_say_succeeded() -> None:
    run = recorder()
    run.task_result(event("web1", "ansible.builtin.uri", "failed", {"msg": "timeout"}, task_path="/r/roles/deploy/tasks/health.yml:3"))
    run.task_result(event("web1", "ansible.builtin.debug", "ok"))
    assert run.record()["hosts"]["web1"]["result"] == "failed"
    run.ended({"web1": {"ok": 2, "changed": 0, "failures": 0, "unreachable": 0, "rescued": 1}})
    record = run.record(ended=at(1))
    assert record["hosts"]["web1"]["result"] == "ok"
    assert record["status"] == "success"


def test_ignored_failure_counts_as_ok_and_sets_no_gate() -> None:
    run = recorder()
    run.task_result(event("h", "opsgate.release.host_facts", "failed", {"msg": "boom"}, ignored=True))
    entry = run.record()["hosts"]["h"]
    assert entry["result"] == "ok"
    assert entry["failed_task"] is None


def test_rollback_run_reads_version_before_from_release_info() -> None:
    run = recorder(playbook="playbooks/rollback.yml")
    target = "1.0.0-CHG-2025-0001-aaaaaaaaaaaa"
    current = "1.1.0-CHG-2025-0042-abababababab"
    run.task_result(event("web1", "opsgate.release.release_info", "ok", {"current": current, "current_marker": {"version": "1.1.0"}}))
    run.task_result(event("web1", "opsgate.release.approval_gate", "changed", dict(APPROVAL)))
    run.task_result(
        event("web1", "opsgate.release.release_revert", "changed", {**args("1.0.0", target, mode="rollback"), "release_id": target, "from_release": current})
    )
    run.task_result(event("web1", "opsgate.release.release_commit", "changed", {**args("1.0.0", target, event="rollback"), "state": "good"}))
    run.ended({"web1": {"ok": 4, "changed": 3, "failures": 0, "unreachable": 0}})
    entry = run.record(ended=at(2))["hosts"]["web1"]
    assert (entry["version_before"], entry["version_after"]) == ("1.1.0", "1.0.0")
    assert (entry["release_before"], entry["release_after"]) == (current, target)
    assert entry["rolled_back"] is True


def test_release_before_from_the_readiness_collection_and_not_from_an_unreadable_one() -> None:
    run = recorder()
    before = "1.0.0-CHG-2025-0001-aaaaaaaaaaaa"
    running = {"base_dir": "/srv/app", "current": before, "version": "1.0.0", "state": "good", "error": None}
    run.task_result(event("web1", "opsgate.release.preflight_collect", "ok", {"collected": True, "running_release": running}))
    unreadable = {"base_dir": "/srv/app", "current": "junk", "version": "9", "state": None, "error": "cannot read releases in /srv/app"}
    run.task_result(event("web2", "opsgate.release.preflight_collect", "ok", {"collected": True, "running_release": unreadable}))
    # A later observation (the switch's previous) does not replace the first one.
    run.task_result(event("web1", "opsgate.release.release_switch", "changed", {**args("2.0.0", "2.0.0-x"), "previous": "other", "switched": True}))
    run.ended({"web1": {"ok": 2, "changed": 1, "failures": 0, "unreachable": 0}, "web2": {"ok": 1, "changed": 0, "failures": 0, "unreachable": 0}})
    hosts = run.record(ended=at(1))["hosts"]
    assert (hosts["web1"]["release_before"], hosts["web1"]["version_before"]) == (before, "1.0.0")
    assert (hosts["web2"]["release_before"], hosts["web2"]["version_before"]) == (None, None)


def test_refused_approval_marks_every_targeted_host_with_the_gate() -> None:
    run = recorder()
    run.play_started("Deploy", ["web1", "web2"])
    refused = {"msg": "approval refused [APPROVAL_ROLE_MISSING]: risk_compliance did not sign", "approval_error": "APPROVAL_ROLE_MISSING"}
    run.task_result(event("web1", "opsgate.release.approval_gate", "failed", refused, task_name="Verify the approval"))
    run.ended({"web1": {"ok": 1, "changed": 0, "failures": 1, "unreachable": 0}})
    record = run.record(ended=at(1))
    assert record["status"] == "failed"
    assert record["approval"] is None
    assert record["approval_error"]["code"] == "APPROVAL_ROLE_MISSING"
    for name in ("web1", "web2"):
        assert record["hosts"][name]["failed_gate"]["gate"] == "approval"
        assert record["hosts"][name]["failed_gate"]["code"] == "APPROVAL_ROLE_MISSING"
    assert record["hosts"]["web2"]["version_after"] is None


def test_preflight_summary_and_not_ready_hosts() -> None:
    run = recorder(playbook="playbooks/preflight.yml", declared_change_id="CHG-2025-0042")
    summary = {"ready": False, "hosts": 2, "hosts_ready": 1, "not_ready": ["db1"], "checks": {"pass": 30, "fail": 2}}
    run.task_result(
        event("localhost", "opsgate.release.preflight_evaluate", "ok", {"summary": summary, "ready": False, "not_ready": ["db1"], "report_dir": "/r"})
    )
    run.task_result(event("db1", "ansible.builtin.fail", "failed", {"msg": "db1 is not ready"}, task_path="/c/roles/preflight/tasks/verdict.yml:3"))
    run.ended({"db1": {"ok": 1, "failures": 1}, "localhost": {"ok": 3}})
    record = run.record(ended=at(1))
    assert record["change_id"] == "CHG-2025-0042"
    assert record["preflight"]["summary"]["hosts_ready"] == 1
    assert record["preflight"]["report_dir"] == "/r"
    assert record["hosts"]["db1"]["failed_gate"]["gate"] == "preflight"
    assert record["hosts"]["localhost"]["failed_gate"] is None


def test_a_verified_token_change_id_wins_over_the_declared_one() -> None:
    run = recorder(declared_change_id="CHG-TYPO")
    run.task_result(event("web1", "opsgate.release.approval_gate", "ok", dict(APPROVAL)))
    assert run.record()["change_id"] == "CHG-2025-0042"


def test_approval_fields_are_allow_listed() -> None:
    run = recorder()
    leaked = {**APPROVAL, "token": "v1.SECRET", "invocation": {"module_args": {"token": "v1.SECRET"}}}
    run.task_result(event("web1", "opsgate.release.approval_gate", "ok", leaked))
    assert "SECRET" not in json.dumps(run.record())


def test_status_running_interrupted_and_no_stats() -> None:
    run = recorder()
    run.task_result(event("web1", "ansible.builtin.wait_for", "ok"))
    assert run.record()["status"] == "running"
    assert run.record()["ended"] is None
    interrupted = run.record(ended=at(1), interrupted_by="SIGTERM")
    assert (interrupted["status"], interrupted["interrupted_by"]) == ("interrupted", "SIGTERM")
    # Ended without play statistics and without a signal: an error outside the tasks, not a success.
    assert run.record(ended=at(1))["status"] == "failed"


def test_format_time_is_utc() -> None:
    from datetime import datetime, timedelta, timezone

    assert format_time(datetime(2025, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))) == "2025-01-01T00:00:00Z"
    assert format_time(datetime(2025, 1, 1, 8, 0)) == "2025-01-01T08:00:00Z"


def test_task_args_as_the_callback_passes_them() -> None:
    # ansible-core 2.19+ results carry no invocation: the callback hands over the templated task args.
    run = recorder()
    rid = "2.0.0-CHG-2025-0042-abababababab"
    task_args = {"app": "accounts-api", "version": "2.0.0", "change_id": "CHG-2025-0042", "release_id": rid}
    run.task_result(event("web1", "opsgate.release.release_switch", "changed", {"previous": "old", "switched": True}, args=task_args))
    run.task_result(event("web1", "opsgate.release.release_commit", "changed", {"state": "good"}, args=task_args))
    record = run.record()
    assert (record["app"], record["version"], record["release_id"]) == ("accounts-api", "2.0.0", rid)
    assert (record["hosts"]["web1"]["release_before"], record["hosts"]["web1"]["version_after"]) == ("old", "2.0.0")


def test_a_host_no_release_step_reached_keeps_its_release_before_as_after() -> None:
    """An aborted or refused run: every host has its release before and after, the unreached ones unchanged."""
    run = recorder()
    old = "1.0.0-CHG-2025-0001-aaaaaaaaaaaa"
    for host in ("web1", "web2", "web3"):
        run.task_result(event(host, "opsgate.release.release_info", "ok", {"current": old, "current_marker": {"version": "1.0.0"}}))
    # web1 switched; web2's switch failed halfway (its state is unknown); web3 was never reached.
    run.task_result(event("web1", "opsgate.release.release_switch", "changed", {**args("1.1.0", "1.1.0-CHG-2025-0042-abababababab"), "switched": True}))
    run.task_result(event("web2", "opsgate.release.release_switch", "failed", {"msg": "restart failed"}))
    hosts = run.record()["hosts"]
    assert (hosts["web1"]["version_before"], hosts["web1"]["version_after"], hosts["web1"]["touched"]) == ("1.0.0", "1.1.0", True)
    assert (hosts["web2"]["version_before"], hosts["web2"]["version_after"], hosts["web2"]["touched"]) == ("1.0.0", None, True)
    assert (hosts["web3"]["release_before"], hosts["web3"]["release_after"]) == (old, old)
    assert (hosts["web3"]["version_before"], hosts["web3"]["version_after"], hosts["web3"]["touched"]) == ("1.0.0", "1.0.0", False)
