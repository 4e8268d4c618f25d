# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout state in the state store, on SQLite and on a real PostgreSQL: round trip, resume rules, fail closed,
one transaction per write, two controllers sharing one database."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from ledger_kit import BACKENDS, settings_for
from store_faults import updates_fail

from ansible_collections.opsgate.release.plugins.plugin_utils.rollout import state as rollout_state
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.state import (
    RolloutState,
    RolloutStateError,
    begin_state,
    check_names,
    new_state,
    parse_weights,
    read_state,
    start_point,
    state_location,
    with_batch_done,
    with_status,
    with_weights,
    write_state,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import StoreError, StoreSettings
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import Store, open_store

RELEASE = "2.0.0-CHG-7-0123456789ab"
TOKEN = "tok-7"
PRINT = "f" * 64
WEIGHTS = {"app1": 1, "app2": 1, "app3": 1}


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path) -> StoreSettings:
    return settings_for(request.param, request, str(tmp_path / "ledger"))


@pytest.fixture
def store(settings: StoreSettings) -> Iterator[Store]:
    opened = open_store(settings)
    try:
        yield opened
    finally:
        opened.close()


def _save(store: Store, state: RolloutState) -> None:
    with store.transaction(write=True) as tx:
        write_state(tx, state)


def _load(store: Store, app: str = "shop", env: str = "prod") -> RolloutState | None:
    with store.transaction() as tx:
        return read_state(tx, app, env, store.settings.location)


def _paused(store: Store) -> RolloutState:
    state = with_batch_done(new_state("shop", "prod", RELEASE, TOKEN, PRINT, 3), ["app1"])
    state = with_status(state, rollout_state.PAUSED_FOR_APPROVAL, "approval after batch 1: check dashboards")
    _save(store, state)
    return state


def test_the_state_is_one_row_of_the_store_and_round_trips(store: Store) -> None:
    state = _paused(store)
    assert _load(store) == state
    with store.transaction() as tx:
        rows = tx.rows("SELECT app, env, document, updated_at FROM rollout_states")
    assert [(app, env, updated) for app, env, _doc, updated in rows] == [("shop", "prod", state.updated_at)]
    document = json.loads(rows[0][2])
    assert document["hosts_switched"] == ["app1"] and document["version"] == rollout_state.STATE_VERSION
    # A second write replaces the row, never adds one.
    _save(store, with_status(state, rollout_state.DONE, "done"))
    with store.transaction() as tx:
        assert tx.rows("SELECT COUNT(*) FROM rollout_states") == [(1,)]


def test_missing_state_reads_as_none(store: Store) -> None:
    assert _load(store) is None


def test_the_location_names_the_store_and_the_row_never_a_password(settings: StoreSettings) -> None:
    where = state_location(settings.location, "shop", "prod")
    assert where == f"{settings.location} (rollout_states shop/prod)"
    assert "opsgate-test-Secret-42" not in where


def test_batches_accumulate_switched_and_failed_hosts() -> None:
    state = new_state("shop", "prod", RELEASE, TOKEN, PRINT, 2)
    state = with_batch_done(state, ["app1"])
    state = with_batch_done(state, ["app2", "app3", "app1"], failed=["app3"])
    assert state.batches_done == 2 and state.hosts_switched == ("app1", "app2", "app3") and state.failed_hosts == ("app3",)
    with pytest.raises(RolloutStateError, match="all 2 batches of release"):
        with_batch_done(state, ["app4"])


def test_resume_continues_after_the_last_done_batch(store: Store) -> None:
    _paused(store)
    assert start_point(_load(store), RELEASE, TOKEN, PRINT, resume=True) == 1


def test_fresh_start_begins_at_zero_when_previous_rollout_finished(store: Store) -> None:
    state = _paused(store)
    assert start_point(None, RELEASE, TOKEN, PRINT, resume=False) == 0
    _save(store, with_status(state, rollout_state.DONE, "done"))
    assert start_point(_load(store), "3.0.0-CHG-8-aa", "tok-8", PRINT, resume=False) == 0


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
def test_resume_refusals(store: Store, release: str, token: str, fingerprint: str, resume: bool, status: str | None, fragment: str) -> None:
    state = _paused(store)
    if status is not None:
        _save(store, with_status(state, status, "x"))
    with pytest.raises(RolloutStateError) as caught:
        start_point(_load(store), release, token, fingerprint, resume=resume)
    assert fragment in str(caught.value)


def test_resume_without_state_is_refused() -> None:
    with pytest.raises(RolloutStateError, match="no rollout state to resume for release"):
        start_point(None, RELEASE, TOKEN, PRINT, resume=True)


def test_resume_when_every_batch_is_done_is_refused() -> None:
    state = with_batch_done(new_state("shop", "prod", RELEASE, TOKEN, PRINT, 1), ["app1"])
    with pytest.raises(RolloutStateError, match="nothing to resume"):
        start_point(state, RELEASE, TOKEN, PRINT, resume=True)


