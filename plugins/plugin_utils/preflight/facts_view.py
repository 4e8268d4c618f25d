# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The single place where the engine reads ``opsgate_host`` keys that issue 3 leaves vague.

Hardware keys (``cpu``, ``memory``, ``nics``, ``hbas``, ``disks``, ``pci``, ``system``) are read directly by the
checks: their names are fixed by issue 3. The ``os.*`` keys and NIC addresses are read only here, so a rename on the
host side is one edit in ``_OS_KEYS`` / ``nic_addresses``. Each accessor tries its candidate paths in order.
"""

from __future__ import annotations

from typing import Any

# accessor -> candidate dotted paths under opsgate_host, first hit wins.
_OS_KEYS: dict[str, tuple[str, ...]] = {
    "family": ("os.family",),
    "distribution": ("os.distribution", "os.id"),
    "distribution_name": ("os.name",),
    "id_like": ("os.id_like",),
    "version": ("os.version_id", "os.distribution_version", "os.version"),
    "kernel": ("os.kernel", "os.kernel_release"),
    "hostname": ("os.hostname",),
    "fqdn": ("os.fqdn",),
    "hostname_resolves": ("os.hostname_resolves", "os.hostname_resolved"),
    "machine_id": ("os.machine_id",),
    "dns_servers": ("os.dns_servers", "os.dns.servers", "os.dns.nameservers"),
    "time_synchronized": ("os.time_sync.synchronized", "os.time_synchronized", "os.time_sync"),
    "time_sync_source": ("os.time_sync.services", "os.time_sync.service"),
    "ulimits": ("os.ulimits",),
    "environment": ("os.environment", "os.env"),
}

_MISSING = object()


def _dig(facts: dict[str, Any], dotted: str) -> Any:
    node: Any = facts
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def os_value(facts: dict[str, Any], name: str) -> Any:
    """The value of one ``os`` accessor (see ``_OS_KEYS``), ``None`` when the host did not report it."""
    for path in _OS_KEYS[name]:
        value = _dig(facts, path)
        if value is not _MISSING:
            if name == "time_synchronized" and isinstance(value, dict):
                continue
            return value
    return None


# os-release ID / ID_LIKE -> the family names operators use (Ansible's ansible_os_family spelling).
_FAMILIES = {
    "rhel": "RedHat",
    "fedora": "RedHat",
    "centos": "RedHat",
    "debian": "Debian",
    "ubuntu": "Debian",
    "suse": "Suse",
    "sles": "Suse",
    "opensuse": "Suse",
}


def os_family(facts: dict[str, Any]) -> str | None:
    """``os.family`` when the host reports it, else derived from os-release ``ID`` / ``ID_LIKE``."""
    family = os_value(facts, "family")
    if family:
        return str(family)
    ids = [os_value(facts, "distribution"), *(os_value(facts, "id_like") or [])]
    for item in ids:
        if isinstance(item, str) and item.lower() in _FAMILIES:
            return _FAMILIES[item.lower()]
    return None


def environment_variable(facts: dict[str, Any]) -> tuple[dict[str, str | None], set[str]] | None:
    """(known values, set names) of the host's environment; ``None`` when not reported.

    The host reports only the names of its variables (values may be secrets), plus the values of PATH, LANG and LC_ALL.
    """
    env = os_value(facts, "environment")
    if not isinstance(env, dict):
        return None
    if "variable_names" not in env:  # a plain {NAME: value} mapping
        return {k: None if v is None else str(v) for k, v in env.items()}, set(env)
    values: dict[str, str | None] = {}
    if isinstance(env.get("path"), list):
        values["PATH"] = ":".join(env["path"])
    for key in ("lang", "lc_all"):
        if env.get(key) is not None:
            values[key.upper()] = str(env[key])
    return values, set(env.get("variable_names") or [])


def os_key_paths() -> dict[str, tuple[str, ...]]:
    """The assumed key paths, for documentation and the report of assumptions."""
    return dict(_OS_KEYS)


def ulimit_soft(facts: dict[str, Any], name: str) -> int | str | None:
    """Soft limit of one ulimit: ``os.ulimits.<name>`` may be a number, ``"unlimited"`` or ``{soft, hard}``."""
    limits = os_value(facts, "ulimits")
    if not isinstance(limits, dict) or name not in limits:
        return None
    value = limits[name]
    if isinstance(value, dict):
        value = value.get("soft")
    if value == -1:  # RLIM_INFINITY as the host reports it
        return "unlimited"
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def nic_addresses(nic: dict[str, Any]) -> list[str]:
    """Plain IP strings of one NIC; ``addresses`` may hold ``"10.0.0.5/24"`` strings or ``{address, prefixlen}`` dicts."""
    found: list[str] = []
    for entry in nic.get("addresses") or []:
        if isinstance(entry, str):
            found.append(entry.split("/", 1)[0])
        elif isinstance(entry, dict):
            address = entry.get("address") or entry.get("ip") or entry.get("local")
            if isinstance(address, str):
                found.append(address.split("/", 1)[0])
    return found


def host_addresses(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """(nic name, address) for every address not on a loopback NIC."""
    pairs: list[tuple[str, str]] = []
    for nic in facts.get("nics") or []:
        if not isinstance(nic, dict) or nic.get("kind") == "loopback":
            continue
        pairs.extend((str(nic.get("name")), address) for address in nic_addresses(nic))
    return pairs


def software(facts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    value = facts.get("software")
    return value if isinstance(value, dict) else {}


def subset_missing(facts: dict[str, Any], subset: str) -> bool:
    """True when a subset the spec needed is absent from the facts (the host side could not collect it)."""
    return facts.get(subset) is None


def pci_class_code(device: dict[str, Any]) -> str:
    """Hex class code without ``0x``: host_facts reports ``class_code: "0x0200"`` and a name in ``class``."""
    for key in ("class_code", "class"):
        text = str(device.get(key) or "").lower()
        text = text[2:] if text.startswith("0x") else text
        if text and all(c in "0123456789abcdef" for c in text):
            return text
    return ""
