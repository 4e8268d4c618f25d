# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Emergency changes: when a normal quorum must ratify them, and the archive record of a ratification."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from . import errors
from .claims import format_timestamp, parse_timestamp
from .working_days import is_working_day

if TYPE_CHECKING:
    from .ledger_records import Consumption
    from .policy import Policy
    from .verification import VerifiedApproval


def ratify_by(ran_at: datetime, policy: Policy) -> datetime | None:
    """The end of the N-th working day after the emergency ran, in the policy's time zone; None without an emergency rule.

    The day of the emergency does not count, as the filing day does not count for the lead time.
    """
    if policy.emergency is None:
        return None
    day = ran_at.astimezone(policy.timezone).date()
    remaining = policy.emergency.ratify_within_working_days
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day, policy.holidays, policy.working_weekends):
            remaining -= 1
    return datetime.combine(day, time(23, 59, 59), tzinfo=policy.timezone)


def ratification_record(approval: VerifiedApproval, emergency: Consumption, operator: dict[str, Any], now: datetime, policy: Policy) -> dict[str, Any]:
    """What the operations archive keeps of a ratification: who approved which emergency run, never the token."""
    claims = approval.claims
    summary = approval.summary()
    consumed = parse_timestamp(emergency.consumed_at, "consumed_at", errors.LEDGER_ERROR)
    deadline = ratify_by(consumed, policy)
    stamp = format_timestamp(now)
    return {
        # The archive's file names allow [0-9A-Za-z-]{8,64} in a run id.
        "run_id": "ratify-" + re.sub(r"[^0-9A-Za-z-]", "-", claims.token_id)[:57],
        "kind": "ratification",
        "playbook": "opsgate-approval ratify",
        "status": "success",
        "started": stamp,
        "ended": stamp,
        "operator": operator,
        "change_id": claims.change_id,
        "app": claims.app,
        "version": claims.version,
        "env": claims.env,
        "token_id": claims.token_id,
        "signer_roles": summary["signer_roles"],
        "approval": {key: summary[key] for key in ("token_id", "token_sha256", "change_id", "system_class", "signer_roles", "signers", "hosts", "kind")},
        "ratifies": {
            "token_id": emergency.token_id,
            "change_id": emergency.change_id,
            "incident_id": emergency.incident_id,
            "ran_at": emergency.consumed_at,
            "ratify_by": format_timestamp(deadline) if deadline else None,
            "late": bool(deadline and now > deadline),
        },
        "hosts": {},
    }
