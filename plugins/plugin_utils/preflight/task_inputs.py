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
    if probes_result is None and isinstance(facts_result, Mapping) and isinstance(facts_result.get("probes"), Mapping):
        # host_facts asked the endpoints in the same run (its ``endpoints`` option).
        return HostInput(name, spec, facts, error, _probes(facts_result["probes"]))
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


def _probes(answers: Any) -> dict[str, dict[str, Any]]:
    """Endpoint name -> probe answer, from the ``probes`` host_facts returns (kept as is in a collected record)."""
    if not isinstance(answers, Mapping):
        return {}
    return {str(key): dict(value) for key, value in answers.items() if isinstance(value, Mapping)}


def collected_record(facts_result: Any, spec_digest: str) -> dict[str, Any]:
    """What preflight_collect keeps of one host's host_facts answer: the facts and probes, or why there are none."""
    facts, error = facts_from_result(facts_result)
    probes = _probes(facts_result.get("probes")) if isinstance(facts_result, Mapping) else {}
    return {"spec_sha256": spec_digest, "facts": facts, "error": error, "probes": probes}


def host_input_from_collected(name: str, spec: dict[str, Any], record: Mapping[str, Any] | None, spec_digest: str) -> HostInput:
    """The engine input from what the host answered to preflight_collect in this run (a record from the state store)."""
    if not isinstance(record, Mapping):
        return HostInput(name, spec, None, "no readiness facts from this host in this run (unreachable, or preflight_collect did not run on it)", {})
    if record.get("spec_sha256") != spec_digest:
        return HostInput(name, spec, None, "the readiness facts of this run were collected for another spec; run the readiness check again", {})
    facts = record.get("facts")
    if not isinstance(facts, Mapping):
        return HostInput(name, spec, None, _short(record.get("error") or "host_facts returned no facts"), {})
    return HostInput(name, spec, copy.deepcopy(dict(facts)), None, _probes(record.get("probes")))
