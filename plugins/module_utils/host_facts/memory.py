# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Memory, swap, huge pages (/proc/meminfo) and NUMA nodes (/sys/devices/system/node)."""

from __future__ import annotations

import re
from typing import Any

from .sysfs import FactReader

_NODE_DIR = re.compile(r"^node[0-9]+$")


def parse_meminfo(text: str) -> dict[str, int]:
    """``MemTotal: 16318504 kB`` -> ``{"MemTotal": 16710148096}``; lines without a unit are counts."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or not fields or not fields[0].isdigit():
            continue
        number = int(fields[0])
        values[key.strip()] = number * 1024 if len(fields) > 1 and fields[1] == "kB" else number
    return values


def collect_memory(reader: FactReader) -> dict[str, Any]:
    meminfo = parse_meminfo(reader.read_text("/proc/meminfo") or "")

    def field(name: str) -> int | None:
        if name not in meminfo and meminfo:
            reader.record("/proc/meminfo", f"no {name} field")
        return meminfo.get(name)

    nodes = [n for n in reader.list_dir("/sys/devices/system/node") if _NODE_DIR.match(n)]
    return {
        "total_bytes": field("MemTotal"),
        "available_bytes": field("MemAvailable"),
        "free_bytes": meminfo.get("MemFree"),
        "swap_total_bytes": field("SwapTotal"),
        "swap_free_bytes": meminfo.get("SwapFree"),
        "hugepages": {
            "total": meminfo.get("HugePages_Total"),
            "free": meminfo.get("HugePages_Free"),
            "size_bytes": meminfo.get("Hugepagesize"),
        },
        # A kernel without CONFIG_NUMA has no node directory: that is one node.
        "numa_nodes": len(nodes) or 1,
    }
