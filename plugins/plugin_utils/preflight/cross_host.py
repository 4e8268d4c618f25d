# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks across the play's hosts: unique hostnames, machine ids and addresses; homogeneity inside a group."""

from __future__ import annotations

import collections
import functools
import re
import statistics
from typing import Any

from . import facts_view
from .check_result import CheckResult, compare
from .checks.common import gib, listing, missing
from .libraries import netaddr, require_netaddr


@functools.cache
def _link_local() -> tuple[netaddr.IPNetwork, ...]:
    """Link-local and loopback addresses repeat on every host: they are left out of the uniqueness check."""
    return (netaddr.IPNetwork("169.254.0.0/16"), netaddr.IPNetwork("fe80::/10"), netaddr.IPNetwork("127.0.0.0/8"), netaddr.IPNetwork("::1/128"))


def _addresses(facts: dict[str, Any]) -> list[str] | None:
    if facts.get("nics") is None:
        return None
    require_netaddr()
    found = []
    for _nic, address in facts_view.host_addresses(facts):
        try:
            ip = netaddr.IPAddress(address)
        except (netaddr.AddrFormatError, ValueError):
            continue
        if not any(ip in n for n in _link_local()):
            found.append(str(ip))
    return found


def _unique(facts_by_host: dict[str, dict[str, Any]], specs: dict[str, dict[str, Any]]) -> dict[str, list[CheckResult]]:
    values: dict[str, dict[str, list[str] | None]] = {"hostname": {}, "machine_id": {}, "addresses": {}}
    for host, facts in facts_by_host.items():
        for key in ("hostname", "machine_id"):
            value = facts_view.os_value(facts, key)
            values[key][host] = None if value in (None, "") else [str(value).lower() if key == "hostname" else str(value)]
        values["addresses"][host] = _addresses(facts)
    owners: dict[str, dict[str, list[str]]] = {key: collections.defaultdict(list) for key in values}
    for key, per_host in values.items():
        for host, items in per_host.items():
            for item in set(items or []):
                owners[key][item].append(host)
    results: dict[str, list[CheckResult]] = collections.defaultdict(list)
    nouns = {"hostname": "hostname", "machine_id": "machine id", "addresses": "address"}
    for host in facts_by_host:
        for key in specs[host].get("cross_host", {}).get("unique", []):
            check_id = f"fleet.unique.{key}"
            mine = values[key][host]
            if mine is None:
                results[host].append(missing(check_id, f"a {nouns[key]} unique in the fleet", key if key == "addresses" else f"os.{key}"))
                continue
            clashes = sorted(
                f"{item} also on {', '.join(sorted(h for h in owners[key][item] if h != host))}" for item in set(mine) if len(owners[key][item]) > 1
            )
            shown = ", ".join(mine) if mine else "none"
            results[host].append(
                compare(
                    check_id,
                    not clashes,
                    f"unique {nouns[key]}",
                    clashes or shown,
                    f"a {nouns[key]} no other host uses",
                    listing(clashes) if clashes else f"{shown} (unique)",
                    f"give each host its own {nouns[key]}" + (" (regenerate /etc/machine-id on cloned hosts)" if key == "machine_id" else ""),
                )
            )
    return results


def _primary_speed(facts: dict[str, Any], kinds: list[str], pattern: str | None) -> int | None:
    speeds = [
        n.get("speed_mbps")
        for n in facts.get("nics") or []
        if n.get("kind") in kinds and isinstance(n.get("speed_mbps"), int) and (not pattern or re.fullmatch(pattern, str(n.get("name"))))
    ]
    return max(speeds) if speeds else None


def _within(value: float, reference: float, tolerance_pct: float) -> bool:
    if reference == 0:
        return value == 0
    return abs(value - reference) / reference * 100 <= tolerance_pct + 1e-9


def _homogeneity(facts_by_host: dict[str, dict[str, Any]], specs: dict[str, dict[str, Any]]) -> dict[str, list[CheckResult]]:
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for host in facts_by_host:
        rules = specs[host].get("cross_host", {}).get("homogeneity")
        if rules:
            groups[rules.get("group") or specs[host].get("system_class") or "all"].append(host)
    results: dict[str, list[CheckResult]] = collections.defaultdict(list)
    for group, hosts in groups.items():
        if len(hosts) < 2:
            continue
        models = {h: (facts_by_host[h].get("cpu") or {}).get("model") for h in hosts}
        memory = {h: (facts_by_host[h].get("memory") or {}).get("total_bytes") for h in hosts}
        speeds = {
            h: _primary_speed(facts_by_host[h], specs[h].get("nics", {}).get("kinds", ["physical"]), specs[h].get("nics", {}).get("name_pattern"))
            for h in hosts
        }
        counted = collections.Counter(m for m in models.values() if m)
        majority = sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] if counted else None
        known_memory = [m for m in memory.values() if isinstance(m, int)]
        memory_ref = statistics.median(known_memory) if known_memory else None
        known_speeds = [s for s in speeds.values() if s is not None]
        speed_ref = statistics.median(known_speeds) if known_speeds else None
        for host in hosts:
            rules = specs[host]["cross_host"]["homogeneity"]
            if rules.get("cpu_model"):
                if models[host] is None or majority is None:
                    results[host].append(missing("fleet.homogeneous.cpu_model", f"the CPU model of group {group}", "cpu.model"))
                else:
                    results[host].append(
                        compare(
                            "fleet.homogeneous.cpu_model",
                            models[host] == majority,
                            majority,
                            models[host],
                            f"CPU model {majority!r} like {counted[majority]} of {len(hosts)} hosts in group {group}",
                            repr(models[host]),
                            f"use the same CPU model across group {group}",
                        )
                    )
            tolerance = rules.get("memory_tolerance_pct", 0)
            if memory[host] is None or memory_ref is None:
                results[host].append(missing("fleet.homogeneous.memory", f"the memory of group {group}", "memory.total_bytes"))
            else:
                results[host].append(
                    compare(
                        "fleet.homogeneous.memory",
                        _within(memory[host], memory_ref, tolerance),
                        f"{gib(memory_ref)} ± {tolerance:g}%",
                        gib(memory[host]),
                        f"memory within {tolerance:g}% of the group {group} median {gib(memory_ref)}",
                        gib(memory[host]),
                        f"give every host of group {group} the same memory",
                    )
                )
            tolerance = rules.get("nic_speed_tolerance_pct", 0)
            if speeds[host] is None or speed_ref is None:
                results[host].append(missing("fleet.homogeneous.nic_speed", f"the NIC speed of group {group}", "nics[].speed_mbps"))
            else:
                results[host].append(
                    compare(
                        "fleet.homogeneous.nic_speed",
                        _within(speeds[host], speed_ref, tolerance),
                        f"{speed_ref:g} Mb/s ± {tolerance:g}%",
                        f"{speeds[host]} Mb/s",
                        f"fastest NIC within {tolerance:g}% of the group {group} median {speed_ref:g} Mb/s",
                        f"{speeds[host]} Mb/s",
                        f"use the same NIC speed across group {group}",
                    )
                )
    return results


def cross_host_checks(facts_by_host: dict[str, dict[str, Any]], specs: dict[str, dict[str, Any]]) -> dict[str, list[CheckResult]]:
    """Per host, the fleet checks its spec asks for; hosts without facts take no part."""
    unique = _unique(facts_by_host, specs)
    homogeneity = _homogeneity(facts_by_host, specs)
    return {host: unique.get(host, []) + homogeneity.get(host, []) for host in facts_by_host}
