#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rollout_plan
short_description: Validate a gray-release plan, cut the hosts into batches and find the resume point, on the controller
version_added: 0.1.0
description:
  - Runs on the controller only (an action plugin); contacts no host and changes nothing.
  - Validates O(rollout) (normally the inventory variable C(opsgate_rollout)), a list of steps in Argo Rollouts' vocabulary
    (C(hosts), C(pause), C(analysis), C(approval)) plus health settings and a fleet failure budget. An error names the key
    path and the value; see docs/gray-release.md.
  - Cuts O(hosts) into batches at each hosts step's cumulative target (percentages round up), canary first, in the order
    given, never an empty batch.
  - Reads the rollout state from the state store the pinned trust root names (SQLite in its C(ledger_dir), or the
    PostgreSQL every controller shares) and returns the first batch this run deploys. A store that cannot be read fails
    the task naming the store, never its password. With O(resume=true) it refuses unless a paused or interrupted rollout of the
    same release, approved by the same token, with the same batches, exists. Without it, it refuses while another rollout
    of the same app and environment is paused or running.
author:
  - Opsgate Release Contributors (@opsgate)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - opsgate.release.controller_action
attributes:
  check_mode:
    support: full
    details: Same work in check mode; it never changes anything.
options:
  rollout:
    description: The rollout plan; see docs/gray-release.md for every key.
    type: dict
    required: true
  hosts:
    description: The hosts to release to, in rollout order. Defaults to the play's hosts after C(--limit) (C(ansible_play_hosts_all)).
    type: list
    elements: str
  app:
    description: The application name; with O(env) it names the rollout state.
    type: str
    required: true
  env:
    description: The environment.
    type: str
    required: true
  release_id:
    description: The release id chosen for this run (opsgate.release.release_manifest).
    type: str
    required: true
  token_id:
    description:
      - The id of the approval token verified in this run (opsgate.release.approval_gate).
      - Give O(approval) instead to take it from this run's approval receipt; one of the two is required.
    type: str
    default: ""
  approval:
    description:
      - This run's approval scope (action, app, version, artifact_sha256, env, system, system_class); the token id then comes
        from the receipt the approval gate wrote in this run for the first host, so no variable can name another token.
    type: dict
  resume:
    description: Continue a rollout that stopped at an approval step (C(opsgate_rollout_resume)).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Plan the batches
  opsgate.release.rollout_plan:
    rollout: "{{ opsgate_rollout }}"
    hosts: "{{ groups['app'] }}"
    app: "{{ opsgate_release.app }}"
    env: "{{ opsgate_release.env }}"
    release_id: "{{ __manifest.release_id }}"
    token_id: "{{ __gate.token_id }}"
    resume: "{{ opsgate_rollout_resume | default(false) }}"
  run_once: true
  register: __rollout
"""

RETURN = r"""
batches:
  description: The batches in order, each with C(number), C(hosts), C(target), C(cumulative) and the C(gates) that follow it.
  returned: success
  type: list
  elements: dict
batches_total:
  description: Number of batches.
  returned: success
  type: int
token_id:
  description: The approval token id the state is bound to.
  returned: success
  type: str
batches_fingerprint:
  description: sha256 over the host split; a resumed rollout must have the same.
  returned: success
  type: str
start_batch:
  description: Index (0-based) into RV(batches) of the first batch this run deploys.
  returned: success
  type: int
hosts_switched:
  description: Hosts switched by the earlier run of a resumed rollout (rolled back too if this run aborts).
  returned: success
  type: list
  elements: str
state_location:
  description: Where this rollout's state is, the store (a file, or C(postgresql://user@host:port/db)) and the row.
  returned: success
  type: str
  sample: /var/lib/opsgate/ledger/state.sqlite3 (rollout_states shop/prod)
health:
  description: The health settings (interval, consecutive_successes, failure_limit, timeout).
  returned: success
  type: dict
failure_budget:
  description: The failure budget as written (a count or a percentage).
  returned: success
  type: str
allowed_failures:
  description: Hosts that may fail without aborting the rollout, for this fleet.
  returned: success
  type: int
error_path:
  description: Key path of the invalid plan value.
  returned: failure
  type: str
"""
