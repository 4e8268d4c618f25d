#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: host_facts
short_description: Hardware and environment facts for release readiness, read from /proc, /sys and /etc
version_added: 0.1.0
description:
  - Collects, in one call and without starting any subprocess, the facts a readiness spec checks before a
    release goes live (regulation Art. 6, 7 and 26) - host model, CPUs and their frequency, memory, NICs with
    driver, speed and bonding, Fibre Channel HBAs, disks, PCI I/O cards, OS and environment, kernel
    parameters, named programs and packages, listed filesystems and local users.
  - Returns them as C(ansible_facts.opsgate_host). Integers are in base units (bytes, Mbit/s, Gbit/s, MHz as named).
  - An attribute that is missing or cannot be read is V(null) and adds an entry to C(errors); the module
    does not fail because of it.
  - Only the listed mount points are measured, each C(statvfs) in a thread under O(filesystem_timeout),
    so a hung NFS mount cannot hang the play.
  - See C(docs/host-facts.md) in the collection for where each value comes from.
author:
  - Opsgate Release Contributors (@opsgate)
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode returns the same facts.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
  facts:
    support: full
    description: Sets C(ansible_facts.opsgate_host).
options:
  gather_subset:
    description:
      - Which subsets to collect. V(all) selects every subset.
      - A name prefixed with C(!) excludes it; if only exclusions are given, all other subsets are collected.
      - The subsets are V(system), V(cpu), V(memory), V(nics), V(hbas), V(disks), V(pci), V(os), V(sysctl),
        V(software), V(filesystems) and V(users).
      - V(sysctl), V(software), V(filesystems) and V(users) only look up the names given in the options of the same name.
    type: list
    elements: str
    default: [all]
  root:
    description:
      - Directory read as the host's C(/) - C(<root>/proc), C(<root>/sys), C(<root>/etc). Used by tests with a fixture
        tree, or to inspect a mounted image.
      - C(os.ulimits), C(os.environment) and C(os.time_sync.synchronized) always describe the module's own process and kernel.
    type: path
    default: /
  software:
    description:
      - Programs and packages to look up, for example compilers that must not be on a production host.
      - A program is searched in C(/usr/local/sbin), C(/usr/local/bin), C(/usr/sbin), C(/usr/bin), C(/sbin), C(/bin)
        under O(root), and in the module's C(PATH) when O(root=/).
      - A package is looked up by exact name in dpkg's C(var/lib/dpkg/status) and in rpm's SQLite database
        (rpm 4.16 and later); older Berkeley DB rpm databases are not read.
    type: list
    elements: str
    default: []
  sysctl:
    description:
      - Kernel parameters to read from C(/proc/sys), as sysctl names (V(net.ipv4.ip_forward)) or with slashes
        (V(net/ipv4/conf/eth0.100/forwarding)) when a component holds a dot.
    type: list
    elements: str
    default: []
  filesystems:
    description:
      - Absolute mount points to measure. Nothing else is walked.
    type: list
    elements: path
    default: []
  users:
    description:
      - Local account names to look up in C(etc/passwd) and C(etc/group) (NSS sources such as LDAP are not queried).
    type: list
    elements: str
    default: []
  filesystem_timeout:
    description:
      - Seconds to wait, in total, for the C(statvfs) calls of O(filesystems). A mount point that does not answer
        in time gets null sizes and an C(errors) entry.
    type: float
    default: 10
  resolve_hostname:
    description:
      - Also ask whether the host's own hostname (C(os.hostname)) resolves through its resolver (NSS, as C(getent ahosts)),
        into C(os.hostname_resolves). Needs the V(os) subset.
    type: bool
    default: false
  endpoints:
    description:
      - TCP endpoints to reach from the host, each tried until it answers or its C(timeout_s) ends, all at once. The answers
        are in RV(probes), not in the facts.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The endpoint's name in RV(probes).
        type: str
        required: true
      host:
        description: Address or name to connect to.
        type: str
        required: true
      port:
        description: TCP port.
        type: int
        required: true
      timeout_s:
        description: Seconds to keep trying.
        type: float
        default: 5
  release_base_dir:
    description:
      - Also read which release the host runs under this base directory (as M(opsgate.release.release_info), through the
        release agent where there is one), into RV(running_release). For the record of a change run, which asks a host
        its readiness facts and its running release in one module run.
      - Empty reads nothing and returns RV(running_release) null.
    type: path
    default: ""
