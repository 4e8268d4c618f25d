# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The first thing every release module does on the host: verify the approval itself.

On a host the trust bootstrap has pinned a root on, a step runs only when the token, the signed
policy and the change document the controller sends verify against that root, and the step's
arguments are this host's entry of the change (``module_utils/approval/host_check.py``). The
token's id and change id written to the host's ledger are then the verified ones. A host
without a pinned root is not protected by this check (the controller's checks still run); the
result says so in ``host_verified``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..approval import errors
from ..approval.host_check import MIGRATE_STEP, host_is_bootstrapped, is_undo, verify_on_this_host
from .layout import Layout
from .ledger import GOOD, LedgerEntry, LedgerError, latest_states, read_ledger

_NOT_RELEASE_INPUTS = {"host_token", "host_policy", "host_change", "approval", "who", "token_id"}
DEBIAN_PACKAGE = "python3-cryptography"
RHEL_PACKAGE = "python3-cryptography"


def _ledger(base_dir: str) -> list[LedgerEntry]:
    try:
        return read_ledger(Layout(base_dir).ledger)
    except (LedgerError, OSError):
        return []  # the step itself reports an unreadable ledger


def token_spent_on_host(entries: list[LedgerEntry], token_id: str) -> str | None:
    """Why ``token_id`` may not change this host again, or None.

    A token is spent here once a later ledger line was written under another token: the release it
    applied was superseded or rolled back. Repeating or resuming the same run stays possible.
    """
    last = max((index for index, entry in enumerate(entries) if entry.token_id == token_id), default=None)
    if last is None:
        return None
    later = [entry for entry in entries[last + 1 :] if entry.token_id and entry.token_id != token_id]
    if not later:
        return None
    first = later[0]
    return f"token {token_id} was applied on this host before, and then {first.event} {first.release_id} ran under token {first.token_id} at {first.at}"


def release_is_good(entries: list[LedgerEntry], release_id: str) -> bool:
    state = latest_states(entries).get(release_id)
    return state is not None and state.state == GOOD


class StepRefused(Exception):
    def __init__(self, msg: str, **fields: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.fields = {"changed": False, **fields}


def _require_host_inputs(step: str, params: dict[str, Any]) -> None:
    if not params.get("host_token") or not params.get("host_policy") or not params.get("host_change"):
        raise StepRefused(
            f"{step} refused [{errors.CHANGE_NOT_BOUND}]: this host pins a trust root and verifies every release step itself, "
            "but the controller sent no token, policy or change document (an old or modified collection on the controller?)",
            approval_error=errors.CHANGE_NOT_BOUND,
        )


def _verify_here(step: str, arguments: dict[str, Any], params: dict[str, Any], check_mode: bool, in_flight: bool = True) -> dict[str, Any]:
    try:
        return verify_on_this_host(
            step, arguments, params["host_token"], params["host_policy"], params["host_change"], datetime.now(UTC), record=not check_mode, in_flight=in_flight
        )
    except errors.MissingLibraryError as exc:
        raise StepRefused(
            f"{step} refused on this host: it verifies approvals itself and {exc.library} is not installed "
            f"(install {DEBIAN_PACKAGE} on Debian/Ubuntu, {RHEL_PACKAGE} on RHEL; nothing was changed)",
            approval_error="APPROVAL_HOST_LIBRARY_MISSING",
        ) from None
    except errors.ApprovalError as exc:
        raise StepRefused(f"{step} refused by the host [{exc.code}]: {exc.message}; nothing was changed", approval_error=exc.code) from None


def verify_step(step: str, params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """Verify on the host, or raise StepRefused; returns fields for the result. Sets token_id to the verified one."""
    if not host_is_bootstrapped():
        return {"host_verified": False}
    _require_host_inputs(step, params)
    arguments = {key: value for key, value in params.items() if key not in _NOT_RELEASE_INPUTS}
    # Undoing a failed deploy is never refused for time, but only while that deploy is in flight: a release recorded
    # good is undone by an approved rollback, not by replaying an old deploy token's "failed" step.
    entries = _ledger(params["base_dir"])
    in_flight = not release_is_good(entries, params.get("release_id") or "")
    verified = _verify_here(step, arguments, params, check_mode, in_flight)
    if not (is_undo(step, arguments) and in_flight):
        spent = token_spent_on_host(entries, verified["token_id"])
        if spent:
            raise StepRefused(
                f"{step} refused by the host [{errors.HOST_TOKEN_SPENT}]: {spent}; an approval is used once", approval_error=errors.HOST_TOKEN_SPENT
            )
    params["token_id"] = verified["token_id"]
    return {"host_verified": True, "host_verification": verified}


def verify_migration(params: dict[str, Any], arguments: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """verify_step for the database migration step, whose host has no release tree (so no release ledger to read).

    ``arguments`` are the step as the host received it, its digests computed from the SQL it was sent; the host
    checks them against the signed change's ``migrations`` and its own name against ``database.run_on``
    (host_check.check_migration_host). Sets token_id to the verified one; the caller checks its own ledger for a
    spent token.
    """
    if not host_is_bootstrapped():
        return {"host_verified": False}
    _require_host_inputs(MIGRATE_STEP, params)
    verified = _verify_here(MIGRATE_STEP, arguments, params, check_mode)
    params["token_id"] = verified["token_id"]
    return {"host_verified": True, "host_verification": verified}
