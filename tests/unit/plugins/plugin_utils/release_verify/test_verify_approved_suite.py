# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The verify step against the signed change's ``verify``, and the suite file against both digests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import build_change
from ansible_collections.opsgate.release.plugins.plugin_utils.release_verify.approved_suite import MAX_SUITE_BYTES, SuiteRefused, check_verify_step, read_suite

SUITE = b"def test_a(host):\n    assert host.run('true').rc == 0\n"
DIGEST = hashlib.sha256(SUITE).hexdigest()


def _document(verify: dict[str, Any] | None) -> dict[str, Any]:
    inputs = {"release_id": "r1", "app": "app", "version": "1", "artifact_sha256": "a1" * 32, "change_id": "CHG-1"}
    return build_change(
        action="deploy",
        app="app",
        version="1",
        artifact_sha256="a1" * 32,
        change_id="CHG-1",
        env="prod",
        hosts={"web1": {"address": "web1", "inputs": inputs}},
        verify=verify,
    )


SIGNED = _document({"suite": "/play/tests/test_app.py", "sha256": DIGEST, "timeout": 300})


def test_the_signed_suite_passes_wherever_it_lies_on_the_controller() -> None:
    approved = check_verify_step(SIGNED, {"verify": {"suite": "/other/checkout/tests/test_app.py", "sha256": DIGEST.upper(), "timeout": 300}})
    assert approved == {"suite_sha256": DIGEST, "suite_name": "test_app.py", "timeout": 300}


@pytest.mark.parametrize(
    ("verify", "message"),
    [
        (
            {"suite": "/p/test_app.py", "sha256": "0" * 64, "timeout": 300},
            f"verify.suite_sha256 differs from the approved change (asked '{'0' * 64}', approved '{DIGEST}')",
        ),
        ({"suite": "/p/test_app.py", "sha256": DIGEST, "timeout": 3000}, "verify.timeout differs from the approved change (asked 3000, approved 300)"),
        (
            {"suite": "/p/test_other.py", "sha256": DIGEST, "timeout": 300},
            "verify.suite_name differs from the approved change (asked 'test_other.py', approved 'test_app.py')",
        ),
        (None, "the step names no verify suite; the approved change runs test_app.py"),
    ],
)
def test_a_step_that_is_not_the_signed_verify_is_refused(verify: dict[str, Any] | None, message: str) -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        check_verify_step(SIGNED, {"verify": verify})
    assert caught.value.code == errors.CHANGE_STEP_MISMATCH
    assert caught.value.message == message


def test_a_change_without_verify_approves_no_suite() -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        check_verify_step(_document(None), {"verify": {"suite": "/p/test_app.py", "sha256": DIGEST, "timeout": 300}})
    assert caught.value.message == "change CHG-1 approves no verification suite, and this step would run one"


def test_the_suite_is_read_relative_to_the_playbook(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_app.py").write_bytes(SUITE)
    suite = read_suite({"suite": "tests/test_app.py", "sha256": DIGEST}, str(tmp_path), SIGNED)
    assert (suite.path, suite.name, suite.content, suite.sha256) == (str(tmp_path / "tests" / "test_app.py"), "test_app.py", SUITE, DIGEST)
    assert read_suite({"suite": "tests/test_app.py", "sha256": DIGEST}, str(tmp_path), None).sha256 == DIGEST


def test_a_file_that_is_the_tasks_digest_but_not_the_signed_one_is_refused(tmp_path: Path) -> None:
    other = SUITE + b"# more\n"
    path = tmp_path / "test_app.py"
    path.write_bytes(other)
    actual = hashlib.sha256(other).hexdigest()
    with pytest.raises(SuiteRefused) as caught:
        read_suite({"suite": str(path), "sha256": actual}, str(tmp_path), SIGNED)
    assert caught.value.code == "RELEASE_VERIFY_DIGEST_MISMATCH"
    assert caught.value.message.startswith(f"change.verify.suite_sha256: the suite {path} has sha256 {actual}, expected {DIGEST}")


@pytest.mark.parametrize(
    ("content", "suite", "message"),
    [
        (None, "missing.py", "verify.suite: cannot read {path}: No such file or directory; nothing was run"),
        (b"#" * (MAX_SUITE_BYTES + 1), "big.py", f"verify.suite: {{path}} is larger than {MAX_SUITE_BYTES} bytes; nothing was run"),
        (None, "", "verify.suite must be the suite file's path, got ''; nothing was run"),
    ],
)
def test_an_unreadable_suite_is_refused(tmp_path: Path, content: bytes | None, suite: str, message: str) -> None:
    if content is not None:
        (tmp_path / suite).write_bytes(content)
    with pytest.raises(SuiteRefused) as caught:
        read_suite({"suite": suite, "sha256": DIGEST}, str(tmp_path), None)
    assert caught.value.code == "RELEASE_VERIFY_SUITE_UNREADABLE"
    assert caught.value.message == message.format(path=tmp_path / suite)
