# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Host model (DMI), hypervisor and container detection."""

from __future__ import annotations

from typing import Any

from .cpu import parse_cpuinfo
from .sysfs import FactReader

_DMI = "/sys/class/dmi/id"
# DMI sys_vendor / product_name substrings, in the order systemd-detect-virt checks them.
_DMI_HYPERVISORS = (
    ("KVM", "kvm"),
    ("OpenStack", "kvm"),
    ("KubeVirt", "kvm"),
    ("Amazon EC2", "amazon"),
    ("QEMU", "qemu"),
    ("VMware", "vmware"),
    ("VMW", "vmware"),
    ("innotek GmbH", "oracle"),
    ("VirtualBox", "oracle"),
    ("Xen", "xen"),
    ("Bochs", "bochs"),
    ("Parallels", "parallels"),
    ("BHYVE", "bhyve"),
    ("Google Compute Engine", "google"),
    ("Virtual Machine", "microsoft"),  # Hyper-V: sys_vendor "Microsoft Corporation"
)


def detect_hypervisor(dmi_strings: list[str], cpu_flags: set[str], clocksources: set[str], xen_type: str | None) -> str:
    """``kvm``, ``vmware``, ...; ``none`` on bare metal; ``unknown`` when the CPU says guest but nothing names it."""
    found = next((kind for needle, kind in _DMI_HYPERVISORS if any(needle in s for s in dmi_strings)), None)
    # QEMU with KVM acceleration keeps the QEMU DMI strings; kvm-clock tells them apart without cpuid.
    if found in (None, "qemu") and "kvm-clock" in clocksources:
        return "kvm"
    if found:
        return found
    if xen_type == "xen":
        return "xen"
    return "unknown" if "hypervisor" in cpu_flags else "none"


def detect_container(reader: FactReader) -> str | None:
    if reader.exists("/run/.containerenv"):
        return "podman"
    if reader.exists("/.dockerenv"):
        return "docker"
    environ = reader.read_bytes("/proc/1/environ", optional=True) or b""
    for entry in environ.split(b"\0"):
        if entry.startswith(b"container="):
            return entry[len(b"container=") :].decode("utf-8", errors="replace") or None
    if reader.exists("/proc/vz") and not reader.exists("/proc/bc"):
        return "openvz"
    return None


def collect_system(reader: FactReader) -> dict[str, Any]:
    vendor = reader.read_str(f"{_DMI}/sys_vendor")
    product = reader.read_str(f"{_DMI}/product_name")
    # product_serial is mode 0400: null plus an error entry when not run as root.
    serial = reader.read_str(f"{_DMI}/product_serial")
    bios_version = reader.read_str(f"{_DMI}/bios_version")

    processors = parse_cpuinfo(reader.read_text("/proc/cpuinfo") or "")
    flags = set(processors[0].get("flags", "").split()) if processors else set()
    clocksources = set((reader.read_str("/sys/devices/system/clocksource/clocksource0/available_clocksource", optional=True) or "").split())
    dmi_strings = [s for s in (vendor, product, reader.read_str(f"{_DMI}/bios_vendor", optional=True)) if s]
    return {
        "vendor": vendor,
        "product": product,
        "serial": serial,
        "bios_version": bios_version,
        "virtualization": detect_hypervisor(dmi_strings, flags, clocksources, reader.read_str("/sys/hypervisor/type", optional=True)),
        "container": detect_container(reader),
    }
