# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.rollout import state as rollout_state
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.state import (
    RolloutState,
    RolloutStateError,
    new_state,
    read_state,
    start_point,
    state_path,
    with_batch_done,
    with_status,
    write_state,
)

RELEASE = "2.0.0-CHG-7-0123456789ab"
TOKEN = "tok-7"
PRINT = "f" * 64


def _paused(tmp_path: Path) -> tuple[str, RolloutState]:
    path = state_path(str(tmp_path), "shop", "prod")
    state = with_batch_done(new_state("shop", "prod", RELEASE, TOKEN, PRINT, 3), ["app1"])
    state = with_status(state, rollout_state.PAUSED_FOR_APPROVAL, "approval after batch 1: check dashboards")
    write_state(path, state)
    return path, state


def test_state_lives_next_to_the_token_ledger_and_round_trips(tmp_path: Path) -> None:
    path, state = _paused(tmp_path)
    assert path == str(tmp_path / "rollouts" / "shop--prod" / "state.json")
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert read_state(path) == state
    assert json.loads(Path(path).read_text())["hosts_switched"] == ["app1"]
    assert not [name for name in os.listdir(os.path.dirname(path)) if name.startswith(".state-")]


def test_missing_state_reads_as_none(tmp_path: Path) -> None:
    assert read_state(state_path(str(tmp_path), "shop", "prod")) is None


def test_batches_accumulate_switched_and_failed_hosts() -> None:
    state = new_state("shop", "prod", RELEASE, TOKEN, PRINT, 2)
    state = with_batch_done(state, ["app1"])
    state = with_batch_done(state, ["app2", "app3", "app1"], failed=["app3"])
    assert state.batches_done == 2 and state.hosts_switched == ("app1", "app2", "app3") and state.failed_hosts == ("app3",)
    with pytest.raises(RolloutStateError, match="all 2 batches of release"):
        with_batch_done(state, ["app4"])


def test_resume_continues_after_the_last_done_batch(tmp_path: Path) -> None:
    path, _state = _paused(tmp_path)
    assert start_point(read_state(path), RELEASE, TOKEN, PRINT, resume=True) == 1


def test_fresh_start_begins_at_zero_when_previous_rollout_finished(tmp_path: Path) -> None:
    path, state = _paused(tmp_path)
    assert start_point(None, RELEASE, TOKEN, PRINT, resume=False) == 0
    write_state(path, with_status(state, rollout_state.DONE, "done"))
    assert start_point(read_state(path), "3.0.0-CHG-8-aa", "tok-8", PRINT, resume=False) == 0


@pytest.mark.parametrize(
    ("release", "token", "fingerprint", "resume", "status", "fragment"),
    [
        (RELEASE, TOKEN, PRINT, False, None, "is paused_for_approval after 1 of 3 batches; resume it"),
        ("9.9.9-other", TOKEN, PRINT, True, None, f"the paused rollout is release {RELEASE}, not 9.9.9-other"),
        (RELEASE, "tok-other", PRINT, True, None, f"approved by token {TOKEN}, not tok-other"),
        (RELEASE, TOKEN, "0" * 64, True, None, "the batches differ from the paused rollout"),
        (RELEASE, TOKEN, PRINT, True, rollout_state.ROLLED_BACK, "is rolled_back; only a running or paused rollout can resume"),
        (RELEASE, TOKEN, PRINT, True, rollout_state.FAILED, "is failed; only a running"),
    ],
    ids=["fresh start over paused", "other release", "other token", "other batches", "rolled back", "failed"],
)
def test_resume_refusals(tmp_path: Path, release: str, token: str, fingerprint: str, resume: bool, status: str | None, fragment: str) -> None:
    path, state = _paused(tmp_path)
    if status is not None:
        write_state(path, with_status(state, status, "x"))
    with pytest.raises(RolloutStateError) as caught:
        start_point(read_state(path), release, token, fingerprint, resume=resume)
    assert fragment in str(caught.value)


def test_resume_without_state_is_refused() -> None:
    with pytest.raises(RolloutStateError, match="no rollout state to resume for release"):
        start_point(None, RELEASE, TOKEN, PRINT, resume=True)


def test_resume_when_every_batch_is_done_is_refused() -> None:
    state = with_batch_done(new_state("shop", "prod", RELEASE, TOKEN, PRINT, 1), ["app1"])
    with pytest.raises(RolloutStateError, match="nothing to resume"):
        start_point(state, RELEASE, TOKEN, PRINT, resume=True)


def test_unreadable_state_fails_closed(tmp_path: Path) -> None:
    path, _state = _paused(tmp_path)
    Path(path).write_text("{half")
    with pytest.raises(RolloutStateError, match="is unreadable"):
        read_state(path)
    Path(path).write_text(json.dumps({"version": 1, "app": "shop"}))
    with pytest.raises(RolloutStateError, match="not a state this version understands"):
        read_state(path)


def test_names_that_would_leave_the_state_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RolloutStateError, match=r"app '\.\./etc'"):
        state_path(str(tmp_path), "../etc", "prod")


def test_unknown_status_is_refused() -> None:
    with pytest.raises(RolloutStateError, match="unknown rollout status 'paused'"):
        with_status(new_state("shop", "prod", RELEASE, TOKEN, PRINT, 1), "paused", "x")


def test_failed_write_keeps_the_previous_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, state = _paused(tmp_path)

    def _refuse(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(rollout_state.os, "replace", _refuse)
    with pytest.raises(OSError, match="disk full"):
        write_state(path, with_status(state, rollout_state.DONE, "done"))
    monkeypatch.undo()
    assert read_state(path) == state
    assert not [name for name in os.listdir(os.path.dirname(path)) if name.startswith(".state-")]
