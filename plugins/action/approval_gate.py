# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify the approval token on the controller before any host is touched; consume it; leave a receipt for this run.

With ``finish``, record instead that the run which consumed the token has ended, so it can never be resumed;
with ``release``, that it stopped resumably (a gray release paused), so any controller may resume it.
The ledger and the receipts live in the state store the pinned trust root names; a store that cannot be
used refuses the run here, before any host (APPROVAL_STATE_STORE_ERROR).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.playbook.role_include import IncludeRole
from ansible.plugins.action import ActionBase
from ansible.utils.vars import load_extra_vars

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.canonical import canonical_json
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import change_digest, check_change_matches_claims
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import ACTIONS, KIND_EMERGENCY, format_timestamp, parse_timestamp, validate_claims
from ansible_collections.opsgate.release.plugins.module_utils.approval.emergency import ratify_by
from ansible_collections.opsgate.release.plugins.module_utils.approval.envelope import decode_token
from ansible_collections.opsgate.release.plugins.module_utils.approval.freezes import freezes_at
from ansible_collections.opsgate.release.plugins.module_utils.approval.identity import shown
from ansible_collections.opsgate.release.plugins.module_utils.approval.task_inputs import redact, token_from_inputs
from ansible_collections.opsgate.release.plugins.module_utils.approval.trust_root import load_trust_root
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import (
    RunScope,
    check_freeze_window,
    check_required_documents,
    freeze_applies,
    run_scope,
    verify_token,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.change_inputs import change_from_hostvars
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.internal_variables import internal_extra_vars
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.readiness_policy import class_decision
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.receipt import (
    controller_identity,
    prune_receipts,
    receipt_of_this_run,
    require_readiness_receipt,
    run_owner,
    write_receipt,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.token_ledger import OUTCOMES, TokenLedger, policy_and_ledger
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.errors import ArchiveNotWritable
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import check_archive_writable

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "action": {"type": "str", "required": True, "choices": list(ACTIONS)},
    "app": {"type": "str", "required": True},
    "version": {"type": "str", "required": True},
    "artifact_sha256": {"type": "str", "required": True},
    "env": {"type": "str", "required": True},
    "run_id": {"type": "str"},
    "fingerprint": {"type": "str", "default": ""},
    "finish": {"type": "str", "choices": list(OUTCOMES)},
    "release": {"type": "bool", "default": False},
    "check_freeze": {"type": "bool", "default": False},
    "change": {"type": "dict"},
    "change_inputs_var": {"type": "str"},
    "change_rollout": {"type": "raw"},
    "token": {"type": "str", "no_log": True},
    "token_file": {"type": "path"},
}


# The roles of this collection whose runs change hosts, and the one action each performs. Issue 12: an
# action given by a variable let a gray_release token deploy every host at once, so the gate takes the
# action from the role that includes it (the play's task tree, which no variable reaches).
ROLE_ACTIONS = {"deploy": "deploy", "gray_release": "gray_release", "rollback": "rollback"}
_GATE_ROLE = "approval_gate"


def _short_name(name: Any) -> str:
    return str(name or "").rsplit(".", 1)[-1]


def including_role(task: Any) -> str | None:
    """The role whose task file includes the approval_gate role this task belongs to; None outside a role (a custom play)."""
    node = getattr(task, "_parent", None)
    while node is not None:
        if isinstance(node, IncludeRole) and _short_name(node._role_name) == _GATE_ROLE:
            parent = node._parent_role
            return parent.get_name(include_role_fqcn=False) if parent is not None else None
        node = getattr(node, "_parent", None)
    role = getattr(task, "_role", None)
    if role is not None and _short_name(role.get_name(include_role_fqcn=False)) == _GATE_ROLE:
        # import_role: the role that imported it is the gate role's parent in the dependency chain.
        parents = role.get_parents() if hasattr(role, "get_parents") else []
        names = {parent.get_name(include_role_fqcn=False) for parent in parents}
        if len(names) == 1:
            return names.pop()
    return None


def run_action(task: Any, given: str) -> str:
    """The action this run performs: fixed by the role that includes the gate; ``given`` must agree with it."""
    role = including_role(task)
    fixed = ROLE_ACTIONS.get(_short_name(role)) if role else None
    if fixed is not None and given != fixed:
        raise errors.ApprovalError(
            errors.ACTION_MISMATCH,
            f"action differs: this play runs the {role} role, whose action is '{fixed}', but the gate was asked for '{shown(given)}' "
            "(approval_gate_action or deploy_approval_action given by a variable); the action is not a variable, drop the override. "
            "Nothing was consumed",
        )
    return fixed or given


def play_hosts(task_vars: dict[str, Any]) -> list[str]:
    """The play's hosts after --limit. ansible_play_hosts_all is a magic variable: Ansible sets it after the
    extra vars, so -e cannot replace it (tests/unit/hostile/test_approval_overrides.py proves it)."""
    hosts = task_vars.get("ansible_play_hosts_all")
    if not isinstance(hosts, list | tuple):
        raise errors.ApprovalError(errors.SCOPE_INVALID, "the play's host list (ansible_play_hosts_all) is not available to the gate")
    return [str(host) for host in hosts]


def run_fingerprint(scope: RunScope, release: str) -> str:
    """What a resume must match: the approved scope and the release and batches the role passes."""
    return hashlib.sha256(canonical_json({"scope": scope.as_dict(), "release": release})).hexdigest()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        token: str | None = None
        check_mode = bool(self._task.check_mode)
        try:
            now = datetime.now(UTC)
            # The signed policy and the store before anything else: a store that cannot be used stops the run here (fail closed).
            with policy_and_ledger(task_vars, self._templar.template, now=now) as (policy, ledger):
                token = token_from_inputs(args, task_vars, self._templar.template)
                if args["finish"]:
                    return self._finish(result, token, policy, ledger, args["finish"], check_mode, now)
                if args["release"]:
                    return self._release(result, token, policy, ledger, check_mode, now)
                if args["check_freeze"]:
                    return self._check_freeze(result, token, policy, ledger, now)
                approval, outcome, run_id = self._pass_gate(args, task_vars, token, policy, ledger, check_mode, now)
        except errors.ApprovalError as exc:
            message = exc.message
            if exc.code == errors.STATE_STORE_ERROR and not (args["finish"] or args["release"] or args["check_freeze"]):
                message += "; the gate stopped the run before any host was touched"
            result.update(failed=True, changed=False, approval_error=exc.code, msg=f"approval refused [{exc.code}]: {message}")
            return result
        except errors.MissingLibraryError as exc:
            raise AnsibleActionFail(exc.message) from None
        except Exception as exc:
            # Anything unexpected must not leak the token either.
            message = redact(f"approval gate error: {type(exc).__name__}: {exc}", token)
            result.update(failed=True, changed=False, approval_error="APPROVAL_INTERNAL_ERROR", msg=message)
            return result
        return self._passed(result, approval, outcome, run_id, policy, check_mode)

    def _pass_gate(
        self, args: dict[str, Any], task_vars: dict[str, Any], token: str, policy: Any, ledger: TokenLedger, check_mode: bool, now: datetime
    ) -> tuple[Any, Any, str]:
        named = internal_extra_vars(load_extra_vars(self._loader))
        if named:
            raise errors.ApprovalError(
                errors.INTERNAL_VARIABLE_SET,
                f"{', '.join(named)} set by extra vars (-e): these are the roles' own working variables (what they computed "
                "from the inventory and the manifest), never inputs; remove them. Nothing was consumed",
            )
        # No variable decides the action, the hosts or the class: the role that includes the gate fixes the action,
        # the play's hosts are the hosts, and the class is the one the signed policy gives them (verify_token).
        scope = run_scope(
            run_action(self._task, args["action"]),
            args["app"],
            args["version"],
            args["artifact_sha256"],
            args["env"],
            hosts=play_hosts(task_vars),
        )
        identity = controller_identity()
        run_id = args["run_id"] or f"ansible-playbook-{identity.label}"
        approval = verify_token(token, policy, now=now, scope=scope)
        # Before the change is compared with the signed one, so a missing document is named, whatever else differs;
        # it only refuses, so checking the document as handed over is safe. Nothing is consumed yet.
        check_required_documents(approval.claims, args["change"], policy)
        if approval.claims.change_sha256 or policy.change_document == "required":
            # Before the token is consumed: a run whose change is not the signed one wastes nothing.
            check_change_matches_claims(args["change"], approval.claims)
            if args["change_inputs_var"]:
                # The document handed to the gate must also be what this run's step inputs give: a variable set over
                # the role's own (-e release_host_change_result=<the signed one>) is caught here, before the token is used.
                rebuilt = change_from_hostvars(task_vars, self._templar.template, args["change_inputs_var"], args["change"], args["change_rollout"])
                if change_digest(rebuilt) != change_digest(args["change"]):
                    raise errors.ApprovalError(
                        errors.CHANGE_MISMATCH,
                        f"the step inputs of this run ({args['change_inputs_var']}) do not give the change document handed to the gate: "
                        "a variable of the role was set from outside (extra vars, inventory); nothing was consumed",
                    )
        if ROLE_ACTIONS.get(_short_name(including_role(self._task))) or (
            scope.action in ROLE_ACTIONS.values() and class_decision(approval.claims, policy).required
        ):
            # A change checks readiness before the gate, whether a role of this collection includes the gate or the
            # operator's own playbook does (unless the signed policy exempts the token's class): this process must
            # have done so for every host (preflight_collect, then preflight_evaluate with readiness_gate).
            require_readiness_receipt(ledger.store, identity, approval.digest, scope.hosts)
        if not check_mode:
            # Before the token is consumed: a change the operations archive could not record does not start.
            try:
                check_archive_writable(load_trust_root(), store=ledger.store)
            except ArchiveNotWritable as exc:
                raise errors.ApprovalError(errors.ARCHIVE_NOT_WRITABLE, f"{exc}; nothing was consumed") from None
        outcome = ledger.consume(
            approval.token_id,
            approval.digest,
            approval.claims.change_id,
            run_id,
            now,
            fingerprint=run_fingerprint(scope, args["fingerprint"]),
            app=approval.claims.app,
            env=approval.claims.env,
            hosts=approval.claims.hosts,
            owner=run_owner(identity),
            record_it=not check_mode,
            # A first use must not plan into a freeze; a resume only needs the freeze to be over (verify_token).
            before_fresh=lambda: check_freeze_window(approval.claims, policy),
            kind=approval.claims.kind,
            incident_id=approval.claims.incident_id,
        )
        prune_receipts(ledger.store, identity.controller)
        write_receipt(ledger.store, identity, approval, run_id, check_mode)
        return approval, outcome, run_id

    @staticmethod
    def _passed(result: dict[str, Any], approval: Any, outcome: Any, run_id: str, policy: Any, check_mode: bool) -> dict[str, Any]:
        summary = approval.summary()
        if check_mode:
            state = "verified in check mode, not consumed"
        elif outcome.resumed:
            state = f"resumed by run {run_id}"
        else:
            state = f"consumed by run {run_id}"
        # From when the run first consumed the token: a resume does not move the deadline.
        ran_at = parse_timestamp(outcome.consumption.consumed_at, "consumed_at", errors.LEDGER_ERROR)
        deadline = ratify_by(ran_at, policy) if summary["kind"] == KIND_EMERGENCY else None
        if deadline is not None:
            state += (
                f"; EMERGENCY change for incident {summary['incident_id']}: a normal quorum must ratify it by "
                f"{format_timestamp(deadline)}, and no normal change of {summary['app']} runs until then"
            )
        # An allow-list of fields: the token and signature bytes never enter the result. ``changed`` stays
        # false: the recap counts changes to hosts, and this task changes none (``consumed`` says what it did).
        result.update(
            changed=False,
            token_id=summary["token_id"],
            token_sha256=summary["token_sha256"],
            change_id=summary["change_id"],
            change_sha256=summary["change_sha256"],
            # What the gate verified; the deploy role's host steps check their receipts against it.
            action=summary["action"],
            system_class=summary["system_class"],
            signer_roles=summary["signer_roles"],
            signers=summary["signers"],
            requested_by=summary["requested_by"],
            hosts=summary["hosts"],
            not_after=summary["not_after"],
            lead_working_days=summary["lead_working_days"],
            policy_version=policy.version,
            run_id=run_id,
            consumed=not check_mode,
            resumed=outcome.resumed,
            kind=summary["kind"],
            incident_id=summary["incident_id"],
            ratify_by=format_timestamp(deadline) if deadline else None,
            msg=f"approval {summary['token_id']} for change {summary['change_id']} valid: {', '.join(summary['signer_roles'])} signed; {state}",
        )
        return result

    @staticmethod
    def _check_freeze(result: dict[str, Any], token: str, policy: Any, ledger: TokenLedger, now: datetime) -> dict[str, Any]:
        """Between batches: is a freeze covering this run's change in force now, by the policy as signed now?"""
        receipt = receipt_of_this_run(ledger.store, token, policy)
        claims = validate_claims(decode_token(token, policy.max_document_bytes).claims)
        frozen = freezes_at(policy.freezes, now, claims.system, claims.system_class) if freeze_applies(claims, policy) else ()
        result.update(
            changed=False,
            token_id=receipt.token_id,
            frozen=bool(frozen),
            freeze=frozen[0].describe() if frozen else "",
            msg=f"{frozen[0].describe()}; the rollout stops before the next batch" if frozen else f"no change freeze covers {claims.system} now",
        )
        return result

    @staticmethod
    def _release(result: dict[str, Any], token: str, policy: Any, ledger: TokenLedger, check_mode: bool, now: datetime) -> dict[str, Any]:
        """The run stops resumably (paused for an approval or a freeze): let go of the token so that any controller may resume it."""
        identity = controller_identity()
        receipt = receipt_of_this_run(ledger.store, token, policy, identity)
        if check_mode or receipt.check_mode:
            result.update(changed=False, token_id=receipt.token_id, msg=f"check mode: run {receipt.run_id} not released")
            return result
        ledger.release(receipt.token_id, receipt.run_id, now, owner=run_owner(identity))
        result.update(
            changed=False,
            token_id=receipt.token_id,
            run_id=receipt.run_id,
            released=True,
            msg=(
                f"run {receipt.run_id} of approval {receipt.token_id} paused and released: it may resume on any controller of the store "
                "with the same token, release and run id"
            ),
        )
        return result

    @staticmethod
    def _finish(result: dict[str, Any], token: str, policy: Any, ledger: TokenLedger, outcome: str, check_mode: bool, now: datetime) -> dict[str, Any]:
        receipt = receipt_of_this_run(ledger.store, token, policy)
        if check_mode or receipt.check_mode:
            result.update(changed=False, token_id=receipt.token_id, msg=f"check mode: run {receipt.run_id} not marked {outcome}")
            return result
        ledger.finish(receipt.token_id, receipt.run_id, outcome, now)
        result.update(
            changed=False,
            token_id=receipt.token_id,
            run_id=receipt.run_id,
            outcome=outcome,
            msg=f"run {receipt.run_id} of approval {receipt.token_id} ended {outcome}; the token cannot be used again",
        )
        return result
