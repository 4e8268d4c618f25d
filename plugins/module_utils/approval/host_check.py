# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a managed host checks before a release step changes it (issue 12, "the hosts check it").

The host trusts only what the security team put on it with the trust bootstrap playbook
(``playbooks/trust_bootstrap.yml``): the pinned root (``/etc/opsgate/trust.json``, the same signed
document the controllers pin) and the host's own name and address (``/etc/opsgate/host.json``),
both root-owned. Everything else arrives with the step and is checked here against them: the
signed policy (against the root), the token (against the policy: signatures, roles of the class
the policy maps this host to, window, freezes), the change document (against the token's
``change_sha256``), this host's entry in it (by the host's own name and address), and the step's
arguments (against that entry). A controller that was tampered with can make a host refuse,
never accept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import errors
from .atomic_file import write_atomic
from .change_document import DATABASE_KEYS, STEP_KEYS, check_change_matches_claims, check_shape, check_step, migrations_spec
from .claims import KIND_RATIFICATION
from .file_safety import check_file
from .identity import check_host_name, shown
from .policy import load_policy_document
from .trust_root import DEFAULT_TRUST_ROOT, TrustRoot, load_trust_root
from .verification import VerifiedApproval, verify_token

HOST_IDENTITY = "/etc/opsgate/host.json"
HOST_IDENTITY_TYPE = "opsgate.release/host"
# The highest policy version this host has accepted: an older signed policy is refused afterwards.
HOST_STATE = "/var/lib/opsgate/host-trust.json"
HOST_GRANT = "/etc/opsgate/host-grant.json"
# Only where /etc/opsgate/trust.json does not exist: a folder standing in for /etc/opsgate and
# /var/lib/opsgate of one "host" when several share a machine (make demo's app slots).
HOST_TRUST_DIR_ENV = "OPSGATE_HOST_TRUST_DIR"


@dataclass(frozen=True)
class HostTrustPaths:
    root: str
    identity: str
    state: str
    grant: str


def host_trust_paths() -> HostTrustPaths:
    """Where this host keeps its pinned root, identity, verification state and grant.

    /etc/opsgate on every host the security team bootstrapped. Only a host without
    /etc/opsgate/trust.json (which nothing protects anyway) may name another folder in
    $OPSGATE_HOST_TRUST_DIR: the variable can add a check, never replace a pinned root.
    """
    folder = os.environ.get(HOST_TRUST_DIR_ENV, "")
    if os.path.lexists(DEFAULT_TRUST_ROOT) or not folder or not os.path.isabs(folder):
        return HostTrustPaths(DEFAULT_TRUST_ROOT, HOST_IDENTITY, HOST_STATE, HOST_GRANT)
    folder = os.path.normpath(folder)
    return HostTrustPaths(*(os.path.join(folder, name) for name in ("trust.json", "host.json", "host-trust.json", "host-grant.json")))


# What a rollback approval may do on a host: return it to a release its ledger records good. A class's
# rollback rule (fewer roles, shorter lead time) rests on this, so no variable may widen it.
ROLLBACK_STEPS = {("release_revert", "mode", "rollback", None), ("release_commit", "event", "rollback", "deploy")}
# And, once the hosts are back, put the database back to before the release they left (the signed change's
# migrations.restore_release_id, check_migration_step): a restore only, never an expand or a contract.
DATABASE_RESTORE = ("release_migrate", "phase", "restore")
# Steps that undo this token's own work on this host: never refused for time (a failed deploy must be put back).
UNDO_STEPS = {("release_revert", "mode", "failed")}


def refuse_outside_rollback(action: str, step: str, arguments: dict[str, Any]) -> None:
    """A token approved for ``rollback`` never stages, switches or commits a new release, nor migrates a database."""
    if action != "rollback" or is_rollback_step(step, arguments) or is_database_restore(step, arguments):
        return
    raise errors.ApprovalError(
        errors.STEP_NOT_APPROVED,
        f"{step}{_phase_of(step, arguments)} is not part of a rollback: a rollback approval only returns hosts to a release their ledger "
        "records good (release_revert mode=rollback, release_commit event=rollback) and puts the database back to before the release "
        "they leave (release_migrate phase=restore); deploying a release or migrating a database needs a deploy approval",
    )


