#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_change
short_description: Build the change document of a deploy, gray release or rollback on the controller
version_added: 0.3.0
description:
  - Runs on the controller only (an action plugin); contacts no host and changes nothing, except the file O(out).
  - For the play's hosts (after C(--limit)), takes each host's release step inputs from the variable O(inputs_var) and the
    address it is reached at (C(ansible_host), else its name), and builds one document under one sha256 - app, version,
    change id, environment, action, every artifact digest, the sha256 of every rendered config file and service unit,
    hooks, service, health check, backup paths, owner, group, modes, retention, the rollout plan, and the release's
    migration steps, verify suite and documents (by their digests).
  - The approval token signs that sha256 (claim C(change_sha256), C(opsgate-approval request --change FILE)); the gate,
    every release step and every host with a pinned trust root compare what they do with it (docs/approvals.md,
    "The change document").
author:
  - Opsgate Release Contributors (@opsgate)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - opsgate.release.controller_action
attributes:
  check_mode:
    support: full
    details: Builds the document; does not write O(out).
options:
  action:
    description: deploy, gray_release or rollback.
    type: str
    required: true
    choices: [deploy, gray_release, rollback]
  app:
    description: Application name.
    type: str
    required: true
  version:
    description: Version being deployed (or rolled back to).
    type: str
    required: true
  artifact_sha256:
    description: The release digest.
    type: str
    required: true
  change_id:
    description: The change id.
    type: str
    required: true
  env:
    description: The environment.
    type: str
    required: true
  inputs_var:
    description: Name of the per-host variable holding that host's release step inputs.
    type: str
    required: true
  rollout:
    description: The rollout plan of a gray release, or null.
    type: raw
  migrations:
    description:
      - The release's database migrations as M(opsgate.release.release_manifest) returns them (C(release.migrations)); empty or
        omitted for none.
      - The document keeps the database and each step's id, phase, sha256 and the down file's sha256, never a file path.
    type: dict
  verify:
    description:
      - The release's verify suite (C(release.verify)); empty or omitted for none.
      - The document keeps the suite's sha256, its file name and the timeout.
    type: dict
  documents:
    description: The documents handed over with the release (C(release.documents)), each with its kind, title, location and sha256.
    type: list
    elements: dict
  out:
    description:
      - Also write the document (JSON) to this controller file.
      - With O(running_var), also what each host runs now to C(<out>.running.json) (not part of the document, never signed);
        without it, an earlier C(<out>.running.json) is removed.
    type: path
  running_var:
    description:
      - Name of the per-host variable holding that host's registered M(opsgate.release.release_info) result, read for the approvers.
      - Gives each host's current release (id, ledger state, and the marker's version, digests, config file digests, service and
        health check), compared with the document in RV(summary) and written next to O(out). A host whose result failed is shown
        as unknown.
    type: str
"""

EXAMPLES = r"""
- name: Build the change document the approvers sign
  opsgate.release.release_change:
    action: deploy
    app: "{{ release_host_release.app }}"
    version: "{{ release_host_release.version }}"
    artifact_sha256: "{{ release_host_release.artifact_sha256 }}"
    change_id: "{{ release_host_release.change_id }}"
    env: prod
    inputs_var: release_host_step_inputs
    out: /tmp/change.json
  run_once: true
"""

RETURN = r"""
change:
  description: The change document.
  type: dict
  returned: success
change_sha256:
  description: Its sha256 (canonical JSON), the value of the token's C(change_sha256) claim.
  type: str
  returned: success
summary:
  description: The document in lines an approver reads; with O(running_var), what differs from each host's current release after it.
  type: list
  elements: str
  returned: success
"""
