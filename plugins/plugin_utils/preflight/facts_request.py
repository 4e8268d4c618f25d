# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""From a valid spec, the exact arguments of the one ``opsgate.release.host_facts`` call per host.

Only the subsets and names the spec's checks read are requested, so a host is asked for nothing it does not need.
"""

from __future__ import annotations

from typing import Any

from .checks.security import forbidden_software_names
from .libraries import jmespath, require_jmespath

SUBSETS = ("system", "cpu", "memory", "nics", "hbas", "disks", "pci", "os", "sysctl", "software", "filesystems", "users")

# spec section -> subsets its checks read
_SECTION_SUBSETS: dict[str, tuple[str, ...]] = {
    "cpu": ("cpu",),
    "memory": ("memory",),
    "nics": ("nics",),
    "hbas": ("hbas",),
    "disks": ("disks",),
    "pci": ("pci",),
    "host_models": ("system",),
    "os": ("os",),
    "hostname": ("os",),
    "dns": ("os",),
    "time_sync": ("os",),
    "env_vars": ("os",),
    "ulimits": ("os",),
    "sysctl": ("sysctl",),
    "filesystems": ("filesystems",),
    "users": ("users",),
    "software": ("software",),
}


def _jmespath_fields(node: Any) -> set[str]:
    """Every field name in a compiled JMESPath AST (used to find which subsets a custom rule reads)."""
    found: set[str] = set()
    if isinstance(node, dict):
        if node.get("type") == "field":
            found.add(str(node.get("value")))
        for child in node.get("children", []):
            found |= _jmespath_fields(child)
    return found


def custom_rule_subsets(query: str) -> set[str]:
    require_jmespath()
    return _jmespath_fields(jmespath.compile(query).parsed) & set(SUBSETS)


def facts_request(spec: dict[str, Any]) -> dict[str, Any]:
    """``{"host_facts": <module arguments>, "endpoints": [...to probe from the host]}`` for one normalised spec."""
    subsets: set[str] = {"os"}  # hostname and machine id head every report and feed the uniqueness checks
    for section, needed in _SECTION_SUBSETS.items():
        if spec.get(section):
            subsets.update(needed)
    if spec.get("network", {}).get("allowed_subnets"):
        subsets.add("nics")
    cross = spec.get("cross_host", {})
    if "addresses" in cross.get("unique", []):
        subsets.add("nics")
    homogeneity = cross.get("homogeneity")
    if homogeneity:
        subsets.update(("memory", "nics"))
        if homogeneity.get("cpu_model"):
            subsets.add("cpu")
    for rule in spec.get("custom", []):
        subsets |= custom_rule_subsets(rule["query"])

    software = set(spec.get("software", {}).get("required", []))
    forbidden = forbidden_software_names(spec)
    software |= set(forbidden)
    if software:
        subsets.add("software")

    return {
        "host_facts": {
            "gather_subset": [s for s in SUBSETS if s in subsets],
            "software": sorted(software),
            "sysctl": [rule["key"] for rule in spec.get("sysctl", [])],
            "filesystems": sorted(spec.get("filesystems", {})),
            "users": sorted(spec.get("users", {})),
        },
        # Whether the hostname resolves is asked on the host (getent), only when the spec wants it.
        "resolve_hostname": bool(spec.get("hostname", {}).get("resolves")),
        "endpoints": [
            {"name": e["name"], "host": e["host"], "port": e["port"], "timeout_s": e["timeout_s"]} for e in spec.get("network", {}).get("endpoints", [])
        ],
    }
