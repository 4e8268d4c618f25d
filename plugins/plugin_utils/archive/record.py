# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build one run's archive record from the events of a playbook run.

Pure: the callback feeds plain values (host name, action name, outcome, result dict) and
reads back a JSON-ready dict. Only allow-listed fields of a result are copied, so a secret
that a task saw (the approval token) cannot reach the record through a result.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FORMAT = "opsgate.release.archive/1"

SUCCESS = "success"
FAILED = "failed"
INTERRUPTED = "interrupted"
RUNNING = "running"
RUN_STATUSES = (SUCCESS, FAILED, INTERRUPTED, RUNNING)

OK = "ok"
CHANGED = "changed"
HOST_FAILED = "failed"
UNREACHABLE = "unreachable"
SKIPPED = "skipped"
HOST_RESULTS = (SKIPPED, OK, CHANGED, HOST_FAILED, UNREACHABLE)
_SEVERITY = {name: rank for rank, name in enumerate(HOST_RESULTS)}

COLLECTION = "opsgate.release."
# The only task arguments a record reads: what the release is, never credentials.
TASK_ARGS = ("app", "version", "change_id", "release_id", "mode", "event", "target_release_id")

# Fields of the approval_gate result an auditor needs; never the token itself.
_APPROVAL_FIELDS = (
    "token_id",
    "token_sha256",
    "change_sha256",
    "change_id",
    "system_class",
    "signer_roles",
    "signers",
    "hosts",
    "not_after",
    "consumed",
    "resumed",
    "kind",
    "incident_id",
    "ratify_by",
    "outcome",
)
_PREFLIGHT_FIELDS = ("ready", "not_ready", "report_dir")


def format_time(moment: datetime) -> str:
    """UTC, second precision, ``Z`` suffix: sortable as text. A naive time is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short_action(action: str) -> str:
    """``opsgate.release.release_stage`` -> ``release_stage``; other collections' actions keep their name."""
    if action.startswith(COLLECTION):
        return action[len(COLLECTION) :]
    if action.startswith("ansible_collections.opsgate.release."):
        return action.rsplit(".", 1)[-1]
    return action


@dataclass
class HostEntry:
    result: str = SKIPPED
    version_before: str | None = None
    version_after: str | None = None
    release_before: str | None = None
    release_after: str | None = None
    rolled_back: bool = False
    failed_gate: dict[str, Any] | None = None
    failed_task: dict[str, Any] | None = None
    # A release step (stage, switch, commit, revert) ran on the host, whatever its outcome.
    touched: bool = False

    def as_dict(self) -> dict[str, Any]:
        release_after, version_after = self.release_after, self.version_after
        if not self.touched and release_after is None and version_after is None:
            # No release step ran here: the host runs after the run what it ran before (a host an aborted or
            # refused run never reached). A host whose step failed halfway keeps "unknown" (None).
            release_after, version_after = self.release_before, self.version_before
        return {
            "result": self.result,
            "touched": self.touched,
            "version_before": self.version_before,
            "version_after": version_after,
            "release_before": self.release_before,
            "release_after": release_after,
            "rolled_back": self.rolled_back,
            "failed_gate": self.failed_gate,
            "failed_task": self.failed_task,
        }


@dataclass
class TaskEvent:
    """One task result for one host, as the callback sees it."""

    host: str
    action: str
    outcome: str
    result: Mapping[str, Any] = field(default_factory=dict)
    task_name: str = ""
    task_path: str = ""
    ignored: bool = False
    # The task's templated arguments, reduced by the caller to TASK_ARGS (ansible-core 2.19+ gives
    # callbacks no ``invocation``); the invocation is the fallback for results that carry it.
    args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def module_args(self) -> Mapping[str, Any]:
        if self.args:
            return self.args
        invocation = self.result.get("invocation")
        args = invocation.get("module_args") if isinstance(invocation, Mapping) else None
        return args if isinstance(args, Mapping) else {}

    def arg(self, name: str) -> str | None:
        value = self.module_args.get(name)
        return str(value) if value not in (None, "") else None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _message(result: Mapping[str, Any]) -> str:
    message = result.get("msg") or result.get("stderr") or result.get("reason") or ""
    return str(message)[:500]


