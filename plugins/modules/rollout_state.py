#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rollout_state
short_description: Record a gray release's progress in its controller state, judge batches and analyses
version_added: 0.1.0
description:
  - Runs on the controller only (an action plugin); contacts no host.
  - The state is one JSON document per app and environment, a row of the table C(rollout_states) of the state store the
    trust root pinned on the controller names (SQLite C(<ledger_dir>/state.sqlite3) by default, or a PostgreSQL every
    controller shares, so a rollout paused on one controller resumes on another). No variable can move it.
  - Every event reads, decides and writes in one write transaction, so a killed controller leaves the previous state or the new
    one. A store that cannot be opened, read or written fails the task (RV(state_store_error)), naming the store and the
    error, never a password; the gray_release role then undoes the rollout (docs/gray-release.md).
  - O(event=start) writes a fresh state, or marks the paused state running again when O(resume=true); it refuses like
    M(opsgate.release.rollout_plan) does. It keeps O(batches) and O(allowed_failures) when given, for the progress lines.
  - O(event=batch) records a finished batch. Its hosts not in O(failed_hosts) join C(hosts_switched); the failed ones count
    against the fleet failure budget (O(allowed_failures)) together with those of earlier batches. Every host of the batch
    gets a result (O(host_results)). Returns RV(budget_exceeded) and RV(progress).
  - O(event=status) sets the status (for example C(paused_for_approval), C(rolled_back), C(done)) with a message, marks
    O(rolled_back_hosts), and returns RV(summary).
  - O(event=weights) keeps O(lb_weights_before), the load balancer weights a setWeight step is about to change, so a
    resume on any controller restores them; V({}) forgets them once restored.
  - O(event=analysis) judges the metric bodies of an analysis step (O(rollout), O(step), O(measurements)) with Argo
    Rollouts' semantics and returns RV(verdict); it writes nothing.
  - In check mode nothing is written.
author:
  - Opsgate Release Contributors (@opsgate)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - opsgate.release.controller_action
attributes:
  check_mode:
    support: full
    details: Computes the same results but does not write the state.
options:
  event:
    description: What happened.
    type: str
    required: true
    choices: [start, batch, analysis, status, weights]
  app:
    description: The application; with O(env) it names the state.
    type: str
    required: true
  env:
    description: The environment.
    type: str
    required: true
  release_id:
    description: The release of this run; required for O(event=start), checked against the state otherwise when given.
    type: str
    default: ""
  token_id:
    description: The verified approval token's id (O(event=start)).
    type: str
    default: ""
  batches_fingerprint:
    description: The host split from M(opsgate.release.rollout_plan) (O(event=start)).
    type: str
    default: ""
  batches_total:
    description: Number of batches (O(event=start)).
    type: int
    default: 0
  resume:
    description: Resume the paused rollout instead of starting one (O(event=start)).
    type: bool
    default: false
  batch_hosts:
    description: The hosts of the batch that ended (O(event=batch)).
    type: list
    elements: str
    default: []
  failed_hosts:
    description: The batch's hosts that failed (a gate, the deploy, unreachable) (O(event=batch)).
    type: list
    elements: str
    default: []
  allowed_failures:
    description:
      - Hosts of the fleet that may fail, from M(opsgate.release.rollout_plan) (O(event=batch); kept by O(event=start)).
      - When a batch event omits it, the value the start event kept applies, else V(0).
    type: int
  batches:
    description:
      - The batches as M(opsgate.release.rollout_plan) returns them (its C(batches)), kept in the state
        so each progress line can say what comes next and the summary can list hosts not reached yet (O(event=start)).
      - For display only; their number must equal O(batches_total). A resume that omits them keeps those of the paused run.
    type: list
    elements: dict
  host_results:
    description:
      - Per host of the batch (O(event=batch)), what happened to it. Keys are host names of O(batch_hosts); each value has
        C(gate) (V(passed), V(failed), V(unreachable) or V(skipped); required), C(from_release) and C(to_release)
        (release ids or null), C(reason) (text, may be empty) and optionally C(rolled_back) (bool, default false).
      - A V(failed) or V(unreachable) gate is only for a host in O(failed_hosts), and every host in O(failed_hosts) that has a
        result must have one of those; O(failed_hosts) alone counts against the budget.
      - A host of the batch without a result gets V(failed) when in O(failed_hosts), else V(passed) with the new release.
    type: dict
  rolled_back_hosts:
    description: The hosts an abort rolled back, marked so in the state and the summary (O(event=status)); each must be a host of this rollout.
    type: list
    elements: str
    default: []
  rollout:
    description: The rollout plan (O(event=analysis)).
    type: dict
  step:
    description: Index of the analysis step in the plan's steps (O(event=analysis)).
    type: int
  measurements:
    description: The JSON bodies of the polls, null for a poll without a JSON answer (O(event=analysis)).
    type: list
    elements: raw
    default: []
  status:
    description: The new status (O(event=status)).
    type: str
    choices: [running, paused_for_approval, paused_for_freeze, failed, rolled_back, done]
  message:
    description: Why (O(event=status)).
    type: str
    default: ""
  lb_weights_before:
    description:
      - Host name to the load balancer weight it had before a setWeight step changed it, kept in the state until restored
        (required for O(event=weights); on other events it replaces what the state keeps). V({}) when nothing is to be restored.
      - When omitted (other than O(event=weights)), the state keeps what it has.
    type: dict
