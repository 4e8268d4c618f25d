# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Lay out fake hosts (/proc, /sys, /etc) in a temporary directory, symlinks included.

The trees are built at test time rather than committed, because ansible-test and
``ansible-galaxy collection build`` reject symlinks to directories. Values are copied from
real machines with the drivers named (qla2xxx, lpfc, mlx5_core, igb, nvme, mpt3sas, ahci,
virtio). A read that fails (EINVAL from ``speed`` of a down link; EACCES of a root-only
file) is emulated with a directory in place of the file: reading it raises EISDIR, which
goes through the same error path. chmod 000 would not do - the tests may run as root.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias


@dataclass(frozen=True)
class Link:
    """A symlink to a host path (``/sys/devices/...``); written relative so it resolves inside the tree."""

    target: str


@dataclass(frozen=True)
class Unreadable:
    """An attribute whose read fails (a directory in its place: EISDIR)."""


@dataclass(frozen=True)
class Dir:
    """An empty directory (``holders/`` of a disk nothing is built on)."""


@dataclass(frozen=True)
class Executable:
    content: str = "#!/bin/sh\n"


# A string: pylint (ansible-test sanity) misreads a runtime | between classes as an unsupported operation.
Entry: TypeAlias = "str | bytes | Link | Unreadable | Dir | Executable"


def build_tree(root: Path, entries: dict[str, Entry]) -> Path:
    for host_path, entry in sorted(entries.items(), key=lambda item: isinstance(item[1], Link)):
        path = root / host_path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(entry, Link):
            link_dir = os.path.dirname("/" + host_path.lstrip("/"))
            os.symlink(os.path.relpath(entry.target, link_dir), path)
        elif isinstance(entry, (Unreadable, Dir)):
            path.mkdir(parents=True, exist_ok=True)
        elif isinstance(entry, Executable):
            path.write_text(entry.content)
            path.chmod(0o755)
        elif isinstance(entry, bytes):
            path.write_bytes(entry)
        else:
            path.write_text(entry)
    return root


def attrs(base: str, values: dict[str, Entry]) -> dict[str, Entry]:
    """``{"speed": "25000\\n"}`` under ``/sys/.../eth0`` -> ``{"/sys/.../eth0/speed": "25000\\n"}``."""
    return {f"{base}/{name}": value for name, value in values.items()}


def text(value: object) -> str:
    return f"{value}\n"


# -- building blocks, each adding the class links the kernel makes -------------------------------------------


def pci_function(
    tree: dict[str, Entry], device_dir: str, pci_class: int, vendor: int, device: int, driver: str | None, sub: tuple[int, int] | None = None
) -> None:
    address = os.path.basename(device_dir)
    sub_vendor, sub_device = sub or (vendor, device)
    tree.update(
        attrs(
            device_dir,
            {
                "class": f"0x{pci_class:06x}\n",
                "vendor": f"0x{vendor:04x}\n",
                "device": f"0x{device:04x}\n",
                "subsystem_vendor": f"0x{sub_vendor:04x}\n",
                "subsystem_device": f"0x{sub_device:04x}\n",
                "numa_node": "0\n" if device_dir.startswith("/sys/devices/pci0000:") else "1\n",
            },
        )
    )
    if driver:
        tree[f"{device_dir}/driver"] = Link(f"/sys/bus/pci/drivers/{driver}")
        tree[f"/sys/bus/pci/drivers/{driver}/new_id"] = ""
    tree[f"/sys/bus/pci/devices/{address}"] = Link(device_dir)


def net_device(tree: dict[str, Entry], name: str, values: dict[str, Entry], parent: str | None = None, driver: str | None = None) -> str:
    """A netdev under its parent device (physical) or /sys/devices/virtual/net."""
    base = f"{parent}/net/{name}" if parent else f"/sys/devices/virtual/net/{name}"
    tree.update(attrs(base, {"uevent": f"INTERFACE={name}\n", **values}))
    if parent:
        tree[f"{base}/device"] = Link(parent)
        if driver:
            tree[f"{parent}/driver"] = (
                Link(f"/sys/bus/pci/drivers/{driver}") if not os.path.basename(parent).startswith("virtio") else Link(f"/sys/bus/virtio/drivers/{driver}")
            )
    tree[f"/sys/class/net/{name}"] = Link(base)
    return base


