#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file holds only the documentation: the work is done by plugins/action/preflight_collect.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: preflight_collect
short_description: Collect one host's readiness facts for the readiness gate of a change run
version_added: 0.3.0
description:
  - Runs on each target host of a deploy, gray release or rollback, before the readiness gate. From the host's
    C(opsgate_readiness_spec) it makes the request itself (the subsets and names the checks read, whether the hostname
    must resolve, the TCP endpoints to probe) and asks the host in one M(opsgate.release.host_facts) run.
  - The answer is kept in this C(ansible-playbook) process's receipts in the state store.
    M(opsgate.release.preflight_evaluate) with O(opsgate.release.preflight_evaluate#module:readiness_gate=true) evaluates
    only those, so no variable, registered result or wrapper playbook can make a host look ready.
  - A host that cannot be reached leaves no answer, and the gate finds it not ready.
author:
  - Opsgate Release Contributors (@opsgate)
attributes:
  check_mode:
    support: full
    description: Only reads; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing on the host.
options:
  release_base_dir:
    description:
      - Also read which release the host runs under this base directory, in the same M(opsgate.release.host_facts) run,
        into RV(running_release). It is for the run's record (the operations archive's release before each host) and
        plays no part in readiness.
      - Empty reads nothing.
    type: path
    default: ""
notes:
  - Needs the signed approval policy and the state store the pinned trust root names; without them the run is refused by the
    approval gate anyway, and this task fails saying why.
seealso:
  - module: opsgate.release.host_facts
  - module: opsgate.release.preflight_evaluate
"""

EXAMPLES = r"""
- name: Collect readiness facts (one host_facts run per host)
  opsgate.release.preflight_collect:

- name: Collect readiness facts and the release each host runs, for the run's record
  opsgate.release.preflight_collect:
    release_base_dir: /srv/sample_app
"""

RETURN = r"""
collected:
  description: Whether the host answered with facts.
  returned: always
  type: bool
error:
  description: Why there are no facts (the module's failure), or null.
  returned: always
  type: str
gather_subset:
  description: The subsets asked for.
  returned: always
  type: list
  elements: str
probes:
  description: Per endpoint of the spec whether the host reached it, after how many milliseconds, and the error.
  returned: always
  type: dict
running_release:
  description:
    - With O(release_base_dir), what the host runs there (C(current), C(version), C(state), C(error)) as
      M(opsgate.release.host_facts) read it; null without it or when the host did not answer.
  returned: always
  type: dict
"""
