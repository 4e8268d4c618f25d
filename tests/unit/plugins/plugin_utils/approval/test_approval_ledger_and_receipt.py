# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Single use across real processes, on both store backends, and receipts bound to one controller process."""

from __future__ import annotations

import multiprocessing
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import pytest
from approval_kit import NOW, ApprovalKit
from ledger_kit import ledger, ledger_settings, open_ledger

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval import verification as verification_module
from ansible_collections.opsgate.release.plugins.module_utils.approval.envelope import token_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.ledger_records import RunOwner
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import verify_token
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run import receipt as receipt_module
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.receipt import (
    ControllerIdentity,
    controller_identity,
    prune_receipts,
    require_receipt,
    write_receipt,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.token_ledger import ConsumeOutcome, TokenLedger
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import StoreSettings, store_settings

__all__ = ["ledger", "ledger_settings"]  # the fixtures

_FORK = multiprocessing.get_context("fork")
# A controller process that has ended: its consumption may be resumed by its run id.
GONE = RunOwner(socket.gethostname(), 999_999_999, "gone")


def _consume(ledger: TokenLedger, token_id: str, run_id: str) -> ConsumeOutcome:
    return ledger.consume(token_id, "d" * 64, "CHG-1", run_id, NOW, fingerprint="f", app="app", env="prod", hosts=("web1",), owner=GONE)


def _race(settings: StoreSettings, token_id: str, run_id: str, barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.queues.Queue) -> None:
    # Its own connection, opened before the start line: the race is for the token, not for the connection.
    ledger = open_ledger(settings)
    barrier.wait()
    try:
        outcome = _consume(ledger, token_id, run_id)
        results.put((run_id, "resumed" if outcome.resumed else "consumed"))
    except errors.ApprovalError as exc:
        results.put((run_id, exc.code))
    finally:
        ledger.store.close()


def _run_race(settings: StoreSettings, token_id: str, run_ids: list[str]) -> list[tuple[str, str]]:
    barrier = _FORK.Barrier(len(run_ids))
    results = _FORK.Queue()
    workers = [_FORK.Process(target=_race, args=(settings, token_id, run_id, barrier, results)) for run_id in run_ids]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _worker in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    return outcomes


def _token_ids(ledger: TokenLedger) -> list[str]:
    with ledger.store.transaction() as tx:
        return [row[0] for row in tx.rows("SELECT token_id FROM consumptions ORDER BY seq")]


def test_two_processes_racing_for_one_token_exactly_one_consumes(ledger_settings: StoreSettings) -> None:
    for round_number in range(15):
        token_id = f"apv-race-{round_number:04d}"
        outcomes = _run_race(ledger_settings, token_id, ["run-a", "run-b"])
        states = sorted(state for _run_id, state in outcomes)
        assert states == [errors.REPLAYED, "consumed"], outcomes
    reader = open_ledger(ledger_settings)
    try:
        assert _token_ids(reader) == [f"apv-race-{number:04d}" for number in range(15)]
    finally:
        reader.store.close()


def test_eight_processes_racing_one_winner(ledger_settings: StoreSettings) -> None:
    outcomes = _run_race(ledger_settings, "apv-race-many", [f"run-{n}" for n in range(8)])
    assert sorted(state for _run_id, state in outcomes).count("consumed") == 1
    assert sorted(state for _run_id, state in outcomes).count(errors.REPLAYED) == 7


def test_same_run_id_resumes_another_is_a_replay(ledger: TokenLedger) -> None:
    first = _consume(ledger, "apv-0123456789abcdef", "job-41")
    again = _consume(ledger, "apv-0123456789abcdef", "job-41")
    assert (first.resumed, again.resumed) == (False, True)
    assert again.consumption == first.consumption
    with pytest.raises(errors.ApprovalError) as caught:
        _consume(ledger, "apv-0123456789abcdef", "job-42")
    assert caught.value.code == errors.REPLAYED
    assert "only the unfinished run that consumed it may resume" in caught.value.message
    assert "job-41" not in caught.value.message


def test_the_sqlite_ledger_is_private(tmp_path: Path) -> None:
    opened = open_ledger(store_settings({"backend": "sqlite"}, str(tmp_path / "ledger"), environ={}))
    try:
        _consume(opened, "apv-0123456789abcdef", "job-41")
        path = opened.location
    finally:
        opened.store.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "ledger").st_mode) == 0o700


