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

from .receipt import Verification, controller_identity, require_receipt, require_verification_receipt, write_verification_receipt
from .token_ledger import policy_and_ledger

SCOPE_KEYS = ("action", "app", "version", "artifact_sha256", "env", "system", "system_class")
# The actions whose release_commit needs this run's passed verification when the signed change has a verify suite
# (a rollback's change has none: the release it returns to was verified when it was deployed).
VERIFIED_ACTIONS = ("deploy", "gray_release")


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
                # Its database and steps are the change's top-level migrations (they run on migrations.database.run_on); all of
                # its arguments: under a rollback the release it restores is compared there, not with the host's entry.
                check_migration_step(document, dict(arguments or {}))
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


def _signed_release_id(document: Mapping[str, Any] | None, host: str) -> str:
    entry = ((document or {}).get("hosts") or {}).get(host) or {}
    return str((entry.get("release") or {}).get("release_id") or "")


def record_host_verification(
    approval: Mapping[str, Any], host: str, task_vars: Mapping[str, Any], template: Callable[[Any], Any], verify: Mapping[str, Any], release_id: str
) -> None:
    """Write this process's receipt that ``verify`` (a passed release_verify result) passed against ``host`` under ``approval``.

    The release is the signed change's entry for the host when the token binds one (the step's own was compared with it).
    Raises ApprovalRefused when the state store cannot record it (then release_commit refuses: fail closed).
    """
    signed = (approval.get("host_check") or {}).get("host_change")
    verification = Verification(
        host=host,
        release_id=_signed_release_id(signed, host) or release_id,
        suite_sha256=str(verify["suite_sha256"]),
        suite_name=str(verify["suite_name"]),
        junit_sha256=str(verify["junit_sha256"]),
        tests=int(verify["tests"]),
        passed=int(verify["passed"]),
        failed=int(verify["failed"]),
        errors=int(verify["errors"]),
        skipped=int(verify["skipped"]),
    )
    try:
        with policy_and_ledger(task_vars, template) as (_policy, ledger):
            write_verification_receipt(ledger.store, controller_identity(), str(approval["token_id"]), str(approval["token_sha256"]), verification)
    except errors.ApprovalError as exc:
        raise ApprovalRefused(exc.code, f"the verification of {host} passed, but its receipt was not written [{exc.code}]: {exc.message}") from None


def require_host_verification(approval: Mapping[str, Any], host: str, task_vars: Mapping[str, Any], template: Callable[[Any], Any], check_mode: bool) -> None:
    """Before a release is recorded good: refuse unless the signed change's verify suite passed against ``host`` in this process.

    Applies to a deploy or gray release whose verified change document (the one the token signs, as require_host_approval
    returned it, never a task argument) has a ``verify``; not in check mode, where release_verify runs nothing.
    """
    signed = (approval.get("host_check") or {}).get("host_change")
    if check_mode or not isinstance(signed, Mapping) or signed.get("verify") is None or approval.get("action") not in VERIFIED_ACTIONS:
        return
    suite = signed["verify"]
    try:
        with policy_and_ledger(task_vars, template) as (_policy, ledger):
            require_verification_receipt(
                ledger.store,
                str(approval["token_sha256"]),
                host,
                _signed_release_id(signed, host),
                str(suite.get("suite_sha256") or ""),
                str(suite.get("suite_name") or ""),
            )
    except errors.ApprovalError as exc:
        raise ApprovalRefused(exc.code, f"release_commit refused on {host} [{exc.code}]: {exc.message}; nothing was changed") from None
