# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller-side rollout state: where a gray release stands, so an approval step can end a run and a later run resume.

One ``state.json`` per app and environment under ``<ledger_dir>/rollouts/``, next to the token
ledger (same directory, same 0700 permissions). Written atomically (temporary file + rename),
so a killed controller leaves the previous state or the new one, never half of either.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.approval.atomic_file import write_atomic

from .failure_budget import BudgetVerdict

STATE_FILE = "state.json"
ROLLOUTS_DIR = "rollouts"
STATE_VERSION = 1

RUNNING = "running"
PAUSED_FOR_APPROVAL = "paused_for_approval"
# A change freeze began before the next batch: resumable with the same token once it is over.
PAUSED_FOR_FREEZE = "paused_for_freeze"
FAILED = "failed"
ROLLED_BACK = "rolled_back"
DONE = "done"
STATUSES = (RUNNING, PAUSED_FOR_APPROVAL, PAUSED_FOR_FREEZE, FAILED, ROLLED_BACK, DONE)
# A run may pick these up again; the others are final.
RESUMABLE = (RUNNING, PAUSED_FOR_APPROVAL, PAUSED_FOR_FREEZE)

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class RolloutStateError(ValueError):
    """A refused start or resume, or an unreadable state file."""


@dataclass(frozen=True)
class RolloutState:
    app: str
    env: str
    release_id: str
    token_id: str
    batches_fingerprint: str
    batches_total: int
    batches_done: int
    hosts_switched: tuple[str, ...]
    failed_hosts: tuple[str, ...]
    status: str
    message: str
    updated_at: str
    version: int = STATE_VERSION

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hosts_switched"] = list(self.hosts_switched)
        data["failed_hosts"] = list(self.failed_hosts)
        return data


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def state_path(ledger_dir: str, app: str, env: str) -> str:
    for label, value in (("app", app), ("env", env)):
        if not _SAFE_NAME.fullmatch(value):
            raise RolloutStateError(f"{label} {value!r} cannot name a rollout state directory (letters, digits, '.', '_', '-')")
    return os.path.join(ledger_dir, ROLLOUTS_DIR, f"{app}--{env}", STATE_FILE)


def new_state(app: str, env: str, release_id: str, token_id: str, fingerprint: str, batches_total: int) -> RolloutState:
    return RolloutState(app, env, release_id, token_id, fingerprint, batches_total, 0, (), (), RUNNING, "started", _now())


def with_status(state: RolloutState, status: str, message: str) -> RolloutState:
    if status not in STATUSES:
        raise RolloutStateError(f"unknown rollout status {status!r} (known: {', '.join(STATUSES)})")
    return replace(state, status=status, message=message, updated_at=_now())


def with_batch_done(state: RolloutState, switched: Sequence[str], failed: Sequence[str] = ()) -> RolloutState:
    """Record a finished batch: its switched hosts join the ones every abort must roll back."""
    if state.batches_done >= state.batches_total:
        raise RolloutStateError(f"all {state.batches_total} batches of release {state.release_id} are already done")
    hosts = tuple(dict.fromkeys((*state.hosts_switched, *switched)))
    failures = tuple(dict.fromkeys((*state.failed_hosts, *failed)))
    done = state.batches_done + 1
    return replace(
        state, batches_done=done, hosts_switched=hosts, failed_hosts=failures, message=f"batch {done} of {state.batches_total} done", updated_at=_now()
    )


