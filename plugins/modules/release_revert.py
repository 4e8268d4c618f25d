#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_revert
short_description: Undo a failed deploy, or roll back to an earlier good release
version_added: 0.1.0
description:
  - With O(mode=failed), after a failed deploy of O(release_id), it switches C(current) back to the release that was current before,
    restores the backup the stage took before any hook, restarts the previous release and records O(release_id) as C(failed).
    When the release never went live, C(current) is not touched; the backup is still restored when the deploy failed
    after its stage took it (a C(before_switch) hook), and O(release_id) is recorded C(failed).
  - With O(mode=rollback) it goes back to O(target_release_id), or to the last good release before C(current) according to the
    ledger (never by file times). It restores the backup of the listed paths taken when that release was left, switches,
    restarts it and records the release left as C(rolled_back). The caller then checks health and runs
    M(opsgate.release.release_commit) with C(event=rollback). With nothing to roll back to it fails with the reason.
  - The action plugin checks this run's approval receipt for the host first.
author:
  - Opsgate Release Contributors (@opsgate)
extends_documentation_fragment:
  - opsgate.release.release_identity
  - opsgate.release.release_identity.host_check
attributes:
  check_mode:
    support: full
    description: Reports what would be switched and restored.
options:
  mode:
    description: C(failed) to undo a failed deploy of O(release_id), C(rollback) to roll back.
    type: str
    choices: [failed, rollback]
    required: true
  release_id:
    description: With O(mode=failed) the release that failed; with O(mode=rollback) the expected target (ledger entries are written for it).
    type: str
    required: true
  target_release_id:
    description: With O(mode=rollback), a named good release to return to; empty means the last good release before C(current).
    type: str
    default: ""
  note:
    description: Why; recorded in the ledger.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Undo a failed deploy
  opsgate.release.release_revert:
    approval: "{{ release_host_context.approval }}"
    mode: failed
    base_dir: /srv/sample_app
    release_id: 3.0.0-CHG-3-0123456789ab
    app: sample_app
    version: 3.0.0
    artifact_sha256: "{{ release_host_release.artifact_sha256 }}"
    note: health check failed
"""

RETURN = r"""
release_id:
  description: The failed release (mode failed) or the rollback target (mode rollback).
  returned: always
  type: str
reverted_to:
  description: The release switched back to after a failed deploy, if any.
  returned: when mode is failed
  type: str
from_release:
  description: The release that was current before a rollback.
  returned: when mode is rollback
  type: str
restored:
  description: Backed-up paths that differed and were (or would be) restored.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.opsgate.release.plugins.module_utils.release.module_entry import run_module


def main() -> None:
    run_module("release_revert")


if __name__ == "__main__":
    main()