def test_an_unreadable_document_fails_closed_naming_the_store(store: Store) -> None:
    _paused(store)
    where = state_location(store.settings.location, "shop", "prod")
    with store.transaction(write=True) as tx:
        tx.execute("UPDATE rollout_states SET document = ? WHERE app = ? AND env = ?", ("{half", "shop", "prod"))
    with pytest.raises(RolloutStateError, match="is unreadable") as caught:
        _load(store)
    assert where in str(caught.value)
    with store.transaction(write=True) as tx:
        tx.execute("UPDATE rollout_states SET document = ? WHERE app = ? AND env = ?", (json.dumps({"version": 1, "app": "shop"}), "shop", "prod"))
    with pytest.raises(RolloutStateError, match="not a state this version understands"):
        _load(store)


def test_a_document_filed_under_another_rollout_is_refused(store: Store) -> None:
    _save(store, new_state("billing", "qa", RELEASE, TOKEN, PRINT, 1))
    with store.transaction(write=True) as tx:
        tx.execute("UPDATE rollout_states SET app = ?, env = ?", ("shop", "prod"))
    with pytest.raises(RolloutStateError, match="holds the rollout of billing/qa"):
        _load(store)


def test_names_that_are_no_plain_names_are_refused() -> None:
    with pytest.raises(RolloutStateError, match=r"app '\.\./etc' cannot name a rollout state"):
        check_names("../etc", "prod")
    with pytest.raises(RolloutStateError, match="env ''"):
        state_location("/x", "shop", "")


def test_unknown_status_is_refused() -> None:
    with pytest.raises(RolloutStateError, match="unknown rollout status 'paused'"):
        with_status(new_state("shop", "prod", RELEASE, TOKEN, PRINT, 1), "paused", "x")


def test_the_weights_to_restore_are_part_of_the_state(store: Store) -> None:
    state = with_weights(_paused(store), WEIGHTS)
    _save(store, state)
    assert _load(store).lb_weights_before == WEIGHTS
    # None keeps them, {} forgets them (restored).
    assert with_weights(state, None).lb_weights_before == WEIGHTS
    _save(store, with_weights(state, {}))
    assert _load(store).lb_weights_before == {}
    for bad, needle in (({"app1": -1}, "whole number from 0"), ({"app1": True}, "whole number"), ({"app1": "1"}, "whole number"), ([1], "mapping")):
        with pytest.raises(RolloutStateError, match=needle):
            parse_weights(bad, "lb_weights_before")


def test_a_failed_write_keeps_the_previous_state(store: Store, settings: StoreSettings, request: pytest.FixtureRequest) -> None:
    """A real write failure (SQLite file unwritable, PostgreSQL UPDATE revoked): a StoreError naming the store, the old state intact."""
    state = _paused(store)
    with updates_fail(settings, request, "rollout_states"), open_store(settings) as other:
        with pytest.raises(StoreError) as caught, other.transaction(write=True) as tx:
            write_state(tx, with_status(state, rollout_state.DONE, "done"))
        assert settings.location in str(caught.value)
        assert "opsgate-test-Secret-42" not in str(caught.value)
        assert _load(other) == state


def test_an_error_between_read_and_write_leaves_the_previous_state(store: Store) -> None:
    """Read, decide and write are one transaction: whatever fails before the commit writes nothing (a killed controller)."""
    state = _paused(store)
    with pytest.raises(RolloutStateError), store.transaction(write=True) as tx:
        write_state(tx, with_status(state, rollout_state.RUNNING, "resumed"))
        raise RolloutStateError("stopped before the commit")
    assert _load(store) == state


def test_a_rollout_paused_through_one_controller_resumes_through_another(request: pytest.FixtureRequest, tmp_path, postgresql_store: dict) -> None:
    """Controllers A and B: own ledger folders, own connections, one PostgreSQL. B resumes what A paused, weights included."""
    settings_a = settings_for("postgresql", request, str(tmp_path / "a"))
    settings_b = settings_for("postgresql", request, str(tmp_path / "b"))
    assert settings_a.conninfo["dbname"] == settings_b.conninfo["dbname"] == postgresql_store["dbname"]
    with open_store(settings_a) as controller_a, open_store(settings_b) as controller_b:
        paused = with_weights(_paused(controller_a), WEIGHTS)
        _save(controller_a, paused)
        seen = _load(controller_b)
        assert seen == paused and seen.lb_weights_before == WEIGHTS
        assert start_point(seen, RELEASE, TOKEN, PRINT, resume=True) == 1
        resumed = begin_state(seen, "shop", "prod", RELEASE, TOKEN, PRINT, 3, resume=True)
        assert (resumed.status, resumed.batches_done, resumed.hosts_switched, resumed.lb_weights_before) == ("running", 1, ("app1",), WEIGHTS)
        _save(controller_b, with_weights(resumed, {}))
        # A sees B's write at once: a second resume through A is now a fresh start over a running rollout, refused.
        again = _load(controller_a)
        assert again.status == "running" and again.lb_weights_before == {}
        with pytest.raises(RolloutStateError, match="is running after 1 of 3 batches"):
            start_point(again, RELEASE, TOKEN, PRINT, resume=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing on either controller's disk
