#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: load_balancer
short_description: Drain, disable, enable, weigh or read a batch of servers on the configured load balancer
version_added: 0.3.0
description:
  - The gray release's one load balancer task (an action plugin, as M(ansible.builtin.package) is one task for every
    package manager). It runs the module of the kind O(settings) names on the task's host, with the arguments that kind needs
    from O(settings); run it delegated to the load balancer host, once for the batch.
  - V(haproxy) runs M(opsgate.release.haproxy_pool) (runtime API), V(nginx) runs M(opsgate.release.nginx_pool)
    (upstream include file, C(nginx -t), graceful reload). Other kinds (an appliance's own task file) are not
    modules; the role includes their file instead (docs/load-balancers.md).
  - Settings that a kind needs and that are missing or of the wrong type fail the task before anything runs,
    naming the field and the value.
author:
  - Opsgate Release Contributors (@opsgate)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details: The kind's module reads the pool and reports what would change.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
options:
  settings:
    description:
      - The load balancer settings, C(gray_release_lb) over its defaults. V(kind) is V(haproxy) (needs V(socket),
        V(backend), V(drain_timeout), V(wait_timeout)) or V(nginx) (needs V(upstream_file), V(reload_command),
        V(test_command), V(drain_timeout), optional V(servers)).
    type: dict
    required: true
  state:
    description: What to do with O(hosts); see M(opsgate.release.haproxy_pool) for each verb.
    type: str
    required: true
    choices: [drained, disabled, enabled, weights, read]
  hosts:
    description: The servers (inventory host names) of the call; empty with O(state=read) reads the whole pool.
    type: list
    elements: str
    default: []
  weights:
    description: With O(state=weights), the weight of every host in O(hosts).
    type: dict
    default: {}
  wait:
    description: haproxy only; whether O(state=enabled) waits until the hosts are UP.
    type: bool
    default: true
seealso:
  - module: opsgate.release.haproxy_pool
  - module: opsgate.release.nginx_pool
"""

EXAMPLES = r"""
- name: Drain the batch on whatever load balancer the inventory names
  opsgate.release.load_balancer:
    settings: "{{ gray_release_lb_settings }}"
    state: drained
    hosts: [web1, web2]
  delegate_to: "{{ gray_release_lb_settings.host }}"
  run_once: true
"""

RETURN = r"""
servers:
  description: The pool's servers after the call, per host name (C(admin), C(status), C(weight), C(sessions)).
  returned: success
  type: dict
before:
  description: The same, before the call.
  returned: success
  type: dict
load_balancer:
  description: Which kind ran, on which host (for example V(haproxy on lb1)).
  returned: when the kind's module ran
  type: str
"""
