# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Import once: the rollout state files from before the state store into it.

The old layout, as the file-based rollout state wrote it under a controller's ledger folder:
``rollouts/<app>--<env>/state.json`` (the state document, version 1 or 2) and, next to it while a
setWeight step had changed the load balancer, ``lb_weights_before.json`` (``{host: weight}``).

Every file is read and checked before anything is written, and one transaction writes them all with the
source in ``imports`` (keyed by the sha256 of every file's name and bytes): a file that cannot be read stops
the import naming it, with nothing written, and the same files imported again change nothing. A rollout the
store holds already keeps the store's state (it is the newer one: the store is written from the first run on
it); the file's is skipped and named. ``bin/opsgate-rollout import`` runs it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .state import RolloutState, RolloutStateError, parse_document, parse_weights, read_state, write_state

if TYPE_CHECKING:
    from ..state_store.store import Store

ROLLOUTS_DIR = "rollouts"
STATE_FILE = "state.json"
WEIGHTS_FILE = "lb_weights_before.json"


@dataclass(frozen=True)
class StateImport:
    """What an import did; ``already`` True: these files were imported before (``imported_at``) and nothing was written."""

    directory: str
    source: str
    already: bool = False
    imported_at: str = ""
    imported: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise RolloutStateError(f"cannot read {path}: {exc.strerror}; nothing was imported") from None


def _read_files(directory: str) -> tuple[list[RolloutState], str]:
    """Every state (with its kept weights), checked; and the source key over every file read."""
    rollouts = os.path.join(directory, ROLLOUTS_DIR)
    try:
        names = sorted(os.listdir(rollouts))
    except FileNotFoundError:
        raise RolloutStateError(f"no {ROLLOUTS_DIR}/ folder in {directory}: nothing to import") from None
    except OSError as exc:
        raise RolloutStateError(f"cannot list {rollouts}: {exc.strerror}; nothing was imported") from None
    digest = hashlib.sha256()
    states: list[RolloutState] = []
    for name in names:
        folder = os.path.join(rollouts, name)
        path = os.path.join(folder, STATE_FILE)
        if not os.path.isdir(folder) or not os.path.lexists(path):
            continue
        data = _read_bytes(path)
        digest.update(f"{name}/{STATE_FILE}: {len(data)}\0".encode() + data)
        try:
            state = parse_document(data, path)
        except RolloutStateError as exc:
            # Names the file; an old state that cannot be read must be looked at, not dropped.
            raise RolloutStateError(f"{exc}; nothing was imported") from None
        if name != f"{state.app}--{state.env}":
            raise RolloutStateError(f"{path} holds the rollout of {state.app}/{state.env}, not of its folder {name}; nothing was imported")
        weights_path = os.path.join(folder, WEIGHTS_FILE)
        if os.path.lexists(weights_path):
            raw = _read_bytes(weights_path)
            digest.update(f"{name}/{WEIGHTS_FILE}: {len(raw)}\0".encode() + raw)
            try:
                weights = parse_weights(json.loads(raw), WEIGHTS_FILE)
            except (ValueError, UnicodeDecodeError) as exc:
                raise RolloutStateError(f"{weights_path} is unreadable ({exc}); nothing was imported") from None
            state = replace(state, lb_weights_before=weights)
        states.append(state)
    if not states:
        raise RolloutStateError(f"no {ROLLOUTS_DIR}/*/{STATE_FILE} in {directory}: nothing to import")
    return states, f"rollout-states sha256:{digest.hexdigest()}"


def import_state_files(store: Store, directory: str, now: datetime | None = None) -> StateImport:
    """Import the rollout states under ``directory`` (the old ledger folder) into ``store``, in one transaction, once."""
    directory = os.path.abspath(directory)
    states, source = _read_files(directory)
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    imported: list[str] = []
    skipped: list[str] = []
    with store.transaction(write=True) as tx:
        done = tx.row("SELECT imported_at FROM imports WHERE source = ?", (source,))
        if done is not None:
            return StateImport(directory, source, already=True, imported_at=str(done[0]))
        for state in states:
            label = f"{state.app}/{state.env}"
            if read_state(tx, state.app, state.env, store.settings.location) is not None:
                skipped.append(label)
                continue
            write_state(tx, state)
            imported.append(label)
        tx.execute("INSERT INTO imports (source, imported_at, items) VALUES (?, ?, ?)", (source, stamp, len(states)))
    return StateImport(directory, source, imported_at=stamp, imported=tuple(imported), skipped=tuple(skipped))
