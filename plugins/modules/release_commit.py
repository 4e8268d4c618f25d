#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_commit
short_description: Record a release as good after its health check passed, then apply retention
version_added: 0.1.0
description:
  - Appends C(good) to the host's release ledger for the current release (once; a rerun changes nothing).
  - Removes release directories the ledger allows to go, never C(current) nor the previous good release; keeps the
    newest O(keep_releases) good releases. Failed, rolled-back and unfinished releases are removed; directories the
    ledger does not know are left alone and reported.
  - The action plugin checks this run's approval receipt for the host first.
  - When the signed change document of a deploy or gray release has a C(verify) suite, the action plugin also refuses
    (C(verify_error=RELEASE_VERIFY_NOT_RUN), before anything reaches the host, not in check mode) unless
    M(opsgate.release.release_verify) passed that suite against the host for this release in the same C(ansible-playbook) run.
author:
  - Opsgate Release Contributors (@opsgate)
extends_documentation_fragment:
  - opsgate.release.release_identity
  - opsgate.release.release_identity.host_check
attributes:
  check_mode:
    support: full
    description: Reports what it would record and remove.
options:
  release_id:
    description: The release that passed its health check; must be current.
    type: str
    required: true
  event:
    description: C(deploy) after a deploy, C(rollback) after a rollback (a rollback does not move the release forward in history).
    type: str
    choices: [deploy, rollback]
    default: deploy
  keep_releases:
    description: How many good releases to keep.
    type: int
    default: 3
  note:
    description: Note for the ledger line.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Mark the release good
  opsgate.release.release_commit:
    approval: "{{ release_host_context.approval }}"
    base_dir: /srv/sample_app
    release_id: 1.0.0-CHG-1-0123456789ab
    app: sample_app
    version: 1.0.0
    artifact_sha256: "{{ release_host_release.artifact_sha256 }}"
    keep_releases: 3
"""

RETURN = r"""
state:
  description: The state recorded.
  returned: always
  type: str
  sample: good
removed:
  description: Release directories removed (or that would be) by retention.
  returned: success
  type: list
  elements: str
kept:
  description: Release directories kept.
  returned: success
  type: list
  elements: str
unknown:
  description: Directories in C(releases/) the ledger does not know; left alone.
  returned: success
  type: list
  elements: str
verify_error:
  description: V(RELEASE_VERIFY_NOT_RUN) when the signed change's verify suite did not pass against the host in this run.
  returned: when the step was refused for it
  type: str
"""

from ansible_collections.opsgate.release.plugins.module_utils.release.module_entry import run_module


def main() -> None:
    run_module("release_commit")


if __name__ == "__main__":
    main()
