#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_switch
short_description: Switch C(current) atomically to a staged release and restart the service
version_added: 0.1.0
description:
  - Runs the O(before_switch) hooks, writes the absolute config files, points C(current) at the release with a
    temporary link and C(rename(2)), records the switch in the ledger and restarts the service stored with the release
    (a systemd unit, or a plain start/stop command without systemd or root).
  - The backup of C(backup_paths) and of the absolute config files is taken by M(opsgate.release.release_stage) of the
    same deploy, before any hook; without it (the release's last ledger line is not that stage) the switch refuses
    before running a hook.
  - Does nothing when the release is already current, good and running with the same config (idempotent rerun).
  - With O(then_health) the same call then holds the release to its health check (the code of
    M(opsgate.release.release_health)), and with O(then_commit) records it as good when the check passed (the code of
    M(opsgate.release.release_commit), verified on the host as that step). One module run instead of three; a failure
    says which step failed in RV(failed_step), so the caller puts the host back.
  - The action plugin checks this run's approval receipt for the host first, and for O(then_commit) also what
    M(opsgate.release.release_commit)'s action plugin checks (the commit's arguments against the signed change, and
    the verification suite's receipt when the change has one).
author:
  - Opsgate Release Contributors (@opsgate)
extends_documentation_fragment:
  - opsgate.release.release_identity
  - opsgate.release.release_identity.host_check
attributes:
  check_mode:
    support: full
    description: Reports whether it would switch and restart; changes nothing.
options:
  release_id:
    description: The staged release to switch to.
    type: str
    required: true
  config_files:
    description: Rendered config files; only those with an absolute C(dest) are written here (the stage backed them up).
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: Destination path.
        type: str
        required: true
      content:
        description: Rendered content; never shown in output (no_log).
        type: str
        required: true
      mode:
        description: Mode of the file (default O(config_mode)).
        type: raw
  config_mode:
    description: Mode of config files without their own.
    type: raw
    default: "0640"
  before_switch:
    description: Commands run in the release directory before the switch (after the stage's backup); a failure stops before anything switched.
    type: list
    elements: str
    default: []
  then_health:
    description: After the restart, hold the release to its health check here (not in check mode).
    type: dict
    suboptions:
      health:
        description: The manifest's C(health) as the manifest check normalized it.
        type: dict
        required: true
      version:
        description: The version C(health.version_field) must report.
        type: str
        default: ""
      label:
        description: What is checked, for the message.
        type: str
        default: the release
      gate:
        description: A rollout plan's gate (as M(opsgate.release.release_health)'s O(opsgate.release.release_health#module:gate)).
        type: dict
        suboptions:
          consecutive_successes:
            description: Good probes in a row that pass the gate.
            type: int
            default: 1
          failure_limit:
            description: Failed probes allowed; one more fails the gate.
            type: int
            default: 0
          interval:
            description: Seconds between probes.
            type: float
            default: 2
          timeout:
            description: Seconds for the whole gate; V(0) for no limit but the failure limit.
            type: float
            default: 0
      wait_for_start:
        description: With O(then_health.gate), first the manifest's retries until the release answers well once.
        type: bool
        default: false
  then_commit:
    description:
      - After O(then_health) passed, record the release as good and apply retention. Needs O(then_health).
      - Refused before the host is touched when the signed change has a verification suite (it runs between the health
        check and the commit, so such a release is committed by M(opsgate.release.release_commit)).
    type: dict
    suboptions:
      keep_releases:
        description: Releases to keep, as the signed change says.
        type: int
        default: 3
"""

EXAMPLES = r"""
- name: Switch to the staged release
  opsgate.release.release_switch:
    approval: "{{ release_host_context.approval }}"
    base_dir: /srv/sample_app
    release_id: 1.0.0-CHG-1-0123456789ab
    app: sample_app
    version: 1.0.0
    artifact_sha256: "{{ release_host_release.artifact_sha256 }}"
"""

RETURN = r"""
previous:
  description: The release C(current) pointed at before.
  returned: always
  type: str
switched:
  description: Whether C(current) was (or would be) switched.
  returned: always
  type: bool
restarted:
  description: Whether the service was (or would be) restarted.
  returned: always
  type: bool
backup_dir:
  description: The backup the stage took for this release (restored if the deploy fails).
  returned: when switched
  type: str
configs_written:
  description: Absolute config files that were (or would be) written.
  returned: always
  type: list
  elements: str
health:
  description: The health check's answer (passed, verdict, probes, failures, last_status, last_excerpt, health_gate).
  returned: with then_health, when it ran
  type: dict
committed:
  description: Whether the release was recorded as good in this call.
  returned: with then_health or then_commit
  type: bool
commit:
  description: The commit's result (as M(opsgate.release.release_commit) returns it).
  returned: when committed
  type: dict
failed_step:
  description: Which step of the call failed, V(health), V(gate) (a rollout plan's rule) or V(commit).
  returned: when a follow-up step failed
  type: str
"""

from ansible_collections.opsgate.release.plugins.module_utils.release.module_entry import run_module


def main() -> None:
    run_module("release_switch")


if __name__ == "__main__":
    main()