def test_check_unused_reads_without_consuming(ledger: TokenLedger) -> None:
    ledger.check_unused("apv-0123456789abcdef")
    assert _token_ids(ledger) == []


def test_an_unreadable_consumption_refuses_its_token(ledger: TokenLedger) -> None:
    """A row the ledger cannot read (written by hand, or by a broken tool) fails closed instead of looking unused."""
    with ledger.store.transaction(write=True) as tx:
        tx.execute(
            "INSERT INTO consumptions (seq, token_id, token_sha256, change_id, run_id, consumed_at, fingerprint, app, env, hosts, owner, kind) "
            "VALUES (1, 'apv-0123456789abcdef', 'x', 'C', 'run-1', '2025-03-07T13:00:00Z', '', 'app', 'prod', 'not json', NULL, 'normal')"
        )
    with pytest.raises(errors.ApprovalError) as caught:
        _consume(ledger, "apv-0123456789abcdef", "run-1")
    assert caught.value.code == errors.LEDGER_ERROR
    assert "is unreadable; refusing every token" in caught.value.message


@pytest.fixture
def gate(ledger: TokenLedger) -> Iterator[tuple[ApprovalKit, str, ControllerIdentity]]:
    """A token that passed the gate in "this" controller process (the test process itself); the receipt is in ``ledger``'s store."""
    kit = ApprovalKit()
    token = kit.token()
    identity = controller_identity(os.getpid())
    approval = verify_token(token, kit.policy(), now=NOW, scope=kit.scope())
    write_receipt(ledger.store, identity, approval, "run-1", check_mode=False)
    kit.store = ledger.store  # type: ignore[attr-defined]
    yield kit, token, identity


def test_receipt_of_this_process_covers_each_approved_host(gate: tuple[ApprovalKit, str, ControllerIdentity]) -> None:
    kit, token, identity = gate
    for host in ("web1", "web2", "web3"):
        approval = require_receipt(kit.store, token, kit.policy(), kit.scope(hosts=[host]), host, identity=identity)
        assert approval.digest == token_digest(token)


