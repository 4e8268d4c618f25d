# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Single use: the controller's record of consumed tokens.

One JSON line per consumption in ``consumed.jsonl``, appended under an exclusive
``flock`` on ``ledger.lock``; reading and appending happen inside the same lock, so two
runs racing for one token cannot both win. The ledger fails closed: a line it cannot read
stops every run until an operator looks at it.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import errors
from .claims import format_timestamp

LEDGER_FILE = "consumed.jsonl"
LOCK_FILE = "ledger.lock"


@dataclass(frozen=True)
class Consumption:
    token_id: str
    token_sha256: str
    change_id: str
    run_id: str
    consumed_at: str


@dataclass(frozen=True)
class ConsumeOutcome:
    consumption: Consumption
    resumed: bool


class ConsumptionLedger:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.path = os.path.join(directory, LEDGER_FILE)
        self._lock_path = os.path.join(directory, LOCK_FILE)

    def _ensure_directory(self) -> None:
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise errors.ApprovalError(errors.LEDGER_ERROR, f"cannot create ledger directory {self.directory}: {exc.strerror}") from None

    @contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        self._ensure_directory()
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise errors.ApprovalError(errors.LEDGER_ERROR, f"cannot open ledger lock {self._lock_path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _read(self) -> list[Consumption]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise errors.ApprovalError(errors.LEDGER_ERROR, f"cannot read ledger {self.path}: {exc.strerror}") from None
        records: list[Consumption] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data: dict[str, Any] = json.loads(line)
                records.append(Consumption(**{key: str(data[key]) for key in Consumption.__dataclass_fields__}))
            except (ValueError, KeyError, TypeError):
                raise errors.ApprovalError(
                    errors.LEDGER_ERROR, f"ledger {self.path} line {number} is unreadable; refusing every token until an operator repairs it"
                ) from None
        return records

    def find(self, token_id: str) -> Consumption | None:
        with self._locked(exclusive=False):
            return next((record for record in self._read() if record.token_id == token_id), None)

    @staticmethod
    def _refuse_reuse(record: Consumption, run_id: str | None) -> None:
        if run_id is not None and record.run_id == run_id:
            return
        raise errors.ApprovalError(
            errors.REPLAYED,
            f"token {record.token_id} (change {record.change_id}) was already used at {record.consumed_at} by run {record.run_id}; "
            "a token is single-use, only that run id may resume",
        )

    def check_unused(self, token_id: str, run_id: str | None) -> None:
        """Raise REPLAYED if the token was consumed by another run; read-only (check mode)."""
        record = self.find(token_id)
        if record is not None:
            self._refuse_reuse(record, run_id)

    def consume(self, token_id: str, token_sha256: str, change_id: str, run_id: str, now: datetime) -> ConsumeOutcome:
        """Record the token as used by ``run_id``; the same run id resumes, any other is refused."""
        with self._locked(exclusive=True):
            existing = next((record for record in self._read() if record.token_id == token_id), None)
            if existing is not None:
                self._refuse_reuse(existing, run_id)
                return ConsumeOutcome(existing, resumed=True)
            record = Consumption(token_id, token_sha256, change_id, run_id, format_timestamp(now))
            line = json.dumps(record.__dict__, sort_keys=True) + "\n"
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line.encode("utf-8"))
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise errors.ApprovalError(errors.LEDGER_ERROR, f"cannot append to ledger {self.path}: {exc.strerror}") from None
            return ConsumeOutcome(record, resumed=False)