notes:
  - Reading C(/sys/class/dmi/id/product_serial) and SCSI C(vpd_pg80) needs root; without it they are null with an error entry.
  - Errors are information, not failure - a down link answers EINVAL to C(speed), C(duplex) and C(carrier).
seealso:
  - module: ansible.builtin.setup
"""

EXAMPLES = r"""
- name: Collect every subset
  opsgate.release.host_facts:

- name: Hardware only, plus the compilers that Art. 26 forbids and the deploy account
  opsgate.release.host_facts:
    gather_subset: [system, cpu, memory, nics, hbas, disks, pci, software, users]
    software: [gcc, cc, g++, clang, javac, go, rustc, make, gdb]
    users: [appdeploy]

- name: Everything but PCI cards, with two mount points and kernel parameters
  opsgate.release.host_facts:
    gather_subset: ["!pci"]
    filesystems: [/, /data]
    filesystem_timeout: 5
    sysctl: [vm.swappiness, net.ipv4.ip_local_port_range, fs.file-max]

- name: Show the Fibre Channel ports that are online
  ansible.builtin.debug:
    msg: "{{ ansible_facts.opsgate_host.hbas | selectattr('port_state', 'equalto', 'Online') | map(attribute='wwpn') | list }}"
"""

RETURN = r"""
running_release:
  description:
    - With O(release_base_dir), the release C(current) points at (C(current), null when there is none), its version and
      ledger state, and C(error) when the releases could not be read (the module does not fail for it); else null.
  returned: always
  type: dict
  sample: {base_dir: /srv/sample_app, current: "2.0.0-1a2b3c4d5e6f", version: "2.0.0", state: good, error: null}
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    opsgate_host:
      description: One key per collected subset, plus C(root), C(gather_subset), C(errors) and C(timings_ms).
      returned: always
      type: dict
      contains:
        root:
          description: The root directory that was read.
          returned: always
          type: str
          sample: /
        gather_subset:
          description: The subsets collected, after V(all) and C(!name) were applied.
          returned: always
          type: list
          elements: str
          sample: [system, cpu, memory]
        system:
          description: Host model from DMI (C(/sys/class/dmi/id)) and how it runs.
          returned: when the subset is selected
          type: dict
          contains:
            vendor: {description: DMI C(sys_vendor)., type: str, returned: always, sample: Dell Inc.}
            product: {description: DMI C(product_name)., type: str, returned: always, sample: PowerEdge R740}
            serial: {description: DMI C(product_serial); null when not run as root., type: str, returned: always, sample: 4CZ1234}
            bios_version: {description: DMI C(bios_version)., type: str, returned: always, sample: 2.12.2}
            virtualization:
              description:
                - Hypervisor the host runs on (V(kvm), V(qemu), V(vmware), V(xen), V(microsoft), V(oracle), V(amazon), ...),
                  V(none) on bare metal, V(unknown) when the CPU reports a hypervisor that nothing names.
              type: str
              returned: always
              sample: kvm
            container: {description: "Container engine (V(podman), V(docker), or C(container=) of PID 1) or null.", type: str, returned: always, sample: podman}
        cpu:
          description: Processors from C(/proc/cpuinfo) and cpufreq.
          returned: when the subset is selected
          type: dict
          contains:
            model: {description: CPU model name., type: str, returned: always, sample: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz}
            vendor: {description: CPU vendor id., type: str, returned: always, sample: GenuineIntel}
            sockets: {description: Physical packages., type: int, returned: always, sample: 2}
            cores: {description: Physical cores over all sockets., type: int, returned: always, sample: 40}
            threads: {description: Logical CPUs., type: int, returned: always, sample: 80}
            mhz_max: {description: Maximum frequency in MHz (cpufreq C(cpuinfo_max_freq)); null in most VMs., type: int, returned: always, sample: 3900}
            mhz_current: {description: Current frequency of the first CPU in MHz (cpuinfo C(cpu MHz))., type: int, returned: always, sample: 2100}
        memory:
          description: Memory from C(/proc/meminfo) (bytes) and NUMA nodes from C(/sys/devices/system/node).
          returned: when the subset is selected
          type: dict
          contains:
            total_bytes: {description: MemTotal., type: int, returned: always, sample: 404276690944}
            available_bytes: {description: MemAvailable., type: int, returned: always, sample: 380000000000}
            free_bytes: {description: MemFree., type: int, returned: always, sample: 300000000000}
            swap_total_bytes: {description: SwapTotal., type: int, returned: always, sample: 4294967296}
            swap_free_bytes: {description: SwapFree., type: int, returned: always, sample: 4294967296}
            hugepages:
              description: Default-size huge pages - C(total) and C(free) (pages) and C(size_bytes).
              type: dict
              returned: always
              sample: {total: 1024, free: 1000, size_bytes: 2097152}
            numa_nodes: {description: NUMA nodes (1 when the kernel has no NUMA)., type: int, returned: always, sample: 2}
        nics:
          description: Network interfaces from C(/sys/class/net), addresses from C(/proc/net).
          returned: when the subset is selected
          type: list
          elements: dict
          contains:
            name: {description: Interface name., type: str, returned: always, sample: ens1f0np0}
            kind:
              description: V(physical), V(bond), V(vlan), V(bridge), V(virtual) (veth, dummy, tun...) or V(loopback).
              type: str
              returned: always
              sample: physical
            mac: {description: MAC address., type: str, returned: always, sample: "b8:59:9f:12:34:56"}
            mtu: {description: MTU in bytes., type: int, returned: always, sample: 9000}
            operstate: {description: "RFC 2863 state (up, down, unknown, lowerlayerdown...).", type: str, returned: always, sample: up}
            carrier: {description: Link detected; null when the interface is administratively down., type: bool, returned: always, sample: true}
            speed_mbps: {description: Link speed in Mbit/s; null when unknown or the link is down., type: int, returned: always, sample: 25000}
            duplex: {description: V(full) or V(half); null when unknown., type: str, returned: always, sample: full}
            driver: {description: Kernel driver of the device (physical only)., type: str, returned: always, sample: mlx5_core}
            pci_address: {description: PCI function of the device (physical only)., type: str, returned: always, sample: "0000:3b:00.0"}
            master: {description: Bond or bridge this interface is enslaved to., type: str, returned: always, sample: bond0}
            bond:
              description: For a bond - C(mode), C(slaves), C(active_slave), C(miimon_ms); null otherwise.
              type: dict
              returned: always
              sample: {mode: active-backup, slaves: [ens1f0np0, ens1f1np1], active_slave: ens1f0np0, miimon_ms: 100}
            vlan:
              description: For a VLAN listed in /proc/net/vlan/config - C(id) and C(parent); null otherwise.
              type: dict
              returned: always
              sample: {id: 100, parent: bond0}
            addresses:
              description:
                - Addresses as C(family) (V(ipv4) or V(ipv6)), C(address), C(prefix) and for IPv6 C(scope).
                - IPv4 comes from C(/proc/net/fib_trie) (local addresses) matched to the connected routes of C(/proc/net/route);
                  an address without a connected route in the main table is not listed.
              type: list
              elements: dict
              returned: always
              sample: [{family: ipv4, address: 10.1.2.3, prefix: 24}]
        hbas:
          description: Fibre Channel ports from C(/sys/class/fc_host), the card from C(/sys/class/scsi_host).
          returned: when the subset is selected
          type: list
          elements: dict
          contains:
            host: {description: SCSI host of the port., type: str, returned: always, sample: host1}
            type: {description: Always V(fc)., type: str, returned: always, sample: fc}
            wwpn: {description: "Port WWN, 16 lower-case hex digits without C(0x).", type: str, returned: always, sample: 21000024ff7e1a2b}
            wwnn: {description: "Node WWN, 16 lower-case hex digits without C(0x).", type: str, returned: always, sample: 20000024ff7e1a2b}
            port_state: {description: "fc_host C(port_state): Online, Linkdown, ...", type: str, returned: always, sample: Online}
            port_type: {description: fc_host C(port_type)., type: str, returned: always, sample: NPort (fabric via point-to-point)}
            speed_gbps: {description: Negotiated speed in Gbit/s; null when unknown., type: int, returned: always, sample: 32}
            supported_speeds_gbps: {description: Supported speeds in Gbit/s., type: list, elements: int, returned: always, sample: [32, 16, 8]}
            model: {description: "Card model (qla2xxx C(model_name), lpfc C(modelname)).", type: str, returned: always, sample: QLE2742}
            model_description:
              description: Card description (C(model_desc) / C(modeldesc)).
              type: str
              returned: always
              sample: Cavium 32Gb 2-port FC to PCIe Gen3 x8 Adapter
            driver: {description: scsi_host C(proc_name)., type: str, returned: always, sample: qla2xxx}
            firmware: {description: Firmware version (C(fw_version) / C(fwrev))., type: str, returned: always, sample: 9.08.02 (d0d5)}
            symbolic_name: {description: fc_host C(symbolic_name)., type: str, returned: always, sample: QLE2742 FW:v9.08.02 DVR:v10.02.08.200-k}
            pci_address:
              description: PCI function of the port; two ports of one card share the bus and device.
              type: str
              returned: always
              sample: 0000:5e:00.0
        disks:
          description: Block devices from C(/sys/block), loop, ram and zram left out.
          returned: when the subset is selected
          type: list
          elements: dict
          contains:
            name: {description: Kernel name., type: str, returned: always, sample: sda}
            kind:
              description: V(hdd), V(ssd), V(nvme), V(multipath), V(md), V(lvm), V(crypt), V(dm), V(virtual), V(optical) or V(unknown).
              type: str
              returned: always
              sample: hdd
            size_bytes: {description: Capacity in bytes., type: int, returned: always, sample: 1200243695616}
            rotational: {description: C(queue/rotational)., type: bool, returned: always, sample: true}
            removable: {description: C(removable)., type: bool, returned: always, sample: false}
            transport:
              description: V(nvme), V(sas), V(sata), V(fc), V(iscsi), V(usb), V(virtio), V(scsi); null for md and device-mapper.
              type: str
              returned: always
              sample: sas
            model: {description: Device model., type: str, returned: always, sample: ST1200MM0099}
            vendor: {description: SCSI vendor., type: str, returned: always, sample: SEAGATE}
            serial: {description: "Serial (C(device/serial), C(serial) or SCSI VPD page 0x80).", type: str, returned: always, sample: WFK0ABCD}
            wwn:
              description: C(wwid) as the kernel gives it (V(naa.5000c500a1b2c3d4), V(eui.…)); for multipath the WWID after C(mpath-).
              type: str
              returned: always
              sample: naa.5000c500a1b2c3d4
            holders: {description: "Devices built on this one (md, dm).", type: list, elements: str, returned: always, sample: [dm-0]}
            slaves: {description: Devices this one is built on., type: list, elements: str, returned: always, sample: [sdb, sdc]}
            md_level: {description: RAID level of an md device., type: str, returned: always, sample: raid1}
            dm_name: {description: Name of a device-mapper device., type: str, returned: always, sample: mpatha}
        pci:
          description: PCI I/O cards (storage, network, Fibre Channel, InfiniBand, display, accelerators...) from C(/sys/bus/pci/devices).
          returned: when the subset is selected
          type: list
          elements: dict
          contains:
            address: {description: PCI address., type: str, returned: always, sample: "0000:5e:00.0"}
            class: {description: Readable class name., type: str, returned: always, sample: Fibre Channel}
            class_code: {description: Class and subclass in hex., type: str, returned: always, sample: "0x0c04"}
            vendor_id: {description: PCI vendor id., type: str, returned: always, sample: "0x1077"}
            device_id: {description: PCI device id., type: str, returned: always, sample: "0x2261"}
            subsystem_vendor_id: {description: PCI subsystem vendor id., type: str, returned: always, sample: "0x1077"}
            subsystem_device_id: {description: PCI subsystem device id., type: str, returned: always, sample: "0x02a7"}
            driver: {description: Bound driver., type: str, returned: always, sample: qla2xxx}
            numa_node: {description: NUMA node of the slot (-1 when not known)., type: int, returned: always, sample: 0}
        os:
          description: OS, kernel and environment.
          returned: when the subset is selected
          type: dict
          contains:
            name: {description: os-release C(NAME)., type: str, returned: always, sample: Red Hat Enterprise Linux}
            id: {description: os-release C(ID)., type: str, returned: always, sample: rhel}
            id_like: {description: os-release C(ID_LIKE) split., type: list, elements: str, returned: always, sample: [fedora]}
            version_id: {description: os-release C(VERSION_ID)., type: str, returned: always, sample: "9.4"}
            version: {description: os-release C(VERSION)., type: str, returned: always, sample: 9.4 (Plow)}
            pretty_name: {description: os-release C(PRETTY_NAME)., type: str, returned: always, sample: Red Hat Enterprise Linux 9.4 (Plow)}
            kernel: {description: C(/proc/sys/kernel/osrelease)., type: str, returned: always, sample: 5.14.0-427.13.1.el9_4.x86_64}
            architecture: {description: Machine architecture., type: str, returned: always, sample: x86_64}
            hostname: {description: Running hostname (C(/proc/sys/kernel/hostname))., type: str, returned: always, sample: app01}
            static_hostname: {description: C(/etc/hostname)., type: str, returned: always, sample: app01}
            machine_id: {description: C(/etc/machine-id)., type: str, returned: always, sample: 3d1219c7c4c5404aaa1f6d2a48adfda4}
            timezone: {description: C(/etc/timezone) or the zone C(/etc/localtime) links to., type: str, returned: always, sample: Asia/Shanghai}
            uptime_seconds: {description: Seconds since boot., type: int, returned: always, sample: 86400}
            selinux: {description: "V(enforcing), V(permissive) or V(disabled).", type: str, returned: always, sample: enforcing}
            dns:
              description: "C(/etc/resolv.conf): C(nameservers), C(search) and C(options)."
              type: dict
              returned: always
              sample: {nameservers: [10.0.0.53], options: [], search: [example.com]}
            time_sync:
              description:
                - C(services) configured (V(chrony), V(ntp), V(systemd-timesyncd)); C(synchronized) is the kernel clock state
                  (adjtimex, as C(timedatectl) shows it; null when O(root) is not C(/)); C(timesyncd_synchronized) is whether
                  C(/run/systemd/timesync/synchronized) exists.
              type: dict
              returned: always
              sample: {services: [chrony], synchronized: true, timesyncd_synchronized: false}
            ulimits:
              description:
                - Soft and hard limits of the module process (V(-1) is unlimited) - C(nofile), C(nproc), C(core_bytes),
                  C(stack_bytes), C(memlock_bytes), C(as_bytes), C(fsize_bytes).
              type: dict
              returned: always
              sample: {nofile: {soft: 1024, hard: 524288}}
            environment:
              description: The module process's C(path) (PATH split), C(lang), C(lc_all) and the sorted C(variable_names) - never other values.
              type: dict
              returned: always
              sample: {path: [/usr/bin, /bin], lang: C.UTF-8, lc_all: null, variable_names: [HOME, LANG, PATH]}
        sysctl:
          description: Requested keys and their values; a single number is an int, several fields are joined by one space; null when unreadable.
          returned: when the subset is selected
          type: dict
          sample: {vm.swappiness: 10, net.ipv4.ip_local_port_range: 32768 60999}
        software:
          description:
            - Per requested name - C(found) (program or package present), C(path) of the program,
              C(package) (C(name), C(version), C(architecture), C(manager)).
          returned: when the subset is selected
          type: dict
          sample: {gcc: {found: true, path: /usr/bin/gcc, package: {name: gcc, version: "11.4.1-3.el9", architecture: x86_64, manager: rpm}}}
        filesystems:
          description:
            - Per requested mount point - C(mount_point), C(mounted), C(device), C(fstype), C(options) (list) and, from statvfs,
              C(size_bytes), C(free_bytes), C(available_bytes) (free to non-root), C(inodes_total), C(inodes_free).
          returned: when the subset is selected
          type: dict
          sample:
            /data: {mount_point: /data, mounted: true, device: /dev/mapper/vg-data, fstype: xfs, options: [rw, noatime],
                    size_bytes: 1099511627776, free_bytes: 549755813888, available_bytes: 549755813888,
                    inodes_total: 536870912, inodes_free: 536000000}
        users:
          description: Per requested name - C(exists), C(uid), C(gid), C(home), C(shell), C(groups) (primary first).
          returned: when the subset is selected
          type: dict
          sample: {appdeploy: {exists: true, uid: 1001, gid: 1001, home: /home/appdeploy, shell: /bin/bash, groups: [appdeploy, wheel]}}
        errors:
          description: Every attribute that could not be read - C(subset), C(path) (host path), C(error).
          returned: always
          type: list
          elements: dict
          sample: [{subset: nics, path: /sys/class/net/eno1/speed, error: "EINVAL: Invalid argument"}]
        timings_ms:
          description: Milliseconds spent per subset.
          returned: always
          type: dict
          sample: {cpu: 0.08, nics: 0.9}
