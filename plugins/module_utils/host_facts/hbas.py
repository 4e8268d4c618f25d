# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fibre Channel HBA ports from /sys/class/fc_host, with the card's model from /sys/class/scsi_host."""

from __future__ import annotations

import re
from typing import Any

from .nics import PCI_ADDRESS
from .sysfs import FactReader

_SPEED = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*Gbit\s*$", re.IGNORECASE)
_WWN = re.compile(r"^(?:0x)?([0-9a-fA-F]{1,16})$")

# The same fact under each driver's attribute name: qla2xxx first, then lpfc (Emulex), then others.
_MODEL = ("model_name", "modelname")
_MODEL_DESCRIPTION = ("model_desc", "modeldesc")
_FIRMWARE = ("fw_version", "fwrev")


def normalise_wwn(value: str | None) -> str | None:
    """``0x21000024ff7e1a2b`` -> ``21000024ff7e1a2b``; an unset port name (``0x0``) is ``None``."""
    if value is None:
        return None
    match = _WWN.match(value.strip())
    if not match or int(match.group(1), 16) == 0:
        return None
    return match.group(1).lower().rjust(16, "0")


def parse_speed_gbps(text: str | None) -> int | float | None:
    """``32 Gbit`` -> 32; ``unknown`` and ``Not Negotiated`` -> ``None``."""
    if not text:
        return None
    match = _SPEED.match(text)
    if not match:
        return None
    value = float(match.group(1))
    return int(value) if value.is_integer() else value


def parse_speed_list(text: str | None) -> list[int | float]:
    """``16 Gbit, 8 Gbit, 4 Gbit`` -> ``[16, 8, 4]``."""
    speeds = [parse_speed_gbps(part) for part in (text or "").split(",")]
    return [s for s in speeds if s is not None]


def _pci_address(resolved: str) -> str | None:
    """fc_host sits below its PCI function: ``.../0000:5e:00.0/host1/fc_host/host1``."""
    for part in reversed(resolved.split("/")):
        if PCI_ADDRESS.match(part):
            return part
    return None


def collect_hbas(reader: FactReader) -> list[dict[str, Any]]:
    hbas: list[dict[str, Any]] = []
    for host in reader.list_dir("/sys/class/fc_host"):
        fc = f"/sys/class/fc_host/{host}"
        scsi = f"/sys/class/scsi_host/{host}"
        hbas.append(
            {
                "host": host,
                "type": "fc",
                "wwpn": normalise_wwn(reader.read_str(f"{fc}/port_name")),
                "wwnn": normalise_wwn(reader.read_str(f"{fc}/node_name")),
                "port_state": reader.read_str(f"{fc}/port_state"),
                "port_type": reader.read_str(f"{fc}/port_type"),
                "speed_gbps": parse_speed_gbps(reader.read_str(f"{fc}/speed")),
                "supported_speeds_gbps": parse_speed_list(reader.read_str(f"{fc}/supported_speeds")),
                "symbolic_name": reader.read_str(f"{fc}/symbolic_name"),
                "model": reader.read_first([f"{scsi}/{a}" for a in _MODEL]),
                "model_description": reader.read_first([f"{scsi}/{a}" for a in _MODEL_DESCRIPTION]),
                "firmware": reader.read_first([f"{scsi}/{a}" for a in _FIRMWARE]),
                "driver": reader.read_str(f"{scsi}/proc_name"),
                "pci_address": _pci_address(reader.resolve(fc)),
            }
        )
    return hbas
