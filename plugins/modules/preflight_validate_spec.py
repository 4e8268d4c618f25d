#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file holds only the documentation: the work is done on the controller by plugins/action/preflight_validate_spec.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: preflight_validate_spec
short_description: Validate the readiness spec of every target host before any host is contacted
version_added: 0.1.0
description:
  - Runs on the controller only. Reads C(opsgate_readiness_spec) of each host in O(hosts) from the inventory (hostvars),
    validates it against the schema described in C(docs/readiness-spec.md) and collects every error.
  - "A malformed spec fails the task with one message listing every problem with its key path and bad value, for example
    C(memory.min_gib: must be a number >= 0 (got 'lots')). Hosts sharing the same group spec are reported together."
  - On success returns the normalised spec (defaults filled in) and the exact C(opsgate.release.host_facts) arguments each
    host needs, so the facts play asks each host only for what its spec checks.
  - The spec must come from the inventory; the task fails if C(opsgate_readiness_spec) is given as an extra var.
options:
  hosts:
    description: Inventory names of the hosts whose specs are validated (usually the target pattern expanded on the controller).
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - opsgate.release.controller_action
attributes:
  check_mode:
    support: full
seealso:
  - module: opsgate.release.preflight_evaluate
  - module: opsgate.release.host_facts
author:
  - Opsgate Release Contributors (@opsgate)
"""

EXAMPLES = r"""
- name: Validate every target's readiness spec
  opsgate.release.preflight_validate_spec:
    hosts: "{{ query('inventory_hostnames', 'core_business') }}"
  register: __preflight_validation
"""

RETURN = r"""
specs:
  description: The normalised spec of each host, defaults filled in.
  returned: success
  type: dict
requests:
  description: Per host, the C(host_facts) arguments (C(host_facts)), whether to check the hostname resolves (C(resolve_hostname))
    and the TCP endpoints to probe from the host (C(endpoints)).
  returned: success
  type: dict
  sample:
    web01:
      host_facts: {gather_subset: [cpu, memory, os, software], software: [gcc, make], sysctl: [], filesystems: [], users: []}
      resolve_hostname: false
      endpoints: [{name: crm-api, host: 10.10.7.20, port: 443, timeout_s: 3}]
errors:
  description: One line per problem, naming the host(s), the key path and the bad value.
  returned: failure
  type: list
  elements: str
  sample: ["host web01: memory.min_gib: must be a number >= 0 (got 'lots')"]
"""
