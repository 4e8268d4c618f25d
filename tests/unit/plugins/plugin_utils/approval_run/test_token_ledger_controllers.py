# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Single use and resume across controllers: two store connections (two processes for the race) with different controller names.

A controller is its store connection and its RunOwner (controller host name, pid, process start time). The rules are the same on
SQLite and PostgreSQL, so most tests run on both; the shared-database test is PostgreSQL's reason to exist.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pg_cluster
import pytest
from approval_kit import NOW
from ledger_kit import ledger_settings, open_ledger

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.ledger_records import RunOwner
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.token_ledger import (
    ConsumeOutcome,
    TokenLedger,
    pinned_ledger,
    process_start_time,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import DSN_ENV, PASSWORD_ENV, StoreSettings

__all__ = ["ledger_settings"]  # the fixture

_FORK = multiprocessing.get_context("fork")
TOKEN = "apv-0123456789abcdef"
SHA = "d" * 64
FINGERPRINT = "release-1 batches-abc"
# Two controllers whose runs are alive (this test process stands for both): only a release or their end lets another resume.
A = RunOwner("controller-a", os.getpid(), process_start_time(os.getpid()))
B = RunOwner("controller-b", os.getpid(), process_start_time(os.getpid()))


@pytest.fixture
def controllers(ledger_settings: StoreSettings) -> Iterator[tuple[TokenLedger, TokenLedger]]:
    """Controllers A and B: two connections to one store."""
    first, second = open_ledger(ledger_settings), open_ledger(ledger_settings)
    try:
        yield first, second
    finally:
        first.store.close()
        second.store.close()


def _take(ledger: TokenLedger, owner: RunOwner, run_id: str = "job-7", sha: str = SHA, fingerprint: str = FINGERPRINT, token: str = TOKEN) -> ConsumeOutcome:
    return ledger.consume(token, sha, "CHG-2025-0117", run_id, NOW, fingerprint, "accounts-api", "prod", ("web1", "web2", "web3"), owner)


def _refused(code: str, call: object, *args: object, **kwargs: object) -> errors.ApprovalError:
    with pytest.raises(errors.ApprovalError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_a_token_consumed_on_a_is_refused_on_b_naming_the_first_run(postgresql_store: dict, tmp_path: Path) -> None:
    """Two controllers with separate local disks sharing one PostgreSQL."""
    environ = {PASSWORD_ENV: pg_cluster.PASSWORD}
    root_a = SimpleNamespace(state_store=postgresql_store, ledger_dir=str(tmp_path / "a"))
    root_b = SimpleNamespace(state_store=postgresql_store, ledger_dir=str(tmp_path / "b"))
    with pinned_ledger(root_a, environ) as on_a, pinned_ledger(root_b, environ) as on_b:
        assert _take(on_a, A).resumed is False
        error = _refused(errors.REPLAYED, _take, on_b, B, run_id="job-8")
        assert f"token {TOKEN} (change CHG-2025-0117) was consumed at 2025-03-07T13:00:00Z" in error.message
        assert "job-7" not in error.message  # never what a resume must match
        assert error.message.endswith(f"(the first run: ansible-playbook pid {A.pid} on controller controller-a)")
        assert "single-use" in _refused(errors.REPLAYED, on_b.check_unused, TOKEN).message
    # Nothing of either controller's local disk is a ledger.
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def _racer(
    settings: StoreSettings, owner: RunOwner, run_id: str, token: str, barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.queues.Queue
) -> None:
    # Its own process and connection, opened before the start line.
    ledger = open_ledger(settings)
    me = RunOwner(owner.controller, os.getpid(), process_start_time(os.getpid()))
    barrier.wait()
    try:
        outcome = _take(ledger, me, run_id=run_id, token=token)
        results.put((owner.controller, "resumed" if outcome.resumed else "consumed", ""))
    except errors.ApprovalError as exc:
        results.put((owner.controller, exc.code, exc.message))
    finally:
        ledger.store.close()


@pytest.mark.parametrize("run_ids", [("job-a", "job-b"), ("job-1", "job-1")], ids=["own_run_ids", "same_run_id"])
def test_two_controllers_starting_at_the_same_instant_with_one_token_exactly_one_proceeds(ledger_settings: StoreSettings, run_ids: tuple[str, str]) -> None:
    """Twenty rounds; a shared run id (an AWX survey answer typed twice) is no way round: the run is held by the other controller."""
    for number in range(20):
        token = f"apv-race-{number:04d}"
        barrier = _FORK.Barrier(2)
        results = _FORK.Queue()
        pairs = zip((A, B), run_ids, strict=True)
        workers = [_FORK.Process(target=_racer, args=(ledger_settings, owner, run_id, token, barrier, results)) for owner, run_id in pairs]
        for worker in workers:
            worker.start()
        outcomes = sorted(results.get(timeout=60) for _worker in workers)
        for worker in workers:
            worker.join(timeout=60)
            assert worker.exitcode == 0
        assert sorted(state for _controller, state, _message in outcomes) == [errors.REPLAYED, "consumed"], outcomes
        winner = next(controller for controller, state, _message in outcomes if state == "consumed")
        loser_message = next(message for _controller, state, message in outcomes if state == errors.REPLAYED)
        if run_ids[0] == run_ids[1]:
            assert f"held by a run on another controller ({winner}, pid " in loser_message
    reader = open_ledger(ledger_settings)
    try:
        with reader.store.transaction() as tx:
            assert tx.row("SELECT COUNT(*), COUNT(DISTINCT token_id) FROM consumptions") == (20, 20)
    finally:
        reader.store.close()


def test_a_run_paused_on_a_resumes_on_b_and_then_b_holds_it(controllers: tuple[TokenLedger, TokenLedger]) -> None:
    on_a, on_b = controllers
    _take(on_a, A)
    released = on_a.release(TOKEN, "job-7", NOW + timedelta(minutes=20), owner=A)
    assert released.released_at == "2025-03-07T13:20:00Z"
    resumed = _take(on_b, B)
    assert resumed.resumed is True
    assert (resumed.consumption.owner, resumed.consumption.released_at) == (B, None)
    assert resumed.consumption.consumed_at == "2025-03-07T13:00:00Z"  # the first run's time: deadlines do not move
    # B holds it now: A cannot take it back while B's run is going and has not released it.
    error = _refused(errors.REPLAYED, _take, on_a, A)
    assert f"held by a run on another controller (controller-b, pid {B.pid})" in error.message
    # Paused again, on B this time: A may resume the next batch.
    on_b.release(TOKEN, "job-7", owner=B)
    assert _take(on_a, A).resumed is True


def test_an_unreleased_live_run_on_a_is_refused_on_b_naming_its_controller_and_pid(controllers: tuple[TokenLedger, TokenLedger]) -> None:
    on_a, on_b = controllers
    _take(on_a, A)
    error = _refused(errors.REPLAYED, _take, on_b, B)
    assert f"held by a run on another controller (controller-a, pid {A.pid}) that has not released it" in error.message
    assert "resume it on controller-a once that process has ended" in error.message


def test_a_run_that_ended_without_pausing_resumes_only_on_its_own_controller(controllers: tuple[TokenLedger, TokenLedger]) -> None:
    """A killed run releases nothing: B cannot tell whether A's process lives; A can (today's rule), once it has ended."""
    on_a, on_b = controllers
    gone = RunOwner("controller-a", 999_999_999, "4242")  # that pid, started then, no longer runs
    _take(on_a, gone)
    assert "controller-a, pid 999999999" in _refused(errors.REPLAYED, _take, on_b, B).message
    assert _take(on_a, A).resumed is True


def test_a_finished_run_can_never_resume_released_or_not(controllers: tuple[TokenLedger, TokenLedger]) -> None:
    on_a, on_b = controllers
    _take(on_a, A)
    on_a.release(TOKEN, "job-7", owner=A)
    on_a.finish(TOKEN, "job-7", "succeeded", NOW)
    for ledger, owner in ((on_b, B), (on_a, A)):
        assert "the run that consumed it finished (succeeded) and cannot be resumed" in _refused(errors.REPLAYED, _take, ledger, owner).message
    assert "a finished run is never released" in _refused(errors.LEDGER_ERROR, on_a.release, TOKEN, "job-7").message


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"fingerprint": "release-2 batches-abc"}, "the release or its batches differ"),
        ({"sha": "e" * 64}, "this token string is not the one that started the run"),
        ({"run_id": "job-8"}, "only the unfinished run that consumed it may resume"),
    ],
    ids=["fingerprint", "token_sha256", "run_id"],
)
def test_a_released_run_still_needs_everything_the_same(controllers: tuple[TokenLedger, TokenLedger], change: dict[str, str], fragment: str) -> None:
    on_a, on_b = controllers
    _take(on_a, A)
    on_a.release(TOKEN, "job-7", owner=A)
    error = _refused(errors.REPLAYED, _take, on_b, B, **change)
    assert fragment in error.message
    assert _take(on_b, B).resumed is True  # the refusals changed nothing


