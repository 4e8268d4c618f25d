# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Proof, bound to one ``ansible-playbook`` process, that the approval gate passed in this run.

Extra vars outrank every other variable, so no variable or fact can prove a verification.
A receipt is a file in the controller's ledger directory named after the controller process
(pid and kernel start time, so a recycled pid never matches) and the token id. Action plugins
run in worker processes forked from that process, so ``os.getppid()`` names it in the gate
and in every later task. A host-changing action plugin calls :func:`require_receipt` before
it changes anything: skipping the gate (``--skip-tags``, ``--start-at-task``), faking a
variable, or reusing an earlier run's receipt all leave it without a receipt for this process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.atomic_file import write_atomic
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import format_timestamp, parse_timestamp, validate_claims
from ansible_collections.opsgate.release.plugins.module_utils.approval.consumption_ledger import RunOwner, process_start_time
from ansible_collections.opsgate.release.plugins.module_utils.approval.envelope import decode_token
from ansible_collections.opsgate.release.plugins.module_utils.approval.policy import Policy
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import RunScope, VerifiedApproval, check_scope, verify_token

try:  # the operator the ledger's who and the archive name too (issue 12, one identity)
    from ..operator_identity import operator_identity
except ImportError:  # bin/ scripts: plugins/plugin_utils on sys.path, approval a top-level package
    from operator_identity import operator_identity  # type: ignore[no-redef]

RECEIPT_DIR = "receipts"


@dataclass(frozen=True)
class ControllerIdentity:
    pid: int
    start_time: str

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
    path: str


def controller_identity(pid: int | None = None) -> ControllerIdentity:
    """The ansible-playbook process: the parent of the worker running an action plugin."""
    pid = os.getppid() if pid is None else pid
    return ControllerIdentity(pid=pid, start_time=process_start_time(pid))


def _receipt_directory(ledger_dir: str, kind: str = RECEIPT_DIR) -> str:
    # One directory per controller host: a shared ledger_dir must not mix up (or prune) another host's pids.
    return os.path.join(ledger_dir, kind, socket.gethostname())


def _receipt_path(ledger_dir: str, identity: ControllerIdentity, token_id: str) -> str:
    return os.path.join(_receipt_directory(ledger_dir), f"{identity.label}--{token_id}.json")


def _write_json(path: str, body: dict[str, Any]) -> str:
    """Write ``body`` to ``path`` atomically, readable by this account only."""
    write_atomic(path, json.dumps(body, sort_keys=True), 0o600)
    return path


def write_receipt(ledger_dir: str, identity: ControllerIdentity, approval: VerifiedApproval, run_id: str, check_mode: bool) -> str:
    """Record that ``approval`` passed the gate in the run ``identity``; atomic via os.replace."""
    directory = _receipt_directory(ledger_dir)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = _receipt_path(ledger_dir, identity, approval.token_id)
    claims = approval.claims
    body = {
        "controller": {"pid": identity.pid, "start_time": identity.start_time},
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
    return _write_json(path, body)


def _read_receipt(path: str, identity: ControllerIdentity) -> Receipt | None:
    try:
        with open(path, encoding="utf-8") as handle:
            data: dict[str, Any] = json.load(handle)
        controller = data["controller"]
        if controller["pid"] != identity.pid or controller["start_time"] != identity.start_time:
            return None
        return Receipt(
            controller=identity,
            token_id=str(data["token_id"]),
            token_sha256=str(data["token_sha256"]),
            run_id=str(data["run_id"]),
            check_mode=bool(data["check_mode"]),
            hosts=tuple(data["scope"]["hosts"]),
            verified_at=parse_timestamp(data["verified_at"], f"{path}: verified_at", errors.RECEIPT_MISMATCH),
            path=path,
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        raise errors.ApprovalError(errors.RECEIPT_MISMATCH, f"approval receipt {path} is unreadable") from None


def prune_receipts(ledger_dir: str, kind: str = RECEIPT_DIR) -> int:
    """Remove this host's receipts whose controller process is gone; they can never match again."""
    directory = _receipt_directory(ledger_dir, kind)
    removed = 0
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    for name in names:
        label = name.split("--", 1)[0]
        pid_text, _separator, start = label.partition("-")
        if not name.endswith(".json") or not pid_text.isdigit():
            continue
        if process_start_time(int(pid_text)) != start:
            try:
                os.unlink(os.path.join(directory, name))
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def receipt_of_this_run(token: str, policy: Policy, identity: ControllerIdentity | None = None) -> Receipt:
    """This process's receipt for ``token``; refuse if the gate did not pass in this run."""
    identity = controller_identity() if identity is None else identity
    token_id = validate_claims(decode_token(token, policy.max_document_bytes).claims).token_id
    receipt = _read_receipt(_receipt_path(policy.ledger_dir, identity, token_id), identity)
    if receipt is None:
        raise errors.ApprovalError(
            errors.RECEIPT_MISSING,
            f"no approval receipt for token {token_id} in this ansible-playbook run (pid {identity.pid}): "
            "the opsgate.release.approval_gate task did not pass in this run (skipped by --skip-tags/--start-at-task, or failed); "
            "variables cannot stand in for it",
        )
    return receipt


def run_owner(identity: ControllerIdentity) -> RunOwner:
    return RunOwner(socket.gethostname(), identity.pid, identity.start_time)


def require_receipt(
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
    # The token id is validated before it names a file: it never walks out of the receipt directory.
    receipt = receipt_of_this_run(token, policy, identity)
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
READINESS_DIR = "readiness"


def _readiness_path(ledger_dir: str, identity: ControllerIdentity, token_sha256: str) -> str:
    return os.path.join(_receipt_directory(ledger_dir, READINESS_DIR), f"{identity.label}--{token_sha256[:32]}.json")


def write_readiness_receipt(ledger_dir: str, identity: ControllerIdentity, token_sha256: str, hosts: list[str], reason: str) -> str:
    directory = _receipt_directory(ledger_dir, READINESS_DIR)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    prune_receipts(ledger_dir, READINESS_DIR)
    path = _readiness_path(ledger_dir, identity, token_sha256)
    body = {"controller": {"pid": identity.pid, "start_time": identity.start_time}, "token_sha256": token_sha256, "hosts": sorted(hosts), "reason": reason}
    return _write_json(path, body)


def require_readiness_receipt(ledger_dir: str, identity: ControllerIdentity, token_sha256: str, hosts: list[str]) -> None:
    """Refuse unless this process's readiness check covered every host of the run."""
    path = _readiness_path(ledger_dir, identity, token_sha256)
    try:
        with open(path, encoding="utf-8") as handle:
            body = json.load(handle)
    except FileNotFoundError:
        raise errors.ApprovalError(
            errors.READINESS_NOT_CHECKED,
            "no readiness check of this run: deploy, gray_release and rollback check the target hosts' readiness before the gate "
            "(was it skipped with --start-at-task or --skip-tags?); nothing was consumed",
        ) from None
    except (OSError, ValueError) as exc:
        raise errors.ApprovalError(errors.READINESS_NOT_CHECKED, f"the readiness receipt {path} cannot be read: {exc}") from None
    missing = sorted(set(hosts) - set(body.get("hosts") or []))
    if missing or body.get("controller", {}).get("pid") != identity.pid:
        raise errors.ApprovalError(
            errors.READINESS_NOT_CHECKED, f"the readiness check of this run did not cover {', '.join(missing) or 'this run'}; nothing was consumed"
        )
