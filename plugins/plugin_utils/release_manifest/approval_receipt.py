# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one place where the release plugins ask the approval code whether this host may change.

Everything the approval work exposes (require_receipt, task inputs, run scope) is used here
and nowhere else in the release plugins, so an API change there is a change in this file only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.opsgate.release.plugins.plugin_utils.approval import errors
from ansible_collections.opsgate.release.plugins.plugin_utils.approval.receipt import require_receipt
from ansible_collections.opsgate.release.plugins.plugin_utils.approval.task_inputs import policy_from_inputs, redact, token_from_inputs
from ansible_collections.opsgate.release.plugins.plugin_utils.approval.verification import run_scope

SCOPE_KEYS = ("action", "app", "version", "artifact_sha256", "env", "system", "system_class")


class ApprovalRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def require_host_approval(
    scope: Mapping[str, Any],
    host: str,
    task_vars: Mapping[str, Any],
    template: Callable[[Any], Any],
    check_mode: bool,
) -> dict[str, str]:
    """``{token_id, token_sha256, change_id, action}`` of the verified token when the gate passed in this run for ``host``.

    Raises ApprovalRefused otherwise.
    """
    if not isinstance(scope, Mapping):
        raise ApprovalRefused("APPROVAL_SCOPE_INVALID", f"approval must be a mapping of {', '.join(SCOPE_KEYS)}, got {type(scope).__name__}")
    token: str | None = None
    try:
        policy = policy_from_inputs(task_vars, template)
        token = token_from_inputs({}, task_vars, template)
        run = run_scope(
            scope.get("action"),
            scope.get("app"),
            scope.get("version"),
            scope.get("artifact_sha256"),
            scope.get("env"),
            hosts=[host],
            system=scope.get("system") or None,
            system_class=scope.get("system_class") or None,
        )
        approval = require_receipt(token, policy, run, host, check_mode=check_mode)
    except errors.ApprovalError as exc:
        raise ApprovalRefused(exc.code, f"approval check refused {host} [{exc.code}]: {exc.message}") from None
    except Exception as exc:  # never let an unexpected error echo the token
        raise ApprovalRefused("APPROVAL_INTERNAL_ERROR", redact(f"approval check error on {host}: {type(exc).__name__}: {exc}", token)) from None
    return {"token_id": approval.token_id, "token_sha256": approval.digest, "change_id": approval.claims.change_id, "action": approval.claims.action}
