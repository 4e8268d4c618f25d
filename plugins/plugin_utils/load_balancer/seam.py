# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The gray release's load balancer seam: which module a kind runs, with which arguments.

One place maps the role's settings (``gray_release_lb`` over its defaults) and a verb (drained, disabled,
enabled, weights, read) to the module of that kind, so the role calls every load balancer with one task.
Kinds without a module here (``tasks``, an appliance's own task file) are included by the role instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MODULES = {"haproxy": "opsgate.release.haproxy_pool", "nginx": "opsgate.release.nginx_pool"}
STATES = ("drained", "disabled", "enabled", "weights", "read")


class SeamError(ValueError):
    """A call the seam cannot make; the message names the field and the value."""


def _text(settings: Mapping[str, Any], key: str) -> str:
    value = settings.get(key)
    if not isinstance(value, str) or not value:
        raise SeamError(f"settings.{key}: must be a non-empty string for kind {settings.get('kind')!r}, got {value!r}")
    return value


def _number(settings: Mapping[str, Any], key: str) -> float:
    value = settings.get(key)
    # bool is an int in Python; a true/false timeout is a typing slip, not one second.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise SeamError(f"settings.{key}: must be a number of seconds, 0 or more, got {value!r}")
    return float(value)


def module_call(
    settings: Mapping[str, Any], state: str, hosts: Sequence[str], weights: Mapping[str, Any] | None = None, wait: bool = True
) -> tuple[str, dict[str, Any]]:
    """The module and its arguments for ``state`` on ``hosts``; raises SeamError before anything runs."""
    kind = settings.get("kind")
    if kind not in MODULES:
        raise SeamError(f"settings.kind: must be one of {', '.join(sorted(MODULES))} for a module call, got {kind!r}")
    if state not in STATES:
        raise SeamError(f"state: must be one of {', '.join(STATES)}, got {state!r}")
    if isinstance(hosts, (str, bytes)) or not all(isinstance(host, str) and host for host in hosts):
        raise SeamError(f"hosts: must be a list of host names, got {hosts!r}")
    if state == "weights":
        if not weights:
            raise SeamError("weights: must map each host to its weight for state weights, got nothing")
        missing = [host for host in hosts if host not in weights]
        if missing:
            raise SeamError(f"weights: no weight for {', '.join(missing)}")
    args: dict[str, Any] = {"hosts": list(hosts), "state": state, "drain_timeout": _number(settings, "drain_timeout")}
    if state == "weights":
        args["weights"] = dict(weights or {})
    if kind == "haproxy":
        args.update(
            socket=_text(settings, "socket"),
            backend=_text(settings, "backend"),
            wait_timeout=_number(settings, "wait_timeout"),
            wait=bool(wait),
        )
    else:
        args.update(
            upstream_file=_text(settings, "upstream_file"),
            reload_command=_text(settings, "reload_command"),
            test_command=_text(settings, "test_command"),
        )
        if settings.get("servers"):
            args["servers"] = dict(settings["servers"])
    return MODULES[kind], args
