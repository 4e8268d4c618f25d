# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Network checks: host addresses inside allowed subnets, TCP reachability measured from the host."""

from __future__ import annotations

import functools
from typing import Any

from .. import facts_view
from ..check_result import CheckResult, compare, errored
from ..libraries import netaddr, require_netaddr
from .common import listing, missing


@functools.cache
def _link_local() -> tuple[netaddr.IPNetwork, ...]:
    """Link-local addresses exist on every up interface and say nothing about the network plan."""
    return (netaddr.IPNetwork("169.254.0.0/16"), netaddr.IPNetwork("fe80::/10"))


def _subnets(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    allowed = spec.get("network", {}).get("allowed_subnets")
    if not allowed:
        return []
    expected = ", ".join(allowed)
    if facts.get("nics") is None:
        return [missing("net.subnets", expected, "nics")]
    require_netaddr()
    networks = [netaddr.IPNetwork(s) for s in allowed]
    outside: list[str] = []
    inside: list[str] = []
    for nic, address in facts_view.host_addresses(facts):
        try:
            ip = netaddr.IPAddress(address)
        except (netaddr.AddrFormatError, ValueError):
            outside.append(f"{address} on {nic} (not an address)")
            continue
        if any(ip in n for n in _link_local()):
            continue
        (inside if any(ip in n for n in networks) else outside).append(f"{address} on {nic}")
    found = f"{listing(outside)} outside" if outside else (f"all inside ({listing(inside)})" if inside else "no address")
    return [
        compare(
            "net.subnets",
            bool(inside) and not outside,
            expected,
            outside or inside,
            f"every host address inside {expected}",
            found,
            "re-address the interface or add the subnet to network.allowed_subnets after approval",
        )
    ]


def _endpoints(spec: dict[str, Any], probes: dict[str, dict[str, Any]] | None) -> list[CheckResult]:
    results: list[CheckResult] = []
    for endpoint in spec.get("network", {}).get("endpoints", []):
        check_id = f"net.endpoint.{endpoint['name']}"
        target = f"{endpoint['host']}:{endpoint['port']}"
        probe = (probes or {}).get(endpoint["name"])
        if probe is None:
            results.append(errored(check_id, f"{target} reachable", f"required {target} reachable from the host, found no probe result", "rerun the preflight"))
            continue
        reachable = probe.get("reachable") is True
        found = f"connected in {probe.get('elapsed_ms', '?')} ms" if reachable else f"not reachable within {endpoint['timeout_s']:g} s"
        if not reachable and probe.get("error"):
            found += f" ({probe['error']})"
        results.append(
            compare(
                check_id,
                reachable,
                f"{target} reachable",
                "reachable" if reachable else "unreachable",
                f"TCP {target} reachable from the host",
                found,
                f"open the firewall path from this host to {target}",
            )
        )
    return results


def run(spec: dict[str, Any], facts: dict[str, Any], probes: dict[str, dict[str, Any]] | None = None) -> list[CheckResult]:
    return _subnets(spec, facts) + _endpoints(spec, probes)
