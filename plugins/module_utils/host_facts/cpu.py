# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""CPU model, counts and frequency from /proc/cpuinfo and cpufreq."""

from __future__ import annotations

import re
from typing import Any

from .sysfs import FactReader

# Field names for the model differ per architecture (x86, arm64, ppc64le, s390x).
_MODEL_KEYS = ("model name", "Model Name", "cpu model", "cpu", "Processor", "machine")
_VENDOR_KEYS = ("vendor_id", "CPU implementer", "vendor")
_CPU_DIR = re.compile(r"^cpu[0-9]+$")


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """One dict per ``processor`` block; architecture-wide lines (arm64 ``Hardware``) go into every block."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            current[key.strip()] = value.strip()
    if current:
        blocks.append(current)
    processors: list[dict[str, str]] = []
    common: dict[str, str] = {}
    for block in blocks:
        if block.get("processor", "").isdigit():
            processors.append(block)
        else:
            common.update(block)
    return [{**common, **b} for b in processors] or ([common] if common else [])


def _first(block: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if block.get(key):
            return block[key]
    return None


def _topology_from_sysfs(reader: FactReader) -> tuple[int | None, int | None]:
    """Sockets and cores from cpu*/topology when cpuinfo has no ``physical id`` (arm64, s390x)."""
    packages: set[int] = set()
    cores: set[tuple[int, int]] = set()
    for name in reader.list_dir("/sys/devices/system/cpu"):
        if not _CPU_DIR.match(name):
            continue
        base = f"/sys/devices/system/cpu/{name}/topology"
        package = reader.read_int(f"{base}/physical_package_id", optional=True)
        core = reader.read_int(f"{base}/core_id", optional=True)
        if package is None or core is None:
            continue
        packages.add(package)
        cores.add((package, core))
    return (len(packages) or None, len(cores) or None)


def collect_cpu(reader: FactReader) -> dict[str, Any]:
    text = reader.read_text("/proc/cpuinfo")
    processors = parse_cpuinfo(text or "")
    first = processors[0] if processors else {}
    threads = sum(1 for p in processors if "processor" in p) or None

    if all("physical id" in p and "core id" in p for p in processors) and processors:
        sockets: int | None = len({p["physical id"] for p in processors})
        cores: int | None = len({(p["physical id"], p["core id"]) for p in processors})
    else:
        sockets, cores = _topology_from_sysfs(reader)

    model = _first(first, _MODEL_KEYS)
    if model is None and text is not None:
        reader.record("/proc/cpuinfo", "no model name field")

    mhz_current: int | None = None
    mhz_text = first.get("cpu MHz")
    if mhz_text:
        try:
            mhz_current = round(float(mhz_text))
        except ValueError:
            reader.record("/proc/cpuinfo", f"cpu MHz is not a number: {mhz_text!r}")

    max_khz = reader.read_int("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    return {
        "model": model,
        "vendor": _first(first, _VENDOR_KEYS),
        "sockets": sockets,
        "cores": cores,
        "threads": threads,
        "mhz_max": max_khz // 1000 if max_khz is not None else None,
        "mhz_current": mhz_current,
    }