def is_database_restore(step: str, arguments: dict[str, Any]) -> bool:
    name, option, wanted = DATABASE_RESTORE
    return step == name and arguments.get(option) == wanted


def _phase_of(step: str, arguments: dict[str, Any]) -> str:
    return f" phase={arguments.get('phase')}" if step == DATABASE_RESTORE[0] else ""


def is_rollback_step(step: str, arguments: dict[str, Any]) -> bool:
    return any(step == name and arguments.get(option, default) == wanted for name, option, wanted, default in ROLLBACK_STEPS)


def arguments_to_compare(action: str, step: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The step's arguments that the change document decides.

    A rollback step's target is chosen on the host from its own ledger (a release recorded good:
    settle.rollback_release), so the change names no release id for it; under a deploy or gray
    release token (putting a host back after a failed gate) neither its version nor its digest:
    they are the previous good release's, not the approved one's.
    """
    compared = dict(arguments)
    if action == "rollback" and is_database_restore(step, arguments):
        # The release whose migrations are undone is the one the hosts leave: the change's migrations.restore_release_id
        # (check_migration_step), not in the hosts' entries, which name only the release they return to.
        compared.pop("release_id", None)
    if is_rollback_step(step, arguments):
        compared.pop("release_id", None)
        if action != "rollback":
            compared.pop("version", None)
            compared.pop("artifact_sha256", None)
    return compared


def is_undo(step: str, arguments: dict[str, Any]) -> bool:
    return any(step == name and arguments.get(option) == wanted for name, option, wanted in UNDO_STEPS)


@dataclass(frozen=True)
class HostIdentity:
    name: str
    address: str


def host_is_bootstrapped(root_path: str | None = None) -> bool:
    return os.path.lexists(root_path or host_trust_paths().root)


def load_host_identity(path: str = HOST_IDENTITY) -> HostIdentity:
    if not os.path.lexists(path):
        raise errors.ApprovalError(
            errors.HOST_IDENTITY_INVALID, f"{path} is missing: run the trust bootstrap playbook on this host (docs/approvals.md 'Trust on the hosts')"
        )
    check_file(path, "the host identity", errors.HOST_IDENTITY_INVALID, owners=(0,))
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(65536).decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise errors.ApprovalError(errors.HOST_IDENTITY_INVALID, f"{path} is not the host identity JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("_type") != HOST_IDENTITY_TYPE or set(data) != {"_type", "name", "address"}:
        raise errors.ApprovalError(errors.HOST_IDENTITY_INVALID, f"{path} must be a {HOST_IDENTITY_TYPE} with exactly name and address")
    name = check_host_name(data["name"], f"{path}.name", errors.HOST_IDENTITY_INVALID)
    address = data["address"]
    if not isinstance(address, str) or not address or len(address) > 255:
        raise errors.ApprovalError(errors.HOST_IDENTITY_INVALID, f"{path}.address must be the address the host is reached at, got {shown(address)!r}")
    return HostIdentity(name, address)


def _check_policy_version(version: int, state_path: str, record: bool) -> None:
    seen = 0
    try:
        with open(state_path, encoding="utf-8") as handle:
            seen = int(json.load(handle).get("policy_version", 0))
    except FileNotFoundError:
        seen = 0
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise errors.ApprovalError(errors.HOST_IDENTITY_INVALID, f"{state_path} cannot be read: {exc}") from None
    if version < seen:
        raise errors.ApprovalError(errors.POLICY_ROLLBACK, f"policy version {version} is older than version {seen}, which this host has already accepted")
    if record and version > seen:
        os.makedirs(os.path.dirname(state_path), mode=0o755, exist_ok=True)
        write_atomic(state_path, json.dumps({"policy_version": version}), 0o644)


def verify_step_on_host(
    *,
    step: str,
    arguments: dict[str, Any],
    token: str,
    policy_document: bytes,
    change: Any,
    root: TrustRoot,
    identity: HostIdentity,
    now: datetime,
    state_path: str = HOST_STATE,
    record: bool = True,
    in_flight: bool = True,
) -> VerifiedApproval:
    """Every check a host makes before a release step; raises ApprovalError naming the first one unmet.

    ``in_flight`` false: the release the step would undo is recorded good on this host, so undoing it is a
    rollback, held to the window like any other step.
    """
    policy = load_policy_document(policy_document, root, now, "sent with the step")
    _check_policy_version(policy.version, state_path, record)
    undo = is_undo(step, arguments) and in_flight
    approval = verify_token(token, policy, now, window_grace=None if undo else timedelta(hours=policy.host_grace_hours))
    claims = approval.claims
    if claims.kind == KIND_RATIFICATION:
        raise errors.ApprovalError(errors.KIND_MISMATCH, f"token {claims.token_id} ratifies an emergency after the fact and changes no host")
    refuse_outside_rollback(claims.action, step, arguments)
    check_change_matches_claims(change, claims)
    if step == MIGRATE_STEP:
        check_migration_host(check_shape(change), identity.name, arguments)
    else:
        check_step(change, identity.name, identity.address, arguments_to_compare(claims.action, step, arguments))
    return approval


# The database migration step runs on the host the change's ``migrations.database.run_on`` names, which need not be
# a host of the release: it is compared with the change's top-level ``migrations``, not with a host's entry.
MIGRATE_STEP = "release_migrate"
_MIGRATE_RELEASE_KEYS = ("app", "version", "artifact_sha256", "change_id")


def _mismatch(what: str, asked: Any, approved: Any) -> errors.ApprovalError:
    def value(item: Any) -> str:
        return repr(shown(item)) if isinstance(item, str) else shown(item)

    return errors.ApprovalError(errors.CHANGE_STEP_MISMATCH, f"{what} differs from the approved change (asked {value(asked)}, approved {value(approved)})")


def check_migration_step(document: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The migrate step's database and steps (ids, phases, digests) are the signed change's ``migrations``, key by key,
    and its release is the change's. ``arguments`` carry the steps as the task gives them (``sha256``, ``down``) or as
    the host computed them from the SQL it received (``sha256``, ``down_sha256``). Returns the approved ``migrations``."""
    approved = document.get("migrations")
    if not approved:
        raise errors.ApprovalError(
            errors.CHANGE_STEP_MISMATCH, f"change {shown(document.get('change_id'))} approves no database migrations, and this step would run some"
        )
    if approved.get("restore_release_id") or document.get("action") == "rollback":
        return _check_restore_step(document, approved, arguments)
    asked = migrations_spec({"database": arguments.get("database"), "steps": arguments.get("steps")})
    if asked is None:
        raise errors.ApprovalError(errors.CHANGE_STEP_MISMATCH, "the step names no database and no migration steps; the approved change has them")
    for key in DATABASE_KEYS:
        if asked["database"].get(key) != approved["database"].get(key):
            raise _mismatch(f"migrations.database.{key}", asked["database"].get(key), approved["database"].get(key))
    asked_ids = [step["id"] for step in asked["steps"]]
    approved_ids = [step["id"] for step in approved["steps"]]
    if asked_ids != approved_ids:
        raise _mismatch("migrations.steps (ids in order)", ", ".join(asked_ids), ", ".join(approved_ids))
    for index, (mine, signed) in enumerate(zip(asked["steps"], approved["steps"], strict=True)):
        for key in STEP_KEYS:
            if mine.get(key) != signed.get(key):
                raise _mismatch(f"migrations.steps[{index}].{key} of step {mine['id']}", mine.get(key), signed.get(key))
    for key in _MIGRATE_RELEASE_KEYS:
        if key in arguments and str(arguments[key] or "") != str(document.get(key) or ""):
            raise _mismatch(key, arguments[key], document.get(key))
    # The release whose backup and rows the step uses: one the change deploys (rollback changes name none).
    releases = {entry["release"]["release_id"] for entry in document["hosts"].values() if entry["release"].get("release_id")}
    if releases and arguments.get("release_id") not in releases:
        raise _mismatch("release_id", arguments.get("release_id"), ", ".join(sorted(releases)))
    return dict(approved)


