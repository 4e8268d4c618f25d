# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where an action plugin finds the token and the policy. No Ansible import: the plugin passes its templar."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from typing import Any

from . import errors
from .envelope import TOKEN_VAR, extract_token_text
from .policy import POLICY_VAR, Policy, parse_policy

TOKEN_FILE_VAR = "opsgate_approval_token_file"


def _read_token_file(path: str) -> str:
    path = os.path.expanduser(path)
    try:
        with open(path, encoding="utf-8") as handle:
            return extract_token_text(handle.read())
    except OSError as exc:
        raise errors.ApprovalError(errors.TOKEN_MISSING, f"cannot read the approval token file {path}: {exc.strerror}") from None


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


def policy_from_inputs(
    task_vars: Mapping[str, Any],
    template: Callable[[Any], Any],
    extra_var_names: Collection[str],
) -> Policy:
    """The policy comes from the inventory; extra vars would let whoever runs the playbook bring their own approver keys."""
    if POLICY_VAR in extra_var_names:
        raise errors.ApprovalError(
            errors.POLICY_FROM_EXTRA_VARS,
            f"{POLICY_VAR} was given as an extra var (-e); the approval policy must come from the inventory",
        )
    # No task argument for the policy: a role variable could be set with -e and bring its own keys.
    raw = task_vars.get(POLICY_VAR)
    if raw is None:
        raise errors.ApprovalError(errors.POLICY_INVALID, f"{POLICY_VAR} is not defined for this host (set it in the inventory group_vars)")
    return parse_policy(template(raw))


def redact(text: str, token: str | None) -> str:
    """Last line of defence for unexpected errors: never echo the token."""
    return text.replace(token, "<approval token>") if token else text
