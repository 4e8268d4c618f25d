# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Network interfaces from /sys/class/net; addresses from /proc/net (no ioctl, no netlink, no subprocess)."""

from __future__ import annotations

import errno
import ipaddress
import re
from typing import Any

from .sysfs import FactReader

ARPHRD_LOOPBACK = 772
PCI_ADDRESS = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
# Drivers without ethtool link settings (bridge, bond without slaves) answer EOPNOTSUPP: no speed, not a failure.
_NO_LINK_SETTINGS = frozenset({errno.EOPNOTSUPP})
_IPV6_SCOPES = {0x00: "global", 0x10: "host", 0x20: "link", 0x40: "site"}


def pci_address_of(resolved_device: str) -> str | None:
    """The PCI function of a resolved ``device`` link; virtio NICs sit one level below theirs."""
    parts = resolved_device.rstrip("/").split("/")
    candidates = parts[-1:] if not parts[-1].startswith("virtio") else parts[-2:-1]
    for part in candidates:
        if PCI_ADDRESS.match(part):
            return part
    return None


def parse_fib_trie_local(text: str) -> list[str]:
    """IPv4 addresses the kernel treats as local (``/32 host LOCAL`` leaves), in order, without duplicates."""
    found: list[str] = []
    last_leaf: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|-- "):
            last_leaf = stripped[4:].strip()
        elif last_leaf and stripped.startswith("/32 host LOCAL") and last_leaf not in found:
            found.append(last_leaf)
    return found


def parse_route(text: str) -> list[tuple[str, ipaddress.IPv4Network, int]]:
    """``/proc/net/route`` rows as (interface, network, metric); the fields are little-endian hex."""
    routes: list[tuple[str, ipaddress.IPv4Network, int]] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
            mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
            network = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
            metric = int(fields[6])
        except ValueError:
            continue
        routes.append((fields[0], network, metric))
    return routes


