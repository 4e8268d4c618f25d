# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""release_switch's follow-ups (health check, then commit) and the health check they share with release_health.

The health check probes a real command on this machine; the steps are recorded by a stand-in for run_step, whose
own checks are tested in test_release_host_steps.py and in the playbook tests.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.release.health_gate import Probe, hold_to_health, wait_until_listening
from ansible_collections.opsgate.release.plugins.module_utils.release.module_entry import switch_follow_ups
from ansible_collections.opsgate.release.plugins.module_utils.release.steps import StepFailed

GOOD = {"type": "command", "command": "true", "retries": 2, "interval": 0}
BAD = {"type": "command", "command": "false", "retries": 2, "interval": 0}
GATE = {"consecutive_successes": 2, "failure_limit": 0, "interval": 0, "timeout": 0}
PARAMS = {
    "base_dir": "/srv/app",
    "release_id": "2.0.0-CHG-1-abc",
    "app": "app",
    "version": "2.0.0",
    "artifact_sha256": "a" * 64,
    "change_id": "CHG-1",
    "token_id": "tok",
    "who": "ops",
    "approval": None,
    "change": None,
    "host_token": "secret-token",
    "host_policy": "policy",
    "host_change": {"change_id": "CHG-1"},
    "config_files": [],
    "config_mode": "0640",
    "before_switch": [],
}
SWITCHED = {"changed": True, "switched": True, "previous": "1.0.0-CHG-0-def", "msg": "switched to 2.0.0-CHG-1-abc"}