class RunRecorder:
    """Accumulates the events of one run; ``record()`` may be called at any time (running, ended, interrupted)."""

    def __init__(
        self,
        run_id: str,
        playbook: str,
        started: datetime,
        operator: Mapping[str, Any],
        limit: str | None,
        check_mode: bool,
        declared_change_id: str | None = None,
    ) -> None:
        self.run_id = run_id
        # What the operator said the run belongs to (e.g. a preflight); a verified token's change id wins.
        self.declared_change_id = declared_change_id
        self.playbook = playbook
        self.started = started
        self.operator = dict(operator)
        self.limit = limit
        self.check_mode = check_mode
        self.plays: list[str] = []
        self.hosts: dict[str, HostEntry] = {}
        self.approval: dict[str, Any] | None = None
        self.approval_error: dict[str, Any] | None = None
        self.preflight: dict[str, Any] | None = None
        # The readiness precondition of a change run (roles/preflight/tasks/readiness.yml), refused or not.
        self.readiness: dict[str, Any] | None = None
        self.release: dict[str, Any] = {}
        self.stats: dict[str, dict[str, int]] | None = None

    # events -----------------------------------------------------------------------------------

    def play_started(self, name: str, hosts: Iterable[str]) -> None:
        self.plays.append(name)
        for host in hosts:
            self.hosts.setdefault(host, HostEntry())

    def task_result(self, event: TaskEvent) -> None:
        entry = self.hosts.setdefault(event.host, HostEntry())
        outcome = OK if (event.outcome == HOST_FAILED and event.ignored) else event.outcome
        if _SEVERITY.get(outcome, 0) > _SEVERITY[entry.result]:
            entry.result = outcome
        action = short_action(event.action)
        if action in _RELEASE_STEPS and event.outcome != SKIPPED:
            entry.touched = True
        handler = _HANDLERS.get(action)
        if handler is not None and event.outcome in (OK, CHANGED):
            handler(self, entry, event)
        readiness = event.result.get("readiness") if action == "preflight_evaluate" else None
        if isinstance(readiness, Mapping) and event.outcome in (OK, CHANGED, HOST_FAILED):
            self.readiness = copy.deepcopy(dict(readiness))
            for host, checks in (readiness.get("not_ready") or {}).items():
                target = self.hosts.setdefault(str(host), HostEntry())
                if target.failed_gate is None:
                    target.failed_gate = {"gate": "preflight", "task": event.task_name, "message": f"not ready: {'; '.join(map(str, checks))}"}
        if event.outcome in (HOST_FAILED, UNREACHABLE) and not event.ignored:
            self._note_failure(entry, action, event)

    def ended(self, stats: Mapping[str, Mapping[str, int]]) -> None:
        """Play statistics of a run that reached its end: they know about rescued failures, the events do not."""
        self.stats = {host: {key: int(value) for key, value in counts.items()} for host, counts in sorted(stats.items())}
        for host, counts in self.stats.items():
            entry = self.hosts.setdefault(host, HostEntry())
            entry.result = _result_from_counts(counts)

    # record -----------------------------------------------------------------------------------

    def status(self, finished: bool, interrupted: bool) -> str:
        if interrupted:
            return INTERRUPTED
        if not finished:
            return RUNNING
        if self.stats is None:
            return FAILED
        failed = any(entry.result in (HOST_FAILED, UNREACHABLE) for entry in self.hosts.values())
        return FAILED if failed else SUCCESS

    def record(self, ended: datetime | None = None, interrupted_by: str | None = None, note: str | None = None) -> dict[str, Any]:
        finished = ended is not None
        hosts = {name: entry.as_dict() for name, entry in sorted(self.hosts.items())}
        if self.approval_error is not None:
            # A refused gate stops the whole play before any host is touched: every host failed at it.
            for item in hosts.values():
                if item["failed_gate"] is None:
                    item["failed_gate"] = {"gate": "approval", **self.approval_error}
        approval = self.approval or {}
        record: dict[str, Any] = {
            "format": FORMAT,
            "run_id": self.run_id,
            "playbook": self.playbook,
            "plays": list(self.plays),
            "started": format_time(self.started),
            "ended": format_time(ended) if ended is not None else None,
            "status": self.status(finished, interrupted_by is not None),
            "operator": dict(self.operator),
            "limit": self.limit,
            "check_mode": self.check_mode,
            "change_id": approval.get("change_id") or self.release.get("change_id") or self.declared_change_id,
            "app": self.release.get("app"),
            "version": self.release.get("version"),
            "release_id": self.release.get("release_id"),
            "token_id": approval.get("token_id"),
            "signer_roles": list(approval.get("signer_roles") or []),
            "approval": copy.deepcopy(self.approval),
            "approval_error": copy.deepcopy(self.approval_error),
            "preflight": copy.deepcopy(self.preflight),
            "readiness": copy.deepcopy(self.readiness),
            "hosts": hosts,
            "stats": copy.deepcopy(self.stats),
        }
        if interrupted_by:
            record["interrupted_by"] = interrupted_by
        if note:
            record["note"] = note
        return record

    # helpers ----------------------------------------------------------------------------------

    def _note_failure(self, entry: HostEntry, action: str, event: TaskEvent) -> None:
        message = _message(event.result)
        if entry.failed_task is None:
            entry.failed_task = {"task": event.task_name, "action": action, "message": message}
        gate = _gate_of(action, event)
        if gate is not None and entry.failed_gate is None:
            entry.failed_gate = {"gate": gate, "task": event.task_name, "message": message}
            if event.result.get("approval_error"):
                entry.failed_gate["code"] = _text(event.result.get("approval_error"))
        if action == "approval_gate" and self.approval_error is None:
            self.approval_error = {"code": _text(event.result.get("approval_error")), "message": message}

    def _release_from(self, event: TaskEvent) -> None:
        for key in ("app", "version", "change_id", "release_id"):
            value = event.arg(key)
            if value and not self.release.get(key):
                self.release[key] = value