def block_device(
    tree: dict[str, Entry], name: str, base: str, values: dict[str, Entry], device: dict[str, Entry] | None = None, device_dir: str | None = None
) -> str:
    tree.update(attrs(base, values))
    tree.setdefault(f"{base}/holders", Dir())
    tree.setdefault(f"{base}/slaves", Dir())
    if device is not None and device_dir is not None:
        tree.update(attrs(device_dir, device))
        tree[f"{base}/device"] = Link(device_dir)
    tree[f"/sys/block/{name}"] = Link(base)
    tree[f"/sys/class/block/{name}"] = Link(base)
    return base


def stack(tree: dict[str, Entry], lower: str, lower_base: str, upper: str, upper_base: str) -> None:
    """``upper`` is built on ``lower``: holders/ and slaves/ links, as md and dm make them."""
    tree[f"{lower_base}/holders/{upper}"] = Link(upper_base)
    tree[f"{upper_base}/slaves/{lower}"] = Link(lower_base)


def fc_port(tree: dict[str, Entry], pci_dir: str, host: str, fc: dict[str, Entry], scsi: dict[str, Entry]) -> None:
    fc_dir = f"{pci_dir}/{host}/fc_host/{host}"
    scsi_dir = f"{pci_dir}/{host}/scsi_host/{host}"
    tree.update(attrs(fc_dir, fc))
    tree.update(attrs(scsi_dir, scsi))
    tree[f"/sys/class/fc_host/{host}"] = Link(fc_dir)
    tree[f"/sys/class/scsi_host/{host}"] = Link(scsi_dir)


def cpuinfo(model: str, vendor: str, layout: list[tuple[int, int]], mhz: list[str], flags: str) -> str:
    """``layout``: (physical id, core id) per logical CPU, in processor order."""
    blocks = []
    for index, (package, core) in enumerate(layout):
        blocks.append(
            f"processor\t: {index}\nvendor_id\t: {vendor}\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: {model}\n"
            f"stepping\t: 7\ncpu MHz\t\t: {mhz[index % len(mhz)]}\ncache size\t: 28160 KB\nphysical id\t: {package}\n"
            f"siblings\t: {len(layout) // len({p for p, _core in layout})}\ncore id\t\t: {core}\ncpu cores\t: {len({c for p, c in layout if p == package})}\n"
            f"flags\t\t: {flags}\nbogomips\t: 4200.00\n"
        )
    return "\n".join(blocks) + "\n"


def rpm_header(name: str, version: str, release: str, arch: str, epoch: int | None = None) -> bytes:
    """An rpm header blob as rpm 4.16+ stores it in rpmdb.sqlite: index count, data length, entries, data."""
    entries: list[tuple[int, int, bytes]] = [(1000, 6, name.encode() + b"\0"), (1001, 6, version.encode() + b"\0"), (1002, 6, release.encode() + b"\0")]
    if epoch is not None:
        entries.append((1003, 4, epoch.to_bytes(4, "big")))
    entries.append((1022, 6, arch.encode() + b"\0"))
    index = b""
    data = b""
    for tag, kind, value in entries:
        if kind == 4:
            data += b"\0" * (-len(data) % 4)  # INT32 data is 4-byte aligned
        index += b"".join(n.to_bytes(4, "big") for n in (tag, kind, len(data), 1))
        data += value
    return len(entries).to_bytes(4, "big") + len(data).to_bytes(4, "big") + index + data


