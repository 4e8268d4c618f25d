#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file holds only the documentation: the work is done on the controller by plugins/action/approval_gate.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: approval_gate
short_description: Verify and consume a multi-party approval token before any host is touched
version_added: 0.1.0
description:
  - Runs on the controller only. Verifies the approval token against the approval policy that the policy administrators signed,
    checked against the trust root pinned on the controller (C(/etc/opsgate/trust.json) or C(OPSGATE_TRUST_ROOT)), never a policy from variables,
    checks that it approves exactly this run (action, app, version, artifact digest, environment, host set after C(--limit)),
    that its C(system_class) is the class the signed policy's C(host_classes) give those hosts (the strictest of them),
    records it as consumed in the token ledger and leaves a receipt bound to this C(ansible-playbook) process.
  - Checks, in order, each failing with its own stable code (see docs/approvals.md) - the token decodes; the claims are well formed;
    every signature is by a distinct, current approver key and verifies; no person signed twice; the requester did not sign;
    every role the system class needs reached its threshold; now is inside the window; no signature's own C(signed_at) is before
    the plan, before the request (approvers) or in the future; the plan was filed at least
    C(min_lead_working_days) working days before the window (weekends and listed holidays do not count), counted from no earlier
    than the first signature minus C(plan_filed_slack_hours); every scope claim
    equals this run; the token was not consumed by another run, or this is the unfinished run that consumed it (resume).
  - The token is read from O(token) or O(token_file), else from the variables C(opsgate_approval_token) (the token, or C(@path))
    or C(opsgate_approval_token_file). It never appears in the result; the result carries its id and sha256.
  - A policy in the variable C(opsgate_approval_policy) is refused; C(opsgate_approval_policy_file) may name the signed policy file.
  - In check mode the token is verified but not consumed, and the receipt only allows check-mode changes.
  - Host-changing tasks call M(opsgate.release.approval_check) (or the receipt check in their own action plugin), so
    skipping this task with C(--skip-tags) or C(--start-at-task) stops them too.
options:
  action:
    description:
      - What this run does; must equal the token's C(action) claim.
      - When the task belongs to the role M(opsgate.release.approval_gate) included by the C(deploy), C(gray_release) or C(rollback) role,
        the action is that role's and any other value is refused before the token is consumed.
    type: str
    required: true
    choices: [deploy, gray_release, rollback]
  app:
    description: The application this run deploys; must equal the C(app) claim.
    type: str
    required: true
  version:
    description: The version this run deploys; must equal the C(version) claim.
    type: str
    required: true
  artifact_sha256:
    description: sha256 of the artifact this run deploys; must equal the C(artifact_sha256) claim.
    type: str
    required: true
  env:
    description: The environment, for example C(prod); must equal the C(env) claim.
    type: str
    required: true
  run_id:
    description:
      - Identifies this run in the consumption ledger. A rerun with the same run id may resume with the same token; any other use is refused.
      - Default is an id unique to this C(ansible-playbook) process, so a new run needs a new token.
      - A resume also needs the same token, the same O(fingerprint), no O(finish) recorded for it, no later change of the same app and
        environment on any of its hosts, and a run that is not held - it was released (O(release), any controller may then resume it), or it
        was held on this controller by a process that has ended. A run held by a live process, or by an unreleased one on another
        controller, is refused naming that controller and pid.
    type: str
  fingerprint:
    description: The release (and, for a gray release, its batches) this run applies; a resume must give the same.
    type: str
    default: ""
  finish:
    description:
      - Instead of verifying, record that the run which passed the gate in this C(ansible-playbook) process ended with this outcome.
        The token can then never be resumed.
    type: str
    choices: [succeeded, failed, rolled_back]
  release:
    description:
      - Instead of verifying, record that the run which passed the gate in this C(ansible-playbook) process stopped resumably
        (a gray release paused for an approval or a change freeze), so that any controller of the state store may resume it.
        A finished run is never released.
    type: bool
    default: false
  check_freeze:
    description:
      - Instead of verifying, report whether a change freeze of the approval policy, as signed now, covers this run's change at this
        moment (RV(frozen)). The gray release asks before every batch. Needs the receipt of this run's gate.
    type: bool
    default: false
  token:
    description: The approval token. Prefer the variable C(opsgate_approval_token) from C(-e @token.json) or an AWX credential.
    type: str
  token_file:
    description: Path of a file holding the token (raw, or the JSON written by C(opsgate-approval sign --format vars)).
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - opsgate.release.controller_action
attributes:
  check_mode:
    support: full
    details: verifies without consuming the token
