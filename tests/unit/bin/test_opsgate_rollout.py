# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bin/opsgate-rollout as an operator runs it: a subprocess over the state store (SQLite, or a real PostgreSQL named by a
pinned trust root) that the state module wrote; and its import of the state files from before the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pg_cluster
import pytest
from approval_kit import ApprovalKit

from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.progress import progress_line
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.state import (
    DONE,
    PAUSED_FOR_APPROVAL,
    RolloutState,
    begin_state,
    read_state,
    record_batch,
    state_document,
    with_plan,
    with_status,
    write_state,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import PASSWORD_ENV, StoreSettings, store_settings
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import open_store

REPO = Path(__file__).resolve().parents[3]
CLI = REPO / "bin" / "opsgate-rollout"
RELEASE = "2.0.0-CHG-7-0123456789ab"
OLD = "1.9.0-CHG-6-ffffffffffff"
BATCHES: list[dict[str, Any]] = [
    {"number": 1, "hosts": ["slot1"], "gates": [{"kind": "approval", "step": 1, "reason": "watch the canary"}]},
    {"number": 2, "hosts": ["slot2", "slot3"], "gates": []},
]


def _env() -> dict[str, str]:
    # A bare interpreter environment: the CLI must not need the collection on PYTHONPATH. The store's password as an operator gives it.
    kept = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "OPSGATE_TRUST_ROOT")}
    return {**kept, PASSWORD_ENV: pg_cluster.PASSWORD}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CLI), *args], env=_env(), capture_output=True, text=True, timeout=60, check=False)


def _paused_after_canary() -> RolloutState:
    state = with_plan(begin_state(None, "shop", "prod", RELEASE, "tok-7", "fp", 2, resume=False), BATCHES, 1)
    given = {"slot1": {"from_release": OLD, "to_release": RELEASE, "gate": "passed", "reason": ""}}
    state, _verdict = record_batch(state, ["slot1"], [], 1, given)
    state = replace(state, last_progress=progress_line(state, 1, ["slot1"], []))
    return with_status(state, PAUSED_FOR_APPROVAL, "waiting for approval after batch 1 of 2 (step 1): watch the canary")


@dataclass
class Store:
    """The store a controller writes and the CLI's arguments that select it."""

    settings: StoreSettings
    args: tuple[str, ...]
    ledger: Path

    def save(self, state: RolloutState) -> None:
        with open_store(self.settings) as store, store.transaction(write=True) as tx:
            write_state(tx, state)

    def load(self, app: str = "shop", env: str = "prod") -> RolloutState | None:
        with open_store(self.settings) as store, store.transaction() as tx:
            return read_state(tx, app, env)

    def where(self, app: str = "shop", env: str = "prod") -> str:
        return f"{self.settings.location} (rollout_states {app}/{env})"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """SQLite read with --ledger-dir, or the PostgreSQL a pinned trust root names read with --trust-root."""
    ledger = tmp_path / "ledger"
    if request.param == "sqlite":
        return Store(store_settings({"backend": "sqlite"}, str(ledger), environ={}), ("--ledger-dir", str(ledger)), ledger)
    pinned = request.getfixturevalue("postgresql_store")
    root = ApprovalKit(str(ledger), state_store=pinned).install(tmp_path / "etc")
    return Store(store_settings(pinned, str(ledger), environ={PASSWORD_ENV: pg_cluster.PASSWORD}), ("--trust-root", str(root)), ledger)


@pytest.fixture
def paused(store: Store) -> Store:
    store.save(_paused_after_canary())
    return store


def test_status_shows_the_rollout_its_hosts_and_how_to_resume(paused: Store) -> None:
    done = _cli("status", "--app", "shop", "--env", "prod", *paused.args)
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
    assert lines[-1] == f"state:    {paused.where()}"
    assert pg_cluster.PASSWORD not in done.stdout + done.stderr


