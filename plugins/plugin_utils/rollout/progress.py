# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a person reads while a gray release runs: one progress line per batch, a table of every host, a status view.

Pure functions over the rollout state (state.py): no file, no clock, no Ansible. The ``rollout_state`` action
returns their lines; bin/opsgate-rollout prints the same lines from the state store.
"""

from __future__ import annotations

from collections.abc import Sequence

from .state import (
    GATE_FAILED,
    GATE_PASSED,
    GATE_RESULTS,
    GATE_SKIPPED,
    GATE_UNREACHABLE,
    PAUSED_FOR_APPROVAL,
    PAUSED_FOR_FREEZE,
    HostResult,
    PlannedGate,
    RolloutState,
)

NOT_REACHED = "not reached"
TERMINAL = ("done", "rolled_back", "failed")
SUMMARY_HEADER = ("HOST", "OLD RELEASE", "NEW RELEASE", "GATE", "ROLLED BACK")
NAMES_SHOWN = 3
_NONE = "-"


def _names(hosts: Sequence[str], limit: int = NAMES_SHOWN) -> str:
    shown = list(hosts[:limit])
    if len(hosts) > limit:
        shown.append("...")
    return ", ".join(shown)


def _hosts(count: int) -> str:
    return f"{count} host" if count == 1 else f"{count} hosts"


def describe_gate(gate: PlannedGate) -> str:
    if gate.kind == "pause":
        return f"pause {gate.seconds} s"
    if gate.kind == "weight":
        return f"weight {gate.percent}% to the new release"
    if gate.kind == "analysis":
        return f"analysis ({gate.count} measurement(s) every {gate.interval} s)"
    return f"stop for approval ({gate.reason})" if gate.reason else "stop for approval"


def next_step(state: RolloutState, batch_number: int, budget_exceeded: bool = False) -> str:
    """What the run does after batch ``batch_number`` (1-based): its steps, then the next batch or the end."""
    if budget_exceeded:
        return f"roll back the {_hosts(len(state.hosts_switched))} switched so far"
    planned = state.plan[batch_number - 1] if len(state.plan) == state.batches_total and 0 < batch_number <= len(state.plan) else None
    last = batch_number >= state.batches_total
    parts: list[str] = []
    if planned is not None:
        # The role stops for an approval only between batches: after the last one there is nothing left to approve.
        parts.extend(describe_gate(gate) for gate in planned.gates if not (last and gate.kind == "approval"))
    if last:
        parts.append("finish")
    elif planned is not None:
        parts.append(f"batch {batch_number + 1} ({_hosts(len(state.plan[batch_number].hosts))})")
    else:
        parts.append(f"batch {batch_number + 1} of {state.batches_total}")
    return ", then ".join(parts)


def _budget(state: RolloutState, budget_exceeded: bool) -> str | None:
    if state.allowed_failures is None:
        return None
    failed = len(state.failed_hosts)
    if budget_exceeded or failed > state.allowed_failures:
        return f"failure budget exceeded ({failed} failed, {state.allowed_failures} allowed)"
    return f"failure budget left {state.allowed_failures - failed} of {state.allowed_failures}"


def progress_line(state: RolloutState, batch_number: int, batch_hosts: Sequence[str], failed: Sequence[str], budget_exceeded: bool = False) -> str:
    """One line for a recorded batch, from the state after it (record_batch) and the batch's hosts.

    ``batch 2 of 4 done: switched 5 (slot3, slot4, slot5, ...), healthy 5, failed 0, failure budget left 1 of 2;
    next: pause 30 s, then batch 3 (5 hosts)``
    """
    switched = [host for host in batch_hosts if host not in failed]
    healthy = sum(1 for host in batch_hosts if (state.host_results[host].gate == GATE_PASSED if host in state.host_results else host in switched))
    outcome = "failed" if budget_exceeded else "done"
    parts = [f"switched {len(switched)}" + (f" ({_names(switched)})" if switched else ""), f"healthy {healthy}"]
    parts.append(f"failed {len(failed)}" + (f" ({_names(list(failed))})" if failed else ""))
    budget = _budget(state, budget_exceeded)
    if budget:
        parts.append(budget)
    return f"batch {batch_number} of {state.batches_total} {outcome}: {', '.join(parts)}; next: {next_step(state, batch_number, budget_exceeded)}"


def _fleet(state: RolloutState) -> list[str]:
    """Every host the state knows, in plan order, then any host it recorded outside the plan (a version 1 state)."""
    hosts = [host for batch in state.plan for host in batch.hosts]
    hosts.extend(state.host_results)
    hosts.extend(state.hosts_switched)
    hosts.extend(state.failed_hosts)
    return list(dict.fromkeys(hosts))


def host_result(state: RolloutState, host: str) -> HostResult | None:
    """The host's recorded result, else what a version 1 state implies, else None (not reached)."""
    if host in state.host_results:
        return state.host_results[host]
    if host in state.failed_hosts:
        return HostResult(None, GATE_FAILED)
    if host in state.hosts_switched:
        return HostResult(None, GATE_PASSED, to_release=state.release_id)
    return None


