# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A realistic six-host fleet of ``opsgate_host`` facts, checked against the specs of inventories/example.

Used by the tests and by ``python -m ...synthetic_fleet OUTDIR`` to render the report shown in docs/images.
"""

from __future__ import annotations

import copy
import datetime
import sys
from pathlib import Path
from typing import Any

import yaml

from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.evaluation import HostInput, evaluate_fleet
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.spec_schema import validate_spec

GIB = 1024**3
ROOT = Path(__file__).resolve().parents[5]
EXAMPLE = ROOT / "inventories" / "example"
TODAY = datetime.date(2026, 11, 27)


def example_spec(system_class: str) -> dict[str, Any]:
    data = yaml.safe_load((EXAMPLE / "group_vars" / system_class / "readiness.yml").read_text())
    return validate_spec(data["opsgate_readiness_spec"])


def _nic(
    name: str, kind: str, speed: int | None, up: bool = True, addresses: list[str] | None = None, mtu: int = 9000, driver: str | None = "mlx5_core"
) -> dict[str, Any]:
    return {
        "name": name, "mac": "b8:59:9f:00:00:01", "mtu": mtu, "operstate": "up" if up else "down", "carrier": up if kind != "loopback" else None,
        "speed_mbps": speed if up else None, "duplex": "full" if up else None, "driver": driver, "pci_address": None, "kind": kind,
        "bond": {"mode": "802.3ad", "slaves": []} if kind == "bond" else None,
        "addresses": [{"family": "ipv4", "address": a.split("/")[0], "prefix": int(a.split("/")[1])} for a in addresses or []],
    }  # fmt: skip


def core_db_facts(index: int) -> dict[str, Any]:
    """A Dell R750 with 2 x Xeon Gold 6338, 512 GiB, two bonds of 25G mlx5 ports, two 32G QLogic ports, NVMe + SAN."""
    return {
        "system": {"vendor": "Dell Inc.", "product": "PowerEdge R750", "serial": f"7XK2M{index}3", "bios_version": "1.10.2", "virtualization": None},
        "cpu": {"model": "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "vendor": "GenuineIntel", "sockets": 2, "cores": 64, "threads": 128,
                "mhz_max": 3200, "mhz_current": 2000},
        "memory": {"total_bytes": 503 * GIB + 512 * 1024**2, "available_bytes": 480 * GIB, "swap_total_bytes": 16 * GIB,
                   "hugepages": {"total": 0, "free": 0, "size_bytes": 2097152}, "numa_nodes": 2},
        "nics": [
            _nic("lo", "loopback", None, addresses=["127.0.0.1/8"], mtu=65536, driver=None),
            _nic("eno1", "physical", 1000, addresses=[f"10.40.1.{10 + index}/24"], mtu=1500, driver="tg3"),
            _nic("eno2", "physical", None, up=False, mtu=1500, driver="tg3"),
            _nic("ens1f0np0", "physical", 25000), _nic("ens1f1np1", "physical", 25000),
            _nic("ens2f0np0", "physical", 25000), _nic("ens2f1np1", "physical", 25000),
            _nic("bond0", "bond", 25000, addresses=[f"10.10.1.{10 + index}/24"], driver="bonding"),
            _nic("bond1", "bond", 25000, addresses=[f"10.10.2.{10 + index}/24"], driver="bonding"),
        ],
        "hbas": [
            {"host": f"host{n}", "type": "fc", "wwpn": f"21000024ff7a{index:02x}{n:02x}", "wwnn": f"20000024ff7a{index:02x}{n:02x}", "port_state": "Online",
             "port_type": "NPort (fabric via point-to-point)", "speed_gbps": 32, "supported_speeds_gbps": [32, 16, 8], "model": "QLE2772",
             "model_description": "QLogic 32Gb 2-port FC to PCIe Gen3 x8 Adapter", "driver": "qla2xxx", "firmware": "9.08.02", "symbolic_name": None}
            for n in (1, 2)
        ],
        "disks": [
            {"name": "nvme0n1", "size_bytes": 960 * GIB, "rotational": False, "kind": "nvme", "model": "Dell Ent NVMe P5600", "vendor": None, "serial": "x",
             "wwn": None, "transport": "pcie", "removable": False, "holders": ["md0"]},
            {"name": "nvme1n1", "size_bytes": 960 * GIB, "rotational": False, "kind": "nvme", "model": "Dell Ent NVMe P5600", "vendor": None, "serial": "y",
             "wwn": None, "transport": "pcie", "removable": False, "holders": ["md0"]},
            {"name": "md0", "size_bytes": 960 * GIB, "rotational": False, "kind": "md", "model": None, "vendor": None, "serial": None, "wwn": None,
             "transport": None, "removable": False, "holders": []},
            {"name": "dm-2", "size_bytes": 4096 * GIB, "rotational": False, "kind": "multipath", "model": "PURE FlashArray", "vendor": "PURE", "serial": None,
             "wwn": None, "transport": "fc", "removable": False, "holders": []},
            {"name": "dm-3", "size_bytes": 4096 * GIB, "rotational": False, "kind": "multipath", "model": "PURE FlashArray", "vendor": "PURE", "serial": None,
             "wwn": None, "transport": "fc", "removable": False, "holders": []},
        ],
        "pci": [{"address": f"0000:3{n}:00.0", "class": "Fibre Channel", "class_code": "0x0c04", "vendor_id": "0x1077", "device_id": "0x2281",
                 "driver": "qla2xxx"} for n in (1, 2)]
        + [{"address": f"0000:4{n}:00.{f}", "class": "Ethernet controller", "class_code": "0x0200", "vendor_id": "0x15b3", "device_id": "0x1017",
            "driver": "mlx5_core"} for n in (1, 2) for f in (0, 1)],
        "os": {"name": "Red Hat Enterprise Linux", "id": "rhel", "id_like": ["fedora"], "version_id": "8.9", "version": "8.9 (Ootpa)",
               "kernel": "4.18.0-513.5.1.el8_9.x86_64", "hostname": f"cb-db{index:02d}", "machine_id": f"5b1e0c2f9a8d4e7b8c{index:014d}",
               "selinux": "enforcing", "dns": {"nameservers": ["10.10.0.53", "10.20.0.53"], "search": ["prod.example.com"], "options": []},
               "time_sync": {"services": ["chronyd"], "synchronized": True}, "hostname_resolves": True,
               "ulimits": {"nofile": {"soft": 65536, "hard": 65536}, "core_bytes": {"soft": 0, "hard": -1}},
               "environment": {"path": ["/usr/local/bin", "/usr/bin"], "lang": "en_US.UTF-8", "lc_all": None, "variable_names": ["HOME", "LANG", "PATH"]}},
        "sysctl": {"vm.swappiness": "10", "net.ipv4.ip_forward": "0", "net.core.somaxconn": "4096", "kernel.randomize_va_space": "2",
                   "vm.overcommit_memory": "0"},
        "software": {name: {"found": False, "path": None, "package": None} for name in _all_software()}
        | {"rsync": {"found": True, "path": "/usr/bin/rsync", "package": {"name": "rsync", "version": "3.1.3-19.el8"}},
           "sosreport": {"found": True, "path": "/usr/sbin/sosreport", "package": {"name": "sos", "version": "4.6.0-5.el8"}}},
        "filesystems": {
            "/": {"size_bytes": 50 * GIB, "free_bytes": 38 * GIB, "available_bytes": 36 * GIB, "fstype": "xfs", "options": ["rw", "relatime"]},
            "/var/log": {"size_bytes": 100 * GIB, "free_bytes": 81 * GIB, "available_bytes": 81 * GIB, "fstype": "xfs", "options": ["rw", "nodev"]},
            "/opt/app": {"size_bytes": 800 * GIB, "free_bytes": 610 * GIB, "available_bytes": 610 * GIB, "fstype": "xfs", "options": ["rw", "nodev"]},
            "/tmp": {"size_bytes": 20 * GIB, "free_bytes": 19 * GIB, "available_bytes": 19 * GIB, "fstype": "xfs",
                     "options": ["rw", "nodev", "nosuid", "noexec"]},
        },
        "users": {"appop": {"exists": True, "uid": 2001, "gid": 2001, "home": "/home/appop", "shell": "/bin/bash", "groups": ["appop", "dba"]}},
        "errors": [],
        "timings_ms": {"cpu": 1.2},
    }  # fmt: skip


def _all_software() -> list[str]:
    from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.checks.security import DEFAULT_FORBIDDEN_SOFTWARE

    return [*DEFAULT_FORBIDDEN_SOFTWARE, "sqlplus-dev", "ipython"]


def customer_web_facts(index: int) -> dict[str, Any]:
    """A KVM guest: 16 vCPU, 32 GiB, one virtio NIC at 10G."""
    facts = core_db_facts(index)
    facts["system"] = {"vendor": "Red Hat", "product": "KVM", "serial": None, "bios_version": "1.16.0", "virtualization": "kvm"}
    facts["cpu"] = {
        "model": "Intel Xeon Processor (Icelake)",
        "vendor": "GenuineIntel",
        "sockets": 16,
        "cores": 16,
        "threads": 16,
        "mhz_max": None,
        "mhz_current": 2600,
    }
    facts["memory"] = {"total_bytes": 31 * GIB + 600 * 1024**2, "available_bytes": 28 * GIB, "swap_total_bytes": 4 * GIB, "hugepages": None, "numa_nodes": 1}
    facts["nics"] = [_nic("lo", "loopback", None, addresses=["127.0.0.1/8"], mtu=65536, driver=None),
                     _nic("eth0", "physical", 10000, addresses=[f"10.20.1.{20 + index}/24"], mtu=1500, driver="virtio_net")]  # fmt: skip
    facts["hbas"], facts["pci"] = [], []
    facts["disks"] = [{"name": "vda", "size_bytes": 250 * GIB, "rotational": True, "kind": "virtual", "model": None, "vendor": "0x1af4", "serial": None,
                       "wwn": None, "transport": "virtio", "removable": False, "holders": []}]  # fmt: skip
    facts["os"] = {
        **facts["os"],
        "hostname": f"cs-web{index:02d}",
        "machine_id": f"9c4d1e77b0a2431f{index:016d}",
        "dns": {"nameservers": ["10.20.0.53", "10.10.0.53"]},
    }
    facts["sysctl"] = {"net.ipv4.ip_forward": "0", "net.ipv4.tcp_syncookies": "1", "net.core.somaxconn": "4096"}
    facts["filesystems"] = {"/": facts["filesystems"]["/"], "/opt/app": {"size_bytes": 100 * GIB, "free_bytes": 60 * GIB, "available_bytes": 60 * GIB,
                                                                         "fstype": "xfs", "options": ["rw"]}}  # fmt: skip
    facts["users"] = {"appop": {"exists": True, "uid": 2001, "gid": 2001, "home": "/home/appop", "shell": "/bin/bash", "groups": ["appop"]}}
    return facts


def six_hosts() -> dict[str, HostInput]:
    """cb-db01 ready; cb-db02 has gcc and make; cb-db03 is below the memory spec and has a waived 8G HBA;
    cs-web01 ready through a waiver; cs-web02 carries an expired waiver; it-bak01 was unreachable."""
    core = example_spec("core_business")
    web = example_spec("customer_service")
    infra = example_spec("it_infrastructure")
    probes_core = {"oracle-scan": {"reachable": True, "elapsed_ms": 2}, "backup-master": {"reachable": True, "elapsed_ms": 3}}
    probes_web = {"cti-gateway": {"reachable": True, "elapsed_ms": 1}, "crm-api": {"reachable": True, "elapsed_ms": 4}}

    db1, db2, db3 = core_db_facts(1), core_db_facts(2), core_db_facts(3)
    db2["software"]["gcc"] = {"found": True, "path": "/usr/bin/gcc", "package": {"name": "gcc", "version": "8.5.0-20.el8"}}
    db2["software"]["make"] = {"found": True, "path": "/usr/bin/make", "package": {"name": "make", "version": "4.2.1-11.el8"}}
    db3["memory"]["total_bytes"] = 251 * GIB
    for hba in db3["hbas"]:
        hba["speed_gbps"] = 8
    web1, web2 = customer_web_facts(1), customer_web_facts(2)
    web1["nics"][1]["speed_mbps"] = 1000
    web2["sysctl"]["net.ipv4.tcp_syncookies"] = "0"
    web2["sysctl"]["net.core.somaxconn"] = "128"
    web2["os"]["time_sync"] = {"services": ["chronyd"], "synchronized": False}
    return {
        "cb-db01": HostInput("cb-db01", copy.deepcopy(core), db1, probes=probes_core),
        "cb-db02": HostInput("cb-db02", copy.deepcopy(core), db2, probes=probes_core),
        "cb-db03": HostInput("cb-db03", copy.deepcopy(core), db3, probes=probes_core),
        "cs-web01": HostInput("cs-web01", copy.deepcopy(web), web1, probes=probes_web),
        "cs-web02": HostInput("cs-web02", copy.deepcopy(web), web2, probes=probes_web),
        "it-bak01": HostInput("it-bak01", copy.deepcopy(infra), None, facts_error="UNREACHABLE: ssh: connect to host 10.30.1.31 port 22: No route to host"),
    }


def main(argv: list[str]) -> int:
    from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.reports import summary_table, write_reports

    verdict = evaluate_fleet(six_hosts(), today=TODAY, now=datetime.datetime(2026, 11, 27, 9, 30, tzinfo=datetime.UTC))
    paths = write_reports(verdict, argv[0] if argv else "reports")
    print(summary_table(verdict))
    print(paths["html"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