def attribute_ipv4(local: list[str], routes: list[tuple[str, ipaddress.IPv4Network, int]], loopbacks: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Give each local address to the interface whose connected route holds it (longest prefix, then metric).

    The main table has a connected route per configured prefix, which is how ``ip addr`` prefixes are
    recovered without netlink. Loopback addresses have no main-table route: they go to the loopback.
    """
    by_iface: dict[str, list[dict[str, Any]]] = {}
    for text in local:
        address = ipaddress.IPv4Address(text)
        if address.is_loopback and loopbacks:
            by_iface.setdefault(loopbacks[0], []).append({"family": "ipv4", "address": text, "prefix": 8})
            continue
        matches = [(iface, net, metric) for iface, net, metric in routes if net.prefixlen > 0 and address in net]
        if not matches:
            continue
        iface, net, _metric = sorted(matches, key=lambda m: (-m[1].prefixlen, m[2]))[0]
        by_iface.setdefault(iface, []).append({"family": "ipv4", "address": text, "prefix": net.prefixlen})
    return by_iface


def parse_if_inet6(text: str) -> dict[str, list[dict[str, Any]]]:
    by_iface: dict[str, list[dict[str, Any]]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 6 or len(fields[0]) != 32:
            continue
        try:
            address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
            prefix = int(fields[2], 16)
            scope = int(fields[3], 16)
        except ValueError:
            continue
        by_iface.setdefault(fields[5], []).append(
            {"family": "ipv6", "address": str(address), "prefix": prefix, "scope": _IPV6_SCOPES.get(scope, f"0x{scope:02x}")}
        )
    return by_iface


def parse_vlan_config(text: str) -> dict[str, dict[str, Any]]:
    """``/proc/net/vlan/config``: ``eth0.100 | 100 | eth0`` after two header lines."""
    vlans: dict[str, dict[str, Any]] = {}
    for line in text.splitlines()[2:]:
        fields = [f.strip() for f in line.split("|")]
        if len(fields) == 3 and fields[1].isdigit():
            vlans[fields[0]] = {"id": int(fields[1]), "parent": fields[2]}
    return vlans


def _kind(reader: FactReader, base: str, name: str, link_type: int | None, vlans: dict[str, dict[str, Any]]) -> str:
    if link_type == ARPHRD_LOOPBACK:
        return "loopback"
    if reader.is_dir(f"{base}/bonding"):
        return "bond"
    if reader.is_dir(f"{base}/bridge"):
        return "bridge"
    if name in vlans or "DEVTYPE=vlan" in (reader.read_text(f"{base}/uevent", optional=True) or ""):
        return "vlan"
    if reader.exists(f"{base}/device"):
        return "physical"
    return "virtual"


def _speed(reader: FactReader, base: str, up: bool) -> int | None:
    speed = reader.read_int(f"{base}/speed", ignore=_NO_LINK_SETTINGS)
    # -1 is SPEED_UNKNOWN; a down link may still show the last negotiated speed.
    if speed is None or speed <= 0 or speed == 0xFFFFFFFF or not up:
        return None
    return speed


def _bond(reader: FactReader, base: str) -> dict[str, Any]:
    mode = reader.read_str(f"{base}/bonding/mode")
    slaves = reader.read_str(f"{base}/bonding/slaves")
    return {
        "mode": mode.split()[0] if mode else None,
        "slaves": slaves.split() if slaves else [],
        "active_slave": reader.read_str(f"{base}/bonding/active_slave", optional=True),
        "miimon_ms": reader.read_int(f"{base}/bonding/miimon", optional=True),
    }


def collect_nics(reader: FactReader) -> list[dict[str, Any]]:
    names = [n for n in reader.list_dir("/sys/class/net") if reader.is_dir(f"/sys/class/net/{n}")]
    vlans = parse_vlan_config(reader.read_text("/proc/net/vlan/config", optional=True) or "")

    nics: list[dict[str, Any]] = []
    for name in names:
        base = f"/sys/class/net/{name}"
        link_type = reader.read_int(f"{base}/type")
        kind = _kind(reader, base, name, link_type, vlans)
        operstate = reader.read_str(f"{base}/operstate")
        # Loopback has no link: carrier, speed and duplex would only add EINVAL noise.
        has_link = kind != "loopback"
        carrier = reader.read_int(f"{base}/carrier") if has_link else None
        up = operstate == "up" or (operstate == "unknown" and carrier == 1)
        duplex = reader.read_str(f"{base}/duplex", optional=True, ignore=_NO_LINK_SETTINGS) if has_link else None
        device = reader.resolve(f"{base}/device") if kind == "physical" else None
        nics.append(
            {
                "name": name,
                "kind": kind,
                "mac": reader.read_str(f"{base}/address"),
                "mtu": reader.read_int(f"{base}/mtu"),
                "operstate": operstate,
                "carrier": bool(carrier) if carrier is not None else None,
                "speed_mbps": _speed(reader, base, up) if has_link else None,
                "duplex": duplex if duplex in ("full", "half") else None,
                "driver": reader.link_name(f"{base}/device/driver") if device else None,
                "pci_address": pci_address_of(device) if device else None,
                "master": reader.link_name(f"{base}/master"),
                "bond": _bond(reader, base) if kind == "bond" else None,
                "vlan": vlans.get(name) if kind == "vlan" else None,
                "addresses": [],
            }
        )

    loopbacks = [n["name"] for n in nics if n["kind"] == "loopback"]
    ipv4 = attribute_ipv4(
        parse_fib_trie_local(reader.read_text("/proc/net/fib_trie", optional=True) or ""),
        parse_route(reader.read_text("/proc/net/route", optional=True) or ""),
        loopbacks,
    )
    ipv6 = parse_if_inet6(reader.read_text("/proc/net/if_inet6", optional=True) or "")
    for nic in nics:
        nic["addresses"] = ipv4.get(nic["name"], []) + ipv6.get(nic["name"], [])
    return nics