probes:
  description: With O(endpoints), per endpoint name whether it was reached, after how many milliseconds, and the error.
  returned: always
  type: dict
  sample: {crm-api: {reachable: true, elapsed_ms: 3, error: null}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opsgate.release.plugins.module_utils.host_facts.collect import collect
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.probes import hostname_resolves, probe_endpoints
from ansible_collections.opsgate.release.plugins.module_utils.release.module_entry import read_running_release


def argspec() -> dict:
    return {
        "gather_subset": {"type": "list", "elements": "str", "default": ["all"]},
        "root": {"type": "path", "default": "/"},
        "software": {"type": "list", "elements": "str", "default": []},
        "sysctl": {"type": "list", "elements": "str", "default": []},
        "filesystems": {"type": "list", "elements": "path", "default": []},
        "users": {"type": "list", "elements": "str", "default": []},
        "filesystem_timeout": {"type": "float", "default": 10},
        "resolve_hostname": {"type": "bool", "default": False},
        "release_base_dir": {"type": "path", "default": ""},
        "endpoints": {
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {
                "name": {"type": "str", "required": True},
                "host": {"type": "str", "required": True},
                "port": {"type": "int", "required": True},
                "timeout_s": {"type": "float", "default": 5},
            },
        },
    }


def main() -> None:
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    params = module.params
    try:
        facts = collect(
            root=params["root"],
            gather_subset=params["gather_subset"],
            software=params["software"],
            sysctl=params["sysctl"],
            filesystems=params["filesystems"],
            users=params["users"],
            filesystem_timeout=params["filesystem_timeout"],
        )
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    hostname = (facts.get("os") or {}).get("hostname")
    if params["resolve_hostname"] and isinstance(hostname, str) and hostname:
        facts["os"]["hostname_resolves"] = hostname_resolves(hostname)
    running = read_running_release(params["release_base_dir"]) if params["release_base_dir"] else None
    module.exit_json(changed=False, ansible_facts={"opsgate_host": facts}, probes=probe_endpoints(params["endpoints"]), running_release=running)


if __name__ == "__main__":
    main()