def _check_restore_step(document: Mapping[str, Any], approved: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A rollback's change: the step only puts ``database`` back to before ``restore_release_id`` (the release the hosts
    leave), with no step of its own; the migrations come from that release's rows and backup on the database host."""
    restore_of = approved.get("restore_release_id")
    change = shown(document.get("change_id"))
    if document.get("action") != "rollback" or not restore_of:
        raise errors.ApprovalError(
            errors.CHANGE_STEP_MISMATCH,
            f"change {change} is a {shown(document.get('action'))} whose migrations "
            + (
                "name no restore_release_id: a rollback puts the database back only to before a release its approvers named"
                if not restore_of
                else f"name a restore_release_id ({shown(restore_of)}): only a rollback's change puts the database back that way"
            ),
        )
    phase = arguments.get("phase")
    if phase != "restore":
        raise errors.ApprovalError(
            errors.CHANGE_STEP_MISMATCH,
            f"change {change} approves putting the database back to before release {shown(restore_of)}, not the migration phase {shown(phase)!r}",
        )
    steps = arguments.get("steps") or []
    if steps:
        ids = ", ".join(str(step.get("id")) if isinstance(step, Mapping) else "?" for step in steps)
        raise _mismatch("migrations.steps", ids, "none (a rollback applies no step; the restore reads the release's rows and backup)")
    asked = migrations_spec({"database": arguments.get("database"), "steps": [], "restore_release_id": str(arguments.get("release_id") or "") or "<none>"})
    if asked is None:  # pragma: no cover - a mapping with restore_release_id is never "none"
        raise errors.ApprovalError(errors.CHANGE_STEP_MISMATCH, "the step names no database; the approved change has one")
    for key in DATABASE_KEYS:
        if asked["database"].get(key) != approved["database"].get(key):
            raise _mismatch(f"migrations.database.{key}", asked["database"].get(key), approved["database"].get(key))
    if arguments.get("release_id") != restore_of:
        raise _mismatch("release_id (the release whose migrations are undone, migrations.restore_release_id)", arguments.get("release_id"), restore_of)
    for key in _MIGRATE_RELEASE_KEYS:
        if key in arguments and str(arguments[key] or "") != str(document.get(key) or ""):
            raise _mismatch(key, arguments[key], document.get(key))
    return dict(approved)


