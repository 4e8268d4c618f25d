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

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import check_change_matches_claims, check_shape, check_step
from ansible_collections.opsgate.release.plugins.module_utils.approval.host_check import MIGRATE_STEP, arguments_to_compare, check_migration_step
from ansible_collections.opsgate.release.plugins.module_utils.approval.task_inputs import redact, token_from_inputs
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import run_scope
from ansible_collections.opsgate.release.plugins.plugin_utils.release_verify.approved_suite import VERIFY_STEP, check_verify_step

from .receipt import require_receipt
from .token_ledger import policy_and_ledger

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
    step: str = "",
    arguments: Mapping[str, Any] | None = None,
    change: Any = None,
    token_args: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``{token_id, token_sha256, change_id, action, host_check}`` of the verified token when the gate passed in this run for ``host``.

    When the token binds a change document (or the policy requires one), ``change`` must be it and ``arguments``
    must be this host's entry of it (checked here, on the controller, with the code the host runs);
    ``host_check`` is then what the module needs to verify the same on the host. Raises ApprovalRefused otherwise.
    """
    if not isinstance(scope, Mapping):
        raise ApprovalRefused("APPROVAL_SCOPE_INVALID", f"approval must be a mapping of {', '.join(SCOPE_KEYS)}, got {type(scope).__name__}")
    token: str | None = None
    try:
        with policy_and_ledger(task_vars, template) as (policy, ledger):
            # A task may name the token itself (approval_check's token / token_file); the release steps take the run's.
            token = token_from_inputs(dict(token_args or {}), task_vars, template)
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
            approval = require_receipt(ledger.store, token, policy, run, host, check_mode=check_mode)
        host_check: dict[str, Any] = {}
        # Only a step that changes the host is compared with the change (the rollout bookkeeping changes none).
        if step and (approval.claims.change_sha256 or policy.change_document == "required"):
            document = check_shape(change)
            check_change_matches_claims(document, approval.claims)
            address = template(task_vars.get("ansible_host", host)) if "ansible_host" in task_vars else host
            step_arguments = arguments_to_compare(approval.claims.action, step, dict(arguments or {}))
            check_step(document, host, str(address), step_arguments)
            if step == MIGRATE_STEP:
                # Its database and steps are the change's top-level migrations (they run on migrations.database.run_on).
                check_migration_step(document, step_arguments)
            if step == VERIFY_STEP:
                # Its suite is the change's top-level verify (one for every host), checked after the host's entry.
                check_verify_step(document, step_arguments)
            host_check = {"host_token": token, "host_policy": policy.document.decode("utf-8"), "host_change": document}
    except errors.ApprovalError as exc:
        raise ApprovalRefused(exc.code, f"approval check refused {host} [{exc.code}]: {exc.message}") from None
    except errors.MissingLibraryError:
        raise  # names the package to install; the callers turn it into a failed task
    except Exception as exc:  # never let an unexpected error echo the token
        raise ApprovalRefused("APPROVAL_INTERNAL_ERROR", redact(f"approval check error on {host}: {type(exc).__name__}: {exc}", token)) from None
    return {
        "token_id": approval.token_id,
        "token_sha256": approval.digest,
        "change_id": approval.claims.change_id,
        "action": approval.claims.action,
        "host_check": host_check,
    }