def _result_from_counts(counts: Mapping[str, int]) -> str:
    if counts.get("unreachable", 0):
        return UNREACHABLE
    if counts.get("failures", 0):
        return HOST_FAILED
    if counts.get("changed", 0):
        return CHANGED
    if counts.get("ok", 0) or counts.get("rescued", 0) or counts.get("ignored", 0):
        return OK
    return SKIPPED


def _gate_of(action: str, event: TaskEvent) -> str | None:
    """Which gate stopped the host: the approval, the readiness verdict, a health check or a rollout gate."""
    if action in ("approval_gate", "approval_check") or event.result.get("approval_error"):
        return "approval"
    if action.startswith("preflight_") or "/roles/preflight/" in event.task_path:
        return "preflight"
    if action == "release_health":
        # The same module checks a release's health and holds a host to a rollout plan's gate (it then has a gate).
        return "rollout" if event.result.get("health_gate") == "rollout" else "health"
    if event.task_path.rsplit("/", 1)[-1].startswith("health.yml"):
        return "health"
    if action.startswith("rollout_") or ("/roles/gray_release/" in event.task_path and "gate" in event.task_name.lower()):
        return "rollout"
    return None


# Per-action extraction; the keys are those of each plugin's RETURN doc and its module arguments.


def _approval_gate(recorder: RunRecorder, entry: HostEntry, event: TaskEvent) -> None:
    # The gate runs again to check a freeze and to finish the run: those results add to the first, never replace it.
    found = {key: copy.deepcopy(event.result[key]) for key in _APPROVAL_FIELDS if key in event.result}
    recorder.approval = {**(recorder.approval or {}), **found}


