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
  - The action plugin checks this run's approval receipt for the host first.
author:
  - Opsgate Release Contributors (@opsgate)
extends_documentation_fragment:
  - opsgate.release.release_identity
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
"""

from ansible_collections.opsgate.release.plugins.module_utils.release.module_entry import run_module


def main() -> None:
    run_module("release_switch")


if __name__ == "__main__":
    main()
