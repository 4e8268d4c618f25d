#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_pool
short_description: Drain, disable, enable or weigh a batch of haproxy servers in one call
version_added: 0.1.0
description:
  - Talks to haproxy's runtime API over its stats socket (C(stats socket ... level admin)) with C(show servers state),
    C(show stat), C(set server <backend>/<server> state drain|maint|ready), C(set weight) and C(get weight).
  - Acts on every host of O(hosts) in one call and waits for all of them together, not one after another.
  - Returns the backend's servers before and after the call, so a rollback can restore exact weights and states.
  - Every host must be a server of O(backend); a name that is not fails the call before anything changes.
  - "A load balancer that cannot be reached fails with a message naming it, for example
    C(haproxy at /run/haproxy/admin.sock: [Errno 111] Connection refused)."
author:
  - Opsgate Release Contributors (@opsgate)
attributes:
  check_mode:
    support: full
    description: Reads the backend and reports what would change in RV(servers); sends no command that changes it.
  diff_mode:
    support: none
    description: Changes are reported in RV(before) and RV(servers), not as a diff.
  platform:
    support: full
    platforms: posix
    description: The host that can reach the stats socket (usually the load balancer itself), Python 3.9 or newer.
options:
  socket:
    description:
      - The runtime API socket, a unix socket path or C(host:port) for a TCP stats socket.
      - The socket must be at C(level admin).
    type: str
    default: /run/haproxy/admin.sock
  backend:
    description: The backend whose servers are the pool.
    type: str
    required: true
  hosts:
    description:
      - The servers (by their name in the backend, the inventory host names) the call acts on.
      - Empty with O(state=read) reads the whole backend.
    type: list
    elements: str
    default: []
  state:
    description:
      - V(drained) puts the hosts in drain (no new connections), waits until each host's current sessions reach 0 or
        O(drain_timeout) seconds pass, then puts them in maintenance, out of rotation with health checks stopped.
        Hosts still busy at the timeout are listed in RV(drain_timed_out) and a warning; the call does not fail.
      - V(disabled) puts the hosts in maintenance at once, without waiting for their sessions.
      - V(enabled) puts the hosts back in rotation (ready) and, unless O(wait=false), waits up to O(wait_timeout)
        seconds until each is UP per its health checks; fails naming the hosts that are not.
      - V(weights) sets each host's weight from O(weights), reads them back and fails when they differ.
      - V(read) changes nothing.
    type: str
    choices: [drained, disabled, enabled, weights, read]
    default: read
  weights:
    description:
      - With O(state=weights), the weight (0 to 256) of every host in O(hosts), a mapping of host to weight.
    type: dict
  drain_timeout:
    description: Seconds O(state=drained) waits for the hosts' sessions to reach 0.
    type: float
    default: 60
  wait_timeout:
    description: Seconds O(state=enabled) waits for the hosts to be UP.
    type: float
    default: 60
  wait:
    description: Whether O(state=enabled) waits for the hosts to be UP.
    type: bool
    default: true
  poll_interval:
    description: Seconds between two reads of the backend while waiting (a read is one command on the local socket).
    type: float
    default: 0.25
notes:
  - The server names in the backend must be the inventory host names (C(server web1 10.0.0.11:8080 check)).
  - Changes made through the runtime API last until haproxy restarts; a reload keeps them only with C(load-server-state-from-file).
  - O(state=drained) counts sessions as haproxy does (C(scur) of C(show stat)); in C(mode http) an idle keep-alive
    connection between two requests is not a session.
seealso:
  - module: opsgate.release.nginx_pool
  - name: haproxy management guide, runtime API
    description: The commands this module sends.
    link: https://docs.haproxy.org/2.6/management.html#9.3
"""

EXAMPLES = r"""
- name: Drain a batch and take it out of rotation
  opsgate.release.haproxy_pool:
    backend: app
    hosts: [web1, web2]
    state: drained
    drain_timeout: 120
  delegate_to: lb1
  run_once: true
  register: lb

- name: Put the batch back and wait until haproxy's checks see it UP
  opsgate.release.haproxy_pool:
    socket: 10.0.0.5:9999
    backend: app
    hosts: [web1, web2]
    state: enabled

- name: Send about 10% of the requests to web1
  opsgate.release.haproxy_pool:
    backend: app
    hosts: [web1, web2, web3]
    state: weights
    weights: {web1: 2, web2: 9, web3: 9}

- name: Restore the weights read before the change
  opsgate.release.haproxy_pool:
    backend: app
    hosts: "{{ lb.before | list }}"
    state: weights
    weights: "{{ dict(lb.before.keys() | zip(lb.before.values() | map(attribute='weight'))) }}"
"""

RETURN = r"""
servers:
  description:
    - Every server of the backend after the call (in check mode, as the call would leave them).
    - C(admin) is V(ready), V(drain) or V(maint); C(weight) the weight set by the user; C(sessions) the current sessions;
      C(status) haproxy's status text (V(UP), V(DOWN), V(MAINT), V(DRAIN), V(no check), ...).
  returned: success, and on failure once the backend was read
  type: dict
  sample: {"web1": {"admin": "maint", "weight": 1, "sessions": 0, "status": "MAINT"}}
before:
  description: Every server of the backend before the call, in the same shape as RV(servers).
  returned: success, and on failure once the backend was read
  type: dict
  sample: {"web1": {"admin": "ready", "weight": 1, "sessions": 3, "status": "UP"}}
changed_hosts:
  description: The hosts whose state or weight the call changed (or would change, in check mode).
  returned: success
  type: list
  elements: str
  sample: [web1]
drain_timed_out:
  description: With O(state=drained), the hosts that still had sessions when O(drain_timeout) passed.
  returned: when state is drained and not in check mode
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opsgate.release.plugins.module_utils.lb.haproxy_runtime import HaproxyRuntime, apply
from ansible_collections.opsgate.release.plugins.module_utils.lb.pool import STATES, PoolError


def argspec() -> dict:
    return {
        "socket": {"type": "str", "default": "/run/haproxy/admin.sock"},
        "backend": {"type": "str", "required": True},
        "hosts": {"type": "list", "elements": "str", "default": []},
        "state": {"type": "str", "choices": list(STATES), "default": "read"},
        "weights": {"type": "dict"},
        "drain_timeout": {"type": "float", "default": 60},
        "wait_timeout": {"type": "float", "default": 60},
        "wait": {"type": "bool", "default": True},
        "poll_interval": {"type": "float", "default": 0.25},
    }


def main() -> None:
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    params = module.params
    try:
        result = apply(
            HaproxyRuntime(params["socket"]),
            params["backend"],
            params["hosts"],
            params["state"],
            weights=params["weights"],
            drain_timeout=params["drain_timeout"],
            wait_timeout=params["wait_timeout"],
            wait=params["wait"],
            poll_interval=params["poll_interval"],
            check_mode=module.check_mode,
        )
    except PoolError as exc:
        module.fail_json(msg=exc.msg, **exc.result)
    if result.get("drain_timed_out"):
        module.warn(
            "haproxy at {}: still busy after {}s of drain, taken out of rotation anyway: {}".format(
                params["socket"], params["drain_timeout"], ", ".join(result["drain_timed_out"])
            )
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