def test_a_superseded_run_does_not_resume_even_released(controllers: tuple[TokenLedger, TokenLedger]) -> None:
    on_a, on_b = controllers
    _take(on_a, A)
    on_a.release(TOKEN, "job-7", owner=A)
    on_b.consume("apv-later-change-01", "f" * 64, "CHG-LATER", "job-9", NOW, "", "accounts-api", "prod", ("web3",), B)
    error = _refused(errors.REPLAYED, _take, on_b, B)
    assert "change CHG-LATER (token apv-later-change-01) ran on the same hosts" in error.message


def test_only_the_holder_releases(controllers: tuple[TokenLedger, TokenLedger]) -> None:
    on_a, on_b = controllers
    _take(on_a, A)
    error = _refused(errors.LEDGER_ERROR, on_b.release, TOKEN, "job-7", owner=B)
    assert f"held by controller controller-a (pid {A.pid}), not by this process" in error.message
    assert "nothing to release" in _refused(errors.LEDGER_ERROR, on_a.release, TOKEN, "job-8", owner=A).message
    assert "held by a run on another controller" in _refused(errors.REPLAYED, _take, on_b, B).message


def test_check_mode_resume_on_b_moves_nothing(controllers: tuple[TokenLedger, TokenLedger]) -> None:
    on_a, on_b = controllers
    _take(on_a, A)
    on_a.release(TOKEN, "job-7", owner=A)
    checked = on_b.consume(TOKEN, SHA, "CHG-2025-0117", "job-7", NOW, FINGERPRINT, "accounts-api", "prod", ("web1", "web2", "web3"), B, record_it=False)
    assert checked.resumed is True
    with on_a.store.transaction() as tx:
        assert tx.row("SELECT owner IS NOT NULL, released_at IS NOT NULL FROM consumptions WHERE token_id = ?", (TOKEN,)) in ((True, True), (1, 1))
        assert "controller-a" in tx.row("SELECT owner FROM consumptions WHERE token_id = ?", (TOKEN,))[0]


