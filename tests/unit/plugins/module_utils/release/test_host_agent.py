# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release agent checks what the deploy account hands it before anything runs as root."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.approval import host_check
from ansible_collections.opsgate.release.plugins.module_utils.release import host_agent
from ansible_collections.opsgate.release.plugins.module_utils.release.host_agent import AgentRefused, agent_main, check_params, handle_request
from ansible_collections.opsgate.release.plugins.module_utils.release.steps import STEP_SPECS

SWITCH = {"base_dir": "/srv/app", "release_id": "r1", "app": "app", "version": "1", "artifact_sha256": "a" * 64}


@pytest.fixture
def pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A host whose root is pinned (the file's content does not matter before the step is checked)."""
    root = tmp_path / "trust.json"
    root.write_text("{}")
    monkeypatch.setattr(host_check, "DEFAULT_TRUST_ROOT", str(root))
    monkeypatch.delenv(host_check.HOST_TRUST_DIR_ENV, raising=False)
    return root


def _answer(request: Any) -> dict[str, Any]:
    return handle_request(json.dumps(request).encode())


def test_check_params_fills_defaults_and_keeps_types() -> None:
    checked = check_params(STEP_SPECS["release_switch"], SWITCH)
    assert checked["before_switch"] == [] and checked["config_mode"] == "0640" and checked["host_token"] is None


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({**SWITCH, "run_as_root": "id"}, "run_as_root"),
        ({k: v for k, v in SWITCH.items() if k != "release_id"}, "release_id"),
        ({**SWITCH, "before_switch": "touch /x"}, "before_switch"),
        ({**SWITCH, "before_switch": [["touch"]]}, "before_switch[0]"),
        ({**SWITCH, "config_files": [{"dest": "a", "content": "b", "extra": 1}]}, "extra"),
        ({**SWITCH, "host_change": "not a dict"}, "host_change"),
    ],
)
def test_check_params_refuses_what_no_module_would_send(params: dict[str, Any], named: str) -> None:
    with pytest.raises(AgentRefused, match=named.replace("[", r"\[").replace("]", r"\]")):
        check_params(STEP_SPECS["release_switch"], params)


def test_an_int_option_refuses_a_bool_and_choices_hold() -> None:
    with pytest.raises(AgentRefused, match="keep_releases"):
        check_params(STEP_SPECS["release_commit"], {**SWITCH, "keep_releases": True})
    with pytest.raises(AgentRefused, match="event"):
        check_params(STEP_SPECS["release_commit"], {**SWITCH, "event": "anything"})


def test_the_agent_runs_only_on_a_host_with_a_pinned_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_check, "DEFAULT_TRUST_ROOT", str(tmp_path / "absent.json"))
    monkeypatch.delenv(host_check.HOST_TRUST_DIR_ENV, raising=False)
    answer = _answer({"step": "release_switch", "params": SWITCH, "check_mode": False})
    assert answer["failed"] and "pins no trust root" in answer["msg"]


def test_a_step_without_token_is_refused_before_anything_runs(pinned: Path, tmp_path: Path) -> None:
    base = tmp_path / "srv"
    answer = _answer({"step": "release_switch", "params": {**SWITCH, "base_dir": str(base), "before_switch": [f"touch {tmp_path}/hook"]}, "check_mode": False})
    assert answer["failed"] and answer["approval_error"] == "APPROVAL_CHANGE_NOT_BOUND"
    assert not base.exists() and not (tmp_path / "hook").exists()


@pytest.mark.parametrize(
    "request_value",
    [
        {"step": "release_destroy", "params": {}, "check_mode": False},
        {"step": "release_switch", "params": [], "check_mode": False},
        {"step": "release_switch", "params": SWITCH, "check_mode": "no"},
        {"step": "release_switch", "params": SWITCH},
        ["release_switch"],
    ],
)
def test_malformed_requests_are_refused(pinned: Path, request_value: Any) -> None:
    answer = _answer(request_value)
    assert answer["failed"] and answer["approval_error"] == "RELEASE_AGENT_REFUSED"


def test_the_agent_reads_stdin_and_answers_json_even_for_garbage(pinned: Path) -> None:
    out = io.StringIO()
    assert agent_main(io.BytesIO(b"\xff not json"), out) == 0
    assert json.loads(out.getvalue())["approval_error"] == "RELEASE_AGENT_REFUSED"


def test_a_module_hands_over_only_without_root_on_a_host_with_the_agent(pinned: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agent = tmp_path / "release-step"
    monkeypatch.setattr(host_agent, "AGENT_PATH", str(agent))
    monkeypatch.setattr(host_agent.os, "geteuid", lambda: 1000)
    assert not host_agent.should_delegate()
    agent.write_text("#!/bin/sh\n")
    assert host_agent.should_delegate()
    monkeypatch.setattr(host_agent.os, "geteuid", lambda: 0)
    assert not host_agent.should_delegate()


def test_the_artifact_is_read_once_so_a_swap_after_the_check_is_not_unpacked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The deploy account owns the uploaded artifact; what is unpacked as root is the copy whose digest was checked."""
    import hashlib
    import tarfile

    from ansible_collections.opsgate.release.plugins.module_utils.release import artifact

    def tar_with(path: Path, text: str) -> None:
        (tmp_path / "payload.txt").write_text(text)
        with tarfile.open(path, "w:gz") as archive:
            archive.add(tmp_path / "payload.txt", arcname="payload.txt")

    upload = tmp_path / "upload.tar.gz"
    tar_with(upload, "approved")
    approved_sha = hashlib.sha256(upload.read_bytes()).hexdigest()
    tar_with(tmp_path / "evil.tar.gz", "swapped")
    real_copy = artifact._private_copy

    def copy_then_swap(src: str, directory: str) -> tuple[str, str]:
        result = real_copy(src, directory)
        os.replace(tmp_path / "evil.tar.gz", src)  # the owner of src swaps it right after the read
        return result

    monkeypatch.setattr(artifact, "_private_copy", copy_then_swap)
    destination = tmp_path / "release"
    assert artifact.place_artifact(str(upload), approved_sha, str(destination), True, "app") == 1
    assert (destination / "payload.txt").read_text() == "approved"
    assert sorted(path.name for path in destination.iterdir()) == ["payload.txt"]


def test_a_wrong_digest_leaves_no_copy_behind(tmp_path: Path) -> None:
    from ansible_collections.opsgate.release.plugins.module_utils.release.artifact import ArtifactError, place_artifact

    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"not approved")
    with pytest.raises(ArtifactError, match="sha256 on the host"):
        place_artifact(str(upload), "0" * 64, str(tmp_path / "release"), False, "app.bin")
    assert list((tmp_path / "release").iterdir()) == []


def test_the_agent_refuses_a_release_owned_by_the_account_that_asks(pinned: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUDO_USER", "deploy")
    stage = {**SWITCH, "base_dir": str(tmp_path / "srv"), "artifacts": [], "owner": "deploy"}
    answer = _answer({"step": "release_stage", "params": stage, "check_mode": False})
    assert answer["failed"] and answer["approval_error"] == "RELEASE_AGENT_REFUSED" and "'deploy'" in answer["msg"]
    assert not (tmp_path / "srv").exists()
