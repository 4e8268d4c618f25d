# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What differs from the release each host runs now: pure functions over a change document and a running sidecar."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import build_change, change_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_summary import (
    RUNNING_HEADING,
    check_running,
    difference_lines,
    running_document,
    running_entry,
    summary_lines,
)
from ansible_collections.opsgate.release.plugins.module_utils.release.settle import release_report

OLD = "a1" * 32
NEW = "b2" * 32
UNIT = "[Service]\nExecStart=/srv/app/current/bin/app\n"
SERVICE = {"type": "systemd", "name": "app", "unit": UNIT}
HEALTH = {"type": "http", "url": "http://127.0.0.1:8080/health"}


def _inputs(version: str, sha: str, config: str = "port=8080\n", health: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "base_dir": "/srv/app",
        "release_id": f"{version}-{sha[:8]}",
        "app": "app",
        "version": version,
        "artifact_sha256": sha,
        "change_id": "CHG-2",
        "artifacts": [{"name": "app.tar.gz", "sha256": sha, "dest": ".", "unpack": True}],
        "config_files": [{"dest": "conf/app.ini", "content": config, "mode": "0640"}, {"dest": "/etc/app.env", "content": "X=1\n"}],
        "shared_paths": ["logs"],
        "service": SERVICE,
        "health": health or HEALTH,
        "after_stage": [],
        "before_switch": [],
        "backup_paths": [],
        "keep_releases": 3,
    }


def _document(action: str = "deploy", version: str = "2.0.0", sha: str = NEW, hosts: tuple[str, ...] = ("slot1", "slot2", "slot3", "slot4")) -> dict[str, Any]:
    return build_change(
        action=action,
        app="app",
        version=version,
        artifact_sha256=sha,
        change_id="CHG-2",
        env="prod",
        hosts={name: {"address": name, "inputs": _inputs(version, sha)} for name in hosts},
    )


def _info(version: str, sha: str, config: str = "port=8080\n", health: dict[str, Any] | None = None, state: str = "good") -> dict[str, Any]:
    """A registered release_info result whose current release has this marker (as stage.py writes it)."""
    marker = {
        "release_id": f"{version}-{sha[:8]}",
        "app": "app",
        "version": version,
        "artifact_sha256": sha,
        "artifacts": [{"name": "app.tar.gz", "sha256": sha}],
        "change_id": "CHG-1",
        "token_id": "t-1",
        "config_files": [{"dest": "conf/app.ini", "sha256": hashlib.sha256(config.encode()).hexdigest()}],
        "shared_paths": ["logs"],
        "service": SERVICE,
        "health": health or HEALTH,
    }
    return {"changed": False, "current": marker["release_id"], "current_state": state, "current_marker": marker, "releases": []}


def test_a_host_running_the_previous_version_shows_what_changes() -> None:
    document = _document()
    running = running_document(document, {"slot1": running_entry(_info("1.0.0", OLD, health={"type": "none"}))})
    assert difference_lines(document, running)[0] == (
        f"slot1: now 1.0.0 (release 1.0.0-{OLD[:8]}, good) -> 2.0.0; artifact sha256 differs; health check differs"
    )


def test_nothing_running_and_unknown_hosts_are_said_so() -> None:
    document = _document()
    entries = {
        "slot2": running_entry({"failed": True, "msg": "cannot read releases in /srv/app: permission denied"}),
        "slot3": running_entry(release_report("/nonexistent/opsgate/base")),  # no base_dir yet: release_info does not fail
    }
    lines = difference_lines(document, running_document(document, entries))
    assert lines[1:] == [
        "slot2: running release unknown (cannot read releases in /srv/app: permission denied)",
        "slot3: nothing running yet",
        "slot4: running release unknown",
    ]
    assert running_entry({"unreachable": True, "msg": "ssh: no route"}) == {"known": False, "reason": "ssh: no route"}
    assert running_entry({"skipped": True})["known"] is False
    assert running_entry(None)["known"] is False


