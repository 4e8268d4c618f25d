# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.release.ledger import (
    LedgerError,
    append_entry,
    deploy_order,
    interrupted_releases,
    latest_states,
    parse_ledger,
    read_ledger,
)

from .release_fixtures import deployed, entry


def test_append_then_read_round_trips_every_field(tmp_path):
    path = str(tmp_path / "ledger.jsonl")
    first = entry("r1", "deploying", "stage")
    second = entry("r1", "good", "deploy")
    append_entry(path, first)
    append_entry(path, second)
    assert read_ledger(path) == [first, second]
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert [json.loads(line)["state"] for line in lines] == ["deploying", "good"]
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_missing_ledger_is_empty(tmp_path):
    assert read_ledger(str(tmp_path / "none.jsonl")) == []


def test_torn_last_line_from_a_killed_writer_is_ignored():
    good = json.dumps(entry("r1", "good", "deploy").as_dict())
    entries = parse_ledger(good + "\n" + '{"release_id": "r2", "sta')
    assert [e.release_id for e in entries] == ["r1"]


def test_bad_line_in_the_middle_names_the_line():
    good = json.dumps(entry("r1", "good", "deploy").as_dict())
    with pytest.raises(LedgerError, match="ledger line 2 is not JSON"):
        parse_ledger(good + "\nnot json\n" + good + "\n")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"state": "exploded"}, "state must be one of deploying, good, failed, rolled_back, got 'exploded'"),
        ({"release_id": ""}, "release_id must be a non-empty string, got ''"),
        ({"version": 3}, "version must be a string, got 3"),
    ],
)
def test_invalid_fields_are_named_with_their_value(change, message):
    data = {**entry("r1", "good", "deploy").as_dict(), **change}
    with pytest.raises(LedgerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_ledger(json.dumps(data) + "\n")


def test_unknown_keys_are_kept_as_extra():
    data = {**entry("r1", "good", "deploy").as_dict(), "backup": True}
    (parsed,) = parse_ledger(json.dumps(data) + "\n")
    assert parsed.extra == {"backup": True}


def test_latest_state_is_the_last_line_of_each_release():
    entries = [*deployed("r1", "r2"), entry("r2", "rolled_back", "rollback")]
    states = latest_states(entries)
    assert states["r1"].state == "good"
    assert states["r2"].state == "rolled_back"


def test_deploy_order_follows_lines_not_rollback_confirmations():
    entries = [*deployed("r1", "r2", "r3"), entry("r3", "rolled_back", "rollback"), entry("r2", "good", "rollback")]
    assert deploy_order(entries) == ["r1", "r2", "r3"]
    redeployed = [*entries, *deployed("r1")]
    assert deploy_order(redeployed) == ["r2", "r3", "r1"]


def test_interrupted_releases_are_those_still_deploying():
    entries = [*deployed("r1"), entry("r2", "deploying", "stage"), entry("r3", "deploying", "stage"), entry("r3", "failed", "stage")]
    assert interrupted_releases(entries) == ["r2"]