def _preflight_evaluate(recorder: RunRecorder, entry: HostEntry, event: TaskEvent) -> None:
    summary = event.result.get("summary")
    preflight: dict[str, Any] = {"summary": copy.deepcopy(summary) if isinstance(summary, Mapping) else None}
    preflight.update({key: copy.deepcopy(event.result[key]) for key in _PREFLIGHT_FIELDS if key in event.result})
    recorder.preflight = preflight
    for host in event.result.get("not_ready") or []:
        target = recorder.hosts.setdefault(str(host), HostEntry())
        if target.failed_gate is None:
            target.failed_gate = {"gate": "preflight", "task": event.task_name, "message": f"not ready; see {preflight.get('report_dir')}/hosts/{host}.json"}


def _release_manifest(recorder: RunRecorder, entry: HostEntry, event: TaskEvent) -> None:
    release = event.result.get("release")
    if isinstance(release, Mapping):
        for key in ("app", "version", "change_id"):
            if release.get(key):
                recorder.release[key] = str(release[key])
    if event.result.get("release_id"):
        recorder.release["release_id"] = str(event.result["release_id"])


def _note_before(entry: HostEntry, release: Any, version: Any) -> None:
    # The first observation wins: later tasks of the run see the host after it changed.
    if entry.release_before is None and _text(release):
        entry.release_before = _text(release)
    if entry.version_before is None and _text(version):
        entry.version_before = _text(version)


def _release_info(recorder: RunRecorder, entry: HostEntry, event: TaskEvent) -> None:
    marker = event.result.get("current_marker")
    _note_before(entry, event.result.get("current"), marker.get("version") if isinstance(marker, Mapping) else None)


def _release_stage(recorder: RunRecorder, entry: HostEntry, event: TaskEvent) -> None:
    recorder._release_from(event)
    _note_before(entry, event.result.get("current"), event.result.get("previous_version"))


def _release_switch(recorder: RunRecorder, entry: HostEntry, event: TaskEvent) -> None:
    recorder._release_from(event)
    _note_before(entry, event.result.get("previous"), event.result.get("previous_version"))
    if event.result.get("switched"):
        entry.release_after = event.arg("release_id")
        entry.version_after = event.arg("version")


def _release_commit(recorder: RunRecorder, entry: HostEntry, event: TaskEvent) -> None:
    recorder._release_from(event)
    if event.result.get("state", "good") == "good":
        entry.release_after = event.arg("release_id") or entry.release_after
        entry.version_after = event.arg("version") or entry.version_after
    if event.arg("event") == "rollback":
        entry.rolled_back = True


def _release_revert(recorder: RunRecorder, entry: HostEntry, event: TaskEvent) -> None:
    recorder._release_from(event)
    entry.rolled_back = True
    if event.arg("mode") == "rollback":
        _note_before(entry, event.result.get("from_release"), event.result.get("from_version"))
        entry.release_after = _text(event.result.get("release_id")) or event.arg("release_id")
        entry.version_after = event.arg("version")
    else:
        # A failed deploy put the host back on what it ran before.
        entry.release_after = _text(event.result.get("reverted_to"))
        entry.version_after = _text(event.result.get("reverted_to_version")) or (entry.version_before if entry.release_after else None)


# The steps that change a host's release; a host none of them ran on is unchanged by the run.
_RELEASE_STEPS = ("release_stage", "release_switch", "release_commit", "release_revert")

_HANDLERS = {
    "approval_gate": _approval_gate,
    "preflight_evaluate": _preflight_evaluate,
    "release_manifest": _release_manifest,
    "release_info": _release_info,
    "release_stage": _release_stage,
    "release_switch": _release_switch,
    "release_commit": _release_commit,
    "release_revert": _release_revert,
}
