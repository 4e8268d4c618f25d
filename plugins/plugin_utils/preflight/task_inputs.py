# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Turn what the plays registered per host (host_facts, wait_for, getent results) into engine inputs.

Pure functions over plain dicts, so the action plugins stay thin and this is tested without Ansible.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .evaluation import HostInput

SPEC_VAR = "opsgate_readiness_spec"
_ABSENT = object()


def _short(text: Any, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def facts_from_result(result: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(opsgate_host, None) from a registered host_facts result, or (None, why not)."""
    if not isinstance(result, Mapping):
        return None, "the host_facts task did not run on this host"
    if result.get("unreachable"):
        return None, f"UNREACHABLE: {_short(result.get('msg', 'host unreachable'))}"
    if result.get("skipped"):
        return None, f"the host_facts task was skipped ({_short(result.get('skip_reason', 'no reason given'))})"
    if result.get("failed"):
        return None, f"host_facts failed: {_short(result.get('msg', 'no message'))}"
    facts = (result.get("ansible_facts") or {}).get("opsgate_host")
    if not isinstance(facts, Mapping):
        return None, "host_facts returned no ansible_facts.opsgate_host"
    return copy.deepcopy(dict(facts)), None


def probes_from_result(result: Any) -> dict[str, dict[str, Any]]:
    """Endpoint name -> {reachable, elapsed_ms, error} from a registered ``wait_for`` loop over the endpoints."""
    probes: dict[str, dict[str, Any]] = {}
    if not isinstance(result, Mapping):
        return probes
    for item_result in result.get("results") or []:
        item = item_result.get("item") or {}
        name = item.get("name")
        if not name or item_result.get("skipped"):
            continue
        reachable = not item_result.get("failed") and not item_result.get("unreachable")
        elapsed = item_result.get("elapsed")
        probes[str(name)] = {
            "reachable": bool(reachable),
            "elapsed_ms": round(float(elapsed) * 1000) if isinstance(elapsed, int | float) else None,
            "error": None if reachable else _short(item_result.get("msg", "failed"), 160),
        }
    return probes


def hostname_resolves_from_result(result: Any) -> bool | None:
    """``getent ahosts <hostname>`` on the host: rc 0 means it resolves; None when the probe did not run."""
    if not isinstance(result, Mapping) or result.get("skipped") or "rc" not in result:
        return None
    return result.get("rc") == 0


def host_input(name: str, spec: dict[str, Any], facts_result: Any, probes_result: Any = None, resolve_result: Any = None) -> HostInput:
    facts, error = facts_from_result(facts_result)
    if facts is not None:
        resolves = hostname_resolves_from_result(resolve_result)
        if resolves is not None:
            facts.setdefault("os", {})
            if isinstance(facts["os"], dict):
                facts["os"]["hostname_resolves"] = resolves
    return HostInput(name, spec, facts, error, probes_from_result(probes_result))


def spec_from_extra_vars(extra_var_names: set[str]) -> str | None:
    """An error when the spec comes from ``-e``: the spec is inventory data, reviewed with it; -e could switch checks off."""
    if SPEC_VAR in extra_var_names:
        return f"{SPEC_VAR} must come from the inventory (group_vars/host_vars), not from extra vars (-e)"
    return None


def read_specs(hosts: list[str], hostvars: Any, template: Any) -> dict[str, Any]:
    """Each host's templated spec (None when the host has none)."""
    specs: dict[str, Any] = {}
    for host in hosts:
        variables = hostvars[host]
        specs[host] = template(variables[SPEC_VAR]) if SPEC_VAR in variables else None
    return specs
