# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout_plan and rollout_state actions over the state store in real ansible-playbook runs, on SQLite and a real
PostgreSQL: a store that cannot be reached fails the start naming it (never its password), a write that fails after a
batch fails the event and keeps the previous state, and a rollout paused through one controller resumes through another
that shares the database, with the load balancer weights to restore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pg_cluster
import pytest
from approval_kit import ApprovalKit
from store_faults import updates_fail

from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.state import RolloutState, read_state
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import PASSWORD_ENV, store_settings
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import open_store

REPO = Path(__file__).resolve().parents[4]
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
HOSTS = [f"app{number}" for number in range(1, 7)]
PLAN: dict[str, Any] = {"steps": [{"hosts": 1}, {"setWeight": 50}, {"approval": {"reason": "watch the canary"}}, {"hosts": "100%"}]}
RELEASE = "2.0.0-CHG-7-0123456789ab"
TOKEN = "tok-7"
WEIGHTS = {host: 1 for host in HOSTS}
COMMON = {"app": "shop", "env": "prod", "release_id": RELEASE}

pytestmark = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason="ansible-playbook is not installed next to the test interpreter")


class Controller:
    """One controller: its own folder, ledger folder and pinned trust root, naming ``state_store`` (None: SQLite in its ledger folder)."""

    def __init__(self, root: Path, state_store: dict[str, Any] | None = None) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.ledger = root / "ledger"
        self.trust_root = ApprovalKit(str(self.ledger), state_store=state_store).install(root / "etc")
        self.settings = store_settings(state_store or {"backend": "sqlite"}, str(self.ledger), environ={PASSWORD_ENV: pg_cluster.PASSWORD})
        self.runs = 0

    def play(self, *tasks: dict[str, Any], check: bool = False) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
        """Run ``tasks`` (each one registered and allowed to fail) on localhost; returns the run and every task's result."""
        self.runs += 1
        results = self.root / f"results-{self.runs}.json"
        steps = [{**task, "register": f"r{number}", "ignore_errors": True} for number, task in enumerate(tasks)]
        keep = "{{ [" + ", ".join(f"r{number}" for number in range(len(tasks))) + "] | to_json }}"
        keeping = {"name": "Keep the results", "ansible.builtin.copy": {"content": keep, "dest": str(results), "mode": "0600"}, "check_mode": False}
        steps.append(keeping)
        playbook = self.root / f"play-{self.runs}.yml"
        playbook.write_text(json.dumps([{"name": "Rollout state", "hosts": "localhost", "gather_facts": False, "tasks": steps}]))
        env = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
            "ANSIBLE_HOME": str(self.root / ".ansible"),
            "ANSIBLE_LOCAL_TEMP": str(self.root / ".ansible" / "tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "OPSGATE_TRUST_ROOT": str(self.trust_root),
            PASSWORD_ENV: pg_cluster.PASSWORD,
        }
        command = [str(PLAYBOOK_BIN), "-i", f"localhost ansible_connection=local ansible_python_interpreter={sys.executable},", str(playbook), "-v"]
        if check:
            command.append("--check")
        done = subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, timeout=180, check=False)
        assert results.exists(), done.stdout[-3000:] + done.stderr[-3000:]
        return done, json.loads(results.read_text())

    def state(self) -> RolloutState | None:
        with open_store(self.settings) as store, store.transaction() as tx:
            return read_state(tx, "shop", "prod", store.settings.location)


def _plan(resume: bool = False) -> dict[str, Any]:
    args = {"rollout": PLAN, "hosts": HOSTS, "app": "shop", "env": "prod", "release_id": RELEASE, "token_id": TOKEN, "resume": resume}
    return {"name": "Plan", "opsgate.release.rollout_plan": args}


def _event(name: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "opsgate.release.rollout_state": {**COMMON, **args}}


