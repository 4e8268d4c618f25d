# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Choose the subsets, run each one, time it, and gather every read error in one list."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from .cpu import collect_cpu
from .disks import collect_disks
from .filesystems import collect_filesystems, validate_mount_points
from .hbas import collect_hbas
from .memory import collect_memory
from .nics import collect_nics
from .os_release import collect_os
from .pci import collect_pci
from .software import collect_software, validate_software_names
from .sysctl import collect_sysctl, validate_sysctl_keys
from .sysfs import FactReader
from .system import collect_system
from .users import collect_users, validate_user_names

SUBSETS = ("system", "cpu", "memory", "nics", "hbas", "disks", "pci", "os", "sysctl", "software", "filesystems", "users")
HARDWARE_SUBSETS = ("system", "cpu", "memory", "nics", "hbas", "disks", "pci")


def select_subsets(requested: list[str]) -> list[str]:
    """Ansible's gather_subset rules: names add, ``!name`` removes, only removals means "all but these".

    ``all`` and ``!all`` work as in ``setup``. The result keeps the order of ``SUBSETS``.
    """
    if isinstance(requested, str):
        requested = [requested]
    included: set[str] = set()
    excluded: set[str] = set()
    no_default = False
    for index, item in enumerate(requested):
        name = item.strip() if isinstance(item, str) else item
        negated = isinstance(name, str) and name.startswith("!")
        bare = name[1:] if negated else name
        if bare != "all" and bare not in SUBSETS:
            raise ValueError(f"gather_subset[{index}]: {item!r} is not one of {', '.join(('all', *SUBSETS))} (prefix '!' to exclude)")
        if bare == "all":
            # `!all` only drops the implicit "everything"; named subsets beside it still count.
            if negated:
                no_default = True
            else:
                included.update(SUBSETS)
        elif negated:
            excluded.add(bare)
        else:
            included.add(bare)
    if not included and not no_default:
        included = set(SUBSETS)
    return [s for s in SUBSETS if s in included and s not in excluded]


def validate_options(software: list[str], sysctl: list[str], filesystems: list[str], users: list[str], filesystem_timeout: float) -> None:
    """Bad names fail before anything is read, naming the option, the index and the value."""
    validate_software_names(software)
    validate_sysctl_keys(sysctl)
    validate_mount_points(filesystems)
    validate_user_names(users)
    if filesystem_timeout < 0:
        raise ValueError(f"filesystem_timeout: {filesystem_timeout!r} must be 0 or more seconds")


def collect(
    root: str = "/",
    gather_subset: list[str] | None = None,
    software: list[str] | None = None,
    sysctl: list[str] | None = None,
    filesystems: list[str] | None = None,
    users: list[str] | None = None,
    filesystem_timeout: float = 10.0,
) -> dict[str, Any]:
    """The ``opsgate_host`` fact: one key per selected subset, plus ``errors`` and ``timings_ms``.

    Raises ``ValueError`` only for bad options; anything the host does not give becomes ``None`` and an error entry.
    """
    subsets = select_subsets(gather_subset if gather_subset is not None else ["all"])
    software, sysctl, filesystems, users = list(software or []), list(sysctl or []), list(filesystems or []), list(users or [])
    validate_options(software, sysctl, filesystems, users, filesystem_timeout)

    if not os.path.isdir(root or "/"):
        raise ValueError(f"root: {root!r} is not a directory")
    reader = FactReader(root)
    collectors: dict[str, Callable[[], Any]] = {
        "system": lambda: collect_system(reader),
        "cpu": lambda: collect_cpu(reader),
        "memory": lambda: collect_memory(reader),
        "nics": lambda: collect_nics(reader),
        "hbas": lambda: collect_hbas(reader),
        "disks": lambda: collect_disks(reader),
        "pci": lambda: collect_pci(reader),
        "os": lambda: collect_os(reader),
        "sysctl": lambda: collect_sysctl(reader, sysctl),
        "software": lambda: collect_software(reader, software),
        "filesystems": lambda: collect_filesystems(reader, filesystems, filesystem_timeout),
        "users": lambda: collect_users(reader, users),
    }
    facts: dict[str, Any] = {"root": reader.root, "gather_subset": subsets}
    timings: dict[str, float] = {}
    for subset in subsets:
        reader.subset = subset
        started = time.perf_counter()
        try:
            facts[subset] = collectors[subset]()
        except Exception as exc:  # a bug in one collector must not cost the other facts
            facts[subset] = None
            reader.record(reader.root, f"{subset} collector failed: {type(exc).__name__}: {exc}")
        timings[subset] = round((time.perf_counter() - started) * 1000, 3)
    facts["errors"] = reader.errors
    facts["timings_ms"] = timings
    return facts
