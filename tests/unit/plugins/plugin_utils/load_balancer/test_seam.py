# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The load balancer seam maps the role's settings to the kind's module and refuses what it cannot call, naming the field."""

from __future__ import annotations

import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.load_balancer.seam import SeamError, module_call

HAPROXY = {"kind": "haproxy", "host": "lb1", "socket": "/run/haproxy/admin.sock", "backend": "app", "drain_timeout": 30, "wait_timeout": 60,
           "upstream_file": "", "servers": {}, "reload_command": "nginx -s reload", "test_command": "nginx -t", "tasks_file": ""}
NGINX = dict(HAPROXY, kind="nginx", upstream_file="/etc/nginx/opsgate/app.conf", servers={"web1": "10.0.0.11:8080"})


def test_haproxy_gets_its_socket_backend_and_timeouts() -> None:
    module, args = module_call(HAPROXY, "drained", ["web1", "web2"])
    assert module == "opsgate.release.haproxy_pool"
    assert args == {"hosts": ["web1", "web2"], "state": "drained", "drain_timeout": 30.0, "socket": "/run/haproxy/admin.sock", "backend": "app",
                    "wait_timeout": 60.0, "wait": True}
    assert module_call(HAPROXY, "enabled", ["web1"], wait=False)[1]["wait"] is False


def test_nginx_gets_its_upstream_file_commands_and_servers_and_no_haproxy_keys() -> None:
    module, args = module_call(NGINX, "weights", ["web1"], {"web1": 10, "web2": 90})
    assert module == "opsgate.release.nginx_pool"
    assert args == {"hosts": ["web1"], "state": "weights", "drain_timeout": 30.0, "weights": {"web1": 10, "web2": 90},
                    "upstream_file": "/etc/nginx/opsgate/app.conf", "reload_command": "nginx -s reload", "test_command": "nginx -t",
                    "servers": {"web1": "10.0.0.11:8080"}}
    assert "servers" not in module_call(dict(NGINX, servers={}), "read", [])[1]


@pytest.mark.parametrize(
    ("settings", "state", "hosts", "weights", "words"),
    [
        (dict(HAPROXY, kind="tasks"), "drained", ["web1"], None, "settings.kind: must be one of haproxy, nginx for a module call, got 'tasks'"),
        (dict(HAPROXY, kind="none"), "drained", ["web1"], None, "got 'none'"),
        (HAPROXY, "drain", ["web1"], None, "state: must be one of drained, disabled, enabled, weights, read, got 'drain'"),
        (HAPROXY, "drained", "web1", None, "hosts: must be a list of host names, got 'web1'"),
        (HAPROXY, "weights", ["web1"], None, "weights: must map each host to its weight"),
        (HAPROXY, "weights", ["web1", "web2"], {"web1": 3}, "weights: no weight for web2"),
        (dict(HAPROXY, backend=""), "read", [], None, "settings.backend: must be a non-empty string for kind 'haproxy', got ''"),
        (dict(HAPROXY, drain_timeout="30"), "read", [], None, "settings.drain_timeout: must be a number of seconds, 0 or more, got '30'"),
        (dict(HAPROXY, wait_timeout=True), "read", [], None, "settings.wait_timeout: must be a number of seconds, 0 or more, got True"),
        (dict(NGINX, upstream_file=None), "read", [], None, "settings.upstream_file: must be a non-empty string for kind 'nginx', got None"),
    ],
)
def test_what_the_seam_cannot_call_is_refused_naming_the_field(settings, state, hosts, weights, words) -> None:
    with pytest.raises(SeamError) as refused:
        module_call(settings, state, hosts, weights)
    assert words in str(refused.value)
