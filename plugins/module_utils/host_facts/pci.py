# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""I/O cards (network, storage, Fibre Channel, accelerators, ...) from /sys/bus/pci/devices."""

from __future__ import annotations

from typing import Any

from .sysfs import FactReader

# Class/subclass names as in the PCI Code and ID Assignment spec (what lspci prints).
CLASS_NAMES = {
    0x0100: "SCSI storage controller",
    0x0101: "IDE interface",
    0x0104: "RAID bus controller",
    0x0105: "ATA controller",
    0x0106: "SATA controller",
    0x0107: "Serial Attached SCSI controller",
    0x0108: "Non-Volatile memory controller",
    0x0180: "Mass storage controller",
    0x0200: "Ethernet controller",
    0x0207: "InfiniBand controller",
    0x0280: "Network controller",
    0x0300: "VGA compatible controller",
    0x0302: "3D controller",
    0x0380: "Display controller",
    0x0401: "Multimedia audio controller",
    0x0403: "Audio device",
    0x0700: "Serial controller",
    0x0780: "Communication controller",
    0x0B40: "Co-processor",
    0x0C04: "Fibre Channel",
    0x0C06: "InfiniBand",
    0x0D80: "Wireless controller",
    0x1000: "Network and computing encryption device",
    0x1080: "Encryption controller",
    0x1100: "DPIO module",
    0x1180: "Signal processing controller",
    0x1200: "Processing accelerators",
}
_BASE_NAMES = {
    0x01: "Mass storage controller",
    0x02: "Network controller",
    0x03: "Display controller",
    0x04: "Multimedia controller",
    0x07: "Communication controller",
    0x0D: "Wireless controller",
    0x10: "Encryption controller",
    0x11: "Signal processing controller",
    0x12: "Processing accelerators",
}
# Whole base classes that are I/O cards, plus single subclasses of otherwise internal classes.
# Left out: bridges (0x06), system peripherals (0x08), USB/SMBus controllers (0x0c03, 0x0c05).
_IO_BASE_CLASSES = frozenset(_BASE_NAMES)
_IO_SUBCLASSES = frozenset({0x0B40, 0x0C04, 0x0C06})


def class_name(code: int) -> str | None:
    """The readable name of a 16-bit class/subclass code, or ``None`` when it is not an I/O card."""
    if code in _IO_SUBCLASSES or (code >> 8) in _IO_BASE_CLASSES:
        return CLASS_NAMES.get(code) or _BASE_NAMES.get(code >> 8, f"Class {code:04x}")
    return None


def collect_pci(reader: FactReader) -> list[dict[str, Any]]:
    cards: list[dict[str, Any]] = []
    for address in reader.list_dir("/sys/bus/pci/devices"):
        base = f"/sys/bus/pci/devices/{address}"
        raw_class = reader.read_int(f"{base}/class", base=16)
        if raw_class is None:
            continue
        code = raw_class >> 8  # drop the programming interface byte
        name = class_name(code)
        if name is None:
            continue
        cards.append(
            {
                "address": address,
                "class": name,
                "class_code": f"0x{code:04x}",
                "vendor_id": reader.read_str(f"{base}/vendor"),
                "device_id": reader.read_str(f"{base}/device"),
                "subsystem_vendor_id": reader.read_str(f"{base}/subsystem_vendor", optional=True),
                "subsystem_device_id": reader.read_str(f"{base}/subsystem_device", optional=True),
                "driver": reader.link_name(f"{base}/driver"),
                "numa_node": reader.read_int(f"{base}/numa_node", optional=True),
            }
        )
    return cards
