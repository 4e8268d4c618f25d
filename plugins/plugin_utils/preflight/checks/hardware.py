# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hardware checks (Art. 7): CPU, memory, NICs, FC HBAs, disks, PCI cards, host model."""

from __future__ import annotations

import re
from typing import Any

from .. import facts_view
from ..check_result import CheckResult, compare
from .common import GIB, gib, listing, missing, num


def _cpu(spec: dict[str, Any], cpu: dict[str, Any] | None) -> list[CheckResult]:
    results: list[CheckResult] = []
    rules = spec.get("cpu", {})
    for key, fact, check_id, noun in (
        ("min_threads", "threads", "hw.cpu.threads", "logical CPUs"),
        ("min_cores", "cores", "hw.cpu.cores", "CPU cores"),
        ("min_sockets", "sockets", "hw.cpu.sockets", "CPU sockets"),
    ):
        if key not in rules:
            continue
        need = rules[key]
        have = (cpu or {}).get(fact)
        if have is None:
            results.append(missing(check_id, f">= {need} {noun}", f"cpu.{fact}"))
            continue
        results.append(
            compare(
                check_id,
                have >= need,
                f">= {need}",
                have,
                f"at least {need} {noun}",
                f"{have}",
                f"give the host at least {need} {noun} (hardware order or VM sizing)",
            )
        )
    if "min_mhz" in rules:
        need = rules["min_mhz"]
        have = (cpu or {}).get("mhz_max") or (cpu or {}).get("mhz_current")
        if have is None:
            results.append(missing("hw.cpu.mhz", f">= {num(need)} MHz", "cpu.mhz_max"))
        else:
            results.append(
                compare(
                    "hw.cpu.mhz",
                    have >= need,
                    f">= {num(need)} MHz",
                    f"{num(have)} MHz",
                    f"a CPU of at least {num(need)} MHz",
                    f"{num(have)} MHz",
                    "use a CPU model with the required maximum frequency; check BIOS power settings",
                )
            )
    if "models" in rules:
        model = (cpu or {}).get("model")
        expected = " | ".join(rules["models"])
        if model is None:
            results.append(missing("hw.cpu.model", expected, "cpu.model"))
        else:
            ok = any(re.search(pattern, model) for pattern in rules["models"])
            results.append(compare("hw.cpu.model", ok, expected, model, f"a CPU model matching {expected}", repr(model), "use one of the approved CPU models"))
    return results