def check_migration_host(document: Mapping[str, Any], host: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """On the database host: check_migration_step, and this host is the one the change runs its migrations on."""
    approved = check_migration_step(document, arguments)
    run_on = approved["database"]["run_on"]
    if host != run_on:
        raise errors.ApprovalError(
            errors.CHANGE_HOST_NOT_IN_CHANGE, f"this host is {shown(host)}; change {shown(document.get('change_id'))} runs its migrations on {shown(run_on)}"
        )
    return approved


def verify_on_this_host(
    step: str, arguments: dict[str, Any], token: str, policy_document: str, change: Any, now: datetime, record: bool, in_flight: bool = True
) -> dict[str, Any]:
    """The module entry: the host's own root and identity, then verify_step_on_host. Returns what the result may show."""
    paths = host_trust_paths()
    if not host_is_bootstrapped(paths.root):
        raise errors.ApprovalError(
            errors.HOST_NOT_BOOTSTRAPPED,
            f"this host has no pinned trust root ({paths.root}): run the trust bootstrap playbook first (docs/approvals.md 'Trust on the hosts')",
        )
    root = load_trust_root(paths.root)
    identity = load_host_identity(paths.identity)
    approval = verify_step_on_host(
        step=step,
        arguments=arguments,
        token=token,
        policy_document=policy_document.encode("utf-8"),
        change=change,
        root=root,
        identity=identity,
        now=now,
        state_path=paths.state,
        record=record,
        in_flight=in_flight,
    )
    return {
        "host": identity.name,
        "token_id": approval.token_id,
        "change_sha256": approval.claims.change_sha256,
        "root_version": root.version,
        "signers": sorted({signer.role for signer in approval.signers}),
    }
