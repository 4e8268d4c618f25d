# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Thin callback: feeds playbook events to the archive's RunRecorder and writes its record."""

from __future__ import annotations

DOCUMENTATION = r"""
name: archive
type: notification
short_description: Keep one record per playbook run in the operations archive (hash-chained, signed, in the state store)
description:
  - Appends the record of each C(ansible-playbook) run to the operations archive (Art. 22(5) operations archive,
    Art. 17(3) work log) with the run id, playbook, start and end, status (C(success), C(failed), C(interrupted)),
    operator (the real uid's account, or the AWX launching user and job id, never a variable), inventory limit, change id, approval token id and
    signer roles, the preflight summary, and per host the result, versions before and after, whether it
    was rolled back and the gate that stopped it.
  - The archive is a table of the state store the pinned trust root names (SQLite C(<ledger_dir>/state.sqlite3) by default,
    or the PostgreSQL the controllers share); there is no archive folder and nothing is written relative to the working directory.
    Each write is a new entry linked to the previous one by its hash and, when the trust root pins C(archive_keys), signed with
    the controller key in the file that C(OPSGATE_ARCHIVE_SIGNING_KEY) names. Read and verify it with C(bin/opsgate-archive).
  - The approval token is never written; only its id and sha256 digest, as the approval gate returns them.
  - Per host, the counts and failing tests of the release's verification suite (C(opsgate.release.release_verify)), whose JUnit
    report is kept with the record in the store (named by its sha256, so the chain covers it); per run, each database migration
    phase (C(opsgate.release.release_migrate)) with its applied and skipped steps, backup and restore, and the change's documents.
    Never the SQL of a migration, a database password or a token.
  - The record is written when the run starts (status C(running)), and again when it ends, fails, or
    the controller receives SIGTERM, SIGHUP or SIGINT (status C(interrupted)); the newest entry of a run is its record.
  - A record that cannot be written (no trust root, the store unreachable, no pinned signing key) is an error on the
    screen, not a warning; the run's next record lists it in C(archive_errors). Change runs do not start in that case,
    because the approval gate checks that the archive can be written before any host.
  - The collection's playbooks load it without any configuration through C(playbooks/callback_plugins/);
    for other playbooks enable it with C(callbacks_enabled = opsgate.release.archive). Enabling both
    writes one record, not two.
version_added: 1.0.0
author:
  - Opsgate Release Contributors (@opsgate)
requirements:
  - Python 3.11+ on the controller, with cryptography (and psycopg 3 for a PostgreSQL store)
"""

import atexit
import os
import signal
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from ansible import context
from ansible.plugins.callback import CallbackBase

