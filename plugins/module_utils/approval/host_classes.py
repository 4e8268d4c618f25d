# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The signed policy's mapping of inventory host names to system classes (and, optionally, environments).

The class a change needs is derived from the host names it targets, never from a variable: a
variable is whatever the operator says, the policy is what the policy administrators signed.
Inventory groups are not used: the operator edits the inventory, so a group proves nothing.

Each entry is ``{hosts: [fnmatch patterns], class: <class>, env: <env, optional>}``. The order of
the entries does not matter: a host that matches several gets the strictest of their classes.

Strictness: class A is at least as strict as class B when A requires every role B requires, with at
least as many signatures, and at least B's lead time (working days). When the classes a host (or a
run's hosts) falls under are not ordered that way, none of them is "the strictest" and the change is
refused: the policy administrators write an entry that settles it, or the change is split.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import errors
from .identity import shown

if TYPE_CHECKING:
    from .policy import SystemClass

_ENTRY_KEYS = {"hosts", "class", "env", "description"}
_SHOWN = 10


@dataclass(frozen=True)
class HostClass:
    patterns: tuple[str, ...]
    system_class: str
    env: str | None = None


def _fail(path: str, message: str) -> errors.ApprovalError:
    return errors.ApprovalError(errors.POLICY_INVALID, f"{path}: {message}")


def parse_host_classes(value: Any, path: str, classes: Mapping[str, SystemClass]) -> tuple[HostClass, ...]:
    """Validate ``host_classes``; every error names its key path and the offending value."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise _fail(path, f"must be a non-empty list of {{hosts: [patterns], class: <class>}}, got {value!r}")
    entries: list[HostClass] = []
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise _fail(item_path, f"must be a mapping with hosts and class, got {type(item).__name__}")
        unknown = sorted(str(key) for key in set(item) - _ENTRY_KEYS)
        if unknown:
            raise _fail(item_path, f"unknown keys {', '.join(unknown)} (allowed: {', '.join(sorted(_ENTRY_KEYS))})")
        patterns = item.get("hosts")
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list) or not patterns:
            raise _fail(f"{item_path}.hosts", f"must be a non-empty list of host name patterns (fnmatch: db*, core-?), got {patterns!r}")
        for number, pattern in enumerate(patterns):
            if not isinstance(pattern, str) or not pattern.strip() or pattern != pattern.strip():
                raise _fail(f"{item_path}.hosts[{number}]", f"must be a host name pattern without surrounding blanks, got {pattern!r}")
        name = item.get("class")
        if not isinstance(name, str) or name not in classes:
            raise _fail(f"{item_path}.class", f"must be one of the policy's classes ({', '.join(sorted(classes))}), got {name!r}")
        env = item.get("env")
        if env is not None and (not isinstance(env, str) or not env.strip()):
            raise _fail(f"{item_path}.env", f"must be a non-empty environment name when given, got {env!r}")
        entries.append(HostClass(tuple(patterns), name, env))
    return tuple(entries)


def at_least_as_strict(stricter: SystemClass, other: SystemClass) -> bool:
    """Every role ``other`` needs, ``stricter`` needs as often or more, and its lead time is not shorter."""
    return stricter.min_lead_working_days >= other.min_lead_working_days and all(stricter.roles.get(role, 0) >= count for role, count in other.roles.items())


def strictest(names: Iterable[str], classes: Mapping[str, SystemClass], what: str) -> str:
    """The one class at least as strict as every other in ``names``; refuse when they are not ordered."""
    unique = sorted(set(names))
    if not unique:
        raise errors.ApprovalError(errors.SYSTEM_CLASS_MISMATCH, f"{what}: no class")
    for candidate in unique:
        if all(at_least_as_strict(classes[candidate], classes[other]) for other in unique):
            return candidate
    raise errors.ApprovalError(
        errors.SYSTEM_CLASS_MISMATCH,
        f"{what} falls under the classes {', '.join(unique)} of the approval policy, and none of them requires every role, signature count "
        "and lead time of the others: no class is the strictest, so no single token can cover it; the policy administrators settle it "
        "in host_classes, or the change is split",
    )


def _hosts_text(hosts: Iterable[str]) -> str:
    items = [shown(host) for host in sorted(hosts)]
    text = ", ".join(items[:_SHOWN])
    return text if len(items) <= _SHOWN else f"{text} and {len(items) - _SHOWN} more"


def class_of_host(host: str, entries: Iterable[HostClass], classes: Mapping[str, SystemClass]) -> str | None:
    """The strictest class of the entries ``host`` matches; None when it matches none."""
    matched = [entry.system_class for entry in entries if any(fnmatch.fnmatchcase(host, pattern) for pattern in entry.patterns)]
    if not matched:
        return None
    return strictest(matched, classes, f"host {shown(host)}")


def derive_class(hosts: Iterable[str], entries: tuple[HostClass, ...], classes: Mapping[str, SystemClass]) -> str:
    """The class a change of ``hosts`` needs: the strictest of the hosts' classes. Every host must be mapped."""
    by_host: dict[str, str] = {}
    unmapped: list[str] = []
    for host in sorted(set(hosts)):
        name = class_of_host(host, entries, classes)
        if name is None:
            unmapped.append(host)
        else:
            by_host[host] = name
    if unmapped:
        raise errors.ApprovalError(
            errors.SYSTEM_CLASS_MISMATCH,
            f"host {_hosts_text(unmapped)} matches no entry of the approval policy's host_classes: its class is unknown, so nobody can say "
            "which roles must approve a change to it; the policy administrators add it to host_classes",
        )
    return strictest(by_host.values(), classes, f"the change of {_hosts_text(by_host)}")


def derive_env(hosts: Iterable[str], entries: tuple[HostClass, ...]) -> str | None:
    """The environment the policy gives the hosts (entries with ``env``); None when no entry names one for any of them."""
    envs: dict[str, set[str]] = {}
    for host in sorted(set(hosts)):
        for entry in entries:
            if entry.env is not None and any(fnmatch.fnmatchcase(host, pattern) for pattern in entry.patterns):
                envs.setdefault(entry.env, set()).add(host)
    if not envs:
        return None
    if len(envs) > 1:
        described = "; ".join(f"{env}: {_hosts_text(names)}" for env, names in sorted(envs.items()))
        raise errors.ApprovalError(
            errors.ENV_MISMATCH, f"the approval policy's host_classes put the hosts of this change in more than one environment ({described})"
        )
    return next(iter(envs))


def check_host_classes(claims: Any, entries: tuple[HostClass, ...], classes: Mapping[str, SystemClass]) -> None:
    """The token's class and env against what the signed policy says of its hosts. No-op without host_classes."""
    if not entries:
        return
    derived = derive_class(claims.hosts, entries, classes)
    if claims.system_class != derived:
        raise errors.ApprovalError(
            errors.SYSTEM_CLASS_MISMATCH,
            f"system_class differs: the token approves '{shown(claims.system_class)}', the approval policy's host_classes put "
            f"{_hosts_text(claims.hosts)} in '{derived}' (the strictest class of the hosts): have the change approved as {derived}",
        )
    env = derive_env(claims.hosts, entries)
    if env is not None and claims.env != env:
        raise errors.ApprovalError(
            errors.ENV_MISMATCH,
            f"env differs: the token approves '{shown(claims.env)}', the approval policy's host_classes put {_hosts_text(claims.hosts)} in '{env}'",
        )
