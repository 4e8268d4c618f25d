# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""opsgate-approval request --change FILE shows FILE.running.json (what runs now) and never signs it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from test_approval_cli import _cli, _iso, workspace  # noqa: F401 # pylint: disable=unused-import  # workspace is a fixture

from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import build_change, change_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_summary import RUNNING_HEADING, running_document, running_entry

OLD = "a1" * 32
NEW = "b2" * 32


def _document() -> dict[str, Any]:
    inputs = {"base_dir": "/srv/accounts", "app": "accounts-api", "version": "2.0.1", "artifact_sha256": NEW, "keep_releases": 3}
    return build_change(
        action="deploy",
        app="accounts-api",
        version="2.0.1",
        artifact_sha256=NEW,
        change_id="CHG-2025-0200",
        env="prod",
        hosts={name: {"address": name, "inputs": inputs} for name in ("web1", "web2", "web3")},
    )


def _request(tmp: Path, out: str) -> Any:
    now = datetime.now(UTC)
    return _cli(
        tmp,
        "request",
        "--change", "change.json",
        "--system", "accounts",
        "--system-class", "core_business",
        "--plan-filed-at", _iso(now - timedelta(days=14)),
        "--not-before", _iso(now - timedelta(hours=1)),
        "--not-after", _iso(now + timedelta(hours=3)),
        "--requested-by", "erin",
        "--key", "erin.key",
        "--test-report", "TR-88",
        "--acceptance-report", "UAT-12",
        "--out", out,
    )  # fmt: skip


def _signed_digest(tmp: Path, token: str) -> str:
    done = _cli(tmp, "inspect", "--in", token)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["claims"]["change_sha256"]


def test_the_running_sidecar_is_shown_and_not_signed(workspace: Path) -> None:  # noqa: F811 - the fixture
    document = _document()
    (workspace / "change.json").write_text(json.dumps(document))
    alone = _request(workspace, "alone.token")
    assert alone.returncode == 0, alone.stderr
    assert RUNNING_HEADING not in alone.stdout

    marker = {"version": "2.0.0", "artifact_sha256": OLD}
    entries = {
        "web1": running_entry({"current": "2.0.0-a1", "current_state": "good", "current_marker": marker}),
        "web2": running_entry({"current": None}),
        "web3": running_entry({"failed": True, "msg": "Permission denied"}),
    }
    (workspace / "change.json.running.json").write_text(json.dumps(running_document(document, entries)))
    shown = _request(workspace, "shown.token")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[: len(alone.stdout.splitlines())] == alone.stdout.splitlines()
    assert lines[lines.index(RUNNING_HEADING) + 1 :] == [
        "  web1: now 2.0.0 (release 2.0.0-a1, good) -> 2.0.1; artifact sha256 differs",
        "  web2: nothing running yet",
        "  web3: running release unknown (Permission denied)",
    ]
    assert _signed_digest(workspace, "shown.token") == _signed_digest(workspace, "alone.token") == change_digest(document)


def test_a_malformed_or_stale_sidecar_is_refused_naming_it_before_anything_is_written(workspace: Path) -> None:  # noqa: F811 - the fixture
    document = _document()
    (workspace / "change.json").write_text(json.dumps(document))
    sidecar = workspace / "change.json.running.json"
    other = {**document, "version": "2.0.2"}
    for content in ("{not json", json.dumps({"hosts": {}}), json.dumps(running_document(other, {}))):
        sidecar.write_text(content)
        done = _request(workspace, "refused.token")
        assert done.returncode == 2, done.stdout
        assert "APPROVAL_CHANGE_INVALID: change.json.running.json: " in done.stderr
        assert not (workspace / "refused.token").exists()
