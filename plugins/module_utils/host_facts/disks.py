# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Block devices from /sys/block: size, kind, identity and how they are attached."""

from __future__ import annotations

from typing import Any

from .sysfs import FactReader

SECTOR_BYTES = 512  # /sys/block/*/size counts 512-byte sectors whatever the device's block size
_SKIPPED_PREFIXES = ("loop", "ram", "zram")
_DM_KINDS = {"mpath-": "multipath", "LVM-": "lvm", "CRYPT-": "crypt"}
# Order matters: an FC LUN's path also holds "/host", a SATA disk behind a SAS HBA holds "/end_device-".
_TRANSPORT_MARKERS = (
    ("/rport-", "fc"),
    ("/session", "iscsi"),
    ("/end_device-", "sas"),
    ("/ata", "sata"),
    ("/usb", "usb"),
    ("/virtio", "virtio"),
    ("/target", "scsi"),
)


def transport_of(resolved: str, name: str) -> str | None:
    if name.startswith("nvme"):
        return "nvme"
    for marker, transport in _TRANSPORT_MARKERS:
        if marker in resolved:
            return transport
    return None


def parse_vpd_serial(data: bytes | None) -> str | None:
    """SCSI VPD page 0x80 (unit serial number): 4-byte header, byte 3 is the length."""
    if not data or len(data) < 4 or data[1] != 0x80:
        return None
    serial = data[4 : 4 + data[3]].decode("ascii", errors="replace").strip()
    return serial or None


def _kind(reader: FactReader, base: str, name: str, rotational: bool | None, transport: str | None) -> tuple[str, dict[str, Any]]:
    """The kind, plus the few extra facts that only that kind has."""
    if name.startswith("nvme"):
        return "nvme", {}
    if reader.is_dir(f"{base}/md"):
        return "md", {"md_level": reader.read_str(f"{base}/md/level")}
    if reader.is_dir(f"{base}/dm"):
        uuid = reader.read_str(f"{base}/dm/uuid", optional=True) or ""
        kind = next((k for prefix, k in _DM_KINDS.items() if uuid.startswith(prefix)), "dm")
        return kind, {"dm_name": reader.read_str(f"{base}/dm/name"), "dm_uuid": uuid or None}
    if name.startswith("sr"):
        return "optical", {}
    if name.startswith(("vd", "xvd")) or transport == "virtio":
        return "virtual", {}
    if rotational is None:
        return "unknown", {}
    return ("hdd" if rotational else "ssd"), {}


def _identity(reader: FactReader, base: str, kind: str, extra: dict[str, Any]) -> dict[str, str | None]:
    if kind in ("md", "lvm", "crypt", "dm"):
        return {"model": None, "vendor": None, "serial": None, "wwn": None}
    if kind == "multipath":
        # multipath's WWID is the dm uuid after "mpath-" (what `multipath -ll` prints).
        return {"model": None, "vendor": None, "serial": None, "wwn": (extra.get("dm_uuid") or "")[len("mpath-") :] or None}
    serial = reader.read_first([f"{base}/device/serial", f"{base}/serial"], optional=True)
    if serial is None:
        serial = parse_vpd_serial(reader.read_bytes(f"{base}/device/vpd_pg80", optional=True))
    vendor = None
    if kind not in ("nvme", "virtual"):  # nvme has no vendor attribute; virtio's is the PCI id 0x1af4
        vendor = reader.read_str(f"{base}/device/vendor", optional=True)
    return {
        "model": reader.read_str(f"{base}/device/model", optional=True),
        "vendor": vendor,
        "serial": serial,
        "wwn": reader.read_first([f"{base}/wwid", f"{base}/device/wwid"], optional=True),
    }


def collect_disks(reader: FactReader) -> list[dict[str, Any]]:
    disks: list[dict[str, Any]] = []
    for name in reader.list_dir("/sys/block"):
        if name.startswith(_SKIPPED_PREFIXES):
            continue
        base = f"/sys/block/{name}"
        sectors = reader.read_int(f"{base}/size")
        rotational_flag = reader.read_int(f"{base}/queue/rotational")
        rotational = bool(rotational_flag) if rotational_flag is not None else None
        removable = reader.read_int(f"{base}/removable")
        transport = transport_of(reader.resolve(base), name) if not reader.is_dir(f"{base}/dm") and not reader.is_dir(f"{base}/md") else None
        kind, extra = _kind(reader, base, name, rotational, transport)
        disk: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "size_bytes": sectors * SECTOR_BYTES if sectors is not None else None,
            "rotational": rotational,
            "removable": bool(removable) if removable is not None else None,
            "transport": transport,
            **_identity(reader, base, kind, extra),
            "holders": reader.list_dir(f"{base}/holders"),
            "slaves": reader.list_dir(f"{base}/slaves"),
            "md_level": extra.get("md_level"),
            "dm_name": extra.get("dm_name"),
        }
        disks.append(disk)
    return disks