class _ClockAfterTheWindow(datetime):
    """``datetime`` whose now() is the morning after the token's window (2025-03-07 12:00-20:00 UTC)."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _ClockAfterTheWindow:
        return cls(2025, 3, 8, 9, 0, tzinfo=UTC).astimezone(tz) if tz else cls(2025, 3, 8, 9, 0)


def test_receipt_keeps_working_after_the_window_closes(gate: tuple[ApprovalKit, str, ControllerIdentity], monkeypatch: pytest.MonkeyPatch) -> None:
    # The gate passed at NOW, inside the window; a rollout that started then may finish after it closes.
    kit, token, identity = gate
    later = _ClockAfterTheWindow.now(UTC)
    with pytest.raises(errors.ApprovalError) as caught:
        verify_token(token, kit.policy(), now=later, scope=kit.scope())
    assert caught.value.code == errors.EXPIRED  # a new gate run now would be refused
    for module in (receipt_module, verification_module):
        monkeypatch.setattr(module, "datetime", _ClockAfterTheWindow)
    for host in ("web1", "web3"):
        approval = require_receipt(kit.store, token, kit.policy(), kit.scope(hosts=[host]), host, identity=identity)
        assert approval.verified_at == NOW
        assert approval.digest == token_digest(token)


def _refused(gate: tuple[ApprovalKit, str, ControllerIdentity], **changes: object) -> errors.ApprovalError:
    kit, token, identity = gate
    scope = kit.scope(hosts=["web1"], **changes.pop("scope", {}))  # type: ignore[arg-type]
    arguments = {"store": kit.store, "token": token, "policy": kit.policy(), "scope": scope, "host": "web1", "identity": identity, **changes}
    with pytest.raises(errors.ApprovalError) as caught:
        require_receipt(**arguments)  # type: ignore[arg-type]
    return caught.value


def test_no_receipt_in_another_process(gate: tuple[ApprovalKit, str, ControllerIdentity]) -> None:
    error = _refused(gate, identity=controller_identity(os.getppid()))
    assert error.code == errors.RECEIPT_MISSING
    assert "did not pass in this run" in error.message


def test_receipt_of_a_recycled_pid_does_not_count(gate: tuple[ApprovalKit, str, ControllerIdentity]) -> None:
    _kit, _token, identity = gate
    error = _refused(gate, identity=ControllerIdentity(identity.pid, str(int(identity.start_time) + 1)))
    assert error.code == errors.RECEIPT_MISSING


def test_host_outside_the_approved_set_is_refused(gate: tuple[ApprovalKit, str, ControllerIdentity]) -> None:
    error = _refused(gate, host="db1")
    assert error.code == errors.RECEIPT_HOST_NOT_COVERED
    assert "host db1 is not among the 3 hosts" in error.message


def test_scope_of_the_changing_task_must_match(gate: tuple[ApprovalKit, str, ControllerIdentity]) -> None:
    error = _refused(gate, scope={"version": "2.0.0"})
    assert error.code == errors.VERSION_MISMATCH


def test_another_token_with_the_same_id_is_refused(gate: tuple[ApprovalKit, str, ControllerIdentity]) -> None:
    kit, _token, _identity = gate
    other = kit.token(owners=("alice", "frank", "carol", "dave"))
    error = _refused(gate, token=other)
    assert error.code == errors.RECEIPT_MISMATCH


def test_the_same_pid_on_another_controller_has_no_receipt(gate: tuple[ApprovalKit, str, ControllerIdentity]) -> None:
    """Controllers share the store: a pid (and its start time) means something on its own host only."""
    _kit, _token, identity = gate
    error = _refused(gate, identity=ControllerIdentity(identity.pid, identity.start_time, controller="other-controller"))
    assert error.code == errors.RECEIPT_MISSING


def test_check_mode_receipt_does_not_allow_a_real_change(ledger: TokenLedger) -> None:
    kit = ApprovalKit()
    token = kit.token()
    identity = controller_identity(os.getpid())
    write_receipt(ledger.store, identity, verify_token(token, kit.policy(), now=NOW), "run-1", check_mode=True)
    require_receipt(ledger.store, token, kit.policy(), kit.scope(hosts=["web2"]), "web2", check_mode=True, identity=identity)
    with pytest.raises(errors.ApprovalError) as caught:
        require_receipt(ledger.store, token, kit.policy(), kit.scope(hosts=["web2"]), "web2", check_mode=False, identity=identity)
    assert caught.value.code == errors.RECEIPT_CHECK_MODE


def test_receipts_of_finished_processes_are_pruned(gate: tuple[ApprovalKit, str, ControllerIdentity]) -> None:
    kit, token, identity = gate
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    finished = controller_identity(child.pid)
    write_receipt(kit.store, finished, verify_token(token, kit.policy(), now=NOW), "run-0", check_mode=False)
    # Another controller's receipt with a pid that means nothing here: only that controller prunes it.
    elsewhere = ControllerIdentity(child.pid, finished.start_time, controller="other-controller")
    write_receipt(kit.store, elsewhere, verify_token(token, kit.policy(), now=NOW), "run-0", check_mode=False)
    child.wait()
    assert prune_receipts(kit.store) == 1
    # The live process keeps its receipt, the other controller its own.
    require_receipt(kit.store, token, kit.policy(), kit.scope(hosts=["web1"]), "web1", identity=identity)
    require_receipt(kit.store, token, kit.policy(), kit.scope(hosts=["web1"]), "web1", identity=elsewhere)
