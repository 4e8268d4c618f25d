# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Kernel parameters by sysctl name, read from /proc/sys."""

from __future__ import annotations

import re
from typing import Any

from .sysfs import FactReader

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/@+-]*$")


def sysctl_path(key: str) -> str:
    """``net.ipv4.ip_forward`` -> ``/proc/sys/net/ipv4/ip_forward``.

    As in sysctl(8), a key with a slash uses slashes as separators, so an interface named
    ``eth0.100`` is written ``net/ipv4/conf/eth0.100/forwarding``.
    """
    parts = key.split("/") if "/" in key else key.split(".")
    return "/proc/sys/" + "/".join(parts)


def validate_sysctl_keys(keys: list[str]) -> None:
    for index, key in enumerate(keys):
        parts = (key.split("/") if "/" in key else key.split(".")) if isinstance(key, str) else []
        if not isinstance(key, str) or not _KEY.match(key) or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"sysctl[{index}]: {key!r} is not a sysctl key (expected e.g. 'net.ipv4.ip_forward')")


def parse_sysctl_value(text: str) -> int | str:
    """A single integer becomes an int; several fields (``net.ipv4.ip_local_port_range``) are joined by one space."""
    fields = text.split()
    if len(fields) == 1 and re.match(r"^-?[0-9]+$", fields[0]):
        return int(fields[0])
    return " ".join(fields)


def collect_sysctl(reader: FactReader, keys: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in keys:
        text = reader.read_text(sysctl_path(key))
        values[key] = parse_sysctl_value(text) if text is not None else None
    return values
