# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout state: where a gray release stands, so an approval step can end a run and a later run resume, on any controller.

One JSON document per app and environment, a row of the state store's ``rollout_states`` (SQLite in the
pinned trust root's ledger folder, or the PostgreSQL every controller shares; ``plugin_utils/state_store``).
Every change is read, computed and written in one write transaction under the store's writer lock, so a
killed controller leaves the previous state or the new one, and two controllers never interleave. The
document also keeps the load balancer weights a setWeight step changed (``lb_weights_before``), so a
resume on another controller gives them back. Files from before the store are imported once
(``state_import.py``, ``bin/opsgate-rollout import``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

try:
    from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import StoreError, store_settings
    from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import Store, open_store
except ImportError:  # bin/opsgate-rollout: plugins/plugin_utils and plugins/module_utils on sys.path
    from state_store.settings import StoreError, store_settings  # type: ignore[no-redef]
    from state_store.store import Store, open_store  # type: ignore[no-redef]

if TYPE_CHECKING:
    from ansible_collections.opsgate.release.plugins.module_utils.approval.trust_root import TrustRoot
    from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import Transaction

    from .failure_budget import BudgetVerdict

# Version 2 adds the batch plan, the failure budget and a result per host (what the progress lines and the
# summary table show); version 1 documents still read, with none of those. ``lb_weights_before`` is optional
# (absent reads as none kept), so it needs no new version.
STATE_VERSION = 2
READABLE_VERSIONS = (1, 2)
STATE_TABLE = "rollout_states"

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

# What happened at a host's gate in its batch; a host of the plan without a result was not reached.
GATE_PASSED = "passed"
GATE_FAILED = "failed"
GATE_UNREACHABLE = "unreachable"
GATE_SKIPPED = "skipped"
GATE_RESULTS = (GATE_PASSED, GATE_FAILED, GATE_UNREACHABLE, GATE_SKIPPED)
GATE_KINDS = ("weight", "pause", "analysis", "approval")
_HOST_RESULT_KEYS = {"from_release", "to_release", "gate", "reason", "rolled_back"}

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class RolloutStateError(ValueError):
    """A refused start or resume, or an unreadable state document."""


@dataclass(frozen=True)
class PlannedGate:
    """A step after a batch, as much of it as a person needs to know what comes next."""

    kind: str
    step: int
    seconds: int | None = None
    percent: int | None = None
    reason: str | None = None
    count: int | None = None
    interval: int | None = None


@dataclass(frozen=True)
class PlannedBatch:
    number: int
    hosts: tuple[str, ...]
    gates: tuple[PlannedGate, ...] = ()


@dataclass(frozen=True)
class HostResult:
    """One host's outcome: the batch it was in, the releases before and after, its gate and whether it went back."""

    batch: int | None
    gate: str
    from_release: str | None = None
    to_release: str | None = None
    reason: str = ""
    rolled_back: bool = False


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
    # The batches and their steps, for display only (the fingerprint decides what a resume accepts); () when not given.
    plan: tuple[PlannedBatch, ...] = ()
    allowed_failures: int | None = None
    # Host name -> its result, in the order the hosts were recorded. Treated as immutable: every change builds a new dict.
    host_results: dict[str, HostResult] = field(default_factory=dict)
    # The progress line of the last recorded batch.
    last_progress: str = ""
    # Host name -> the load balancer weight it had before a setWeight step changed it; {} when none is to restore.
    lb_weights_before: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hosts_switched"] = list(self.hosts_switched)
        data["failed_hosts"] = list(self.failed_hosts)
        data["plan"] = [{"number": batch.number, "hosts": list(batch.hosts), "gates": [asdict(gate) for gate in batch.gates]} for batch in self.plan]
        data["host_results"] = {host: asdict(result) for host, result in self.host_results.items()}
        data["lb_weights_before"] = dict(self.lb_weights_before)
        data["version"] = STATE_VERSION
        return data


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_names(app: str, env: str) -> None:
    """App and environment name a rollout in messages, commands and the store's key: plain names only."""
    for label, value in (("app", app), ("env", env)):
        if not _SAFE_NAME.fullmatch(value):
            raise RolloutStateError(f"{label} {value!r} cannot name a rollout state (letters, digits, '.', '_', '-'; up to 128)")


def pinned_location(root: TrustRoot) -> str:
    """The store the pinned trust root names, as messages show it (a file, or postgresql://user@host:port/db; never a password)."""
    try:
        return store_settings(root.state_store, root.ledger_dir, environ={}).location
    except StoreError:
        return f"the trust root's state_store {root.state_store!r}"


@contextmanager
def pinned_state_store(root: TrustRoot, environ: Mapping[str, str] | None = None) -> Iterator[Store]:
    """A connection to the store the pinned root names (the environment adds only its password); StoreError when it cannot open."""
    store = open_store(store_settings(root.state_store, root.ledger_dir, environ))
    try:
        yield store
    finally:
        store.close()


def store_problem(exc: StoreError, root: TrustRoot | None) -> str:
    """Why a rollout cannot go on without its store: the StoreError (which names backend and location, never a password) and the store."""
    text = str(exc)
    location = pinned_location(root) if root is not None else ""
    where = f" (state store {location})" if location and location not in text else ""
    return f"rollout state unavailable [{StoreError.code}]{where}: {text}; a gray release does not go on without its rollout state (fail closed)"


def state_location(store_location: str, app: str, env: str) -> str:
    """Where one rollout's state is, for messages: the store (a file or postgresql://user@host:port/db, never a password) and the row."""
    check_names(app, env)
    return f"{store_location} ({STATE_TABLE} {app}/{env})"


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


def _optional_int(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RolloutStateError(f"{where} must be a number, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise RolloutStateError(f"{where} must be a number, got {value!r}") from None


def _optional_str(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RolloutStateError(f"{where} must be a string or null, got {value!r}")
    return value


def parse_plan(batches: Sequence[Mapping[str, Any]]) -> tuple[PlannedBatch, ...]:
    """The batches as M(rollout_plan) returns them (or as the state stores them), reduced to what progress lines show."""
    if not isinstance(batches, list | tuple):
        raise RolloutStateError(f"batches must be a list, got {type(batches).__name__}")
    plan: list[PlannedBatch] = []
    for index, batch in enumerate(batches):
        where = f"batches[{index}]"
        if not isinstance(batch, Mapping):
            raise RolloutStateError(f"{where} must be a mapping, got {batch!r}")
        hosts = batch.get("hosts")
        if not isinstance(hosts, list | tuple) or not all(isinstance(host, str) and host for host in hosts):
            raise RolloutStateError(f"{where}.hosts must be a list of host names")
        gates: list[PlannedGate] = []
        for number, gate in enumerate(batch.get("gates") or []):
            at = f"{where}.gates[{number}]"
            if not isinstance(gate, Mapping) or gate.get("kind") not in GATE_KINDS:
                raise RolloutStateError(f"{at} must be a mapping with kind {', '.join(GATE_KINDS)}, got {gate!r}")
            gates.append(
                PlannedGate(
                    kind=str(gate["kind"]),
                    step=_optional_int(gate.get("step"), f"{at}.step") or 0,
                    seconds=_optional_int(gate.get("seconds"), f"{at}.seconds"),
                    percent=_optional_int(gate.get("percent"), f"{at}.percent"),
                    reason=_optional_str(gate.get("reason"), f"{at}.reason"),
                    count=_optional_int(gate.get("count"), f"{at}.count"),
                    interval=_optional_int(gate.get("interval"), f"{at}.interval"),
                )
            )
        number = _optional_int(batch.get("number"), f"{where}.number")
        plan.append(PlannedBatch(number if number is not None else index + 1, tuple(hosts), tuple(gates)))
    return tuple(plan)


def _read_host_results(data: Mapping[str, Any]) -> dict[str, HostResult]:
    results: dict[str, HostResult] = {}
    for host, item in data.items():
        gate = str(item["gate"])
        if gate not in GATE_RESULTS:
            raise ValueError(f"host {host}: gate {gate!r}")
        batch = item.get("batch")
        results[str(host)] = HostResult(
            batch=None if batch is None else int(batch),
            gate=gate,
            from_release=None if item.get("from_release") is None else str(item["from_release"]),
            to_release=None if item.get("to_release") is None else str(item["to_release"]),
            reason=str(item.get("reason") or ""),
            rolled_back=bool(item.get("rolled_back", False)),
        )
    return results


def with_plan(state: RolloutState, batches: Sequence[Mapping[str, Any]] | None, allowed_failures: int | None) -> RolloutState:
    """Keep the batch plan and the failure budget of the run (start event); what is not given stays as it was."""
    changes: dict[str, Any] = {}
    if batches:
        plan = parse_plan(batches)
        if len(plan) != state.batches_total:
            raise RolloutStateError(f"batches lists {len(plan)} batch(es), the rollout has {state.batches_total}")
        changes["plan"] = plan
    if allowed_failures is not None:
        if allowed_failures < 0:
            raise RolloutStateError(f"allowed_failures must be 0 or more, got {allowed_failures}")
        changes["allowed_failures"] = allowed_failures
    return replace(state, **changes) if changes else state


def host_results_of_batch(
    state: RolloutState,
    batch_number: int,
    batch_hosts: Sequence[str],
    failed: Sequence[str],
    given: Mapping[str, Any] | None,
) -> dict[str, HostResult]:
    """Every host of the batch gets a result: the one given, else passed (switched) or failed (in ``failed``).

    A given result must agree with ``failed``, which alone counts against the failure budget: a failed or
    unreachable gate only for a failed host, passed or skipped only for the others.
    """
    given = given or {}
    unknown = [host for host in given if host not in batch_hosts]
    if unknown:
        raise RolloutStateError(f"host_results names host(s) {', '.join(unknown)} not in the batch ({', '.join(batch_hosts)})")
    results: dict[str, HostResult] = {}
    for host in batch_hosts:
        is_failed = host in failed
        item = given.get(host)
        if item is None:
            to_release = None if is_failed else state.release_id
            results[host] = HostResult(batch_number, GATE_FAILED if is_failed else GATE_PASSED, to_release=to_release)
            continue
        if not isinstance(item, Mapping):
            raise RolloutStateError(f"host_results.{host} must be a mapping, got {item!r}")
        extra = sorted(set(item) - _HOST_RESULT_KEYS)
        if extra:
            raise RolloutStateError(f"host_results.{host} has unknown key(s) {', '.join(extra)} (known: {', '.join(sorted(_HOST_RESULT_KEYS))})")
        gate = item.get("gate")
        if gate not in GATE_RESULTS:
            raise RolloutStateError(f"host_results.{host}.gate must be one of {', '.join(GATE_RESULTS)}, got {gate!r}")
        if is_failed != (gate in (GATE_FAILED, GATE_UNREACHABLE)):
            side = "is" if is_failed else "is not"
            raise RolloutStateError(f"host_results.{host}.gate is {gate} but the host {side} in failed_hosts")
        reason = item.get("reason") or ""
        if not isinstance(reason, str):
            raise RolloutStateError(f"host_results.{host}.reason must be a string, got {reason!r}")
        rolled_back = item.get("rolled_back", False)
        if not isinstance(rolled_back, bool):
            raise RolloutStateError(f"host_results.{host}.rolled_back must be true or false, got {rolled_back!r}")
        results[host] = HostResult(
            batch=batch_number,
            gate=gate,
            from_release=_optional_str(item.get("from_release"), f"host_results.{host}.from_release"),
            to_release=_optional_str(item.get("to_release"), f"host_results.{host}.to_release"),
            reason=reason,
            rolled_back=rolled_back,
        )
    return results


def with_rolled_back(state: RolloutState, hosts: Sequence[str]) -> RolloutState:
    """Mark hosts as rolled back (an abort); each must be a host of this rollout."""
    if not hosts:
        return state
    known = set(state.host_results) | set(state.hosts_switched) | set(state.failed_hosts)
    unknown = [host for host in hosts if host not in known]
    if unknown:
        raise RolloutStateError(f"rolled_back_hosts names host(s) {', '.join(unknown)} this rollout never switched")
    results = dict(state.host_results)
    for host in hosts:
        # A host switched by a version 1 state has no result yet: it passed its gate, it was switched.
        before = results.get(host) or HostResult(None, GATE_PASSED, to_release=state.release_id)
        results[host] = replace(before, rolled_back=True)
    return replace(state, host_results=results, updated_at=_now())


def parse_weights(value: Any, where: str) -> dict[str, int]:
    """``{host: weight}`` as the load balancer seam reads them: host names, whole numbers from 0."""
    if not isinstance(value, Mapping):
        raise RolloutStateError(f"{where} must be a mapping of host name to weight, got {value!r}")
    weights: dict[str, int] = {}
    for host, weight in value.items():
        if not isinstance(host, str) or not host:
            raise RolloutStateError(f"{where} has a key that is no host name: {host!r}")
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise RolloutStateError(f"{where}.{host} must be a whole number from 0, got {weight!r}")
        weights[host] = weight
    return weights


def with_weights(state: RolloutState, weights: Mapping[str, Any] | None) -> RolloutState:
    """Keep (or, with {}, forget) the weights a setWeight step changed; None leaves them as they are."""
    if weights is None:
        return state
    return replace(state, lb_weights_before=parse_weights(weights, "lb_weights_before"), updated_at=_now())


def parse_document(text: str | bytes, where: str) -> RolloutState:
    """A state document as the store (or a state.json from before it) holds it; refused naming ``where`` when unreadable."""
    try:
        data: dict[str, Any] = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RolloutStateError(f"rollout state {where} is unreadable ({exc}); an operator must inspect it before any rollout of this app") from None
    try:
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object")
        if data.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"version {data.get('version')!r}")
        allowed = data.get("allowed_failures")
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
            plan=parse_plan(data.get("plan") or []),
            allowed_failures=None if allowed is None else int(allowed),
            host_results=_read_host_results(data.get("host_results") or {}),
            last_progress=str(data.get("last_progress") or ""),
            lb_weights_before=parse_weights(data.get("lb_weights_before") or {}, "lb_weights_before"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RolloutStateError(f"rollout state {where} is not a state this version understands ({exc})") from None
    if state.status not in STATUSES:
        raise RolloutStateError(f"rollout state {where} has unknown status {state.status!r}")
    return state


def state_document(state: RolloutState) -> str:
    return json.dumps(state.as_dict(), sort_keys=True)


def read_state(tx: Transaction, app: str, env: str, store_location: str = "the state store") -> RolloutState | None:
    """The state of one app and environment, None when the store has none; an unreadable document is refused, never skipped."""
    where = state_location(store_location, app, env)
    found = tx.row(f"SELECT document FROM {STATE_TABLE} WHERE app = ? AND env = ?", (app, env))
    if found is None:
        return None
    state = parse_document(str(found[0]), where)
    if (state.app, state.env) != (app, env):
        raise RolloutStateError(f"rollout state {where} holds the rollout of {state.app}/{state.env}; an operator must inspect it")
    return state


def write_state(tx: Transaction, state: RolloutState) -> None:
    """Insert or replace the row of ``state`` in the caller's write transaction (which holds the store's writer lock).

    A fresh row is inserted, an existing one updated: no upsert, so a database role needs UPDATE only where a
    rollout already has a state (what docs/state-store.md grants).
    """
    check_names(state.app, state.env)
    document = state_document(state)
    key = (state.app, state.env)
    if tx.row(f"SELECT 1 FROM {STATE_TABLE} WHERE app = ? AND env = ?", key) is None:
        tx.execute(f"INSERT INTO {STATE_TABLE} (app, env, document, updated_at) VALUES (?, ?, ?, ?)", (*key, document, state.updated_at))
    else:
        tx.execute(f"UPDATE {STATE_TABLE} SET document = ?, updated_at = ? WHERE app = ? AND env = ?", (document, state.updated_at, *key))


def list_states(tx: Transaction, store_location: str = "the state store") -> list[tuple[str, str, RolloutState | RolloutStateError]]:
    """Every rollout state of the store, by app and environment; an unreadable one as its refusal, so a listing shows it."""
    listed: list[tuple[str, str, RolloutState | RolloutStateError]] = []
    for app, env, document in tx.rows(f"SELECT app, env, document FROM {STATE_TABLE} ORDER BY app, env"):
        try:
            listed.append((str(app), str(env), parse_document(str(document), f"{store_location} ({STATE_TABLE} {app}/{env})")))
        except RolloutStateError as exc:
            listed.append((str(app), str(env), exc))
    return listed


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
    state: RolloutState,
    batch_hosts: Sequence[str],
    failed: Sequence[str],
    allowed_failures: int,
    host_results: Mapping[str, Any] | None = None,
) -> tuple[RolloutState, BudgetVerdict]:
    """A batch ended: its healthy hosts count as switched, its failed ones against the fleet failure budget.

    Within the budget the batch counts as done (the failed hosts are back on their old release); over it the
    state keeps ``batches_done`` so the caller rolls back ``hosts_switched`` and marks the state rolled back.
    Every host of the batch gets a result (``host_results_of_batch``).
    """
    # Imported here: the rollout plan module needs Ansible, and bin/opsgate-rollout imports this module to read states.
    from .failure_budget import BudgetVerdict

    unknown = [host for host in failed if host not in batch_hosts]
    if unknown:
        raise RolloutStateError(f"failed host(s) {', '.join(unknown)} are not in the batch ({', '.join(batch_hosts)})")
    results = {**state.host_results, **host_results_of_batch(state, state.batches_done + 1, batch_hosts, failed, host_results)}
    switched = [host for host in batch_hosts if host not in failed]
    verdict = BudgetVerdict(allowed=allowed_failures, failed=tuple(dict.fromkeys((*state.failed_hosts, *failed))))
    if verdict.exceeded:
        hosts = tuple(dict.fromkeys((*state.hosts_switched, *switched)))
        message = f"failure budget exceeded: {verdict.describe()}"
        exceeded = replace(
            state,
            hosts_switched=hosts,
            failed_hosts=verdict.failed,
            message=message,
            updated_at=_now(),
            allowed_failures=allowed_failures,
            host_results=results,
        )
        return exceeded, verdict
    return replace(with_batch_done(state, switched, failed), allowed_failures=allowed_failures, host_results=results), verdict