def read_state(path: str) -> RolloutState | None:
    try:
        with open(path, encoding="utf-8") as handle:
            data: dict[str, Any] = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RolloutStateError(f"rollout state {path} is unreadable ({exc}); an operator must inspect it before any rollout of this app") from None
    try:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"version {data.get('version')!r}")
        state = RolloutState(
            app=str(data["app"]),
            env=str(data["env"]),
            release_id=str(data["release_id"]),
            token_id=str(data["token_id"]),
            batches_fingerprint=str(data["batches_fingerprint"]),
            batches_total=int(data["batches_total"]),
            batches_done=int(data["batches_done"]),
            hosts_switched=tuple(str(h) for h in data["hosts_switched"]),
            failed_hosts=tuple(str(h) for h in data["failed_hosts"]),
            status=str(data["status"]),
            message=str(data["message"]),
            updated_at=str(data["updated_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RolloutStateError(f"rollout state {path} is not a state this version understands ({exc})") from None
    if state.status not in STATUSES:
        raise RolloutStateError(f"rollout state {path} has unknown status {state.status!r}")
    return state


def write_state(path: str, state: RolloutState) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    write_atomic(path, json.dumps(state.as_dict(), sort_keys=True, indent=2), 0o600)


def start_point(existing: RolloutState | None, release_id: str, token_id: str, fingerprint: str, resume: bool) -> int:
    """The index of the first batch this run deploys (0 for a fresh rollout), or a refusal that says why.

    Resuming needs a paused (or interrupted) rollout of the same release, approved by the same token,
    cutting the fleet into the same batches. A fresh start is refused while another rollout of this app
    is paused or running: finish it (resume) or undo it (rollback) first.
    """
    if not resume:
        if existing is not None and existing.status in RESUMABLE:
            raise RolloutStateError(
                f"rollout of release {existing.release_id} (token {existing.token_id}) is {existing.status} after "
                f"{existing.batches_done} of {existing.batches_total} batches; resume it with opsgate_rollout_resume: true "
                "or roll it back before starting another"
            )
        return 0
    if existing is None:
        raise RolloutStateError(f"opsgate_rollout_resume is true but there is no rollout state to resume for release {release_id}")
    if existing.status not in RESUMABLE:
        raise RolloutStateError(f"rollout of release {existing.release_id} is {existing.status}; only a running or paused rollout can resume")
    if existing.release_id != release_id:
        raise RolloutStateError(f"the paused rollout is release {existing.release_id}, not {release_id}; resume with the same release")
    if existing.token_id != token_id:
        raise RolloutStateError(f"the paused rollout was approved by token {existing.token_id}, not {token_id}; resume with the same token")
    if existing.batches_fingerprint != fingerprint:
        raise RolloutStateError(
            f"the batches differ from the paused rollout of release {release_id} (hosts, --limit or plan changed); resume with the same hosts and plan"
        )
    if existing.batches_done >= existing.batches_total:
        raise RolloutStateError(f"all {existing.batches_total} batches of release {release_id} are done; nothing to resume")
    return existing.batches_done


def begin_state(
    existing: RolloutState | None, app: str, env: str, release_id: str, token_id: str, fingerprint: str, batches_total: int, resume: bool
) -> RolloutState:
    """The state a run starts from: the paused one marked running again, or a fresh one (the caller ran start_point first)."""
    if resume:
        if existing is None:
            raise RolloutStateError(f"opsgate_rollout_resume is true but there is no rollout state to resume for release {release_id}")
        start_point(existing, release_id, token_id, fingerprint, resume=True)
        return with_status(existing, RUNNING, f"resumed at batch {existing.batches_done + 1} of {existing.batches_total}")
    start_point(existing, release_id, token_id, fingerprint, resume=False)
    return new_state(app, env, release_id, token_id, fingerprint, batches_total)


def record_batch(
    state: RolloutState, batch_hosts: Sequence[str], failed: Sequence[str], allowed_failures: int
) -> tuple[RolloutState, BudgetVerdict]:
    """A batch ended: its healthy hosts count as switched, its failed ones against the fleet failure budget.

    Within the budget the batch counts as done (the failed hosts are back on their old release); over it the
    state keeps ``batches_done`` so the caller rolls back ``hosts_switched`` and marks the state rolled back.
    """
    unknown = [host for host in failed if host not in batch_hosts]
    if unknown:
        raise RolloutStateError(f"failed host(s) {', '.join(unknown)} are not in the batch ({', '.join(batch_hosts)})")
    switched = [host for host in batch_hosts if host not in failed]
    verdict = BudgetVerdict(allowed=allowed_failures, failed=tuple(dict.fromkeys((*state.failed_hosts, *failed))))
    if verdict.exceeded:
        hosts = tuple(dict.fromkeys((*state.hosts_switched, *switched)))
        message = f"failure budget exceeded: {verdict.describe()}"
        return replace(state, hosts_switched=hosts, failed_hosts=verdict.failed, message=message, updated_at=_now()), verdict
    return with_batch_done(state, switched, failed), verdict
