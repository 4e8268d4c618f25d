# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Argument spec pieces the release_* modules share, and the identity built from them."""

from __future__ import annotations

from typing import Any

from .stage import ReleaseIdentity

APPROVAL_SPEC: dict[str, Any] = {"type": "dict"}
# Given by the release action plugin, never by a playbook (the action plugin refuses them in a task):
# what the host verifies itself (host_guard.py). Only the token is secret; the change holds digests.
HOST_CHECK_SPEC: dict[str, dict[str, Any]] = {
    "host_token": {"type": "str", "no_log": True},
    "host_policy": {"type": "str"},
    "host_change": {"type": "dict"},
}

IDENTITY_SPEC: dict[str, dict[str, Any]] = {
    "base_dir": {"type": "path", "required": True},
    "release_id": {"type": "str", "required": True},
    "app": {"type": "str", "required": True},
    "version": {"type": "str", "required": True},
    "artifact_sha256": {"type": "str", "required": True},
    "change_id": {"type": "str", "default": ""},
    "token_id": {"type": "str", "default": ""},
    "who": {"type": "str", "default": ""},
    "approval": APPROVAL_SPEC,
    "change": {"type": "dict"},
    **HOST_CHECK_SPEC,
}


def identity_from(params: dict[str, Any]) -> ReleaseIdentity:
    return ReleaseIdentity(
        release_id=params["release_id"],
        app=params["app"],
        version=params["version"],
        artifact_sha256=params["artifact_sha256"],
        change_id=params.get("change_id") or "",
        token_id=params.get("token_id") or "",
        who=params.get("who") or "",
    )


def mode_of(value: Any, default: int) -> int:
    """Modes arrive as ints from the manifest (already parsed) or as octal strings from a user."""
    if value is None or value == "":
        return default
    if isinstance(value, int):
        return value
    return int(str(value), 8)