"""

EXAMPLES = r"""
- name: Record the batch and judge the failure budget
  opsgate.release.rollout_state:
    event: batch
    app: sample_app
    env: prod
    release_id: "{{ release_host_release.release_id }}"
    batch_hosts: [app2, app3]
    failed_hosts: [app3]
    allowed_failures: 1
    host_results:
      app2: {from_release: 1.9.0-CHG-6-ffffffffffff, to_release: 2.0.0-CHG-7-0123456789ab, gate: passed, reason: ""}
      app3: {from_release: 1.9.0-CHG-6-ffffffffffff, to_release: 2.0.0-CHG-7-0123456789ab, gate: failed, reason: "health gate: 503"}
  run_once: true
  register: __recorded

- name: Say where the rollout stands
  ansible.builtin.debug:
    msg: "{{ __recorded.progress }}"
  run_once: true

- name: Record the rollout as rolled back
  opsgate.release.rollout_state:
    event: status
    app: sample_app
    env: prod
    status: rolled_back
    message: analysis failed after batch 2
    rolled_back_hosts: [app1, app2]
  run_once: true
  register: __aborted

- name: Show every host
  ansible.builtin.debug:
    msg: "{{ __aborted.summary }}"
  run_once: true
"""

RETURN = r"""
state:
  description: The state after the event (release_id, token_id, batches_done, hosts_switched, failed_hosts, status, message, ...).
  returned: success, except for O(event=analysis)
  type: dict
state_location:
  description: Where the state is, the store (a file, or C(postgresql://user@host:port/db)) and the row.
  returned: success, except for O(event=analysis)
  type: str
  sample: /var/lib/opsgate/ledger/state.sqlite3 (rollout_states shop/prod)
state_store_error:
  description: True when the task failed because the state store could not be opened, read or written.
  returned: failure
  type: bool
budget_exceeded:
  description: Whether the failed hosts so far exceed the failure budget.
  returned: O(event=batch)
  type: bool
budget:
  description: The failed hosts and the budget, in words.
  returned: O(event=batch)
  type: str
progress:
  description: One line for a person (also the task's C(msg)).
  returned: O(event=batch)
  type: str
  sample: "batch 2 of 3 done: switched 5 (slot2, slot3, slot4, ...), healthy 5, failed 0, failure budget left 2 of 2; next: pause 30 s, then batch 3 (5 hosts)"
summary:
  description: A fixed-width table of every host of the rollout (host, old release, new release, gate, rolled back), a header and a totals line.
  returned: O(event=status)
  type: list
  elements: str
verdict:
  description: C(success), C(failure), C(inconclusive), or C(running) while fewer measurements than C(count) were given.
  returned: O(event=analysis)
  type: str
reason:
  description: Why, with the values found.
  returned: O(event=analysis)
  type: str
measurements:
  description: Each measurement's verdict and its metrics' values and verdicts.
  returned: O(event=analysis)
  type: list
  elements: dict
"""
