# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The hardware subsets against fixture trees modelled on real drivers; every value asserted exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.host_facts.cpu import collect_cpu
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.disks import collect_disks
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.hbas import collect_hbas, normalise_wwn, parse_speed_gbps, parse_speed_list
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.memory import collect_memory
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.nics import collect_nics
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.pci import collect_pci
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.sysfs import FactReader
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.system import collect_system

from .fixture_trees import Unreadable, build_tree


def _by(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {item[key]: item for item in items}


def _errors(reader: FactReader) -> list[tuple[str | None, str | None]]:
    return [(e["path"], e["error"]) for e in reader.errors]


# -- system, cpu, memory -----------------------------------------------------------------------------------


def test_server_system_cpu_memory(server_root: Path) -> None:
    reader = FactReader(str(server_root))
    assert collect_system(reader) == {
        "vendor": "Dell Inc.",
        "product": "PowerEdge R740",
        "serial": "4CZ1234",
        "bios_version": "2.12.2",
        "virtualization": "none",
        "container": None,
    }
    assert collect_cpu(reader) == {
        "model": "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz",
        "vendor": "GenuineIntel",
        "sockets": 2,
        "cores": 4,
        "threads": 8,
        "mhz_max": 3900,
        "mhz_current": 2395,
    }
    assert collect_memory(reader) == {
        "total_bytes": 394865936 * 1024,
        "available_bytes": 380000000 * 1024,
        "free_bytes": 300123456 * 1024,
        "swap_total_bytes": 4194300 * 1024,
        "swap_free_bytes": 4194300 * 1024,
        "hugepages": {"total": 1024, "free": 1000, "size_bytes": 2 * 1024 * 1024},
        "numa_nodes": 2,
    }
    assert reader.errors == []


def test_guest_system_cpu_memory(guest_root: Path) -> None:
    reader = FactReader(str(guest_root))
    assert collect_system(reader) == {
        "vendor": "QEMU",
        "product": "Standard PC (Q35 + ICH9, 2009)",
        "serial": None,  # root-only file: null plus an error, not an exception
        "bios_version": "1.16.2-debian-1.16.2-1",
        "virtualization": "kvm",  # QEMU DMI strings, but kvm-clock: KVM acceleration
        "container": "podman",
    }
    assert collect_cpu(reader) == {
        "model": "Intel Xeon Processor (Icelake)",
        "vendor": "GenuineIntel",
        "sockets": 4,
        "cores": 4,
        "threads": 4,
        "mhz_max": None,  # no cpufreq in a guest
        "mhz_current": 2893,
    }
    memory = collect_memory(reader)
    assert (memory["total_bytes"], memory["swap_total_bytes"], memory["numa_nodes"]) == (8141380 * 1024, 0, 1)
    assert _errors(reader) == [
        ("/sys/class/dmi/id/product_serial", "EISDIR: Is a directory"),
        ("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "ENOENT: No such file or directory"),
    ]


def test_cpu_topology_from_sysfs_when_cpuinfo_has_none(tmp_path: Path) -> None:
    """arm64 cpuinfo has no physical id / core id; sysfs topology gives sockets and cores."""
    tree: dict[str, Any] = {"/proc/cpuinfo": "".join(f"processor\t: {i}\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n\n" for i in range(4))}
    for cpu, (package, core) in enumerate([(0, 0), (0, 1), (0, 2), (0, 3)]):
        tree[f"/sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id"] = f"{package}\n"
        tree[f"/sys/devices/system/cpu/cpu{cpu}/topology/core_id"] = f"{core}\n"
    tree["/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"] = "2400000\n"
    reader = FactReader(str(build_tree(tmp_path, tree)))
    cpu = collect_cpu(reader)
    assert (cpu["sockets"], cpu["cores"], cpu["threads"], cpu["vendor"], cpu["mhz_max"], cpu["model"]) == (1, 4, 4, "0x41", 2400, None)
    assert _errors(reader) == [("/proc/cpuinfo", "no model name field")]


# -- NICs --------------------------------------------------------------------------------------------------


def test_server_nics(server_root: Path) -> None:
    reader = FactReader(str(server_root))
    nics = collect_nics(reader)
    assert [n["name"] for n in nics] == ["bond0", "bond0.100", "eno1", "ens1f0np0", "ens1f1np1", "lo"]  # bonding_masters is a file, not a NIC
    by_name = _by(nics, "name")
    assert by_name["ens1f0np0"] == {
        "name": "ens1f0np0",
        "kind": "physical",
        "mac": "b8:59:9f:a0:00:10",
        "mtu": 9000,
        "operstate": "up",
        "carrier": True,
        "speed_mbps": 25000,
        "duplex": "full",
        "driver": "mlx5_core",
        "pci_address": "0000:3b:00.0",
        "master": "bond0",
        "bond": None,
        "vlan": None,
        "addresses": [],
    }
    assert (by_name["ens1f1np1"]["pci_address"], by_name["ens1f1np1"]["master"]) == ("0000:3b:00.1", "bond0")
    bond = by_name["bond0"]
    assert (bond["kind"], bond["speed_mbps"], bond["driver"], bond["pci_address"]) == ("bond", 25000, None, None)
    assert bond["bond"] == {"mode": "active-backup", "slaves": ["ens1f0np0", "ens1f1np1"], "active_slave": "ens1f0np0", "miimon_ms": 100}
    assert bond["addresses"] == [
        {"family": "ipv4", "address": "192.168.100.11", "prefix": 24},
        {"family": "ipv6", "address": "fe80::ba59:9fff:fea0:10", "prefix": 64, "scope": "link"},
    ]
    vlan = by_name["bond0.100"]
    assert (vlan["kind"], vlan["vlan"], vlan["addresses"]) == (
        "vlan",
        {"id": 100, "parent": "bond0"},
        [{"family": "ipv4", "address": "10.20.30.41", "prefix": 24}],
    )
    down = by_name["eno1"]
    assert (down["kind"], down["operstate"], down["carrier"], down["speed_mbps"], down["duplex"], down["driver"], down["pci_address"]) == (
        "physical",
        "down",
        None,
        None,
        None,
        "igb",
        "0000:01:00.0",
    )
    lo = by_name["lo"]
    assert (lo["kind"], lo["speed_mbps"], lo["carrier"]) == ("loopback", None, None)
    assert lo["addresses"] == [{"family": "ipv4", "address": "127.0.0.1", "prefix": 8}, {"family": "ipv6", "address": "::1", "prefix": 128, "scope": "host"}]
    # The down port's link attributes fail (EINVAL on real hardware, EISDIR here): null plus one error each.
    assert _errors(reader) == [(f"/sys/class/net/eno1/{a}", "EISDIR: Is a directory") for a in ("carrier", "duplex", "speed")]


def test_guest_nics(guest_root: Path) -> None:
    reader = FactReader(str(guest_root))
    by_name = _by(collect_nics(reader), "name")
    eth0 = by_name["eth0"]
    # virtio: the netdev's device is virtio0, one level below the PCI function
    assert (eth0["kind"], eth0["driver"], eth0["pci_address"], eth0["speed_mbps"], eth0["duplex"]) == ("physical", "virtio_net", "0000:00:03.0", None, None)
    assert eth0["addresses"] == [{"family": "ipv4", "address": "192.168.122.50", "prefix": 24}]
    assert (by_name["docker0"]["kind"], by_name["docker0"]["addresses"]) == ("bridge", [{"family": "ipv4", "address": "172.17.0.1", "prefix": 16}])
    veth = by_name["veth3f2a1b0"]
    assert (veth["kind"], veth["master"], veth["speed_mbps"], veth["driver"]) == ("virtual", "docker0", 10000, None)
    assert reader.errors == []


# -- HBAs --------------------------------------------------------------------------------------------------


def test_server_hbas(server_root: Path) -> None:
    reader = FactReader(str(server_root))
    hbas = collect_hbas(reader)
    assert [h["host"] for h in hbas] == ["host1", "host2", "host3", "host4"]
    assert hbas[0] == {
        "host": "host1",
        "type": "fc",
        "wwpn": "21000024ff7e1a2b",
        "wwnn": "20000024ff7e1a2b",
        "port_state": "Online",
        "port_type": "NPort (fabric via point-to-point)",
        "speed_gbps": 32,
        "supported_speeds_gbps": [8, 16, 32],
        "model": "QLE2742",
        "model_description": "Cavium 32Gb 2-port FC to PCIe Gen3 x8 Adapter",
        "firmware": "9.08.02 (d0d5)",
        "driver": "qla2xxx",
        "symbolic_name": "QLE2742 FW:v9.08.02 DVR:v10.02.08.200-k",
        "pci_address": "0000:5e:00.0",
    }
    assert (hbas[1]["wwpn"], hbas[1]["wwnn"], hbas[1]["pci_address"]) == ("21000024ff7e1a2c", "20000024ff7e1a2c", "0000:5e:00.1")
    lpfc_up, lpfc_down = hbas[2], hbas[3]
    assert (lpfc_up["model"], lpfc_up["firmware"], lpfc_up["driver"], lpfc_up["speed_gbps"], lpfc_up["supported_speeds_gbps"]) == (
        "LPe16002B-M6",
        "11.4.204.25, sli-4:2:b",
        "lpfc",
        16,
        [4, 8, 16],
    )
    assert lpfc_up["model_description"] == "Emulex LightPulse LPe16002B-M6 PCIe 2-port 16Gb Fibre Channel Adapter"
    assert (lpfc_down["port_state"], lpfc_down["speed_gbps"], lpfc_down["wwpn"]) == ("Linkdown", None, "10000090fa8b4c6f")
    assert reader.errors == []


def test_fc_host_with_only_port_state(tmp_path: Path) -> None:
    """Some drivers publish next to nothing: every missing attribute is null and one error, never an exception."""
    from .fixture_trees import Link

    root = build_tree(
        tmp_path,
        {
            "/sys/devices/platform/host7/fc_host/host7/port_state": "Online\n",
            "/sys/class/fc_host/host7": Link("/sys/devices/platform/host7/fc_host/host7"),
        },
    )
    reader = FactReader(str(root))
    [hba] = collect_hbas(reader)
    assert hba["port_state"] == "Online"
    assert all(hba[k] is None for k in ("wwpn", "wwnn", "port_type", "speed_gbps", "model", "model_description", "firmware", "driver", "pci_address"))
    assert hba["supported_speeds_gbps"] == []
    assert [e["path"] for e in reader.errors] == [
        "/sys/class/fc_host/host7/port_name",
        "/sys/class/fc_host/host7/node_name",
        "/sys/class/fc_host/host7/port_type",
        "/sys/class/fc_host/host7/speed",
        "/sys/class/fc_host/host7/supported_speeds",
        "/sys/class/fc_host/host7/symbolic_name",
        "/sys/class/scsi_host/host7/model_name",
        "/sys/class/scsi_host/host7/model_desc",
        "/sys/class/scsi_host/host7/fw_version",
        "/sys/class/scsi_host/host7/proc_name",
    ]
    assert reader.errors[6]["error"] == "ENOENT: No such file or directory (nor /sys/class/scsi_host/host7/modelname)"


def test_wwn_and_speed_parsing() -> None:
    assert normalise_wwn("0x21000024FF7E1A2B") == "21000024ff7e1a2b"
    assert normalise_wwn("0x500143802426baf") == "0500143802426baf"  # leading zero dropped by the driver
    assert normalise_wwn("0x0") is None
    assert normalise_wwn("garbage") is None
    assert parse_speed_gbps("32 Gbit") == 32
    assert parse_speed_gbps("unknown") is None
    assert parse_speed_list("16 Gbit, 8 Gbit") == [16, 8]
    assert parse_speed_list("1 Gbit, 2 Gbit, 4 Gbit, Not Negotiated") == [1, 2, 4]


# -- disks, PCI --------------------------------------------------------------------------------------------


def test_server_disks(server_root: Path) -> None:
    reader = FactReader(str(server_root))
    disks = _by(collect_disks(reader), "name")
    assert sorted(disks) == ["dm-0", "dm-1", "md0", "nvme0n1", "sda", "sdb", "sdc", "sdd", "sde"]  # no loop0, zram0
    assert disks["nvme0n1"] == {
        "name": "nvme0n1",
        "kind": "nvme",
        "size_bytes": 960197124096,
        "rotational": False,
        "removable": False,
        "transport": "nvme",
        "model": "SAMSUNG MZ1LB960HAJQ-00007",
        "vendor": None,
        "serial": "S435NA0M123456",
        "wwn": "eui.0025388b91b2a1c4",
        "holders": [],
        "slaves": [],
        "md_level": None,
        "dm_name": None,
    }
    sda = disks["sda"]
    assert (sda["kind"], sda["transport"], sda["size_bytes"], sda["vendor"], sda["model"], sda["serial"], sda["wwn"]) == (
        "hdd",
        "sas",
        1200243695616,
        "SEAGATE",
        "ST1200MM0099",
        "WFK0ABCD0000K1234567",
        "naa.5000c500a1b2c3d4",
    )
    for path in ("sdb", "sdc"):
        assert (disks[path]["transport"], disks[path]["holders"], disks[path]["vendor"]) == ("fc", ["dm-0"], "NETAPP")
    mpath = disks["dm-0"]
    assert (mpath["kind"], mpath["dm_name"], mpath["wwn"], mpath["slaves"], mpath["size_bytes"], mpath["transport"]) == (
        "multipath",
        "mpatha",
        "3600a098038303053453f463045757a51",
        ["sdb", "sdc"],
        1024**4,
        None,
    )
    md = disks["md0"]
    assert (md["kind"], md["md_level"], md["slaves"], md["holders"]) == ("md", "raid1", ["sdd", "sde"], ["dm-1"])
    assert (disks["sdd"]["kind"], disks["sdd"]["transport"], disks["sdd"]["vendor"]) == ("ssd", "sata", "ATA")
    assert (disks["dm-1"]["kind"], disks["dm-1"]["dm_name"], disks["dm-1"]["size_bytes"]) == ("lvm", "vg_root-lv_root", 50 * 1024**3)
    assert reader.errors == []


def test_guest_disks(guest_root: Path) -> None:
    reader = FactReader(str(guest_root))
    disks = _by(collect_disks(reader), "name")
    assert sorted(disks) == ["sr0", "vda"]  # ram0 left out
    assert (disks["vda"]["kind"], disks["vda"]["transport"], disks["vda"]["serial"], disks["vda"]["vendor"], disks["vda"]["size_bytes"]) == (
        "virtual",
        "virtio",
        "vol-0a1b2c3d",
        None,
        40 * 1024**3,
    )
    assert (disks["sr0"]["kind"], disks["sr0"]["removable"]) == ("optical", True)


def test_server_pci_cards(server_root: Path) -> None:
    reader = FactReader(str(server_root))
    cards = collect_pci(reader)
    # host bridge 00:00.0 and the USB controller 00:14.0 are not I/O cards
    assert [(c["address"], c["class"], c["class_code"], c["driver"]) for c in cards] == [
        ("0000:00:17.0", "SATA controller", "0x0106", "ahci"),
        ("0000:01:00.0", "Ethernet controller", "0x0200", "igb"),
        ("0000:18:00.0", "Serial Attached SCSI controller", "0x0107", "mpt3sas"),
        ("0000:19:00.0", "Non-Volatile memory controller", "0x0108", "nvme"),
        ("0000:3b:00.0", "Ethernet controller", "0x0200", "mlx5_core"),
        ("0000:3b:00.1", "Ethernet controller", "0x0200", "mlx5_core"),
        ("0000:5e:00.0", "Fibre Channel", "0x0c04", "qla2xxx"),
        ("0000:5e:00.1", "Fibre Channel", "0x0c04", "qla2xxx"),
        ("0000:af:00.0", "Fibre Channel", "0x0c04", "lpfc"),
        ("0000:af:00.1", "Fibre Channel", "0x0c04", "lpfc"),
    ]
    qle = cards[6]
    assert (qle["vendor_id"], qle["device_id"], qle["subsystem_vendor_id"], qle["subsystem_device_id"]) == ("0x1077", "0x2261", "0x1077", "0x02a7")
    assert reader.errors == []


def test_guest_pci_cards(guest_root: Path) -> None:
    cards = collect_pci(FactReader(str(guest_root)))
    assert [(c["address"], c["class"], c["vendor_id"], c["device_id"]) for c in cards] == [
        ("0000:00:01.0", "VGA compatible controller", "0x1234", "0x1111"),
        ("0000:00:03.0", "Ethernet controller", "0x1af4", "0x1000"),
        ("0000:00:04.0", "SCSI storage controller", "0x1af4", "0x1001"),
    ]


def test_unreadable_attribute_is_null_and_error(tmp_path: Path) -> None:
    root = build_tree(tmp_path, {"/sys/class/dmi/id/sys_vendor": Unreadable(), "/sys/class/dmi/id/product_name": "\n"})
    reader = FactReader(str(root))
    system = collect_system(reader)
    assert (system["vendor"], system["product"], system["virtualization"]) == (None, None, "none")
    assert _errors(reader)[0] == ("/sys/class/dmi/id/sys_vendor", "EISDIR: Is a directory")
    # An empty attribute is null without an error: drivers write blank strings.
    assert "/sys/class/dmi/id/product_name" not in [p for p, _message in _errors(reader)]