def write_rpmdb(path: Path, packages: list[bytes]) -> None:
    """The two tables of rpm's sqlite backend that a name lookup needs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    connection.execute("CREATE TABLE Name (key TEXT NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY(key, hnum, idx))")
    for hnum, blob in enumerate(packages, start=1):
        connection.execute("INSERT INTO Packages (hnum, blob) VALUES (?, ?)", (hnum, blob))
        name = blob[8 + 16 * int.from_bytes(blob[0:4], "big") :].split(b"\0", 1)[0].decode()
        connection.execute("INSERT INTO Name (key, hnum, idx) VALUES (?, ?, 0)", (name, hnum))
    connection.commit()
    connection.close()


# -- the hosts ----------------------------------------------------------------------------------------------

QLE = "/sys/devices/pci0000:5d/0000:5d:00.0"
LPE = "/sys/devices/pci0000:ae/0000:ae:00.0"
MLX = "/sys/devices/pci0000:3a/0000:3a:00.0"
SAS = "/sys/devices/pci0000:17/0000:17:02.0/0000:18:00.0"
NVME = "/sys/devices/pci0000:17/0000:17:00.0/0000:19:00.0"
AHCI = "/sys/devices/pci0000:00/0000:00:17.0"

SERVER_FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.20.30.0/24 2 0 2
        |-- 10.20.30.0
           /24 link UNICAST
        |-- 10.20.30.41
           /32 host LOCAL
     +-- 192.168.100.0/24 2 0 2
        |-- 192.168.100.0
           /24 link UNICAST
        |-- 192.168.100.11
           /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     +-- 10.20.30.0/24 2 0 2
        |-- 10.20.30.41
           /32 host LOCAL
        |-- 10.20.30.255
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.168.100.0/24 2 0 2
        |-- 192.168.100.11
           /32 host LOCAL
"""
SERVER_ROUTE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "bond0.100\t00000000\t011E140A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "bond0.100\t001E140A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    "bond0\t0064A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
)
SERVER_IF_INET6 = "00000000000000000000000000000001 01 80 10 80       lo\nfe80000000000000ba599ffffea00010 06 40 20 80    bond0\n"