notes:
  - The hosts are always the play's hosts after C(--limit) (C(ansible_play_hosts_all), which Ansible sets after the extra vars);
    there is no option to name other hosts, a system or a system class.
  - Run it once per play, before any task that touches a host (the role M(opsgate.release.approval_gate) does so with C(run_once) and C(any_errors_fatal)).
  - The token ledger and the receipts live in the state store the pinned trust root names (C(state_store)) - SQLite in its C(ledger_dir)
    by default, or a PostgreSQL that several controllers share. A store that cannot be reached or written refuses the run before any host
    is touched (C(APPROVAL_STATE_STORE_ERROR)).
  - The task never reports C(changed), since it changes no host; RV(consumed) and RV(resumed) say what it recorded.
seealso:
  - module: opsgate.release.approval_check
author:
  - Opsgate Release Contributors (@opsgate)
"""

EXAMPLES = r"""
- name: Verify the change approval before any host is touched
  opsgate.release.approval_gate:
    action: deploy
    app: accounts-api
    version: 1.4.2
    artifact_sha256: "{{ release_artifact_sha256 }}"
    env: prod
  run_once: true
  any_errors_fatal: true
"""

RETURN = r"""
token_id:
  description: The id of the verified token.
  returned: success
  type: str
  sample: apv-4bb6182e6a31f45b
token_sha256:
  description: sha256 of the token string; what logs and archives record instead of the token.
  returned: success
  type: str
change_id:
  description: The change the token approves.
  returned: success
  type: str
  sample: CHG-2025-0117
action:
  description: The action the token approves and the gate verified.
  returned: success
  type: str
  sample: deploy
system_class:
  description: The system class whose policy applied.
  returned: success
  type: str
signer_roles:
  description: The roles that signed.
  returned: success
  type: list
  elements: str
  sample: [business_head, it_head, ops_director, risk_compliance]
signers:
  description: Key id, owner, role and C(signed_at) (the signer's time) of every approver's signature.
  returned: success
  type: list
  elements: dict
hosts:
  description: The approved host set.
  returned: success
  type: list
  elements: str
not_after:
  description: End of the approved window (UTC).
  returned: success
  type: str
lead_working_days:
  description: Working days between filing the plan (as counted from the signers' times) and the window.
  returned: success
  type: int
requested_by:
  description: The requester, proven by the signature of their C(requester) key.
  returned: success
  type: str
frozen:
  description: With O(check_freeze), whether a freeze covers the change now.
  returned: when O(check_freeze=true)
  type: bool
freeze:
  description: With O(check_freeze), the freeze in force (name, span, what it covers, reason), or empty.
  returned: when O(check_freeze=true)
  type: str
policy_version:
  description: Version of the signed approval policy that applied.
  returned: success
  type: int
run_id:
  description: The run id recorded in the ledger.
  returned: success
  type: str
consumed:
  description: Whether the token is recorded as used (false in check mode).
  returned: success
  type: bool
resumed:
  description: Whether this run resumed a token it had consumed before.
  returned: success
  type: bool
released:
  description: With O(release), that the run let go of its token for a resume on any controller.
  returned: when O(release=true)
  type: bool
approval_error:
  description: Stable code of the unmet condition, for example C(APPROVAL_EXPIRED).
  returned: failure
  type: str
  sample: APPROVAL_ROLE_MISSING
"""
