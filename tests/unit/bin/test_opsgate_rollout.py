# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bin/opsgate-rollout as an operator runs it: a subprocess over a ledger folder the state module wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.progress import progress_line
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.state import (
    DONE,
    PAUSED_FOR_APPROVAL,
    RolloutState,
    begin_state,
    record_batch,
    state_path,
    with_plan,
    with_status,
    write_state,
)

REPO = Path(__file__).resolve().parents[3]
CLI = REPO / "bin" / "opsgate-rollout"
RELEASE = "2.0.0-CHG-7-0123456789ab"
OLD = "1.9.0-CHG-6-ffffffffffff"
BATCHES: list[dict[str, Any]] = [
    {"number": 1, "hosts": ["slot1"], "gates": [{"kind": "approval", "step": 1, "reason": "watch the canary"}]},
    {"number": 2, "hosts": ["slot2", "slot3"], "gates": []},
]


def _env() -> dict[str, str]:
    # A bare interpreter environment: the CLI must not need the collection on PYTHONPATH.
    return {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "OPSGATE_TRUST_ROOT")}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CLI), *args], env=_env(), capture_output=True, text=True, timeout=60, check=False)


def _paused_after_canary() -> RolloutState:
    state = with_plan(begin_state(None, "shop", "prod", RELEASE, "tok-7", "fp", 2, resume=False), BATCHES, 1)
    given = {"slot1": {"from_release": OLD, "to_release": RELEASE, "gate": "passed", "reason": ""}}
    state, _verdict = record_batch(state, ["slot1"], [], 1, given)
    state = replace(state, last_progress=progress_line(state, 1, ["slot1"], []))
    return with_status(state, PAUSED_FOR_APPROVAL, "waiting for approval after batch 1 of 2 (step 1): watch the canary")


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    directory = tmp_path / "ledger"
    write_state(state_path(str(directory), "shop", "prod"), _paused_after_canary())
    return directory


def test_status_shows_the_rollout_its_hosts_and_how_to_resume(ledger: Path) -> None:
    done = _cli("status", "--app", "shop", "--env", "prod", "--ledger-dir", str(ledger))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:4] == ["rollout shop / prod: paused_for_approval", f"release:  {RELEASE}", "token id: tok-7", "batch:    1 of 2 done"]
    assert "HOST   OLD RELEASE               NEW RELEASE               GATE         ROLLED BACK" in lines
    assert f"slot1  {OLD}  {RELEASE}  passed       no" in lines
    assert "slot3  -                         -                         not reached  no" in lines
    assert "3 hosts: 1 passed, 0 failed, 0 unreachable, 0 skipped, 2 not reached; 0 rolled back" in lines
    assert (
        "last batch: batch 1 of 2 done: switched 1 (slot1), healthy 1, failed 0, failure budget left 1 of 1; "
        "next: stop for approval (watch the canary), then batch 2 (2 hosts)"
    ) in lines
    assert any(line.startswith("to resume: get the approval, then run the same playbook with -e opsgate_rollout_resume=true") for line in lines)


def test_status_as_json_and_the_ledger_dir_before_the_command(ledger: Path) -> None:
    done = _cli("--ledger-dir", str(ledger), "status", "--app", "shop", "--env", "prod", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["state"]["status"] == PAUSED_FOR_APPROVAL and shown["state"]["token_id"] == "tok-7"
    assert shown["summary"][-1].startswith("3 hosts:")


def test_missing_state_exits_3_naming_the_path(ledger: Path) -> None:
    done = _cli("status", "--app", "shop", "--env", "qa", "--ledger-dir", str(ledger))
    assert done.returncode == 3
    assert str(ledger / "rollouts" / "shop--qa" / "state.json") in done.stderr


def test_bad_arguments_exit_2(ledger: Path) -> None:
    assert _cli("status", "--app", "shop", "--ledger-dir", str(ledger)).returncode == 2
    assert _cli("status", "--app", "../etc", "--env", "prod", "--ledger-dir", str(ledger)).returncode == 2
    assert _cli("status", "--app", "shop", "--env", "prod", "--watch", "--interval", "0", "--ledger-dir", str(ledger)).returncode == 2
    # No --ledger-dir and no trust root to read it from: says how to fix it.
    missing = _cli("--trust-root", str(ledger / "nope.json"), "status", "--app", "shop", "--env", "prod")
    assert missing.returncode == 2 and "--ledger-dir" in missing.stderr


def test_list_shows_every_app_and_env(ledger: Path) -> None:
    write_state(state_path(str(ledger), "billing", "qa"), begin_state(None, "billing", "qa", "3.1.0-x", "tok-9", "fp", 4, resume=False))
    done = _cli("list", "--ledger-dir", str(ledger))
    assert done.returncode == 0, done.stderr
    rows = [line.split()[:5] for line in done.stdout.splitlines()]
    assert rows == [
        ["APP", "ENV", "STATUS", "RELEASE", "BATCHES"],
        ["billing", "qa", "running", "3.1.0-x", "0/4"],
        ["shop", "prod", "paused_for_approval", RELEASE, "1/2"],
    ]


def test_watch_redraws_until_the_rollout_is_done(ledger: Path) -> None:
    path = state_path(str(ledger), "shop", "prod")
    running = with_status(_paused_after_canary(), "running", "resumed at batch 2 of 2")
    write_state(path, running)
    watch = subprocess.Popen(
        [sys.executable, str(CLI), "status", "--app", "shop", "--env", "prod", "--ledger-dir", str(ledger), "--watch", "--interval", "0.2"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        assert watch.poll() is None, "watch ended while the rollout was running"
        state, _verdict = record_batch(running, ["slot2", "slot3"], [], 1)
        write_state(path, with_status(state, DONE, f"{RELEASE} on 3 host(s)"))
        out, err = watch.communicate(timeout=10)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, err
    assert "rollout shop / prod: running" in out and "rollout shop / prod: done" in out
    assert out.index("rollout shop / prod: running") < out.index("rollout shop / prod: done")
    assert "3 hosts: 3 passed, 0 failed, 0 unreachable, 0 skipped, 0 not reached; 0 rolled back" in out