def bare_metal_server(root: Path) -> Path:
    """Dell R740, RHEL 9: 2x Xeon Gold 6230 (2 cores x 2 threads each here, to keep cpuinfo short),
    two-port qla2xxx QLE2742 (32G) and lpfc LPe16002B (16G, port 2 down), active-backup bond of two
    mlx5 25G ports with a VLAN on top, a down igb port, NVMe + SAS HDD + a multipath FC LUN + md RAID1 with LVM."""
    t: dict[str, Entry] = {
        "/proc/cpuinfo": cpuinfo(
            "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz",
            "GenuineIntel",
            [(0, 0), (0, 1), (1, 0), (1, 1), (0, 0), (0, 1), (1, 0), (1, 1)],
            ["2394.512", "2100.000"],
            "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr lm constant_tsc avx512f",
        ),
        "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq": "3900000\n",
        "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq": "2394512\n",
        "/proc/meminfo": (
            "MemTotal:       394865936 kB\nMemFree:        300123456 kB\nMemAvailable:   380000000 kB\nBuffers:          123456 kB\n"
            "SwapTotal:        4194300 kB\nSwapFree:         4194300 kB\nHugePages_Total:    1024\nHugePages_Free:     1000\n"
            "HugePages_Rsvd:        0\nHugePages_Surp:        0\nHugepagesize:       2048 kB\nHugetlb:         2097152 kB\n"
        ),
        "/sys/devices/system/node/node0/cpulist": "0-1,4-5\n",
        "/sys/devices/system/node/node1/cpulist": "2-3,6-7\n",
        "/sys/devices/system/node/online": "0-1\n",
        "/sys/devices/system/node/possible": "0-1\n",
        "/sys/devices/system/clocksource/clocksource0/available_clocksource": "tsc hpet acpi_pm \n",
        **attrs(
            "/sys/devices/virtual/dmi/id",
            {
                "sys_vendor": "Dell Inc.\n",
                "product_name": "PowerEdge R740\n",
                "product_serial": "4CZ1234\n",
                "bios_version": "2.12.2\n",
                "bios_vendor": "Dell Inc.\n",
            },
        ),
        "/sys/class/dmi/id": Link("/sys/devices/virtual/dmi/id"),
        "/proc/net/fib_trie": SERVER_FIB_TRIE,
        "/proc/net/route": SERVER_ROUTE,
        "/proc/net/if_inet6": SERVER_IF_INET6,
        "/proc/net/vlan/config": "VLAN Dev name\t | VLAN ID\nName-Type: VLAN_NAME_TYPE_RAW_PLUS_VID_NO_PAD\nbond0.100      | 100  | bond0\n",
        "/sys/class/net/bonding_masters": "bond0\n",
        "/sys/block/loop0": Link("/sys/devices/virtual/block/loop0"),
        "/sys/devices/virtual/block/loop0/size": "0\n",
        "/sys/block/zram0": Link("/sys/devices/virtual/block/zram0"),
        "/sys/devices/virtual/block/zram0/size": "16777216\n",
    }

    # PCI: bridges and USB must be left out of `pci`
    pci_function(t, "/sys/devices/pci0000:00/0000:00:00.0", 0x060000, 0x8086, 0x2020, None)
    pci_function(t, "/sys/devices/pci0000:00/0000:00:14.0", 0x0C0330, 0x8086, 0xA1AF, "xhci_hcd")
    pci_function(t, AHCI, 0x010601, 0x8086, 0xA182, "ahci")
    pci_function(t, SAS, 0x010700, 0x1000, 0x0097, "mpt3sas", (0x1028, 0x1F45))
    pci_function(t, NVME, 0x010802, 0x144D, 0xA808, "nvme", (0x144D, 0xA801))
    pci_function(t, "/sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0", 0x020000, 0x8086, 0x1521, "igb", (0x1028, 0x1F9A))
    for fn in (0, 1):
        pci_function(t, f"{MLX}/0000:3b:00.{fn}", 0x020000, 0x15B3, 0x1015, "mlx5_core", (0x15B3, 0x0003))
        pci_function(t, f"{QLE}/0000:5e:00.{fn}", 0x0C0400, 0x1077, 0x2261, "qla2xxx", (0x1077, 0x02A7))
        pci_function(t, f"{LPE}/0000:af:00.{fn}", 0x0C0400, 0x10DF, 0xE200, "lpfc", (0x10DF, 0xE272))

    # NICs
    net_device(t, "lo", {"type": "772\n", "address": "00:00:00:00:00:00\n", "mtu": "65536\n", "operstate": "unknown\n", "carrier": "1\n"})
    for fn, mac in ((0, "b8:59:9f:a0:00:10"), (1, "b8:59:9f:a0:00:10")):
        name = f"ens1f{fn}np{fn}"
        base = net_device(
            t,
            name,
            {"type": "1\n", "address": f"{mac}\n", "mtu": "9000\n", "operstate": "up\n", "carrier": "1\n", "speed": "25000\n", "duplex": "full\n"},
            parent=f"{MLX}/0000:3b:00.{fn}",
            driver="mlx5_core",
        )
        t[f"{base}/bonding_slave/state"] = "active\n" if fn == 0 else "backup\n"
        t[f"{base}/master"] = Link("/sys/devices/virtual/net/bond0")
    net_device(
        t,
        "bond0",
        {
            "type": "1\n",
            "address": "b8:59:9f:a0:00:10\n",
            "mtu": "9000\n",
            "operstate": "up\n",
            "carrier": "1\n",
            "speed": "25000\n",
            "duplex": "full\n",
            "bonding/mode": "active-backup 1\n",
            "bonding/slaves": "ens1f0np0 ens1f1np1\n",
            "bonding/active_slave": "ens1f0np0\n",
            "bonding/miimon": "100\n",
        },
    )
    net_device(
        t,
        "bond0.100",
        {
            "type": "1\n",
            "address": "b8:59:9f:a0:00:10\n",
            "mtu": "9000\n",
            "operstate": "up\n",
            "carrier": "1\n",
            "speed": "25000\n",
            "duplex": "full\n",
            "uevent": "DEVTYPE=vlan\nINTERFACE=bond0.100\nIFINDEX=7\n",
        },
    )
    # Administratively down: the kernel answers EINVAL to carrier, speed and duplex.
    net_device(
        t,
        "eno1",
        {
            "type": "1\n",
            "address": "e4:43:4b:11:22:33\n",
            "mtu": "1500\n",
            "operstate": "down\n",
            "carrier": Unreadable(),
            "speed": Unreadable(),
            "duplex": Unreadable(),
        },
        parent="/sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0",
        driver="igb",
    )

    # FC HBAs
    for fn, host, wwpn in ((0, "host1", "0x21000024ff7e1a2b"), (1, "host2", "0x21000024ff7e1a2c")):
        fc_port(
            t,
            f"{QLE}/0000:5e:00.{fn}",
            host,
            {
                "port_name": f"{wwpn}\n",
                "node_name": f"0x20000024FF7E1A2{'B' if fn == 0 else 'C'}\n",  # qla2xxx prints lower case; upper case must work too
                "port_state": "Online\n",
                "port_type": "NPort (fabric via point-to-point)\n",
                "speed": "32 Gbit\n",
                "supported_speeds": "8 Gbit, 16 Gbit, 32 Gbit\n",
                "symbolic_name": "QLE2742 FW:v9.08.02 DVR:v10.02.08.200-k\n",
            },
            {
                "model_name": "QLE2742\n",
                "model_desc": "Cavium 32Gb 2-port FC to PCIe Gen3 x8 Adapter\n",
                "fw_version": "9.08.02 (d0d5)\n",
                "proc_name": "qla2xxx\n",
            },
        )
    for fn, host, state, speed, port_type in (
        (0, "host3", "Online", "16 Gbit", "NPort (fabric via point-to-point)"),
        (1, "host4", "Linkdown", "unknown", "Unknown"),
    ):
        fc_port(
            t,
            f"{LPE}/0000:af:00.{fn}",
            host,
            {
                "port_name": f"0x10000090fa8b4c6{'e' if fn == 0 else 'f'}\n",
                "node_name": f"0x20000090fa8b4c6{'e' if fn == 0 else 'f'}\n",
                "port_state": f"{state}\n",
                "port_type": f"{port_type}\n",
                "speed": f"{speed}\n",
                "supported_speeds": "4 Gbit, 8 Gbit, 16 Gbit\n",
                "symbolic_name": "Emulex LPe16002B-M6 FV11.4.204.25 DV12.8.0.11 HN:db01 OS:Linux\n",
            },
            {
                "modelname": "LPe16002B-M6\n",
                "modeldesc": "Emulex LightPulse LPe16002B-M6 PCIe 2-port 16Gb Fibre Channel Adapter\n",
                "fwrev": "11.4.204.25, sli-4:2:b\n",
                "proc_name": "lpfc\n",
            },
        )

    # Disks
    nvme_ctrl = f"{NVME}/nvme/nvme0"
    block_device(
        t,
        "nvme0n1",
        f"{nvme_ctrl}/nvme0n1",
        {"size": "1875385008\n", "queue/rotational": "0\n", "removable": "0\n", "wwid": "eui.0025388b91b2a1c4\n"},
        {"model": "SAMSUNG MZ1LB960HAJQ-00007              \n", "serial": "S435NA0M123456      \n", "firmware_rev": "EDA7602Q\n", "transport": "pcie\n"},
        nvme_ctrl,
    )
    sda_dev = f"{SAS}/host0/port-0:0/end_device-0:0/target0:0:0/0:0:0:0"
    block_device(
        t,
        "sda",
        f"{sda_dev}/block/sda",
        {"size": "2344225968\n", "queue/rotational": "1\n", "removable": "0\n"},
        {
            "vendor": "SEAGATE \n",
            "model": "ST1200MM0099    \n",
            "wwid": "naa.5000c500a1b2c3d4\n",
            "vpd_pg80": b"\x00\x80\x00\x14WFK0ABCD0000K1234567",
        },
        sda_dev,
    )
    lun = {"vendor": "NETAPP  \n", "model": "LUN C-Mode      \n", "wwid": "naa.600a098038303053453f463045757a51\n", "vpd_pg80": b"\x00\x80\x00\x0c80SXS+FdEuZQ"}
    paths = {}
    for name, host, fn in (("sdb", "1", 0), ("sdc", "2", 1)):
        dev = f"{QLE}/0000:5e:00.{fn}/host{host}/rport-{host}:0-0/target{host}:0:0/{host}:0:0:1"
        paths[name] = block_device(t, name, f"{dev}/block/{name}", {"size": "2147483648\n", "queue/rotational": "0\n", "removable": "0\n"}, lun, dev)
    dm0 = block_device(
        t,
        "dm-0",
        "/sys/devices/virtual/block/dm-0",
        {"size": "2147483648\n", "queue/rotational": "0\n", "removable": "0\n", "dm/name": "mpatha\n", "dm/uuid": "mpath-3600a098038303053453f463045757a51\n"},
    )
    for name, base in paths.items():
        stack(t, name, base, "dm-0", dm0)
    ssds = {}
    for name, port, serial in (("sdd", 1, "PHYF812300AB480BGN"), ("sde", 2, "PHYF812300CD480BGN")):
        dev = f"{AHCI}/ata{port}/host{port + 2}/target{port + 2}:0:0/{port + 2}:0:0:0"
        ssds[name] = block_device(
            t,
            name,
            f"{dev}/block/{name}",
            {"size": "937703088\n", "queue/rotational": "0\n", "removable": "0\n"},
            {"vendor": "ATA     \n", "model": "INTEL SSDSC2KB48\n", "wwid": f"t10.ATA     INTEL SSDSC2KB480G8                         {serial}\n"},
            dev,
        )
    md0 = block_device(
        t, "md0", "/sys/devices/virtual/block/md0", {"size": "937438976\n", "queue/rotational": "0\n", "removable": "0\n", "md/level": "raid1\n"}
    )
    for name, base in ssds.items():
        stack(t, name, base, "md0", md0)
    dm1 = block_device(
        t,
        "dm-1",
        "/sys/devices/virtual/block/dm-1",
        {
            "size": "104857600\n",
            "queue/rotational": "0\n",
            "removable": "0\n",
            "dm/name": "vg_root-lv_root\n",
            "dm/uuid": "LVM-8fPnGcVzC2wCq3CvY8DQm8Fz3ZrL0oPEx0bB3YtVd3Rr5XsNn3uK1vJd8mLxFq\n",
        },
    )
    stack(t, "md0", md0, "dm-1", dm1)

    # OS and environment
    t.update(
        {
            "/etc/os-release": (
                'NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n'
                'PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\n# comment\nANSI_COLOR="0;31"\n'
            ),
            "/proc/sys/kernel/osrelease": "5.14.0-427.13.1.el9_4.x86_64\n",
            "/proc/sys/kernel/arch": "x86_64\n",
            "/proc/sys/kernel/hostname": "db01.prod.example.com\n",
            "/etc/hostname": "db01.prod.example.com\n",
            "/etc/machine-id": "8a1f0c2e4b6d4f1e9c3a5b7d9e1f2a3b\n",
            "/usr/share/zoneinfo/Asia/Shanghai": "TZif2",
            "/etc/localtime": Link("/usr/share/zoneinfo/Asia/Shanghai"),
            "/proc/uptime": "8640012.34 3400000.00\n",
            "/sys/fs/selinux/enforce": "1",
            "/etc/resolv.conf": (
                "# Generated by NetworkManager\nsearch prod.example.com example.com\nnameserver 10.0.0.53\nnameserver 10.0.1.53\noptions timeout:1 attempts:2\n"
            ),
            "/etc/chrony.conf": "server ntp1.example.com iburst\n",
            "/proc/sys/vm/swappiness": "10\n",
            "/proc/sys/net/ipv4/ip_local_port_range": "32768\t60999\n",
            "/proc/sys/net/ipv4/conf/bond0.100/rp_filter": "1\n",
            "/proc/sys/kernel/random/boot_id": "6e0b0b55-6b8d-4a4e-9b8e-1b2b8c0e9a11\n",
            "/usr/bin/gcc": Executable(),
            "/usr/bin/java": Executable(),
            "/usr/local/bin/notexec": "not a program\n",
            "/etc/passwd": (
                "root:x:0:0:root:/root:/bin/bash\nbin:x:1:1:bin:/bin:/sbin/nologin\n"
                "appdeploy:x:1001:1001:App deploy:/home/appdeploy:/bin/bash\noracle:x:54321:54321::/home/oracle:/bin/bash\n"
            ),
            "/etc/group": "root:x:0:\nwheel:x:10:appdeploy\nappdeploy:x:1001:\noinstall:x:54321:\ndba:x:54322:oracle,appdeploy\n",
            "/proc/self/mounts": (
                "/dev/mapper/vg_root-lv_root / xfs rw,seclabel,relatime,attr2,inode64,logbufs=8,logbsize=32k,noquota 0 0\n"
                "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
                "/dev/mapper/mpatha /data xfs rw,noatime,attr2,inode64,noquota 0 0\n"
                "nfs01:/export/archive /mnt/archive\\040old nfs4 rw,relatime,vers=4.2,hard,proto=tcp 0 0\n"
            ),
            "/data/.keep": "",
            "/mnt/archive old/.keep": "",
        }
    )
    build_tree(root, t)
    write_rpmdb(
        root / "var/lib/rpm/rpmdb.sqlite",
        [
            rpm_header("bash", "5.1.8", "9.el9", "x86_64"),
            rpm_header("gcc", "11.4.1", "3.el9", "x86_64"),
            rpm_header("java-17-openjdk", "17.0.11.0.9", "2.el9", "x86_64", epoch=1),
        ],
    )
    return root


