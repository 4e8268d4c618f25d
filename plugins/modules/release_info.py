#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_info
short_description: Read a host's releases, ledger and rollback target
version_added: 0.1.0
description:
  - Reads C(<base_dir>/current), the release directories and the release ledger; changes nothing.
  - Names the rollback target (the last good release before C(current) in the ledger, or O(target_release_id)) or,
    when there is none, the reason.
author:
  - Opsgate Release Contributors (@opsgate)
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Changes are reported in the return values, not as a diff.
  platform:
    support: full
    platforms: posix
    description: Linux and other POSIX hosts with Python 3.9 or newer; systemd only for releases whose service type is systemd.
options:
  base_dir:
    description: Base directory of the application.
    type: path
    required: true
  target_release_id:
    description: A named release to evaluate as rollback target instead of the default.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Read the release ledger
  opsgate.release.release_info:
    base_dir: /srv/sample_app
  register: releases
"""

RETURN = r"""
current:
  description: Release id C(current) points at, or null.
  returned: always
  type: str
current_state:
  description: Ledger state of the current release.
  returned: always
  type: str
current_marker:
  description: The stored description of the current release (version, digest, service, health).
  returned: always
  type: dict
releases:
  description: Every release the ledger knows, with state, version, change id, presence.
  returned: always
  type: list
  elements: dict
present:
  description: Complete release directories on the host.
  returned: always
  type: list
  elements: str
interrupted:
  description: Releases left C(deploying) by a run that did not finish.
  returned: always
  type: list
  elements: str
ledger:
  description: All ledger entries, oldest first.
  returned: always
  type: list
  elements: dict
rollback_target:
  description: The rollback target (release_id, version, artifact_sha256, marker), or null.
  returned: always
  type: dict
rollback_refusal:
  description: Why there is no rollback target, or null.
  returned: always
  type: str
rolled_back_from:
  description:
    - While C(current) is good by a rollback, the release that rollback left (the C(rolled_back) line whose C(previous)
      is C(current)); else null. The rollback role reads it to name the release whose database migrations it puts back
      when a host is back already.
  returned: always
  type: str
"""

from ansible_collections.opsgate.release.plugins.module_utils.release.module_entry import run_module


def main() -> None:
    run_module("release_info")


if __name__ == "__main__":
    main()