def _start(resume: bool = False) -> dict[str, Any]:
    return _event(
        "Start",
        event="start",
        token_id=TOKEN,
        batches_fingerprint="{{ r0.batches_fingerprint }}",
        batches_total="{{ r0.batches_total }}",
        batches="{{ r0.batches }}",
        allowed_failures="{{ r0.allowed_failures }}",
        resume=resume,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def pinned(request: pytest.FixtureRequest) -> dict[str, Any] | None:
    """The trust root's state_store: None (SQLite in the ledger folder) or a fresh database of the session's PostgreSQL."""
    return None if request.param == "sqlite" else request.getfixturevalue("postgresql_store")


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def test_an_unreachable_store_fails_the_plan_and_the_start_naming_it_never_the_password(tmp_path: Path, pinned: dict[str, Any] | None) -> None:
    if pinned is None:
        controller = Controller(tmp_path / "a")
        # A SQLite store in a folder others may write is refused, as is a database that does not answer.
        controller.ledger.mkdir(mode=0o777)
        os.chmod(controller.ledger, 0o777)
        location = str(controller.ledger / "state.sqlite3")
    else:
        unreachable = {**pinned, "port": pg_cluster._free_port()}
        controller = Controller(tmp_path / "a", unreachable)
        location = f"postgresql://opsgate@127.0.0.1:{unreachable['port']}/{pinned['dbname']}"
    literal = _event("Start", event="start", token_id=TOKEN, batches_fingerprint="f" * 64, batches_total=2)
    done, (plan, start) = controller.play(_plan(), literal)
    for result in (plan, start):
        assert result["failed"] and result["state_store_error"], result
        assert result["msg"].startswith("rollout state unavailable [STATE_STORE_ERROR]"), result["msg"]
        assert location in result["msg"] and "fail closed" in result["msg"]
        assert "state" not in result
    assert pg_cluster.PASSWORD not in _output(done)
    if pinned is not None:
        assert not controller.ledger.exists()  # nothing fell back to a local file


def test_a_write_that_fails_after_a_batch_fails_the_event_and_keeps_the_state(
    tmp_path: Path, pinned: dict[str, Any] | None, request: pytest.FixtureRequest
) -> None:
    controller = Controller(tmp_path / "a", pinned)
    _done, results = controller.play(_plan(), _start(), _event("Batch 1", event="batch", batch_hosts=["app1"]))
    assert not any(result.get("failed") for result in results), results
    before = controller.state()
    assert before is not None and before.batches_done == 1
    with updates_fail(controller.settings, request, "rollout_states"):
        done, (batch,) = controller.play(_event("Batch 2", event="batch", batch_hosts=["app2", "app3", "app4", "app5", "app6"]))
        assert batch["failed"] and batch["state_store_error"], batch
        assert batch["msg"].startswith(f"rollout state unavailable [STATE_STORE_ERROR]: state store {controller.settings.location}"), batch["msg"]
        assert ("permission denied for table rollout_states" if pinned else "attempt to write a readonly database") in batch["msg"]
        assert pg_cluster.PASSWORD not in _output(done)
        # The store still reads: the state is the one before the failed write.
        assert controller.state() == before


def test_check_mode_writes_no_state(tmp_path: Path, pinned: dict[str, Any] | None) -> None:
    controller = Controller(tmp_path / "a", pinned)
    _done, (plan, start) = controller.play(_plan(), _start(), check=True)
    assert not plan.get("failed") and not start.get("failed") and start["state"]["status"] == "running", start
    assert controller.state() is None


def test_a_rollout_paused_through_one_controller_resumes_through_another_with_its_weights(tmp_path: Path, postgresql_store: dict[str, Any]) -> None:
    """Two controllers with their own ledger folders and trust root files, one PostgreSQL: nothing of the resume is on A's disk."""
    first = Controller(tmp_path / "a", postgresql_store)
    second = Controller(tmp_path / "b", postgresql_store)
    _done, paused = first.play(
        _plan(),
        _start(),
        _event("Batch 1", event="batch", batch_hosts=["app1"]),
        _event("Keep the weights", event="weights", lb_weights_before=WEIGHTS),
        _event("Pause", event="status", status="paused_for_approval", message="watch the canary"),
    )
    assert not any(result.get("failed") for result in paused), paused
    assert paused[4]["state_location"] == f"{first.settings.location} (rollout_states shop/prod)"
    assert second.state().lb_weights_before == WEIGHTS

    _done, resumed = second.play(_plan(resume=True), _start(resume=True))
    plan, start = resumed
    assert not plan.get("failed") and not start.get("failed"), resumed
    assert plan["start_batch"] == 1 and plan["hosts_switched"] == ["app1"]
    assert start["state"]["status"] == "running" and start["state"]["message"] == "resumed at batch 2 of 2"
    assert start["state"]["lb_weights_before"] == WEIGHTS  # what gray_release gives back before batch 2
    _done, (batch,) = second.play(_event("Batch 2", event="batch", batch_hosts=HOSTS[1:], lb_weights_before={}))
    assert not batch.get("failed"), batch
    # The first controller reads what the second wrote.
    state = first.state()
    assert (state.batches_done, state.hosts_switched, state.lb_weights_before) == (2, tuple(HOSTS), {})
    assert not first.ledger.exists() and not second.ledger.exists()