def kvm_guest(root: Path) -> Path:
    """A Debian 12 guest on QEMU/KVM (q35) with virtio-net, virtio-blk, a docker bridge, run as a podman container."""
    t: dict[str, Entry] = {
        "/proc/cpuinfo": cpuinfo(
            "Intel Xeon Processor (Icelake)",
            "GenuineIntel",
            [(0, 0), (1, 0), (2, 0), (3, 0)],
            ["2893.202"],
            "fpu vme de pse tsc msr pae mce cx8 apic sep hypervisor lahf_lm",
        ),
        "/proc/meminfo": (
            "MemTotal:        8141380 kB\nMemFree:         6000000 kB\nMemAvailable:    7300000 kB\nSwapTotal:             0 kB\n"
            "SwapFree:              0 kB\nHugePages_Total:       0\nHugePages_Free:        0\nHugepagesize:       2048 kB\n"
        ),
        "/sys/devices/system/clocksource/clocksource0/available_clocksource": "kvm-clock tsc acpi_pm \n",
        **attrs(
            "/sys/devices/virtual/dmi/id",
            {
                "sys_vendor": "QEMU\n",
                "product_name": "Standard PC (Q35 + ICH9, 2009)\n",
                "product_serial": Unreadable(),  # mode 0400: what a non-root module sees
                "bios_version": "1.16.2-debian-1.16.2-1\n",
                "bios_vendor": "EFI Development Kit II / OVMF\n",
            },
        ),
        "/sys/class/dmi/id": Link("/sys/devices/virtual/dmi/id"),
        "/run/.containerenv": "",
        "/proc/net/fib_trie": "Local:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 127.0.0.1\n        /32 host LOCAL\n     |-- 172.17.0.1\n        /32 host LOCAL\n"
        "     |-- 192.168.122.50\n        /32 host LOCAL\n",
        "/proc/net/route": "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t017AA8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
        "eth0\t007AA8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
        "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n",
        "/proc/net/if_inet6": "",
        "/etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\n'
        "VERSION_CODENAME=bookworm\nID=debian\n",
        "/proc/sys/kernel/osrelease": "6.1.0-21-amd64\n",
        "/proc/sys/kernel/hostname": "guest01\n",
        "/etc/machine-id": "0123456789abcdef0123456789abcdef\n",
        "/etc/timezone": "Etc/UTC\n",
        "/proc/uptime": "120.5 400.1\n",
        "/etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service": Link("/lib/systemd/system/systemd-timesyncd.service"),
        "/lib/systemd/system/systemd-timesyncd.service": "[Unit]\n",
        "/run/systemd/timesync/synchronized": "",
        "/var/lib/dpkg/status": (
            "Package: gcc\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: 4:12.2.0-3\n"
            "Description: GNU C compiler\n This is the GNU C compiler.\n .\n Package: fake-continuation\n\n"
            "Package: make\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 4.3-4.1\n\n"
            "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 2.36-9+deb12u7\n\n"
            "Package: libc6\nStatus: install ok installed\nArchitecture: i386\nMulti-Arch: same\nVersion: 2.36-9+deb12u7\n"
        ),
        "/usr/bin/gcc-12": Executable(),
        "/usr/bin/gcc": Link("/usr/bin/gcc-12"),
        "/bin": Link("/usr/bin"),
    }
    pci_function(t, "/sys/devices/pci0000:00/0000:00:00.0", 0x060000, 0x8086, 0x29C0, None)
    pci_function(t, "/sys/devices/pci0000:00/0000:00:01.0", 0x030000, 0x1234, 0x1111, "bochs-drm", (0x1AF4, 0x1100))
    pci_function(t, "/sys/devices/pci0000:00/0000:00:03.0", 0x020000, 0x1AF4, 0x1000, "virtio-pci", (0x1AF4, 0x0001))
    pci_function(t, "/sys/devices/pci0000:00/0000:00:04.0", 0x010000, 0x1AF4, 0x1001, "virtio-pci", (0x1AF4, 0x0002))
    pci_function(t, "/sys/devices/pci0000:00/0000:00:1f.0", 0x060100, 0x8086, 0x2918, "lpc_ich")

    net_device(t, "lo", {"type": "772\n", "address": "00:00:00:00:00:00\n", "mtu": "65536\n", "operstate": "unknown\n", "carrier": "1\n"})
    net_device(
        t,
        "eth0",
        {"type": "1\n", "address": "52:54:00:12:34:56\n", "mtu": "1500\n", "operstate": "up\n", "carrier": "1\n", "speed": "-1\n", "duplex": "unknown\n"},
        parent="/sys/devices/pci0000:00/0000:00:03.0/virtio0",
        driver="virtio_net",
    )
    net_device(
        t,
        "docker0",
        {"type": "1\n", "address": "02:42:ac:11:00:01\n", "mtu": "1500\n", "operstate": "up\n", "carrier": "1\n", "speed": "-1\n", "bridge/stp_state": "0\n"},
    )
    veth = net_device(
        t,
        "veth3f2a1b0",
        {"type": "1\n", "address": "6a:1b:2c:3d:4e:5f\n", "mtu": "1500\n", "operstate": "up\n", "carrier": "1\n", "speed": "10000\n", "duplex": "full\n"},
    )
    t[f"{veth}/master"] = Link("/sys/devices/virtual/net/docker0")

    vda = "/sys/devices/pci0000:00/0000:00:04.0/virtio1"
    block_device(
        t,
        "vda",
        f"{vda}/block/vda",
        {"size": "83886080\n", "queue/rotational": "1\n", "removable": "0\n", "serial": "vol-0a1b2c3d\n"},
        {"vendor": "0x1af4\n", "features": "0010101101110000000000000000110010000000000000000000000000000000\n"},
        vda,
    )
    block_device(
        t,
        "sr0",
        "/sys/devices/pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0/block/sr0",
        {"size": "2097151\n", "queue/rotational": "1\n", "removable": "1\n"},
    )
    block_device(t, "ram0", "/sys/devices/virtual/block/ram0", {"size": "8192\n"})
    build_tree(root, t)
    return root