def summary_table(state: RolloutState) -> list[str]:
    """A fixed-width table, one row per host of the rollout, with a header line and a totals line."""
    rows: list[tuple[str, ...]] = []
    counts = dict.fromkeys((*GATE_RESULTS, NOT_REACHED), 0)
    rolled_back = 0
    for host in _fleet(state):
        result = host_result(state, host)
        if result is None:
            counts[NOT_REACHED] += 1
            rows.append((host, _NONE, _NONE, NOT_REACHED, "no"))
            continue
        counts[result.gate] += 1
        rolled_back += result.rolled_back
        rows.append((host, result.from_release or _NONE, result.to_release or _NONE, result.gate, "yes" if result.rolled_back else "no"))
    widths = [max(len(row[column]) for row in (SUMMARY_HEADER, *rows)) for column in range(len(SUMMARY_HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in (SUMMARY_HEADER, *rows)]
    totals = ", ".join(f"{counts[name]} {name}" for name in (GATE_PASSED, GATE_FAILED, GATE_UNREACHABLE, GATE_SKIPPED, NOT_REACHED))
    lines.append(f"{_hosts(len(rows))}: {totals}; {rolled_back} rolled back")
    return lines


def host_reasons(state: RolloutState) -> list[str]:
    """Why hosts failed or were skipped, one line each (the table has no room for it)."""
    return [f"{host}: {result.gate}: {result.reason}" for host, result in state.host_results.items() if result.reason]


def resume_hint(state: RolloutState) -> str | None:
    if state.status == PAUSED_FOR_APPROVAL:
        return (
            "to resume: get the approval, then run the same playbook with -e opsgate_rollout_resume=true "
            f"(same release {state.release_id}, same token {state.token_id}, same hosts)"
        )
    if state.status == PAUSED_FOR_FREEZE:
        return (
            "to resume: after the change freeze, run the same playbook with -e opsgate_rollout_resume=true "
            f"(same release {state.release_id}, same token {state.token_id}, same hosts) while the approved window is open"
        )
    return None


def status_view(state: RolloutState, location: str) -> list[str]:
    """What ``opsgate-rollout status`` prints: where the rollout stands, every host, the last message, how to go on."""
    lines = [
        f"rollout {state.app} / {state.env}: {state.status}",
        f"release:  {state.release_id}",
        f"token id: {state.token_id}",
        f"batch:    {state.batches_done} of {state.batches_total} done",
    ]
    if state.allowed_failures is not None:
        lines.append(f"failed:   {len(state.failed_hosts)} of {state.allowed_failures} allowed")
    lines.append(f"updated:  {state.updated_at}")
    lines.append("")
    lines.extend(summary_table(state))
    reasons = host_reasons(state)
    if reasons:
        lines.append("")
        lines.extend(reasons)
    lines.append("")
    if state.last_progress:
        lines.append(f"last batch: {state.last_progress}")
    lines.append(f"message:  {state.message}")
    hint = resume_hint(state)
    if hint:
        lines.append(hint)
    lines.append(f"state:    {location}")
    return lines
