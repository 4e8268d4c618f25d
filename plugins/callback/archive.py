# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Thin callback: feeds playbook events to the archive's RunRecorder and writes its record."""

from __future__ import annotations

DOCUMENTATION = r"""
name: archive
type: notification
short_description: Keep one JSON record per playbook run in the operations archive
description:
  - Writes one JSON record per C(ansible-playbook) run to the archive folder (Art. 22(5) operations archive,
    Art. 17(3) work log) with the run id, playbook, start and end, status (C(success), C(failed), C(interrupted)),
    operator (the real uid's account, or the AWX launching user and job id, never a variable), inventory limit, change id, approval token id and
    signer roles, the preflight summary, and per host the result, versions before and after, whether it
    was rolled back and the gate that stopped it.
  - The approval token is never written; only its id and sha256 digest, as the approval gate returns them.
  - The record is written when the run starts (status C(running)), and replaced when it ends, fails, or
    the controller receives SIGTERM, SIGHUP or SIGINT (status C(interrupted)).
  - Files are mode 0600 in a 0700 folder, replaced atomically. Read them with C(bin/opsgate-archive).
  - The collection's playbooks load it without any configuration through C(playbooks/callback_plugins/);
    for other playbooks enable it with C(callbacks_enabled = opsgate.release.archive). Enabling both
    writes one record, not two.
version_added: 1.0.0
author:
  - Opsgate Release Contributors (@opsgate)
requirements:
  - Python 3.11+ on the controller
extends_documentation_fragment:
  - opsgate.release.archive_options
"""

import atexit
import os
import signal
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ansible import context
from ansible.plugins.callback import CallbackBase

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
)
from ansible_collections.opsgate.release.plugins.plugin_utils.archive.store import secret_strings, write_record

_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
# Extra vars whose values are secrets: never in a record, even if a result echoed them.
_SECRET_HINTS = ("token", "password", "passphrase", "secret", "private_key")
_CHANGE_VAR = "opsgate_change_id"

# One writer per process: the playbook-adjacent shim and an explicitly enabled
# opsgate.release.archive are two instances of this class; the first to see the run keeps it.
_OWNER: list[CallbackModule] = []


def _task_args(task: Any) -> dict[str, str]:
    # In the controller process the task's args are already templated by the worker.
    args = getattr(task, "args", None) or {}
    return {key: str(args[key]) for key in TASK_ARGS if isinstance(args.get(key), (str, int, float)) and args.get(key) != ""}


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
        self._directory: str | None = None
        self._secrets: list[str] = []
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

    def _archive_dir(self, extra_vars: Mapping[str, Any]) -> str:
        try:
            configured = self.get_option("archive_dir")
        except KeyError:
            configured = None
        value = extra_vars.get("opsgate_archive_dir") or configured or os.environ.get("OPSGATE_ARCHIVE_DIR") or "archive"
        return os.path.abspath(os.path.expanduser(str(value)))

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
            self._directory = self._archive_dir(extra_vars)
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

    def _write(self, ended: datetime | None = None, note: str | None = None) -> None:
        if self._recorder is None or self._directory is None:
            return
        record = self._recorder.record(ended=ended, interrupted_by=self._interrupted_by, note=note)
        try:
            path = write_record(self._directory, record, self._secrets)
        except OSError as exc:
            self._display.warning(f"opsgate.release.archive: cannot write the archive record in {self._directory}: {exc}")
            return
        if ended is not None:
            self._display.display(f"archive record: {path}", screen_only=True)

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