def test_the_newest_policy_any_controller_used_is_the_floor_for_all(controllers: tuple[TokenLedger, TokenLedger]) -> None:
    on_a, on_b = controllers
    on_a.require_policy_version(2, "2" * 64)
    on_a.require_policy_version(2, "2" * 64)  # the same again is fine
    assert "policy version 1 is older than version 2" in _refused(errors.POLICY_ROLLBACK, on_b.require_policy_version, 1, "1" * 64).message
    assert "differs from the version 2" in _refused(errors.POLICY_ROLLBACK, on_b.require_policy_version, 2, "x" * 64).message
    on_b.require_policy_version(3, "3" * 64)
    assert "older than version 3" in _refused(errors.POLICY_ROLLBACK, on_a.require_policy_version, 2, "2" * 64).message


def test_the_store_password_never_appears_in_an_error(postgresql_store: dict, tmp_path: Path) -> None:
    secret = pg_cluster.PASSWORD
    unreachable = {**postgresql_store, "port": pg_cluster._free_port()}
    location = f"postgresql://opsgate@127.0.0.1:{unreachable['port']}/{postgresql_store['dbname']}"
    attempts = [
        (unreachable, {PASSWORD_ENV: secret}, ["cannot connect", location]),
        (postgresql_store, {PASSWORD_ENV: secret + "-not"}, ["password authentication failed"]),
        (unreachable, {DSN_ENV: f"postgresql://opsgate:{secret}@127.0.0.1:{unreachable['port']}/{postgresql_store['dbname']}"}, [location]),
        (postgresql_store, {DSN_ENV: f"host=127.0.0.1 dbname=elsewhere user=opsgate password={secret}"}, ["differs from the store the trust root pins"]),
        (postgresql_store, {DSN_ENV: f"password={secret} service=evil"}, ["are not allowed"]),
    ]
    for pinned, environ, fragments in attempts:
        root = SimpleNamespace(state_store=pinned, ledger_dir=str(tmp_path))
        with pytest.raises(errors.ApprovalError) as caught, pinned_ledger(root, environ):
            pass
        text = f"{caught.value} {caught.value.message!r} {caught.value!r}"
        assert caught.value.code == errors.STATE_STORE_ERROR
        assert secret not in text, text
        for fragment in fragments:
            assert fragment in caught.value.message
    # A store that goes away in the middle of a run: the statement fails, the message still holds no password.
    root = SimpleNamespace(state_store=postgresql_store, ledger_dir=str(tmp_path))
    with pinned_ledger(root, {PASSWORD_ENV: secret}) as ledger:
        _take(ledger, A)
        ledger.store._connection.close()  # the server closed it, as a restart or a failover does
        error = _refused(errors.STATE_STORE_ERROR, _take, ledger, A, token="apv-after-the-break")
        assert secret not in f"{error} {error.message!r}"
        assert f"state store postgresql://opsgate@127.0.0.1:{postgresql_store['port']}/{postgresql_store['dbname']}" in error.message
