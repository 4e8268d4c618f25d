# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Proof, bound to one ``ansible-playbook`` process, that the approval gate passed in this run.

Extra vars outrank every other variable, so no variable or fact can prove a verification.
A receipt is a row of the state store's ``receipts`` table keyed by the controller (host name), the
controller process (pid and kernel start time, so a recycled pid never matches) and the token id.
Action plugins run in worker processes forked from that process, so ``os.getppid()`` names it in the
gate and in every later task. A host-changing action plugin calls :func:`require_receipt` before
it changes anything: skipping the gate (``--skip-tags``, ``--start-at-task``), faking a
variable, or reusing an earlier run's receipt all leave it without a receipt for this process.

Readiness receipts (this process checked the hosts' readiness for this token) share the table under
the key ``readiness:<token sha256>``, which no token id can be (token ids have no colon). Verification
receipts (the release's verify suite passed against a host in this process) under
``verified:<token sha256>:<host>``: a sha256 is 64 hex digits, so neither the prefix nor the host can run into
the other, and no readiness key is one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import format_timestamp, parse_timestamp, validate_claims
from ansible_collections.opsgate.release.plugins.module_utils.approval.envelope import decode_token
from ansible_collections.opsgate.release.plugins.module_utils.approval.ledger_records import RunOwner
from ansible_collections.opsgate.release.plugins.module_utils.approval.policy import Policy
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import RunScope, VerifiedApproval, check_scope, verify_token

from ..state_store.store import Store, Transaction
from .token_ledger import process_start_time, store_transaction

try:  # the operator the ledger's who and the archive name too (issue 12, one identity)
    from ..operator_identity import operator_identity
except ImportError:  # bin/ scripts: plugins/plugin_utils on sys.path, approval a top-level package
    from operator_identity import operator_identity  # type: ignore[no-redef]

READINESS_KEY = "readiness:"
READINESS_FACTS_KEY = "readiness-facts:"
VERIFIED_KEY = "verified:"


@dataclass(frozen=True)
class ControllerIdentity:
    pid: int
    start_time: str
    # The controller host: receipts of several controllers share one store, and a pid means something on its own host only.
    controller: str = field(default_factory=socket.gethostname)

    @property
    def label(self) -> str:
        return f"{self.pid}-{self.start_time}"


@dataclass(frozen=True)
class Receipt:
    controller: ControllerIdentity
    token_id: str
    token_sha256: str
    run_id: str
    check_mode: bool
    hosts: tuple[str, ...]
    verified_at: datetime


def controller_identity(pid: int | None = None) -> ControllerIdentity:
    """The ansible-playbook process: the parent of the worker running an action plugin."""
    pid = os.getppid() if pid is None else pid
    return ControllerIdentity(pid=pid, start_time=process_start_time(pid))


def run_owner(identity: ControllerIdentity) -> RunOwner:
    return RunOwner(identity.controller, identity.pid, identity.start_time)


def _put(tx: Transaction, identity: ControllerIdentity, key: str, body: dict[str, Any]) -> None:
    where = (identity.controller, identity.pid, identity.start_time, key)
    tx.execute("DELETE FROM receipts WHERE controller = ? AND pid = ? AND start_time = ? AND token_id = ?", where)
    tx.execute(
        "INSERT INTO receipts (controller, pid, start_time, token_id, document, written_at) VALUES (?, ?, ?, ?, ?, ?)",
        (*where, json.dumps(body, sort_keys=True), format_timestamp(datetime.now(UTC))),
    )


def _get(store: Store, identity: ControllerIdentity, key: str) -> dict[str, Any] | None:
    with store_transaction(store) as tx:
        row = tx.row(
            "SELECT document FROM receipts WHERE controller = ? AND pid = ? AND start_time = ? AND token_id = ?",
            (identity.controller, identity.pid, identity.start_time, key),
        )
    if row is None:
        return None
    try:
        body = json.loads(row[0])
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise errors.ApprovalError(
            errors.RECEIPT_MISMATCH, f"the receipt {key} of process {identity.pid} on {identity.controller} in the state store is unreadable"
        )
    return body


def write_receipt(store: Store, identity: ControllerIdentity, approval: VerifiedApproval, run_id: str, check_mode: bool) -> None:
    """Record that ``approval`` passed the gate in the run ``identity``."""
    claims = approval.claims
    body = {
        "controller": {"host": identity.controller, "pid": identity.pid, "start_time": identity.start_time},
        "token_id": claims.token_id,
        "token_sha256": approval.digest,
        "change_id": claims.change_id,
        "run_id": run_id,
        "check_mode": check_mode,
        "scope": {
            "action": claims.action,
            "app": claims.app,
            "version": claims.version,
            "artifact_sha256": claims.artifact_sha256,
            "env": claims.env,
            "hosts": list(claims.hosts),
        },
        "verified_at": format_timestamp(approval.verified_at),
        "operator": operator_identity().as_dict(),
    }
    with store_transaction(store, write=True) as tx:
        _put(tx, identity, claims.token_id, body)


def prune_receipts(store: Store, controller: str | None = None) -> int:
    """Remove this controller's receipts whose process is gone; they can never match again. Other controllers' pids are theirs."""
    controller = socket.gethostname() if controller is None else controller
    with store_transaction(store, write=True) as tx:
        held = tx.rows("SELECT DISTINCT pid, start_time FROM receipts WHERE controller = ?", (controller,))
        gone = [(int(pid), str(start)) for pid, start in held if process_start_time(int(pid)) != str(start)]
        for pid, start in gone:
            tx.execute("DELETE FROM receipts WHERE controller = ? AND pid = ? AND start_time = ?", (controller, pid, start))
    return len(gone)


def receipt_of_this_run(store: Store, token: str, policy: Policy, identity: ControllerIdentity | None = None) -> Receipt:
    """This process's receipt for ``token``; refuse if the gate did not pass in this run."""
    identity = controller_identity() if identity is None else identity
    token_id = validate_claims(decode_token(token, policy.max_document_bytes).claims).token_id
    body = _get(store, identity, token_id)
    if body is None:
        raise errors.ApprovalError(
            errors.RECEIPT_MISSING,
            f"no approval receipt for token {token_id} in this ansible-playbook run (pid {identity.pid}): "
            "the opsgate.release.approval_gate task did not pass in this run (skipped by --skip-tags/--start-at-task, or failed); "
            "variables cannot stand in for it",
        )
    try:
        return Receipt(
            controller=identity,
            token_id=str(body["token_id"]),
            token_sha256=str(body["token_sha256"]),
            run_id=str(body["run_id"]),
            check_mode=bool(body["check_mode"]),
            hosts=tuple(body["scope"]["hosts"]),
            verified_at=parse_timestamp(body["verified_at"], f"receipt {token_id}: verified_at", errors.RECEIPT_MISMATCH),
        )
    except (KeyError, TypeError):
        raise errors.ApprovalError(errors.RECEIPT_MISMATCH, f"the approval receipt of token {token_id} in the state store is unreadable") from None


def require_receipt(
    store: Store,
    token: str,
    policy: Policy,
    scope: RunScope,
    host: str,
    check_mode: bool = False,
    identity: ControllerIdentity | None = None,
) -> VerifiedApproval:
    """Refuse unless the approval gate passed in this controller process for this token, scope and host.

    The token's signatures and policy rules are checked again (the window as of the gate's
    verification, so a rollout that started inside its window may finish). ``scope.hosts`` is
    ignored: ``host`` is the one host about to change and must be in the approved set.
    """
    receipt = receipt_of_this_run(store, token, policy, identity)
    token_id = receipt.token_id
    if receipt.check_mode and not check_mode:
        raise errors.ApprovalError(errors.RECEIPT_CHECK_MODE, f"token {token_id} was verified in check mode in this run; a real change needs a real gate run")
    approval = verify_token(token, policy, now=receipt.verified_at)
    if approval.digest != receipt.token_sha256:
        raise errors.ApprovalError(
            errors.RECEIPT_MISMATCH, f"the token now in use (sha256 {approval.digest[:16]}…) is not the one the gate verified in this run"
        )
    check_scope(approval.claims, dataclasses.replace(scope, hosts=approval.claims.hosts))
    if host not in approval.claims.hosts or host not in receipt.hosts:
        raise errors.ApprovalError(
            errors.RECEIPT_HOST_NOT_COVERED,
            f"host {host} is not among the {len(approval.claims.hosts)} hosts approved by token {token_id} (change {approval.claims.change_id})",
        )
    return approval


# Readiness receipts: the readiness check of this ansible-playbook process passed (or the signed policy let the
# token's class skip it) for these hosts and this token. The gate requires one, so --start-at-task past the
# readiness tasks does not skip them (issue 12 item 4).


def write_readiness_receipt(store: Store, identity: ControllerIdentity, token_sha256: str, hosts: list[str], reason: str) -> None:
    body = {"controller": {"pid": identity.pid, "start_time": identity.start_time}, "token_sha256": token_sha256, "hosts": sorted(hosts), "reason": reason}
    prune_receipts(store, identity.controller)
    with store_transaction(store, write=True) as tx:
        _put(tx, identity, READINESS_KEY + token_sha256, body)


def require_readiness_receipt(store: Store, identity: ControllerIdentity, token_sha256: str, hosts: list[str]) -> None:
    """Refuse unless this process's readiness check covered every host of the run."""
    try:
        body = _get(store, identity, READINESS_KEY + token_sha256)
    except errors.ApprovalError as exc:
        if exc.code == errors.STATE_STORE_ERROR:
            raise
        raise errors.ApprovalError(errors.READINESS_NOT_CHECKED, f"the readiness receipt of this run cannot be read: {exc.message}") from None
    if body is None:
        raise errors.ApprovalError(
            errors.READINESS_NOT_CHECKED,
            "no readiness check of this run: deploy, gray_release and rollback check the target hosts' readiness before the gate "
            "(was it skipped with --start-at-task or --skip-tags?); nothing was consumed",
        )
    missing = sorted(set(hosts) - set(body.get("hosts") or []))
    if missing or body.get("controller", {}).get("pid") != identity.pid:
        raise errors.ApprovalError(
            errors.READINESS_NOT_CHECKED, f"the readiness check of this run did not cover {', '.join(missing) or 'this run'}; nothing was consumed"
        )


# Readiness facts: what one host answered to preflight_collect in this ansible-playbook process (its host_facts, the
# hostname resolution and the endpoint probes, for the spec they were asked for). The readiness gate evaluates only
# these, never a variable: a registered result, a set_fact or a wrapper playbook's own facts cannot stand in for them.


def write_readiness_facts(store: Store, identity: ControllerIdentity, host: str, record: dict[str, Any]) -> None:
    with store_transaction(store, write=True) as tx:
        _put(tx, identity, READINESS_FACTS_KEY + host, {**record, "host": host})


def read_readiness_facts(store: Store, identity: ControllerIdentity, hosts: list[str]) -> dict[str, dict[str, Any] | None]:
    """Per host what it answered in this process, or None when it answered nothing (unreachable, or not asked)."""
    return {host: _get(store, identity, READINESS_FACTS_KEY + host) for host in hosts}


# Verification receipts: the release's verify suite (the signed change's ``verify``) passed against one host in this
# ansible-playbook process. release_verify writes one per host it passes (never in check mode, never for a failed run);
# release_commit of a deploy or gray release whose signed change has a verify refuses without it, so a wrapper playbook,
# --start-at-task or --skip-tags that leaves release_verify out cannot record the release good, and neither can an
# earlier run's verification.


@dataclass(frozen=True)
class Verification:
    """What passed: the suite and its JUnit report by digest, and the counts."""

    host: str
    release_id: str
    suite_sha256: str
    suite_name: str
    junit_sha256: str
    tests: int
    passed: int
    failed: int
    errors: int
    skipped: int

    @property
    def passed_gate(self) -> bool:
        """The gate's rule (release_verify/outcome.py): at least one test ran, none failed or errored."""
        return self.failed == 0 and self.errors == 0 and self.passed > 0 and self.tests > self.skipped


def verification_key(token_sha256: str, host: str) -> str:
    return f"{VERIFIED_KEY}{token_sha256}:{host}"


def write_verification_receipt(store: Store, identity: ControllerIdentity, token_id: str, token_sha256: str, verification: Verification) -> None:
    """Record that ``verification`` passed in the run ``identity`` under the token ``token_sha256``; a failed one is never recorded."""
    if not verification.passed_gate:
        raise errors.ApprovalError(
            errors.VERIFY_NOT_RUN,
            f"the verification of {verification.host} did not pass ({verification.failed} failed, {verification.errors} errors); no receipt",
        )
    body = {
        "controller": {"host": identity.controller, "pid": identity.pid, "start_time": identity.start_time},
        "token_id": token_id,
        "token_sha256": token_sha256,
        **dataclasses.asdict(verification),
        "verified_at": format_timestamp(datetime.now(UTC)),
        "operator": operator_identity().as_dict(),
    }
    with store_transaction(store, write=True) as tx:
        _put(tx, identity, verification_key(token_sha256, verification.host), body)


def require_verification_receipt(
    store: Store, token_sha256: str, host: str, release_id: str, suite_sha256: str, suite_name: str = "", identity: ControllerIdentity | None = None
) -> dict[str, Any]:
    """This process's receipt that the suite ``suite_sha256`` passed against ``host`` for ``release_id`` under this token; refuse otherwise."""
    identity = controller_identity() if identity is None else identity
    suite = f"the suite {suite_name} (sha256 {suite_sha256})" if suite_name else f"the suite with sha256 {suite_sha256}"
    must = (
        f"release {release_id} is not recorded good on {host}: {suite} the approvers signed must pass against {host} in this "
        f"ansible-playbook run (pid {identity.pid}) first (opsgate.release.release_verify, after the health check)"
    )
    try:
        body = _get(store, identity, verification_key(token_sha256, host))
    except errors.ApprovalError as exc:
        if exc.code == errors.STATE_STORE_ERROR:
            raise
        raise errors.ApprovalError(errors.VERIFY_NOT_RUN, f"{must}; the verification receipt of this run cannot be read: {exc.message}") from None
    if body is None:
        raise errors.ApprovalError(
            errors.VERIFY_NOT_RUN,
            f"{must}; it did not pass in this run (skipped, left out of the playbook, or failed), and a verification of an "
            "earlier run or another controller does not count",
        )
    differs = [
        f"{name} {body.get(key)!r}, expected {wanted!r}"
        for name, key, wanted in (("host", "host", host), ("release", "release_id", release_id), ("suite sha256", "suite_sha256", suite_sha256))
        if body.get(key) != wanted
    ]
    controller = body.get("controller") or {}
    if controller.get("pid") != identity.pid or controller.get("start_time") != identity.start_time or body.get("token_sha256") != token_sha256:
        differs.append("another run's receipt")
    try:
        passed = Verification(**{key: body[key] for key in Verification.__dataclass_fields__}).passed_gate
    except (KeyError, TypeError):
        passed = False
    if not passed:
        differs.append("not a passed verification")
    if differs:
        raise errors.ApprovalError(errors.VERIFY_NOT_RUN, f"{must}; the verification receipt of this run is for another one ({'; '.join(differs)})")
    return body
