# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where an action plugin finds the token, the pinned trust root and the signed policy. No Ansible import: the plugin passes its templar.

The controller checks the policy's version against the newest one its ledger has seen (a replayed older policy
is refused): that is the ledger's, on the state store, ``plugin_utils/approval_run/token_ledger.py``
(``policy_and_ledger``), which every action plugin uses instead of calling :func:`pinned_root_and_policy` alone.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from . import errors
from .envelope import TOKEN_VAR, extract_token_text, token_text_from_bytes
from .file_safety import check_file
from .policy import POLICY_FILE_VAR, POLICY_VAR, Policy, load_policy_document
from .trust_root import MAX_DOCUMENT_BYTES, TrustRoot, load_trust_root

TOKEN_FILE_VAR = "opsgate_approval_token_file"


def _read_token_file(path: str) -> str:
    path = os.path.expanduser(path)
    try:
        # A FIFO or a device would block or never end: only a regular file is read.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"the approval token file {path} is not a regular file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise errors.ApprovalError(errors.TOKEN_MISSING, f"cannot read the approval token file {path}: {exc.strerror}") from None
    return token_text_from_bytes(data, path, MAX_DOCUMENT_BYTES)


def token_from_inputs(args: Mapping[str, Any], task_vars: Mapping[str, Any], template: Callable[[Any], Any]) -> str:
    """Task arg ``token`` / ``token_file``, else var ``opsgate_approval_token`` (a token, or ``@path``) / ``opsgate_approval_token_file``."""
    candidates = (
        (args.get("token"), False),
        (args.get("token_file"), True),
        (task_vars.get(TOKEN_VAR), False),
        (task_vars.get(TOKEN_FILE_VAR), True),
    )
    for raw, is_path in candidates:
        if raw is None or raw == "":
            continue
        value = template(raw)
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()
        if is_path:
            return _read_token_file(value)
        if value.startswith("@"):
            return _read_token_file(value[1:])
        return extract_token_text(value)
    raise errors.ApprovalError(
        errors.TOKEN_MISSING,
        f"no approval token: set {TOKEN_VAR} (e.g. -e @token.json, or an AWX credential) or {TOKEN_FILE_VAR}",
    )


def pinned_root_and_policy(
    task_vars: Mapping[str, Any],
    template: Callable[[Any], Any],
    now: datetime | None = None,
    trust_root: str | None = None,
) -> tuple[TrustRoot, Policy]:
    """The pinned trust root and the policy its administrators signed; nothing the operator passes can stand in for them.

    The root comes from /etc/opsgate/trust.json (or OPSGATE_TRUST_ROOT), checked for who could
    have written it. The policy file may be named by ``opsgate_approval_policy_file`` from any
    source (default: policy.json beside the root), because only its signatures count.
    """
    root = load_trust_root(trust_root)
    if POLICY_VAR in task_vars:
        raise errors.ApprovalError(
            errors.POLICY_UNSIGNED,
            f"{POLICY_VAR} is set (from the inventory, a vars file or -e) but a policy in variables is not trusted: "
            f"the policy is a file signed by the policy administrators ({POLICY_FILE_VAR}, default {root.default_policy_path}); remove {POLICY_VAR}",
        )
    raw_path = task_vars.get(POLICY_FILE_VAR)
    path = template(raw_path) if raw_path else root.default_policy_path
    if not isinstance(path, str) or not path.strip():
        raise errors.ApprovalError(errors.POLICY_INVALID, f"{POLICY_FILE_VAR} must be a file path, got {path!r}")
    # Not yet checked against the newest policy seen: the caller does that with the ledger (module docstring).
    return root, read_policy_file(os.path.expanduser(path.strip()), root, now or datetime.now(UTC))


def read_policy_file(path: str, root: TrustRoot, now: datetime) -> Policy:
    check_file(path, "the approval policy", errors.POLICY_FILE_UNSAFE, owners=(0, os.geteuid()))
    with open(path, "rb") as handle:
        data = handle.read(root.max_document_bytes + 1)
    return load_policy_document(data, root, now, path)


def redact(text: str, token: str | None) -> str:
    """Last line of defence for unexpected errors: never echo the token."""
    return text.replace(token, "<approval token>") if token else text
