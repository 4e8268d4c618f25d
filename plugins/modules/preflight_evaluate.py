#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file holds only the documentation: the work is done on the controller by plugins/action/preflight_evaluate.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: preflight_evaluate
short_description: Evaluate every host against its readiness spec and write the fleet readiness reports
version_added: 0.1.0
description:
  - Runs once on the controller. For each host in O(hosts) reads its spec (C(opsgate_readiness_spec)), the registered
    C(opsgate.release.host_facts) result (O(facts_var)), the registered endpoint probes (O(probes_var)) and hostname
    resolution probe (O(resolve_var)), then runs every check (hardware, environment, network, security, custom, cross-host),
    applies severities and waivers, and decides per host whether it is ready.
  - Every check runs before anything is reported; a host whose facts could not be collected gets the never-waivable
    check C(facts.collected) failed.
  - Writes C(readiness.json), C(hosts/<host>.json), C(readiness.md), C(readiness.html) and C(junit.xml) into O(report_dir).
  - With O(fail_mode=run) the task fails when any host is not ready; with O(fail_mode=hosts) it succeeds and returns C(hosts)
    so a later task can fail the not-ready hosts only (the role does).
options:
  hosts:
    description: Inventory names of the hosts to evaluate.
    type: list
    elements: str
    required: true
  facts_var:
    description:
      - Name of the host variable holding the registered C(host_facts) result (with its C(probes) when it was asked the
        spec's endpoints).
      - Not with O(readiness_gate), which evaluates only what the hosts answered to M(opsgate.release.preflight_collect).
    type: str
    default: __preflight_host_facts
  probes_var:
    description:
      - Name of the host variable holding a registered C(ansible.builtin.wait_for) loop over the spec's endpoints, when
        C(host_facts) was not asked them. Not with O(readiness_gate).
    type: str
    default: __preflight_probes
  resolve_var:
    description:
      - Name of the host variable holding a registered C(getent ahosts) result, when C(host_facts) was not asked
        (C(resolve_hostname)). Not with O(readiness_gate).
    type: str
    default: __preflight_resolve
  report_dir:
    description: Directory for the reports, relative to the directory C(ansible-playbook) runs in.
    type: path
    default: reports
  fail_mode:
    description: C(run) fails this task (the whole run) when a host is not ready; C(hosts) leaves failing the hosts to the caller.
    type: str
    default: hosts
    choices: [hosts, run]
  readiness_gate:
    description:
      - Readiness as the precondition of a deploy, gray release or rollback (the C(preflight) role's C(readiness) entry
        point). The hosts are the play's, the signed policy decides whether the checks run for the token's class, each
        host's facts are what it answered to M(opsgate.release.preflight_collect) in this run (never a variable), a host
        that is not ready fails the task, and a passed check leaves the readiness receipt the approval gate requires.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - opsgate.release.controller_action
attributes:
  check_mode:
    support: full
    details: the reports are written in check mode too; they change nothing on any host
seealso:
  - module: opsgate.release.preflight_validate_spec
  - module: opsgate.release.host_facts
author:
  - Opsgate Release Contributors (@opsgate)
"""

EXAMPLES = r"""
- name: Evaluate and report
  opsgate.release.preflight_evaluate:
    hosts: "{{ query('inventory_hostnames', 'all') }}"
    report_dir: reports
    fail_mode: hosts
  register: __preflight_verdict
"""

RETURN = r"""
ready:
  description: Whether every host is ready.
  returned: success
  type: bool
hosts:
  description: Per host, C({ready}).
  returned: success
  type: dict
  sample: {web01: {ready: true}, db01: {ready: false}}
not_ready:
  description: Names of the hosts that are not ready.
  returned: success
  type: list
  elements: str
summary:
  description: The C(summary) object of C(readiness.json) (counts per status, expired and unused waivers, classes).
  returned: success
  type: dict
summary_table:
  description: Plain-text table, one line per host, worst first.
  returned: success
  type: str
reports:
  description: Paths of the written reports (C(json), C(markdown), C(html), C(junit), C(hosts)).
  returned: success
  type: dict
report_dir:
  description: Absolute path of the report directory.
  returned: success
  type: str
"""
