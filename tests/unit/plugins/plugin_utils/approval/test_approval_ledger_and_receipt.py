# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Single use across real processes, and receipts bound to one controller process."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import stat
import subprocess
import sys
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import pytest
from approval_kit import NOW, ApprovalKit

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval import verification as verification_module
from ansible_collections.opsgate.release.plugins.module_utils.approval.consumption_ledger import ConsumeOutcome, ConsumptionLedger, RunOwner
from ansible_collections.opsgate.release.plugins.module_utils.approval.envelope import token_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import verify_token
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run import receipt as receipt_module
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.receipt import (
    ControllerIdentity,
    controller_identity,
    prune_receipts,
    require_receipt,
    write_receipt,
)

_FORK = multiprocessing.get_context("fork")
# A controller process that has ended: its consumption may be resumed by its run id.
GONE = RunOwner(socket.gethostname(), 999_999_999, "gone")


def _consume(ledger: ConsumptionLedger, token_id: str, run_id: str) -> ConsumeOutcome:
    return ledger.consume(token_id, "d" * 64, "CHG-1", run_id, NOW, fingerprint="f", app="app", env="prod", hosts=("web1",), owner=GONE)


def _race(directory: str, token_id: str, run_id: str, barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.queues.Queue) -> None:
    ledger = ConsumptionLedger(directory)
    barrier.wait()
    try:
        outcome = _consume(ledger, token_id, run_id)
        results.put((run_id, "resumed" if outcome.resumed else "consumed"))
    except errors.ApprovalError as exc:
        results.put((run_id, exc.code))


def _run_race(directory: str, token_id: str, run_ids: list[str]) -> list[tuple[str, str]]:
    barrier = _FORK.Barrier(len(run_ids))
    results = _FORK.Queue()
    workers = [_FORK.Process(target=_race, args=(directory, token_id, run_id, barrier, results)) for run_id in run_ids]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=30) for _worker in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    return outcomes


def test_two_processes_racing_for_one_token_exactly_one_consumes(tmp_path: Path) -> None:
    for round_number in range(15):
        token_id = f"apv-race-{round_number:04d}"
        outcomes = _run_race(str(tmp_path), token_id, ["run-a", "run-b"])
        states = sorted(state for _run_id, state in outcomes)
        assert states == [errors.REPLAYED, "consumed"], outcomes
    lines = (tmp_path / "consumed.jsonl").read_text().splitlines()
    assert len(lines) == 15
    assert len({json.loads(line)["token_id"] for line in lines}) == 15


def test_eight_processes_racing_one_winner(tmp_path: Path) -> None:
    outcomes = _run_race(str(tmp_path), "apv-race-many", [f"run-{n}" for n in range(8)])
    assert sorted(state for _run_id, state in outcomes).count("consumed") == 1
    assert sorted(state for _run_id, state in outcomes).count(errors.REPLAYED) == 7


def test_same_run_id_resumes_and_ledger_is_private(tmp_path: Path) -> None:
    ledger = ConsumptionLedger(str(tmp_path / "ledger"))
    first = _consume(ledger, "apv-0123456789abcdef", "job-41")
    again = _consume(ledger, "apv-0123456789abcdef", "job-41")
    assert (first.resumed, again.resumed) == (False, True)
    assert again.consumption == first.consumption
    with pytest.raises(errors.ApprovalError) as caught:
        _consume(ledger, "apv-0123456789abcdef", "job-42")
    assert caught.value.code == errors.REPLAYED
    assert "only the unfinished run that consumed it may resume" in caught.value.message
    assert "job-41" not in caught.value.message
    assert stat.S_IMODE(os.stat(ledger.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "ledger").st_mode) == 0o700


def test_check_unused_reads_without_consuming(tmp_path: Path) -> None:
    ledger = ConsumptionLedger(str(tmp_path))
    ledger.check_unused("apv-0123456789abcdef")
    assert not (tmp_path / "consumed.jsonl").exists()


def test_unreadable_ledger_line_refuses_every_token(tmp_path: Path) -> None:
    (tmp_path / "consumed.jsonl").write_text('{"token_id": "apv-x"\n')
    with pytest.raises(errors.ApprovalError) as caught:
        _consume(ConsumptionLedger(str(tmp_path)), "apv-0123456789abcdef", "run-1")
    assert caught.value.code == errors.LEDGER_ERROR
    assert "line 1 is unreadable" in caught.value.message


@pytest.fixture
def gate(tmp_path: Path) -> tuple[ApprovalKit, str, ControllerIdentity]:
    """A token that passed the gate in "this" controller process (the test process itself)."""
    kit = ApprovalKit(str(tmp_path / "ledger"))
    token = kit.token()
    identity = controller_identity(os.getpid())
    approval = verify_token(token, kit.policy(), now=NOW, scope=kit.scope())
    path = write_receipt(kit.ledger_dir, identity, approval, "run-1", check_mode=False)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    return kit, token, identity


def test_receipt_of_this_process_covers_each_approved_host(gate: tuple[ApprovalKit, str, ControllerIdentity]) -> None:
    kit, token, identity = gate
    for host in ("web1", "web2", "web3"):
        approval = require_receipt(token, kit.policy(), kit.scope(hosts=[host]), host, identity=identity)
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
        approval = require_receipt(token, kit.policy(), kit.scope(hosts=[host]), host, identity=identity)
        assert approval.verified_at == NOW
        assert approval.digest == token_digest(token)


def _refused(gate: tuple[ApprovalKit, str, ControllerIdentity], **changes: object) -> errors.ApprovalError:
    kit, token, identity = gate
    scope = kit.scope(hosts=["web1"], **changes.pop("scope", {}))  # type: ignore[arg-type]
    arguments = {"token": token, "policy": kit.policy(), "scope": scope, "host": "web1", "identity": identity, **changes}
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


def test_check_mode_receipt_does_not_allow_a_real_change(tmp_path: Path) -> None:
    kit = ApprovalKit(str(tmp_path))
    token = kit.token()
    identity = controller_identity(os.getpid())
    write_receipt(kit.ledger_dir, identity, verify_token(token, kit.policy(), now=NOW), "run-1", check_mode=True)
    require_receipt(token, kit.policy(), kit.scope(hosts=["web2"]), "web2", check_mode=True, identity=identity)
    with pytest.raises(errors.ApprovalError) as caught:
        require_receipt(token, kit.policy(), kit.scope(hosts=["web2"]), "web2", check_mode=False, identity=identity)
    assert caught.value.code == errors.RECEIPT_CHECK_MODE


def test_receipts_of_finished_processes_are_pruned(gate: tuple[ApprovalKit, str, ControllerIdentity]) -> None:
    kit, token, identity = gate
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    finished = controller_identity(child.pid)
    write_receipt(kit.ledger_dir, finished, verify_token(token, kit.policy(), now=NOW), "run-0", check_mode=False)
    child.wait()
    assert prune_receipts(kit.ledger_dir) == 1
    # The live process keeps its receipt.
    require_receipt(token, kit.policy(), kit.scope(hosts=["web1"]), "web1", identity=identity)