def test_the_same_release_compares_equal_unit_text_against_its_digest() -> None:
    document = _document()
    running = running_document(document, {"slot1": running_entry(_info("2.0.0", NEW))})
    # The marker keeps the unit text, the document its sha256: shaped alike, nothing differs.
    assert difference_lines(document, running)[0] == f"slot1: now 2.0.0 (release 2.0.0-{NEW[:8]}, good) -> 2.0.0; nothing else compared differs"


def test_config_files_in_the_release_directory_are_compared_by_digest() -> None:
    document = _document()
    info = _info("1.0.0", NEW, config="port=9090\n", state="failed")
    info["current_marker"]["config_files"].append({"dest": "conf/old.ini", "sha256": "00" * 32})
    line = difference_lines(document, running_document(document, {"slot1": running_entry(info)}))[0]
    # /etc/app.env is outside the release directory: the marker does not record it, so it is not compared.
    assert line == (f"slot1: now 1.0.0 (release 1.0.0-{NEW[:8]}, failed) -> 2.0.0; config conf/app.ini differs; config conf/old.ini is no longer written")


def test_a_rollback_reads_as_going_back() -> None:
    document = build_change(
        action="rollback",
        app="app",
        version="1.0.0",
        artifact_sha256=OLD,
        change_id="CHG-3",
        env="prod",
        hosts={"slot1": {"address": "slot1", "inputs": {"base_dir": "/srv/app", "app": "app", "version": "1.0.0", "artifact_sha256": OLD, "keep_releases": 3}}},
    )
    running = running_document(document, {"slot1": running_entry(_info("2.0.0", NEW))})
    assert difference_lines(document, running) == [f"slot1: now 2.0.0 (release 2.0.0-{NEW[:8]}, good) -> back to 1.0.0; artifact sha256 differs"]


def test_summary_lines_show_the_differences_under_their_heading_only_when_given() -> None:
    document = _document()
    before = copy.deepcopy(document)
    running = running_document(document, {"slot3": running_entry({"current": None})})
    plain = summary_lines(document)
    shown = summary_lines(document, running)
    assert RUNNING_HEADING not in plain
    assert shown[: len(plain)] == plain
    assert shown[len(plain)] == RUNNING_HEADING
    assert "  slot3: nothing running yet" in shown
    assert document == before and change_digest(document) == change_digest(before)


def test_check_running_accepts_what_was_written_and_names_the_file_otherwise() -> None:
    document = _document()
    running = running_document(document, {"slot1": running_entry(_info("1.0.0", OLD))})
    assert check_running(copy.deepcopy(running), document, "c.json.running.json") == running
    other = _document(version="2.0.1")
    stale = running_document(other, {})
    with pytest.raises(errors.ApprovalError, match=r"c\.json\.running\.json: was written for the change document with sha256") as caught:
        check_running(stale, document, "c.json.running.json")
    assert caught.value.code == errors.CHANGE_INVALID
    broken: list[Any] = [
        [],
        {**running, "extra": 1},
        {**running, "_type": "opsgate.release/change"},
        {**running, "hosts": {"intruder": {"known": False}}},
        {**running, "hosts": {"slot1": {"known": "yes"}}},
        {**running, "hosts": {"slot1": {"known": True, "release_id": "r", "state": "good", "release": []}}},
        {**running, "hosts": {"slot1": {"known": True, "release_id": "r", "state": None, "release": {"version": 2}}}},
    ]
    for data in broken:
        with pytest.raises(errors.ApprovalError, match=r"c\.json\.running\.json: ") as refused:
            check_running(data, document, "c.json.running.json")
        assert refused.value.code == errors.CHANGE_INVALID


def test_values_read_from_a_host_are_printed_escaped() -> None:
    document = _document()
    info = _info("1.0.0\x1b[2J", OLD)
    line = difference_lines(document, running_document(document, {"slot1": running_entry(info)}))[0]
    assert "\x1b" not in line and "1.0.0\\x1b[2J" in line