class Steps:
    """Records each step it is asked to run; fails the one named in ``failing``."""

    def __init__(self, failing: str = "") -> None:
        self.calls: list[tuple[str, dict[str, Any], bool]] = []
        self.failing = failing

    def __call__(self, step: str, params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
        self.calls.append((step, params, check_mode))
        if step == self.failing:
            raise StepFailed(f"{step} failed: disk full", changed=False)
        return {"changed": True, "state": "good"}


def _then(health: dict[str, Any] | None, commit: bool, gate: dict[str, Any] | None = None) -> dict[str, Any]:
    then_health = None
    if health is not None:
        then_health = {"health": health, "version": "2.0.0", "label": "app 2.0.0 on web1", "gate": gate, "wait_for_start": gate is not None}
    return {"then_health": then_health, "then_commit": {"keep_releases": 4} if commit else None}


def test_a_healthy_release_is_committed_with_the_switch_s_identity_and_host_check() -> None:
    steps = Steps()

    result = switch_follow_ups(dict(PARAMS), _then(GOOD, commit=True), SWITCHED, steps, False)

    assert result["committed"] is True and result["health"]["passed"] is True and result["previous"] == SWITCHED["previous"]
    [(step, params, check_mode)] = steps.calls
    assert (step, check_mode) == ("release_commit", False)
    assert params["event"] == "deploy" and params["keep_releases"] == 4 and params["note"] == ""
    for key in ("base_dir", "release_id", "app", "version", "artifact_sha256", "change_id", "token_id", "who", "host_token", "host_policy", "host_change"):
        assert params[key] == PARAMS[key], key
    assert "config_files" not in params and "before_switch" not in params


def test_a_failed_health_check_commits_nothing_and_names_the_step() -> None:
    steps = Steps()

    with pytest.raises(StepFailed) as failed:
        switch_follow_ups(dict(PARAMS), _then(BAD, commit=True), SWITCHED, steps, False)

    assert steps.calls == []
    assert failed.value.fields["failed_step"] == "health" and failed.value.fields["switched"] is True
    assert failed.value.fields["previous"] == SWITCHED["previous"]
    assert failed.value.msg.startswith("health check of app 2.0.0 on web1 failed after 2 tries"), failed.value.msg
    assert "(wanted false to exit 0)" in failed.value.msg


def test_a_failed_rollout_gate_is_named_gate_after_the_start_up_check_passed() -> None:
    answers = iter([True, True, False])

    def probe(_spec: Any) -> Probe:
        good = next(answers)
        return Probe(good, "good" if good else "exit 1", 0 if good else 1)

    outcome = hold_to_health(GOOD, "2.0.0", "app", GATE, wait_for_start=True, probe=probe, sleep=lambda _s: None)

    assert outcome.passed is False and outcome.answer["health_gate"] == "rollout" and outcome.answer["probes"] == 3
    assert "(the rollout plan's gate)" in outcome.msg


def test_the_gate_of_the_switch_call_fails_as_gate() -> None:
    steps = Steps()

    with pytest.raises(StepFailed) as failed:
        switch_follow_ups(dict(PARAMS), _then(BAD, commit=True, gate=GATE), SWITCHED, steps, False)

    # The start-up check decides first (and fails): the manifest's rule, so "health".
    assert failed.value.fields["failed_step"] == "health" and steps.calls == []


def test_a_commit_that_fails_is_named_commit_and_keeps_the_switch_and_health_fields() -> None:
    steps = Steps(failing="release_commit")

    with pytest.raises(StepFailed) as failed:
        switch_follow_ups(dict(PARAMS), _then(GOOD, commit=True), SWITCHED, steps, False)

    assert failed.value.fields["failed_step"] == "commit" and failed.value.fields["health"]["passed"] is True
    assert failed.value.msg == "release_commit failed: disk full"


def test_a_commit_without_a_health_check_is_refused() -> None:
    steps = Steps()

    with pytest.raises(StepFailed) as failed:
        switch_follow_ups(dict(PARAMS), _then(None, commit=True), SWITCHED, steps, False)

    assert steps.calls == [] and failed.value.fields["failed_step"] == "commit"
    assert "then_commit needs then_health" in failed.value.msg


def test_a_health_check_alone_does_not_commit() -> None:
    steps = Steps()

    result = switch_follow_ups(dict(PARAMS), _then(GOOD, commit=False), SWITCHED, steps, False)

    assert steps.calls == [] and result["committed"] is False and result["health"]["verdict"] == "the first probe was good"


def test_check_mode_probes_nothing_and_commits_in_check_mode() -> None:
    steps = Steps()

    result = switch_follow_ups(dict(PARAMS), _then(BAD, commit=True), SWITCHED, steps, True)

    assert "health" not in result and result["committed"] is True
    assert [(step, check_mode) for step, _params, check_mode in steps.calls] == [("release_commit", True)]


def test_a_health_spec_that_cannot_run_names_the_field() -> None:
    outcome = hold_to_health({"type": "http", "url": "ftp://x"}, "2.0.0", "app")

    assert outcome.passed is False and outcome.msg == "health: url: must start with http:// or https://, got 'ftp://x'"


def test_no_health_check_passes_without_a_probe() -> None:
    outcome = hold_to_health({"type": "none"}, "2.0.0", "app", probe=lambda _spec: pytest.fail("probed"))

    assert outcome.passed is True and outcome.answer["probes"] == 0


def test_after_a_restart_the_first_probe_waits_until_the_port_is_open() -> None:
    """A service that opens its port a moment after the restart: the check waits for it (not one of its tries), then probes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    opened = threading.Timer(0.3, server.listen)
    opened.start()
    probes: list[bool] = []

    def probe(_spec: Any) -> Probe:
        # The real question the first probe asks: does anything answer on the port yet?
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            probes.append(True)
        except OSError:
            probes.append(False)
        return Probe(probes[-1], "good" if probes[-1] else "no answer: connection refused", 200 if probes[-1] else None)

    try:
        health = {"type": "http", "url": f"http://127.0.0.1:{port}/health", "retries": 1, "interval": 3}
        outcome = hold_to_health(health, "2.0.0", "app", probe=probe, just_restarted=True)
        without_wait = hold_to_health({**health, "url": f"http://127.0.0.1:{_closed_port()}/health"}, "2.0.0", "app", probe=lambda _s: Probe(False, "refused"))
    finally:
        opened.cancel()
        server.close()

    assert outcome.passed is True and probes == [True] and outcome.answer["probes"] == 1
    assert without_wait.passed is False and without_wait.answer["probes"] == 1


def test_waiting_for_the_port_gives_up_after_one_interval() -> None:
    assert wait_until_listening(f"http://127.0.0.1:{_closed_port()}/health", 0.3) is False


def _closed_port() -> int:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port
