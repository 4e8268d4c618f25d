# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The verify step's suite against what the approvers signed.

The suite is the change's top-level ``verify`` (the same for every host), not a key of a host's entry:
approval_run/host_approval.py calls check_verify_step for the ``release_verify`` step after the host's entry
(release_id, app, version...) has been compared. read_suite then reads the file and refuses it, before anything
runs, when its bytes are not the ones both the task and the signed change name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import VERIFY_KEYS, verify_spec
from ansible_collections.opsgate.release.plugins.module_utils.approval.identity import shown
from ansible_collections.opsgate.release.plugins.plugin_utils.controller_file import ControllerFileUnreadable, read_controller_file

VERIFY_STEP = "release_verify"
# A testinfra suite is a page of checks, not a data file.
MAX_SUITE_BYTES = 1024 * 1024


class SuiteRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _value(item: Any) -> str:
    return repr(shown(item)) if isinstance(item, str) else shown(item)


def check_verify_step(document: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The step's ``verify`` (suite path, sha256, timeout) is the signed change's ``verify``, key by key. Returns the approved one."""
    approved = document.get("verify")
    asked = verify_spec(arguments.get("verify"))
    if not approved:
        raise errors.ApprovalError(
            errors.CHANGE_STEP_MISMATCH, f"change {shown(document.get('change_id'))} approves no verification suite, and this step would run one"
        )
    if asked is None:
        raise errors.ApprovalError(errors.CHANGE_STEP_MISMATCH, f"the step names no verify suite; the approved change runs {shown(approved['suite_name'])}")
    for key in VERIFY_KEYS:
        if asked.get(key) != approved.get(key):
            raise errors.ApprovalError(
                errors.CHANGE_STEP_MISMATCH,
                f"verify.{key} differs from the approved change (asked {_value(asked.get(key))}, approved {_value(approved.get(key))})",
            )
    return dict(approved)


@dataclass(frozen=True)
class Suite:
    path: str
    name: str
    content: bytes
    sha256: str


def read_suite(verify: Mapping[str, Any], base_dir: str, signed: Mapping[str, Any] | None) -> Suite:
    """The suite file's bytes, when their sha256 is ``verify.sha256`` and (with a signed change) ``change.verify.suite_sha256``.

    ``signed``: the change document the approval bound, None when the token binds none (then the task's digest alone).
    """
    suite = verify.get("suite")
    if not isinstance(suite, str) or not suite:
        raise SuiteRefused("RELEASE_VERIFY_SUITE_UNREADABLE", f"verify.suite must be the suite file's path, got {_value(suite)}; nothing was run")
    try:
        read = read_controller_file(suite, base_dir, MAX_SUITE_BYTES)
    except ControllerFileUnreadable as exc:
        raise SuiteRefused("RELEASE_VERIFY_SUITE_UNREADABLE", f"verify.suite: {exc.reason}; nothing was run") from None
    expected = [("verify.sha256", str(verify.get("sha256") or "").lower())]
    if signed is not None:
        approved = signed.get("verify") or {}
        expected.append(("change.verify.suite_sha256", str(approved.get("suite_sha256") or "")))
    for field, digest in expected:
        if read.sha256 != digest:
            raise SuiteRefused(
                "RELEASE_VERIFY_DIGEST_MISMATCH",
                f"{field}: the suite {read.path} has sha256 {read.sha256}, expected {digest or '(none)'}: "
                "the file changed after the approval; the suite was not run",
            )
    return Suite(read.path, os.path.basename(read.path), read.content, read.sha256)
