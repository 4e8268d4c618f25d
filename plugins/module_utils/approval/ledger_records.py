# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the controller's token ledger records about a consumed token, as the approval checks see it.

The ledger itself (single use, resume, ratifications, newest policy seen) runs on the controller only,
over the state store: ``plugins/plugin_utils/approval_run/token_ledger.py``. module_utils, which the
hosts run too, never imports plugin_utils; what it needs of the ledger is here: the records, and the one
method ``verify_token`` calls (:class:`UnusedCheck`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .claims import KIND_NORMAL


@dataclass(frozen=True)
class RunOwner:
    """The ansible-playbook process that holds a consumed token: controller host name, pid and kernel start time."""

    controller: str
    pid: int
    start_time: str


@dataclass(frozen=True)
class Consumption:
    token_id: str
    token_sha256: str
    change_id: str
    run_id: str
    consumed_at: str
    fingerprint: str
    app: str
    env: str
    hosts: tuple[str, ...]
    owner: RunOwner | None
    sequence: int
    kind: str = KIND_NORMAL
    incident_id: str | None = None
    # When the run that holds it stopped resumably (a gray release paused for an approval or a freeze): any controller may resume it.
    released_at: str | None = None


class UnusedCheck(Protocol):
    """The ledger as verify_token uses it: refuse (APPROVAL_REPLAYED) a token consumed before."""

    def check_unused(self, token_id: str) -> None: ...