def test_status_as_json_and_the_store_options_before_the_command(paused: Store) -> None:
    done = _cli(*paused.args, "status", "--app", "shop", "--env", "prod", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["state"]["status"] == PAUSED_FOR_APPROVAL and shown["state"]["token_id"] == "tok-7"
    assert shown["state_location"] == paused.where()
    assert shown["summary"][-1].startswith("3 hosts:")


def test_missing_state_exits_3_naming_the_store(paused: Store) -> None:
    done = _cli("status", "--app", "shop", "--env", "qa", *paused.args)
    assert done.returncode == 3
    assert paused.where("shop", "qa") in done.stderr


def test_a_viewer_creates_no_store(tmp_path: Path) -> None:
    done = _cli("status", "--app", "shop", "--env", "prod", "--ledger-dir", str(tmp_path / "nowhere"))
    assert done.returncode == 3 and "the store does not exist" in done.stderr
    listed = _cli("list", "--ledger-dir", str(tmp_path / "nowhere"))
    assert listed.returncode == 0 and listed.stdout.splitlines() == ["APP  ENV  STATUS  RELEASE  BATCHES  UPDATED (UTC)"]
    assert not (tmp_path / "nowhere").exists()


def test_bad_arguments_exit_2(paused: Store) -> None:
    assert _cli("status", "--app", "shop", *paused.args).returncode == 2
    assert _cli("status", "--app", "../etc", "--env", "prod", *paused.args).returncode == 2
    assert _cli("status", "--app", "shop", "--env", "prod", "--watch", "--interval", "0", *paused.args).returncode == 2
    # No --ledger-dir and no trust root to read the store from: says how to fix it.
    missing = _cli("--trust-root", str(paused.ledger / "nope.json"), "status", "--app", "shop", "--env", "prod")
    assert missing.returncode == 2 and "--ledger-dir" in missing.stderr


def test_an_unreachable_store_exits_1_naming_it_never_the_password(postgresql_store: dict, tmp_path: Path) -> None:
    unreachable = {**postgresql_store, "port": pg_cluster._free_port()}
    root = ApprovalKit(str(tmp_path / "ledger"), state_store=unreachable).install(tmp_path / "etc")
    for command in (["status", "--app", "shop", "--env", "prod"], ["list"], ["import"]):
        done = _cli("--trust-root", str(root), *command)
        assert done.returncode == 1, (command, done.stderr)
        assert f"postgresql://opsgate@127.0.0.1:{unreachable['port']}/{postgresql_store['dbname']} (postgresql): cannot connect" in done.stderr
        assert pg_cluster.PASSWORD not in done.stdout + done.stderr


def test_list_shows_every_app_and_env(paused: Store) -> None:
    paused.save(begin_state(None, "billing", "qa", "3.1.0-x", "tok-9", "fp", 4, resume=False))
    done = _cli("list", *paused.args)
    assert done.returncode == 0, done.stderr
    rows = [line.split()[:5] for line in done.stdout.splitlines()]
    assert rows == [
        ["APP", "ENV", "STATUS", "RELEASE", "BATCHES"],
        ["billing", "qa", "running", "3.1.0-x", "0/4"],
        ["shop", "prod", "paused_for_approval", RELEASE, "1/2"],
    ]
    assert f"2 rollout state(s) in {paused.settings.location}" in done.stderr


def test_list_shows_an_unreadable_state_as_such(paused: Store) -> None:
    with open_store(paused.settings) as opened, opened.transaction(write=True) as tx:
        tx.execute("UPDATE rollout_states SET document = ? WHERE app = ?", ("{half", "shop"))
    done = _cli("list", "--json", *paused.args)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert row["status"] == "unreadable" and "is unreadable" in row["updated"]
    status = _cli("status", "--app", "shop", "--env", "prod", *paused.args)
    assert status.returncode == 1 and paused.where() in status.stderr


def test_watch_redraws_until_the_rollout_is_done(paused: Store) -> None:
    running = with_status(_paused_after_canary(), "running", "resumed at batch 2 of 2")
    paused.save(running)
    watch = subprocess.Popen(
        [sys.executable, str(CLI), "status", "--app", "shop", "--env", "prod", *paused.args, "--watch", "--interval", "0.2"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        assert watch.poll() is None, "watch ended while the rollout was running"
        # Another connection writes, as the controller running the rollout (another machine, with PostgreSQL) does.
        state, _verdict = record_batch(running, ["slot2", "slot3"], [], 1)
        paused.save(with_status(state, DONE, f"{RELEASE} on 3 host(s)"))
        out, err = watch.communicate(timeout=10)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, err
    assert "rollout shop / prod: running" in out and "rollout shop / prod: done" in out
    assert out.index("rollout shop / prod: running") < out.index("rollout shop / prod: done")
    assert "3 hosts: 3 passed, 0 failed, 0 unreachable, 0 skipped, 0 not reached; 0 rolled back" in out


# The import, once, of the files the rollout state was kept in before the store.


def _old_files(ledger: Path) -> dict[str, Path]:
    """rollouts/*/state.json as the file-based state wrote them: a paused rollout with its weights (version 2), a finished one (version 1)."""
    shop = ledger / "rollouts" / "shop--prod"
    shop.mkdir(parents=True)
    document = json.loads(state_document(_paused_after_canary()))
    del document["lb_weights_before"]  # the files kept the weights beside the state
    (shop / "state.json").write_text(json.dumps(document, indent=2))
    (shop / "lb_weights_before.json").write_text(json.dumps({"slot1": 1, "slot2": 1, "slot3": 1}))
    billing = ledger / "rollouts" / "billing--qa"
    billing.mkdir(parents=True)
    old = json.loads(state_document(with_status(begin_state(None, "billing", "qa", "3.1.0-x", "tok-9", "fp", 4, resume=False), DONE, "done")))
    legacy = {key: old[key] for key in old if key not in ("plan", "allowed_failures", "host_results", "last_progress", "lb_weights_before")}
    (billing / "state.json").write_text(json.dumps({**legacy, "version": 1}))
    return {"shop": shop, "billing": billing}


def _imports(store: Store) -> list[tuple[Any, ...]]:
    with open_store(store.settings) as opened, opened.transaction() as tx:
        return tx.rows("SELECT source, items FROM imports")


def test_import_takes_the_old_files_in_once_weights_included(store: Store, tmp_path: Path) -> None:
    old = tmp_path / "old-ledger"
    _old_files(old)
    done = _cli("import", "--from", str(old), *store.args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"OK: imported 2 rollout state(s) from {old}/rollouts into {store.settings.location}: billing/qa, shop/prod"
    shop = store.load()
    assert shop.status == PAUSED_FOR_APPROVAL and shop.lb_weights_before == {"slot1": 1, "slot2": 1, "slot3": 1}
    assert shop.host_results["slot1"].from_release == OLD and shop.plan[0].hosts == ("slot1",)
    assert store.load("billing", "qa").status == DONE  # a version 1 file reads
    ((source, items),) = _imports(store)
    assert source.startswith("rollout-states sha256:") and items == 2
    # The status view reads what was imported.
    assert _cli("status", "--app", "shop", "--env", "prod", *store.args).returncode == 0

    again = _cli("import", "--from", str(old), *store.args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"OK: nothing to do: {old}/rollouts was imported into {store.settings.location} at ")
    assert len(_imports(store)) == 1 and store.load() == shop


def test_import_keeps_the_state_the_store_holds_already(store: Store, tmp_path: Path) -> None:
    newer = with_status(_paused_after_canary(), DONE, "finished through the store")
    store.save(newer)
    old = tmp_path / "old-ledger"
    _old_files(old)
    done = _cli("import", "--from", str(old), *store.args)
    assert done.returncode == 0, done.stderr
    assert "imported 1 rollout state(s)" in done.stdout and "kept the store's state of 1 rollout(s) it holds already: shop/prod" in done.stderr
    assert store.load() == newer


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("state.json", "{half", "is unreadable"),
        ("state.json", json.dumps({"version": 2, "app": "shop"}), "is not a state this version understands"),
        ("lb_weights_before.json", json.dumps({"slot1": "heavy"}), "lb_weights_before.json.slot1 must be a whole number"),
        ("lb_weights_before.json", "[1,", "is unreadable"),
    ],
    ids=["state not JSON", "state incomplete", "weight not a number", "weights not JSON"],
)
def test_an_unreadable_file_stops_the_import_naming_it_with_nothing_written(store: Store, tmp_path: Path, name: str, content: str, needle: str) -> None:
    old = tmp_path / "old-ledger"
    folders = _old_files(old)
    (folders["shop"] / name).write_text(content)
    done = _cli("import", "--from", str(old), *store.args)
    assert done.returncode == 1
    assert str(folders["shop"] / name) in done.stderr and needle in done.stderr, done.stderr
    # billing--qa was readable, and comes first: still nothing of it in the store.
    assert store.load("billing", "qa") is None and _imports(store) == []


def test_import_refuses_a_state_filed_under_another_rollout_and_an_empty_folder(store: Store, tmp_path: Path) -> None:
    old = tmp_path / "old-ledger"
    folders = _old_files(old)
    folders["shop"].rename(old / "rollouts" / "shop--qa")
    done = _cli("import", "--from", str(old), *store.args)
    assert done.returncode == 1 and "holds the rollout of shop/prod, not of its folder shop--qa" in done.stderr
    empty = _cli("import", "--from", str(tmp_path / "empty"), *store.args)
    assert empty.returncode == 1 and "nothing to import" in empty.stderr
    assert _imports(store) == []