def _hugepages(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("total")
    return value if isinstance(value, int) else None


def _memory(spec: dict[str, Any], memory: dict[str, Any] | None) -> list[CheckResult]:
    results: list[CheckResult] = []
    rules = spec.get("memory", {})
    memory = memory or {}
    for key, fact, check_id, noun in (("min_gib", "total_bytes", "hw.memory.min", "memory"), ("min_swap_gib", "swap_total_bytes", "hw.memory.swap", "swap")):
        if key not in rules:
            continue
        need = rules[key] * GIB
        have = memory.get(fact)
        if have is None:
            results.append(missing(check_id, f">= {gib(need)}", f"memory.{fact}"))
            continue
        results.append(
            compare(
                check_id,
                have >= need,
                f">= {gib(need)}",
                gib(have),
                f"at least {gib(need)} {noun}",
                gib(have),
                f"add {noun} to reach {gib(need)} (the kernel reports a little less than installed RAM: size the spec accordingly)",
            )
        )
    if "min_hugepages" in rules:
        need = rules["min_hugepages"]
        have = _hugepages(memory.get("hugepages"))
        if have is None:
            results.append(missing("hw.memory.hugepages", f">= {need}", "memory.hugepages"))
        else:
            results.append(compare("hw.memory.hugepages", have >= need, f">= {need}", have, f"at least {need} huge pages", str(have), "set vm.nr_hugepages"))
    if "min_numa_nodes" in rules:
        need = rules["min_numa_nodes"]
        value = memory.get("numa_nodes")
        have = len(value) if isinstance(value, list) else value
        if have is None:
            results.append(missing("hw.memory.numa_nodes", f">= {need}", "memory.numa_nodes"))
        else:
            results.append(
                compare("hw.memory.numa_nodes", have >= need, f">= {need}", have, f"at least {need} NUMA nodes", str(have), "check BIOS NUMA settings")
            )
    return results


def _link_up(nic: dict[str, Any]) -> bool:
    return nic.get("carrier") is True or (nic.get("carrier") is None and nic.get("operstate") == "up")


def _nics(spec: dict[str, Any], nics: list[dict[str, Any]] | None) -> list[CheckResult]:
    rules = spec.get("nics", {})
    if not any(_nic_rule(rules, name) for name in ("count", "speed", "link", "kind", "mtu")):
        return []
    kinds = rules["kinds"]
    what = "/".join(kinds)
    if nics is None:
        return [missing(f"hw.nic.{name}", "NIC facts", "nics") for name in ("count", "speed", "link", "kind", "mtu") if _nic_rule(rules, name)]
    counted = [n for n in nics if n.get("kind") in kinds and (not rules.get("name_pattern") or re.fullmatch(rules["name_pattern"], str(n.get("name"))))]
    names = [str(n.get("name")) for n in counted]
    results: list[CheckResult] = []
    if "min_count" in rules:
        need = rules["min_count"]
        results.append(
            compare(
                "hw.nic.count",
                len(counted) >= need,
                f">= {need} {what}",
                len(counted),
                f"at least {need} {what} NICs",
                f"{len(counted)} ({listing(names) or 'none'})",
                f"install or cable {what} NICs; check the driver is loaded",
            )
        )
    if "min_speed_mbps" in rules:
        need = rules["min_speed_mbps"]
        up = [n for n in counted if _link_up(n)]
        slow = [
            f"{n.get('name')} {n.get('speed_mbps') if n.get('speed_mbps') is not None else 'unknown'} Mb/s" for n in up if (n.get("speed_mbps") or 0) < need
        ]
        found = f"{len(slow)} below: {listing(slow)}" if slow else (f"all {len(up)} linked at >= {need} Mb/s" if up else "no NIC with link")
        results.append(
            compare(
                "hw.nic.speed",
                bool(up) and not slow,
                f">= {need} Mb/s",
                slow or [f"{n.get('name')} {n.get('speed_mbps')} Mb/s" for n in up],
                f"every linked {what} NIC at >= {need} Mb/s",
                found,
                "check the switch port speed, cable/transceiver and driver",
            )
        )
    if rules.get("link_up"):
        down = [str(n.get("name")) for n in counted if not _link_up(n)]
        results.append(
            compare(
                "hw.nic.link",
                bool(counted) and not down,
                f"link up on every {what} NIC",
                down or names,
                f"link up on every {what} NIC",
                f"no link on {listing(down)}" if down else ("no NIC" if not counted else f"link up on {listing(names)}"),
                "cable the port or disable the unused interface",
            )
        )
    if rules.get("required_kinds"):
        present = sorted({str(n.get("kind")) for n in nics})
        absent = [k for k in rules["required_kinds"] if k not in present]
        results.append(
            compare(
                "hw.nic.kind",
                not absent,
                rules["required_kinds"],
                present,
                f"NIC kinds {', '.join(rules['required_kinds'])}",
                f"{', '.join(present) or 'none'} (missing {', '.join(absent)})" if absent else ", ".join(present),
                "configure the required interface kind (e.g. the bond) in the network configuration",
            )
        )
    if "min_mtu" in rules:
        need = rules["min_mtu"]
        small = [f"{n.get('name')} {n.get('mtu')}" for n in counted if _link_up(n) and (n.get("mtu") or 0) < need]
        results.append(
            compare(
                "hw.nic.mtu",
                not small,
                f">= {need}",
                small or "ok",
                f"MTU >= {need} on every linked {what} NIC",
                listing(small) if small else "all at or above",
                "set the MTU in the network configuration and on the switch",
            )
        )
    return results


def _nic_rule(rules: dict[str, Any], name: str) -> bool:
    return {
        "count": "min_count" in rules,
        "speed": "min_speed_mbps" in rules,
        "link": bool(rules.get("link_up")),
        "kind": bool(rules.get("required_kinds")),
        "mtu": "min_mtu" in rules,
    }[name]


def _hbas(spec: dict[str, Any], hbas: list[dict[str, Any]] | None) -> list[CheckResult]:
    rules = spec.get("hbas", {})
    if not rules:
        return []
    if hbas is None:
        return [
            missing(f"hw.hba.{name}", "HBA facts", "hbas")
            for name, key in (("count", "min_count"), ("speed", "min_speed_gbps"), ("port_state", "port_state"), ("model", "models"))
            if key in rules
        ]
    fc = [h for h in hbas if h.get("type", "fc") == "fc"]
    label = [f"{h.get('host')} ({h.get('model') or 'unknown model'})" for h in fc]
    results: list[CheckResult] = []
    if "min_count" in rules:
        need = rules["min_count"]
        results.append(
            compare(
                "hw.hba.count",
                len(fc) >= need,
                f">= {need} FC ports",
                len(fc),
                f"at least {need} FC HBA ports",
                f"{len(fc)} ({listing(label) or 'none'})",
                "install the FC HBAs and load their driver (qla2xxx, lpfc)",
            )
        )
    if "min_speed_gbps" in rules:
        need = rules["min_speed_gbps"]
        online = [h for h in fc if str(h.get("port_state", "")).lower() == "online"]
        slow = [
            f"{h.get('host')} {h.get('speed_gbps') if h.get('speed_gbps') is not None else 'unknown'} Gb/s" for h in online if (h.get("speed_gbps") or 0) < need
        ]
        found = f"{listing(slow)}" if slow else (f"all {len(online)} online ports at >= {num(need)} Gb/s" if online else "no online FC port")
        results.append(
            compare(
                "hw.hba.speed",
                bool(online) and not slow,
                f">= {num(need)} Gb/s",
                slow or [f"{h.get('host')} {h.get('speed_gbps')} Gb/s" for h in online],
                f"every online FC port at >= {num(need)} Gb/s",
                found,
                "check the SFP, the fabric switch port speed and the HBA firmware",
            )
        )
    if "port_state" in rules:
        need = rules["port_state"]
        wrong = [f"{h.get('host')} {h.get('port_state')}" for h in fc if str(h.get("port_state", "")).lower() != need.lower()]
        results.append(
            compare(
                "hw.hba.port_state",
                bool(fc) and not wrong,
                need,
                wrong or need,
                f"every FC port {need}",
                listing(wrong) if wrong else ("no FC port" if not fc else f"all {len(fc)} {need}"),
                "check cabling, zoning and the fabric login",
            )
        )
    if "models" in rules:
        expected = " | ".join(rules["models"])
        wrong = [f"{h.get('host')} {h.get('model')!r}" for h in fc if not any(re.search(p, str(h.get("model") or "")) for p in rules["models"])]
        results.append(
            compare(
                "hw.hba.model",
                bool(fc) and not wrong,
                expected,
                wrong or [h.get("model") for h in fc],
                f"FC HBA models matching {expected}",
                listing(wrong) if wrong else ("no FC port" if not fc else "all approved"),
                "use an approved HBA model",
            )
        )
    return results


def _disks(spec: dict[str, Any], disks: list[dict[str, Any]] | None) -> list[CheckResult]:
    rules = spec.get("disks", {})
    if "min_total_gib" not in rules and not rules.get("kinds"):
        return []
    if disks is None:
        return [missing("hw.disk.total", "disk facts", "disks")]
    results: list[CheckResult] = []
    if "min_total_gib" in rules:
        need = rules["min_total_gib"] * GIB
        counted = [d for d in disks if d.get("kind") in rules["count_kinds"]]
        have = sum(d.get("size_bytes") or 0 for d in counted)
        results.append(
            compare(
                "hw.disk.total",
                have >= need,
                f">= {gib(need)}",
                gib(have),
                f"at least {gib(need)} on {'/'.join(rules['count_kinds'])} disks",
                f"{gib(have)} on {len(counted)} disk(s)",
                "add internal disks or grow the virtual disks",
            )
        )
    for kind, kind_rules in rules.get("kinds", {}).items():
        of_kind = [d for d in disks if d.get("kind") == kind]
        total = sum(d.get("size_bytes") or 0 for d in of_kind)
        need_count = kind_rules.get("min_count", 0)
        need_total = kind_rules.get("min_total_gib", 0) * GIB
        wanted = (
            " and ".join(
                p
                for p in (
                    f"{need_count} {kind} disk(s)" if "min_count" in kind_rules else "",
                    f"{gib(need_total)} of {kind}" if "min_total_gib" in kind_rules else "",
                )
                if p
            )
            or f"{kind} disks"
        )
        results.append(
            compare(
                f"hw.disk.kind.{kind}",
                len(of_kind) >= need_count and total >= need_total,
                f"at least {wanted}",
                f"{len(of_kind)} x {kind}, {gib(total)}",
                f"at least {wanted}",
                f"{len(of_kind)} {kind} disk(s), {gib(total)}",
                f"add {kind} disks",
            )
        )
    return results


def _pci_class(value: Any) -> str:
    text = str(value or "").lower()
    return text[2:] if text.startswith("0x") else text


def _pci(spec: dict[str, Any], pci: list[dict[str, Any]] | None) -> list[CheckResult]:
    results: list[CheckResult] = []
    for rule in spec.get("pci", []):
        check_id = f"hw.pci.{rule['name']}"
        if pci is None:
            results.append(missing(check_id, f">= {rule['min_count']} of class {rule['class']}", "pci"))
            continue
        prefix = _pci_class(rule["class"])
        vendor = _pci_class(rule.get("vendor_id")) if rule.get("vendor_id") else None
        matching = [d for d in pci if facts_view.pci_class_code(d).startswith(prefix) and (vendor is None or _pci_class(d.get("vendor_id")) == vendor)]
        need = rule["min_count"]
        what = f"PCI class {rule['class']}" + (f" vendor {rule['vendor_id']}" if vendor else "")
        results.append(
            compare(
                check_id,
                len(matching) >= need,
                f">= {need}",
                len(matching),
                f"at least {need} {rule['name']} card(s) ({what})",
                f"{len(matching)}" + (f" ({listing([str(d.get('address')) for d in matching])})" if matching else ""),
                f"install the {rule['name']} card and check it is seated and enabled in the BIOS",
            )
        )
    return results


def _host_model(spec: dict[str, Any], system: dict[str, Any] | None) -> list[CheckResult]:
    patterns = spec.get("host_models")
    if not patterns:
        return []
    expected = " | ".join(patterns)
    if system is None or (system.get("vendor") is None and system.get("product") is None):
        return [missing("hw.host.model", expected, "system.vendor/system.product")]
    model = " ".join(str(system.get(k)) for k in ("vendor", "product") if system.get(k))
    ok = any(re.search(pattern, model) for pattern in patterns)
    return [
        compare("hw.host.model", ok, expected, model, f"a host model matching {expected}", repr(model), "use an approved server model for this system class")
    ]


def run(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    return (
        _cpu(spec, facts.get("cpu"))
        + _memory(spec, facts.get("memory"))
        + _nics(spec, facts.get("nics"))
        + _hbas(spec, facts.get("hbas"))
        + _disks(spec, facts.get("disks"))
        + _pci(spec, facts.get("pci"))
        + _host_model(spec, facts.get("system"))
    )
