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
import hashlib
import math
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
TASK_ARGS = ("app", "version", "change_id", "release_id", "mode", "event", "target_release_id", "phase")

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

# Fields of release_verify's ``verify`` result (one per app host). Its ``junit`` text becomes an attachment of the
# record, not part of the host entry: the entry stays small, and every write of the run would repeat it.
_VERIFY_COUNTS = ("tests", "passed", "failed", "errors", "skipped")
_VERIFY_TEXTS = ("suite_sha256", "suite_name", "junit_sha256")
# Fields of the change document's documents (change_document.py), and of a migration phase's database.
_DOCUMENT_FIELDS = ("kind", "title", "location", "sha256")
_DATABASE_FIELDS = ("kind", "run_on", "name")
# Never any other field of release_migrate's result: its arguments carry ``sql``, ``down_sql`` and ``login_password``.
_BACKUP_FIELDS = ("path", "sha256", "bytes")
# Only when the module found the dump changed on disk: the digest its ledger recorded.
_BACKUP_OPTIONAL = ("recorded_sha256",)
_TABLE_FIELDS = ("step_id", "sha256", "release_id")
# Bounds on what one result can put in a record: failing test names and step ids are lists a suite or a manifest sizes.
_MAX_NAMES = 200
_MAX_NAME = 300
MAX_ATTACHMENT_BYTES = 16 * 1024 * 1024
JUNIT_MEDIA_TYPE = "application/xml"


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
    # release_verify's counts and failing tests (the JUnit text is an attachment of the record).
    verify: dict[str, Any] | None = None
    # A release step (stage, switch, commit, revert) ran on the host, whatever its outcome.
    touched: bool = False

    def as_dict(self) -> dict[str, Any]:
        release_after, version_after = self.release_after, self.version_after
        if not self.touched and release_after is None and version_after is None:
            # No release step ran here: the host runs after the run what it ran before (a host an aborted or
            # refused run never reached). A host whose step failed halfway keeps "unknown" (None).
            release_after, version_after = self.release_before, self.version_before
        entry = {
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
        if self.verify is not None:
            entry["verify"] = copy.deepcopy(self.verify)
        return entry


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


def attachment_text(text: str) -> str:
    """What the store keeps of an attachment: valid UTF-8 without NUL (PostgreSQL's text refuses NUL, a lone surrogate
    cannot be encoded); its sha256 is taken over this."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _number(value: Any) -> int | float | None:
    # NaN and infinities are not JSON: one in a result would make the whole record unwritable.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def _seconds(value: Any) -> float | None:
    number = _number(value)
    return round(float(number), 3) if number is not None and number >= 0 else None


def _names(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)):
        return []
    return [str(item)[:_MAX_NAME] for item in value[:_MAX_NAMES] if item not in (None, "")]


def _picked(value: Any, fields: Iterable[str], optional: Iterable[str] = ()) -> dict[str, Any] | None:
    """The named fields of a mapping as JSON scalars (a number stays a number), or None if it is not a mapping;
    ``optional`` fields only when the mapping has them."""
    if not isinstance(value, Mapping):
        return None
    picked: dict[str, Any] = {}
    for key in (*fields, *(name for name in optional if value.get(name) not in (None, ""))):
        item = value.get(key)
        picked[key] = _number(item) if isinstance(item, (int, float)) and not isinstance(item, bool) else _text(item)
    return picked


@dataclass(frozen=True)
class Attachment:
    """A file kept with the record (a host's JUnit report): the record names it by sha256, the store keeps the text."""

    name: str
    text: str
    sha256: str
    media_type: str
    host: str | None = None
    kind: str = ""

    @property
    def size(self) -> int:
        return len(self.text.encode("utf-8"))

    def reference(self) -> dict[str, Any]:
        reference: dict[str, Any] = {"name": self.name, "sha256": self.sha256, "bytes": self.size, "media_type": self.media_type, "kind": self.kind}
        if self.host is not None:
            reference["host"] = self.host
        if self.size > MAX_ATTACHMENT_BYTES:
            # Not stored: a record names it so that nobody takes its absence for "no report".
            reference["stored"] = False
        return reference


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
        # One item per release_migrate call (run once, on the database host): not a host entry's.
        self.migrations: list[dict[str, Any]] = []
        # The documents of the change; None until a change document (or, before one, the manifest) was seen.
        self.documents: list[dict[str, Any]] | None = None
        self._documents_signed = False
        self.attachments: dict[str, Attachment] = {}

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
        if handler is not None and (event.outcome in (OK, CHANGED) or (event.outcome == HOST_FAILED and action in _HANDLED_WHEN_FAILED)):
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
        # Only when there is something: records of runs without them keep their earlier shape.
        if self.migrations:
            record["migrations"] = copy.deepcopy(self.migrations)
        if self.documents is not None:
            record["documents"] = copy.deepcopy(self.documents)
        if self.attachments:
            record["attachments"] = [item.reference() for _name, item in sorted(self.attachments.items())]
        if interrupted_by:
            record["interrupted_by"] = interrupted_by
        if note:
            record["note"] = note
        return record

    def attachment_texts(self) -> dict[str, str]:
        """sha256 -> text of every attachment the record names and the store keeps (write_run_record's ``attachments``)."""
        return {item.sha256: item.text for item in self.attachments.values() if item.size <= MAX_ATTACHMENT_BYTES}

    # helpers ----------------------------------------------------------------------------------

    def attach(self, name: str, text: str, media_type: str, host: str | None = None, kind: str = "") -> Attachment:
        """Keep ``text`` with the record under ``name``; a later one of the same name (the step ran again) replaces it."""
        kept = attachment_text(text)
        attachment = Attachment(name, kept, text_sha256(kept), media_type, host, kind)
        self.attachments[name] = attachment
        return attachment

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
    if action == "release_verify":
        return "verify"
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
    _release_manifest_documents(recorder, event)


def _documents(value: Any) -> list[dict[str, Any]]:
    return [picked for item in value or [] if (picked := _picked(item, _DOCUMENT_FIELDS)) is not None] if isinstance(value, list) else []


def _release_manifest_documents(recorder: RunRecorder, event: TaskEvent) -> None:
    # The manifest's list stands in until the change document, which the approvers sign, is seen.
    release = event.result.get("release")
    if isinstance(release, Mapping) and "documents" in release and not recorder._documents_signed:
        recorder.documents = _documents(release.get("documents"))


def _release_change(recorder: RunRecorder, entry: HostEntry, event: TaskEvent) -> None:
    change = event.result.get("change")
    if isinstance(change, Mapping):
        # A document without the key (older than issue 15) or with None lists no documents.
        recorder.documents = _documents(change.get("documents"))
        recorder._documents_signed = True


def _release_verify(recorder: RunRecorder, entry: HostEntry, event: TaskEvent) -> None:
    """Also on failure: a failing suite is what an auditor looks for. The host is the app host the suite ran against."""
    verify = event.result.get("verify")
    if not isinstance(verify, Mapping):
        return
    kept: dict[str, Any] = {key: _text(verify.get(key)) for key in _VERIFY_TEXTS}
    kept.update({key: _count(verify.get(key)) for key in _VERIFY_COUNTS})
    kept["duration"] = _seconds(verify.get("duration"))
    kept["failures"] = _names(verify.get("failures"))
    junit = verify.get("junit")
    if isinstance(junit, str) and junit:
        recorder.attach(f"verify/{event.host}.junit.xml", junit, JUNIT_MEDIA_TYPE, host=event.host, kind="junit")
    entry.verify = kept


def _restored(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    restored: dict[str, Any] = {"method": _text(value.get("method")), "steps": _names(value.get("steps"))}
    if value.get("kept"):
        # Contract steps left applied (no down-migration): the database is not back where it was.
        restored["kept"] = _names(value.get("kept"))
    return restored


def _release_migrate(recorder: RunRecorder, entry: HostEntry, event: TaskEvent) -> None:
    """One item per call; the result arrives for the play host, the phase ran on ``database.run_on``.

    The roles register the task with ``failed_when: false``, which turns ``failed`` false: ``migration_failed``,
    which the action sets on every outcome, says whether the phase failed.
    """
    result = event.result
    table = result.get("migrations_table")
    message = _text(result.get("msg"))
    item: dict[str, Any] = {
        "phase": _text(result.get("phase")) or event.arg("phase"),
        "database": _picked(result.get("database"), _DATABASE_FIELDS),
        "applied": _names(result.get("applied")),
        # The module's name for steps applied earlier with the same digest (a result key "skipped" would skip the task).
        "already_applied": _names(result.get("already_applied")),
        "backup": _picked(result.get("backup"), _BACKUP_FIELDS, _BACKUP_OPTIONAL) if result.get("backup") else None,
        "restored": _restored(result.get("restored")),
        "migrations_table": [row for item in table[:_MAX_NAMES] if (row := _picked(item, _TABLE_FIELDS))] if isinstance(table, list) else [],
        "failed": result.get("migration_failed") is True or bool(result.get("failed")) or event.outcome == HOST_FAILED,
        "msg": message[:500] if message else None,
        "host_verified": result.get("host_verified") if isinstance(result.get("host_verified"), bool) else None,
        "reported_for": event.host,
        "task": event.task_name or None,
    }
    # Present only when they say something: which step failed, which were refused (applied before with another digest),
    # why the controller or the host refused, and what check mode would have applied.
    for key in ("failed_step", "migration_error", "approval_error"):
        if _text(result.get(key)):
            item[key] = _text(result.get(key))
    for key in ("refused", "would_apply"):
        if isinstance(result.get(key), list):
            item[key] = _names(result.get(key))
    recorder.migrations.append(item)


def _note_before(entry: HostEntry, release: Any, version: Any) -> None:
    # The first observation wins: later tasks of the run see the host after it changed.
    if entry.release_before is None and _text(release):
        entry.release_before = _text(release)
    if entry.version_before is None and _text(version):
        entry.version_before = _text(version)


def _release_info(recorder: RunRecorder, entry: HostEntry, event: TaskEvent) -> None:
    marker = event.result.get("current_marker")
    _note_before(entry, event.result.get("current"), marker.get("version") if isinstance(marker, Mapping) else None)


def _preflight_collect(recorder: RunRecorder, entry: HostEntry, event: TaskEvent) -> None:
    # A change run asks each host its readiness facts and its running release in one module run.
    running = event.result.get("running_release")
    if isinstance(running, Mapping) and not running.get("error"):
        _note_before(entry, running.get("current"), running.get("version"))


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

# Steps whose failed result is recorded as well: a failed suite or migration is the record's point.
_HANDLED_WHEN_FAILED = ("release_verify", "release_migrate")

_HANDLERS = {
    "approval_gate": _approval_gate,
    "preflight_evaluate": _preflight_evaluate,
    "preflight_collect": _preflight_collect,
    "release_manifest": _release_manifest,
    "release_info": _release_info,
    "release_stage": _release_stage,
    "release_switch": _release_switch,
    "release_commit": _release_commit,
    "release_revert": _release_revert,
    "release_change": _release_change,
    "release_verify": _release_verify,
    "release_migrate": _release_migrate,
}
