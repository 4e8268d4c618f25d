#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nginx_pool
short_description: Drain, disable, enable or weigh a batch of nginx upstream servers in one call
version_added: 0.1.0
description:
  - "nginx open source has no runtime API, so this module owns an include file holding the C(server) lines of one
    upstream (C(upstream app { include /etc/nginx/opsgate/app-upstream.conf; })), one line per server, each with a
    comment C(# opsgate: NAME) that maps it back to its inventory name."
  - Writes the file atomically (a temporary file in the same directory, then a rename), runs O(test_command) and,
    when it fails, puts the previous file back and fails with nginx's error; then reloads nginx gracefully with
    O(reload_command), so existing connections finish on the old workers while new ones use the new file.
  - Acts on every host of O(hosts) in one call, with one reload.
  - Returns the pool's servers before and after the call, in the same shape as M(opsgate.release.haproxy_pool).
  - Every host must be in the pool; a name that is not fails the call before anything changes.
author:
  - Opsgate Release Contributors (@opsgate)
attributes:
  check_mode:
    support: full
    description: Reads the file and reports what would change in RV(servers); writes nothing and reloads nothing.
  diff_mode:
    support: none
    description: Changes are reported in RV(before) and RV(servers), not as a diff.
  platform:
    support: full
    platforms: posix
    description: The nginx host itself (Linux, it reads /proc for the workers), Python 3.9 or newer.
options:
  upstream_file:
    description: The include file of the upstream, owned by this module.
    type: path
    required: true
  servers:
    description:
      - The whole pool, a mapping of each name to its C(address:port). Required when O(upstream_file) does not exist yet.
      - When given, the file holds exactly these names afterwards; new names are in rotation at weight 1, existing
        ones keep their weight and state, names not listed are removed.
    type: dict
  hosts:
    description:
      - The servers (inventory host names) the call acts on.
      - Empty with O(state=read) reads the whole pool.
    type: list
    elements: str
    default: []
  state:
    description:
      - V(drained) marks the hosts C(down), reloads nginx and waits until the workers that ran before the reload
        have exited (their connections finished, no worker left "shutting down") or O(drain_timeout) seconds pass.
      - V(disabled) marks the hosts C(down) and reloads, without waiting.
      - V(enabled) removes C(down) and reloads (nginx open source has no active health checks to wait for).
      - V(weights) sets each host's C(weight=) from O(weights) (1 or more), reloads, then reads the file back.
      - V(read) parses the file and changes nothing.
    type: str
    choices: [drained, disabled, enabled, weights, read]
    default: read
  weights:
    description: With O(state=weights), the weight (1 or more) of every host in O(hosts), a mapping of host to weight.
    type: dict
  drain_timeout:
    description: Seconds O(state=drained) waits for the old workers to finish their connections.
    type: float
    default: 60
  reload_command:
    description: The command that reloads nginx gracefully (run without a shell).
    type: str
    default: nginx -s reload
  test_command:
    description: The command that checks nginx's configuration with the new file (run without a shell).
    type: str
    default: nginx -t
  pid_file:
    description: nginx's master pid file; the module fails naming nginx when it names no running process.
    type: path
    default: /run/nginx.pid
notes:
  - Drain in nginx is coarse. A reload replaces every worker, and the old ones wait for all their connections, not
    only those to the drained hosts; a long-lived connection (websocket, streaming, a long download) keeps them until
    it ends or C(worker_shutdown_timeout) passes, and O(state=drained) stops waiting after O(drain_timeout), listing
    the hosts in RV(drain_timed_out). There is no per-server session count (RV(servers) C(sessions) is null).
  - After the reload the module waits up to 30 seconds for the new workers, proof that nginx took the new file.
  - Servers marked C(down) stay in the file, so C(down) on every server leaves nginx answering 502.
seealso:
  - module: opsgate.release.haproxy_pool
  - name: nginx upstream server parameters
    description: C(weight) and C(down).
    link: https://nginx.org/en/docs/http/ngx_http_upstream_module.html#server
"""

EXAMPLES = r"""
- name: Create the pool file (once) and drain a batch
  opsgate.release.nginx_pool:
    upstream_file: /etc/nginx/opsgate/app-upstream.conf
    servers:
      web1: 10.0.0.11:8080
      web2: 10.0.0.12:8080
      web3: 10.0.0.13:8080
    hosts: [web1]
    state: drained
  delegate_to: lb1
  run_once: true
  register: lb

- name: Put the batch back
  opsgate.release.nginx_pool:
    upstream_file: /etc/nginx/opsgate/app-upstream.conf
    hosts: [web1]
    state: enabled

- name: Send about 10% of the requests to web1
  opsgate.release.nginx_pool:
    upstream_file: /etc/nginx/opsgate/app-upstream.conf
    hosts: [web1, web2, web3]
    state: weights
    weights: {web1: 2, web2: 9, web3: 9}
"""

RETURN = r"""
servers:
  description:
    - Every server of the pool after the call (in check mode, as the call would leave them).
    - C(admin) is V(ready) or V(maint) (C(down)); C(weight) the C(weight=); C(sessions) is always null;
      C(status) is V(MAINT) for a C(down) server and V(no check) for one in rotation.
  returned: success, and on failure once the file was read
  type: dict
  sample: {"web1": {"admin": "maint", "weight": 1, "sessions": null, "status": "MAINT"}}
before:
  description: Every server of the pool before the call, in the same shape as RV(servers).
  returned: success, and on failure once the file was read
  type: dict
  sample: {"web1": {"admin": "ready", "weight": 1, "sessions": null, "status": "no check"}}
changed_hosts:
  description: The servers whose state or weight the call changed (or would change, in check mode), new ones included.
  returned: success
  type: list
  elements: str
  sample: [web1]
reloaded:
  description: Whether nginx was reloaded.
  returned: success
  type: bool
drain_timed_out:
  description: With O(state=drained), the hosts when old workers were still running after O(drain_timeout), else empty.
  returned: when state is drained and not in check mode
  type: list
  elements: str
  sample: []
draining_workers:
  description: With O(state=drained), the pids of the old workers still running when the wait ended.
  returned: when state is drained and not in check mode
  type: list
  elements: int
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opsgate.release.plugins.module_utils.lb.nginx_upstream import apply
from ansible_collections.opsgate.release.plugins.module_utils.lb.pool import STATES, PoolError


def argspec() -> dict:
    return {
        "upstream_file": {"type": "path", "required": True},
        "servers": {"type": "dict"},
        "hosts": {"type": "list", "elements": "str", "default": []},
        "state": {"type": "str", "choices": list(STATES), "default": "read"},
        "weights": {"type": "dict"},
        "drain_timeout": {"type": "float", "default": 60},
        "reload_command": {"type": "str", "default": "nginx -s reload"},
        "test_command": {"type": "str", "default": "nginx -t"},
        "pid_file": {"type": "path", "default": "/run/nginx.pid"},
    }


def main() -> None:
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    params = module.params
    try:
        result = apply(
            params["upstream_file"],
            params["hosts"],
            params["state"],
            servers=params["servers"],
            weights=params["weights"],
            drain_timeout=params["drain_timeout"],
            reload_command=params["reload_command"],
            test_command=params["test_command"],
            pid_file=params["pid_file"],
            check_mode=module.check_mode,
        )
    except PoolError as exc:
        module.fail_json(msg=exc.msg, **exc.result)
    if result.get("drain_timed_out"):
        module.warn(
            f"nginx upstream file {params['upstream_file']}: old workers still running after {params['drain_timeout']}s of drain"
            f" (pids {', '.join(str(pid) for pid in result['draining_workers'])}); {', '.join(result['drain_timed_out'])} out of rotation anyway"
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
