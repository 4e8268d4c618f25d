#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file holds only the documentation: the work is done on the controller by plugins/action/approval_check.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: approval_check
short_description: Refuse to change a host unless this run's approval gate passed for it
version_added: 0.1.0
description:
  - Runs on the controller for each host. Succeeds only if M(opsgate.release.approval_gate) passed earlier in this same
    C(ansible-playbook) process for the same token and scope, and the host is in the approved host set.
  - Re-verifies the token's signatures and the policy rules (the window as of the gate's verification), then looks for the
    receipt the gate wrote in the state store, bound to this controller and process (host name, pid and start time).
  - No variable can stand in for the receipt, so extra vars, C(--skip-tags) and C(--start-at-task) cannot bypass the gate;
    a receipt from an earlier run never matches.
  - Roles that change hosts put this task first; action plugins that change hosts call C(require_receipt) from
    C(plugins/plugin_utils/approval_run/receipt.py) themselves.
options:
  action:
    description: What the calling role does; must equal the token's C(action) claim.
    type: str
    required: true
    choices: [deploy, gray_release, rollback]
  app:
    description: Must equal the C(app) claim.
    type: str
    required: true
  version:
    description: Must equal the C(version) claim.
    type: str
    required: true
  artifact_sha256:
    description: Must equal the C(artifact_sha256) claim.
    type: str
    required: true
  env:
    description: Must equal the C(env) claim.
    type: str
    required: true
  system:
    description: When given, must equal the C(system) claim.
    type: str
  system_class:
    description: When given, must equal the C(system_class) claim.
    type: str
  token:
    description: The approval token; default is the variable C(opsgate_approval_token) (or C(opsgate_approval_token_file)).
    type: str
  token_file:
    description: Path of a file holding the token.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - opsgate.release.controller_action
attributes:
  check_mode:
    support: full
    details: a receipt written in check mode only allows check-mode runs
seealso:
  - module: opsgate.release.approval_gate
author:
  - Opsgate Release Contributors (@opsgate)
"""

EXAMPLES = r"""
- name: Refuse unless this run's approval gate covered this host
  opsgate.release.approval_check:
    action: deploy
    app: "{{ deploy_app }}"
    version: "{{ deploy_version }}"
    artifact_sha256: "{{ deploy_artifact_sha256 }}"
    env: "{{ deploy_env }}"
  tags: [always]
"""

RETURN = r"""
token_id:
  description: The id of the token the receipt is for.
  returned: success
  type: str
token_sha256:
  description: sha256 of the token string.
  returned: success
  type: str
change_id:
  description: The change the token approves.
  returned: success
  type: str
approval_error:
  description: Stable code of the refusal, for example C(APPROVAL_RECEIPT_MISSING).
  returned: failure
  type: str
"""
