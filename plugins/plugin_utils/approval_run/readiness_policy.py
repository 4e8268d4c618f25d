# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Does this change run the target hosts' readiness checks before its first change? The signed policy decides.

The class is the one the token's signers approved (its verified claims). Anything that is not a
verified token of a class whose policy entry says ``readiness: skip`` means the checks run: a
missing, forged or expired token, an unknown class. Nothing an operator sets can make them skip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.policy import READINESS_SKIP, Policy
from ansible_collections.opsgate.release.plugins.module_utils.approval.task_inputs import token_from_inputs
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import verify_token

from .token_ledger import policy_and_ledger


@dataclass(frozen=True)
class ReadinessDecision:
    required: bool
    system_class: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"required": self.required, "system_class": self.system_class, "reason": self.reason}


def readiness_decision(token: str | None, policy: Policy | None, now: datetime) -> ReadinessDecision:
    """Skip only for a token that verifies against the signed policy and whose class that policy exempts."""
    if policy is None or token is None:
        return ReadinessDecision(True, None, "no signed policy and token to read the class from: the readiness checks run")
    try:
        # Scope, replay and consumption are the gate's: here only whose signatures made the class claim.
        claims = verify_token(token, policy, now=now).claims
    except errors.ApprovalError as exc:
        return ReadinessDecision(True, None, f"the token does not verify ({exc.code}): the readiness checks run; the approval gate says why it refuses")
    return class_decision(claims, policy)


def class_decision(claims: Any, policy: Policy) -> ReadinessDecision:
    """The decision for the class of verified claims (the gate has them already: no second verification)."""
    system_class = policy.classes.get(claims.system_class)
    if system_class is not None and system_class.readiness == READINESS_SKIP:
        return ReadinessDecision(
            False,
            claims.system_class,
            f"the signed approval policy version {policy.version} lets class {claims.system_class} skip the readiness checks",
        )
    return ReadinessDecision(True, claims.system_class, f"class {claims.system_class} runs the readiness checks (signed policy version {policy.version})")


def _checked_policy(task_vars: Mapping[str, Any], template: Callable[[Any], Any], now: datetime) -> Policy:
    # Checked against the newest policy this store has seen: an older one replayed cannot exempt a class.
    with policy_and_ledger(task_vars, template, now=now) as (policy, _ledger):
        return policy


def decision_from_inputs(task_vars: Mapping[str, Any], template: Callable[[Any], Any], now: datetime) -> ReadinessDecision:
    """The decision for an action plugin: the signed policy and the token as the approval gate finds them."""
    try:
        policy = _checked_policy(task_vars, template, now)
    except errors.ApprovalError as exc:
        return ReadinessDecision(True, None, f"no signed approval policy ({exc.code}): the readiness checks run; the approval gate says why it refuses")
    try:
        token = token_from_inputs({}, task_vars, template)
    except errors.ApprovalError as exc:
        return ReadinessDecision(True, None, f"no approval token ({exc.code}): the readiness checks run; the approval gate says why it refuses")
    return readiness_decision(token, policy, now)