from ansible_collections.opsgate.release.plugins.module_utils.approval.trust_root import load_trust_root
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.operator_identity import current_operator
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.record import (
    CHANGED,
    HOST_FAILED,
    OK,
    SKIPPED,
    TASK_ARGS,
    UNREACHABLE,
    RunRecorder,
    TaskEvent,
    format_time,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import redact, secret_strings, write_run_record

_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
# Extra vars whose values are secrets: never in a record, even if a result echoed them.
_SECRET_HINTS = ("token", "password", "passphrase", "secret", "private_key")
# Task arguments that name a secret without being one (a token's id is in every record, a token file is a path).
_NOT_SECRET_SUFFIXES = ("_id", "_file", "_path", "_sha256", "_var")
_CHANGE_VAR = "opsgate_change_id"
# A record that could not be written at the end is tried once more after this pause, carrying the first error.
_RETRY_SECONDS = 1.0

# One writer per process: the playbook-adjacent shim and an explicitly enabled
# opsgate.release.archive are two instances of this class; the first to see the run keeps it.
_OWNER: list[CallbackModule] = []


def _task_args(task: Any) -> dict[str, str]:
    # In the controller process the task's args are already templated by the worker.
    args = getattr(task, "args", None) or {}
    return {key: str(args[key]) for key in TASK_ARGS if isinstance(args.get(key), (str, int, float)) and args.get(key) != ""}


def _secret_arg(name: Any) -> bool:
    lowered = str(name).lower()
    return any(hint in lowered for hint in _SECRET_HINTS) and not lowered.endswith(_NOT_SECRET_SUFFIXES)


def _secret_args(task: Any) -> list[str]:
    """Values of a task's secret arguments (release_migrate's login_password, a gate's token): redacted if a result echoes one."""
    args = getattr(task, "args", None) or {}
    if not isinstance(args, dict):
        return []
    return [text for name, value in args.items() if _secret_arg(name) for text in secret_strings(value)]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "opsgate.release.archive"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recorder: RunRecorder | None = None
        self._playbook: str | None = None
        self._started: datetime | None = None
        self._root: Any = None
        self._secrets: list[str] = []
        # What went wrong writing this run's records; the next record that can be written lists it.
        self._archive_errors: list[dict[str, str]] = []
        self._finished = False
        self._interrupted_by: str | None = None
        self._pid = os.getpid()
        self._previous_handlers: dict[int, Any] = {}

    # set-up -----------------------------------------------------------------------------------

    def _claim(self) -> bool:
        if _OWNER and _OWNER[0] is not self:
            self.disabled = True
            return False
        if not _OWNER:
            _OWNER.append(self)
        return True

    def v2_playbook_on_start(self, playbook: Any) -> None:
        if not self._claim() or self._playbook is not None:
            return
        self._playbook = str(getattr(playbook, "_file_name", None) or "unknown")
        self._started = datetime.now(UTC)
        self._pid = os.getpid()
        for number in _SIGNALS:
            self._previous_handlers[number] = signal.getsignal(number)
            signal.signal(number, self._on_signal)
        atexit.register(self._on_exit)

    def v2_playbook_on_play_start(self, play: Any) -> None:
        if self.disabled or self._playbook is None:
            return
        variable_manager = play.get_variable_manager()
        extra_vars = dict(variable_manager.extra_vars) if variable_manager is not None else {}
        if self._recorder is None:
            secret_vars = [value for name, value in extra_vars.items() if any(hint in name.lower() for hint in _SECRET_HINTS)]
            self._secrets = [text for value in secret_vars for text in secret_strings(value)]
            change = extra_vars.get(_CHANGE_VAR)
            self._recorder = RunRecorder(
                run_id=str(uuid.uuid4()),
                playbook=self._playbook,
                started=self._started or datetime.now(UTC),
                operator=current_operator(),
                limit=context.CLIARGS.get("subset") or None,
                check_mode=bool(context.CLIARGS.get("check")),
                declared_change_id=str(change) if change else None,
            )
        self._recorder.play_started(str(play.get_name()), self._play_hosts(play, variable_manager))
        self._write()

    @staticmethod
    def _play_hosts(play: Any, variable_manager: Any) -> list[str]:
        # Every targeted host gets an entry, also those a failed run-once gate stopped before their first task.
        inventory = getattr(variable_manager, "_inventory", None)
        if inventory is None:
            return []
        try:
            return [host.name for host in inventory.get_hosts(play.hosts)]
        except Exception:
            return []

    # task events ------------------------------------------------------------------------------

    def _event(self, result: Any, outcome: str, ignored: bool = False) -> None:
        if self.disabled or self._recorder is None:
            return
        task = result.task
        for secret in _secret_args(task):
            if secret not in self._secrets:
                self._secrets.append(secret)
        self._recorder.task_result(
            TaskEvent(
                host=result.host.get_name(),
                action=str(getattr(task, "resolved_action", None) or task.action),
                outcome=outcome,
                result=result.result,
                task_name=str(task.get_name()),
                task_path=str(task.get_path() or ""),
                ignored=ignored,
                args=_task_args(task),
            )
        )

    def v2_runner_on_ok(self, result: Any) -> None:
        self._event(result, CHANGED if result.is_changed() else OK)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._event(result, HOST_FAILED, ignored=ignore_errors)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._event(result, SKIPPED)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._event(result, UNREACHABLE, ignored=bool(getattr(result.task, "ignore_unreachable", False)))

    # end of the run ---------------------------------------------------------------------------

    def v2_playbook_on_stats(self, stats: Any) -> None:
        if self.disabled or self._recorder is None:
            return
        self._recorder.ended({host: stats.summarize(host) for host in stats.processed})
        self._finish()

    def _describe(self, exc: BaseException) -> str:
        code = getattr(exc, "code", None)
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        text = f"{code}: {message}" if code and not str(message).startswith(str(code)) else str(message)
        return redact(text, self._secrets)

    def _append(self, ended: datetime | None, note: str | None) -> tuple[Any, str]:
        record = self._recorder.record(ended=ended, interrupted_by=self._interrupted_by, note=note)  # type: ignore[union-attr]
        if self._archive_errors:
            record["archive_errors"] = list(self._archive_errors)
        if self._root is None:
            # The pinned root names the store and the archive keys; no variable or working directory does.
            self._root = load_trust_root()
        # The texts of the attachments the record names (JUnit reports) go into the store with it, in one transaction.
        return write_run_record(self._root, record, self._secrets, attachments=self._recorder.attachment_texts())  # type: ignore[union-attr]

    def _write(self, ended: datetime | None = None, note: str | None = None) -> None:
        if self._recorder is None:
            return
        moment = "end" if ended is not None else "start"
        attempts = 2 if ended is not None else 1
        for attempt in range(attempts):
            try:
                entry, location = self._append(ended, note)
            except Exception as exc:  # any failure: the run must say so, the callback must not break the run
                message = self._describe(exc)
                last = attempt == attempts - 1
                if moment == "start" and self._archive_errors and self._archive_errors[-1]["message"] == message:
                    return  # said already when the first play started
                self._archive_errors.append({"at": moment, "time": format_time(datetime.now(UTC)), "message": message})
                self._display.error(
                    f"opsgate.release.archive: the {moment} record of run {self._recorder.run_id} was not written to the operations archive: {message}"
                    + ("" if last else "; trying once more")
                )
                if not last:
                    time.sleep(_RETRY_SECONDS)
                continue
            if ended is not None:
                self._display.display(
                    f"archive record: run {self._recorder.run_id}, entry seq {entry.seq} sha256 {entry.entry_hash} in {location}", screen_only=True
                )
            return

    def _finish(self, note: str | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        self._write(ended=datetime.now(UTC), note=note)

    def _on_signal(self, number: int, frame: Any) -> None:
        previous = self._previous_handlers.get(number, signal.SIG_DFL)
        # Forked workers inherit this handler until they set their own: only the controller writes.
        if os.getpid() == self._pid and not self._finished:
            self._interrupted_by = signal.Signals(number).name
            self._finish()
        signal.signal(number, previous)
        if callable(previous):
            previous(number, frame)
        elif previous != signal.SIG_IGN:
            os.kill(os.getpid(), number)

    def _on_exit(self) -> None:
        if os.getpid() == self._pid and not self._finished and self._recorder is not None:
            self._finish(note="ansible-playbook ended without play statistics (an error outside any task, or the run was stopped)")
