# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Schema of ``opsgate_readiness_spec``: validates and normalises a spec, collecting every error.

Each error names the key path and the bad value, e.g. ``memory.min_gib: expected a number, got 'lots'``.
``validate_spec`` returns the spec with defaults filled in, or raises one ``SpecError`` listing all errors.
"""

from __future__ import annotations

import datetime
import fnmatch
import re
from collections.abc import Callable, Mapping
from typing import Any

from .check_result import SEVERITIES
from .libraries import jmespath, netaddr, require_jmespath, require_netaddr

# Checks whose failure means the evidence itself is missing: neither a waiver nor a severity override may hide them.
NEVER_WAIVABLE = frozenset({"facts.collected", "facts.subsets"})

NIC_KINDS = ("physical", "bond", "vlan", "bridge", "virtual", "loopback")
DISK_KINDS = ("hdd", "ssd", "nvme", "multipath", "md", "lvm", "virtual")
SYSCTL_OPS = ("eq", "ne", "ge", "le", "in")
CUSTOM_OPS = ("eq", "ne", "ge", "le", "in", "contains", "regex", "truthy")
UNIQUE_KEYS = ("hostname", "machine_id", "addresses")

_MISSING = object()
_EMPTY = object()  # default of a section that is always present, filled with its own defaults


class SpecError(Exception):
    """A spec (or several) failed validation; ``errors`` holds one line per problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__(f"opsgate_readiness_spec is invalid ({len(errors)} error{'s' if len(errors) != 1 else ''}):\n" + "\n".join(f"  - {e}" for e in errors))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Node:
    """A schema node: ``check`` returns the normalised value, appending ``"path: problem"`` lines to ``errors``."""

    def check(self, value: Any, path: str, errors: list[str]) -> Any:
        raise NotImplementedError

    def fail(self, path: str, errors: list[str], problem: str) -> Any:
        errors.append(f"{path or '<spec>'}: {problem}")
        return _MISSING


class _Str(_Node):
    def __init__(self, pattern: str | None = None, choices: tuple[str, ...] | None = None, regex: bool = False, what: str = "") -> None:
        self.pattern = re.compile(pattern) if pattern else None
        self.choices = choices
        self.regex = regex
        self.what = what

    def check(self, value: Any, path: str, errors: list[str]) -> Any:
        if not isinstance(value, str):
            return self.fail(path, errors, f"expected a string, got {_show(value)}")
        if not value.strip():
            return self.fail(path, errors, "expected a non-empty string, got ''")
        if self.choices is not None and value not in self.choices:
            return self.fail(path, errors, f"expected one of {', '.join(self.choices)}, got {_show(value)}")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            return self.fail(path, errors, f"expected {self.what or 'a value matching ' + self.pattern.pattern}, got {_show(value)}")
        if self.regex:
            try:
                re.compile(value)
            except re.error as exc:
                return self.fail(path, errors, f"expected a valid regular expression, got {_show(value)} ({exc})")
        return value


class _Num(_Node):
    def __init__(self, integer: bool = False, minimum: float | None = None, maximum: float | None = None) -> None:
        self.integer = integer
        self.minimum = minimum
        self.maximum = maximum

    def check(self, value: Any, path: str, errors: list[str]) -> Any:
        kind = "an integer" if self.integer else "a number"
        # bool is an int in Python; `min_count: true` is a typo, not 1.
        if isinstance(value, bool) or not isinstance(value, int | float) or (self.integer and not isinstance(value, int)):
            return self.fail(path, errors, f"expected {kind}, got {_show(value)}")
        if self.minimum is not None and value < self.minimum:
            return self.fail(path, errors, f"expected {kind} >= {self.minimum:g}, got {_show(value)}")
        if self.maximum is not None and value > self.maximum:
            return self.fail(path, errors, f"expected {kind} <= {self.maximum:g}, got {_show(value)}")
        return value


class _Bool(_Node):
    def check(self, value: Any, path: str, errors: list[str]) -> Any:
        if not isinstance(value, bool):
            return self.fail(path, errors, f"expected true or false, got {_show(value)}")
        return value


class _Any(_Node):
    def check(self, value: Any, path: str, errors: list[str]) -> Any:
        return value


class _Scalar(_Node):
    """A sysctl or custom value: string, number or bool (lists are for ``in``)."""

    def check(self, value: Any, path: str, errors: list[str]) -> Any:
        if isinstance(value, str | int | float | bool):
            return value
        return self.fail(path, errors, f"expected a string or number, got {_show(value)}")


class _Cidr(_Node):
    def check(self, value: Any, path: str, errors: list[str]) -> Any:
        if not isinstance(value, str) or "/" not in value:
            return self.fail(path, errors, f"expected a subnet in CIDR notation (10.0.0.0/24), got {_show(value)}")
        require_netaddr()
        try:
            network = netaddr.IPNetwork(value)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            return self.fail(path, errors, f"expected a subnet in CIDR notation (10.0.0.0/24), got {_show(value)}")
        if network.ip != network.network:
            return self.fail(path, errors, f"expected a subnet without host bits ({network.cidr}), got {_show(value)}")
        return str(network.cidr)


class _IP(_Node):
    def check(self, value: Any, path: str, errors: list[str]) -> Any:
        require_netaddr()
        try:
            if not isinstance(value, str):
                raise TypeError
            return str(netaddr.IPAddress(value))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            return self.fail(path, errors, f"expected an IP address, got {_show(value)}")


class _Jmespath(_Node):
    def check(self, value: Any, path: str, errors: list[str]) -> Any:
        if not isinstance(value, str) or not value.strip():
            return self.fail(path, errors, f"expected a JMESPath expression, got {_show(value)}")
        require_jmespath()
        try:
            jmespath.compile(value)
        except jmespath.exceptions.JMESPathError as exc:
            return self.fail(path, errors, f"expected a valid JMESPath expression, got {_show(value)} ({str(exc).splitlines()[0]})")
        return value


class _Date(_Node):
    def check(self, value: Any, path: str, errors: list[str]) -> Any:
        if isinstance(value, datetime.datetime):
            return value.date().isoformat()
        if isinstance(value, datetime.date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return datetime.date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
        return self.fail(path, errors, f"expected a date YYYY-MM-DD, got {_show(value)}")


class _List(_Node):
    def __init__(self, item: _Node, min_items: int = 0) -> None:
        self.item = item
        self.min_items = min_items

    def check(self, value: Any, path: str, errors: list[str]) -> Any:
        if not isinstance(value, list):
            return self.fail(path, errors, f"expected a list, got {_show(value)}")
        if len(value) < self.min_items:
            return self.fail(path, errors, f"expected at least {self.min_items} item(s), got {_show(value)}")
        out = [self.item.check(item, f"{path}[{index}]", errors) for index, item in enumerate(value)]
        return [item for item in out if item is not _MISSING]


class _Map(_Node):
    """A mapping with free keys (mount points, user names, env vars), each value checked by ``value``."""

    def __init__(self, value: _Node, key_pattern: str | None = None, key_what: str = "") -> None:
        self.value = value
        self.key_pattern = re.compile(key_pattern) if key_pattern else None
        self.key_what = key_what

    def check(self, value: Any, path: str, errors: list[str]) -> Any:
        if not isinstance(value, Mapping):
            return self.fail(path, errors, f"expected a mapping, got {_show(value)}")
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or (self.key_pattern and not self.key_pattern.fullmatch(key)):
                self.fail(_join(path, str(key)), errors, f"expected a key that is {self.key_what}, got {_show(key)}")
                continue
            checked = self.value.check(item, _join(path, key), errors)
            if checked is not _MISSING:
                out[key] = checked
        return out


class _Obj(_Node):
    """A mapping with known keys; unknown keys are errors (a typo must not silently switch a check off)."""

    def __init__(
        self, fields: dict[str, tuple[_Node, Any]], required: tuple[str, ...] = (), post: Callable[[dict[str, Any], str, list[str]], None] | None = None
    ) -> None:
        self.fields = fields
        self.required = required
        self.post = post

    def check(self, value: Any, path: str, errors: list[str]) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            return self.fail(path, errors, f"expected a mapping, got {_show(value)}")
        out: dict[str, Any] = {}
        for key in value:
            if key not in self.fields:
                self.fail(_join(path, str(key)), errors, f"unknown key (allowed: {', '.join(sorted(self.fields))})")
        for key, (node, default) in self.fields.items():
            if key in value and value[key] is not None:
                checked = node.check(value[key], _join(path, key), errors)
                if checked is not _MISSING:
                    out[key] = checked
            elif key in self.required:
                self.fail(_join(path, key), errors, "required key is missing")
            elif default is _EMPTY:
                out[key] = node.check({}, _join(path, key), errors)
            elif default is not _MISSING:
                out[key] = default() if callable(default) else default
        if self.post is not None:
            self.post(out, path, errors)
        return out


def _obj(fields: dict[str, _Node | tuple[_Node, Any]], required: tuple[str, ...] = (), post: Any = None) -> _Obj:
    normalised = {k: (v if isinstance(v, tuple) else (v, _MISSING)) for k, v in fields.items()}
    return _Obj(normalised, required, post)


_VERSION = r"\d+(\.\d+)*"
_GIB = _Num(minimum=0)
_COUNT = _Num(integer=True, minimum=0)
_REGEXES = _List(_Str(regex=True))
_NAME = r"[A-Za-z0-9_.+-]+"


def _check_sysctl_rule(rule: dict[str, Any], path: str, errors: list[str]) -> None:
    if "op" in rule and "value" in rule:
        if rule["op"] == "in" and not isinstance(rule["value"], list):
            errors.append(f"{_join(path, 'value')}: expected a list for op 'in', got {_show(rule['value'])}")
        if rule["op"] in ("ge", "le") and (isinstance(rule["value"], bool) or not isinstance(rule["value"], int | float)):
            errors.append(f"{_join(path, 'value')}: expected a number for op '{rule['op']}', got {_show(rule['value'])}")


def _check_custom_rule(rule: dict[str, Any], path: str, errors: list[str]) -> None:
    if rule.get("op") == "regex" and isinstance(rule.get("expected"), str):
        try:
            re.compile(rule["expected"])
        except re.error as exc:
            errors.append(f"{_join(path, 'expected')}: expected a valid regular expression, got {_show(rule['expected'])} ({exc})")
    if rule.get("op") != "truthy" and "expected" not in rule:
        errors.append(f"{_join(path, 'expected')}: required key is missing")
    if rule.get("op") == "in" and "expected" in rule and not isinstance(rule["expected"], list):
        errors.append(f"{_join(path, 'expected')}: expected a list for op 'in', got {_show(rule['expected'])}")


def _targets_never_waivable(pattern: str) -> bool:
    """A pattern aimed at the facts checks (``facts.collected``, ``facts.*``). Broader patterns (``*``) are allowed:
    the engine never applies them to a never-waivable check."""
    return pattern in NEVER_WAIVABLE or (pattern.startswith("facts.") and any(fnmatch.fnmatchcase(n, pattern) for n in NEVER_WAIVABLE))


def _check_waiver(waiver: dict[str, Any], path: str, errors: list[str]) -> None:
    check = waiver.get("check")
    if isinstance(check, str) and _targets_never_waivable(check):
        errors.append(f"{_join(path, 'check')}: {check!r} can never be waived (it covers {', '.join(sorted(NEVER_WAIVABLE))})")


_SCHEMA = _obj(
    {
        "system_class": _Str(pattern=_NAME, what="a name of letters, digits, _ . + -"),
        "description": _Str(),
        "cpu": _obj(
            {
                "min_threads": _Num(integer=True, minimum=1),
                "min_cores": _Num(integer=True, minimum=1),
                "min_sockets": _Num(integer=True, minimum=1),
                "min_mhz": _Num(minimum=1),
                "models": _REGEXES,
            }
        ),
        "memory": _obj({"min_gib": _GIB, "min_swap_gib": _GIB, "min_hugepages": _COUNT, "min_numa_nodes": _Num(integer=True, minimum=1)}),
        "nics": _obj(
            {
                "kinds": (_List(_Str(choices=NIC_KINDS), min_items=1), lambda: ["physical"]),
                "name_pattern": _Str(regex=True),
                "min_count": _COUNT,
                "min_speed_mbps": _Num(integer=True, minimum=1),
                "link_up": (_Bool(), False),
                "required_kinds": _List(_Str(choices=NIC_KINDS)),
                "min_mtu": _Num(integer=True, minimum=68, maximum=65535),
            }
        ),
        "hbas": _obj({"min_count": _COUNT, "min_speed_gbps": _Num(minimum=1), "port_state": _Str(), "models": _REGEXES}),
        "disks": _obj(
            {
                "min_total_gib": _GIB,
                "count_kinds": (_List(_Str(choices=DISK_KINDS), min_items=1), lambda: ["hdd", "ssd", "nvme", "virtual"]),
                "kinds": _Map(
                    _obj({"min_count": _COUNT, "min_total_gib": _GIB}), key_pattern="|".join(DISK_KINDS), key_what="a disk kind (" + ", ".join(DISK_KINDS) + ")"
                ),
            }
        ),
        "pci": _List(
            _obj(
                {
                    "name": _Str(pattern=_NAME, what="a name of letters, digits, _ . + -"),
                    "class": _Str(pattern=r"(0x)?[0-9a-fA-F]{2,6}", what="a PCI class prefix in hex such as 0x0c04"),
                    "vendor_id": _Str(pattern=r"(0x)?[0-9a-fA-F]{4}", what="a 4-digit hex vendor id"),
                    "min_count": (_Num(integer=True, minimum=1), 1),
                },
                required=("name", "class"),
            )
        ),
        "host_models": _REGEXES,
        "os": _obj(
            {
                "families": _List(_Str(), min_items=1),
                "distributions": _List(_Str(), min_items=1),
                "min_version": _Str(pattern=_VERSION, what="a version such as 8.6"),
                "min_kernel": _Str(pattern=_VERSION, what="a kernel version such as 5.14"),
            }
        ),
        "hostname": _obj({"pattern": _Str(regex=True), "resolves": (_Bool(), False)}),
        "dns": _obj({"servers": _List(_IP()), "min_servers": _Num(integer=True, minimum=1)}),
        "time_sync": _obj({"required": (_Bool(), True)}),
        "sysctl": _List(
            _obj(
                {
                    "key": _Str(pattern=r"[a-z0-9_][a-z0-9_./-]*", what="a sysctl key such as vm.swappiness"),
                    "op": (_Str(choices=SYSCTL_OPS), "eq"),
                    "value": _Any(),
                },
                required=("key", "value"),
                post=_check_sysctl_rule,
            )
        ),
        "filesystems": _Map(
            _obj({"min_free_gib": _GIB, "min_size_gib": _GIB, "fstype": _Str(), "options": _List(_Str()), "forbidden_options": _List(_Str())}),
            key_pattern=r"/[^\s]*",
            key_what="an absolute mount point",
        ),
        "users": _Map(
            _obj({"uid": _COUNT, "groups": _List(_Str()), "shell": _Str(), "home": _Str(pattern=r"/.*", what="an absolute path")}),
            key_pattern=r"[a-z_][a-z0-9_.-]*\$?",
            key_what="a user name",
        ),
        "env_vars": _Map(_obj({"value": _Str(), "pattern": _Str(regex=True)}), key_pattern=r"[A-Za-z_][A-Za-z0-9_]*", key_what="an environment variable name"),
        "ulimits": _Map(
            _obj({"min": _Num(integer=True, minimum=0), "max": _Num(integer=True, minimum=0)}), key_pattern=r"[a-z_]+", key_what="a ulimit name such as nofile"
        ),
        "software": _obj({"required": _List(_Str(pattern=_NAME, what="a program name"))}),
        "network": _obj(
            {
                "allowed_subnets": _List(_Cidr(), min_items=1),
                "endpoints": _List(
                    _obj(
                        {
                            "name": _Str(pattern=_NAME, what="a name of letters, digits, _ . + -"),
                            "host": _Str(pattern=r"[A-Za-z0-9_.:-]+", what="a host name or address"),
                            "port": _Num(integer=True, minimum=1, maximum=65535),
                            "timeout_s": (_Num(minimum=0.1, maximum=60), 3),
                        },
                        required=("host", "port"),
                    )
                ),
            }
        ),
        "security": (
            _obj(
                {
                    "forbidden_software": (
                        _obj(
                            {
                                "enabled": (_Bool(), True),
                                "extra": (_List(_Str(pattern=_NAME, what="a program name")), list),
                                "allow": (_List(_Str(pattern=_NAME, what="a program name")), list),
                            }
                        ),
                        _EMPTY,
                    )
                }
            ),
            _EMPTY,
        ),
        "custom": _List(
            _obj(
                {
                    "id": _Str(pattern=r"[a-z0-9_][a-z0-9_.-]*", what="an id of lower-case letters, digits, _ . -"),
                    "description": _Str(),
                    "query": _Jmespath(),
                    "op": (_Str(choices=CUSTOM_OPS), "eq"),
                    "expected": _Any(),
                    "remediation": _Str(),
                },
                required=("id", "query"),
                post=_check_custom_rule,
            )
        ),
        "severity": _Map(_Str(choices=SEVERITIES), key_pattern=r"[A-Za-z0-9_.*?/\[\]!-]+", key_what="a check id or fnmatch pattern"),
        "waivers": _List(
            _obj(
                {"check": _Str(), "hosts": (_Str(), "*"), "reason": _Str(), "expires": _Date(), "approved_by": _Str()},
                required=("check", "reason", "expires"),
                post=_check_waiver,
            )
        ),
        "cross_host": (
            _obj(
                {
                    "unique": (_List(_Str(choices=UNIQUE_KEYS)), lambda: list(UNIQUE_KEYS)),
                    "homogeneity": _obj(
                        {
                            "group": _Str(pattern=_NAME, what="a group label"),
                            "cpu_model": (_Bool(), True),
                            "memory_tolerance_pct": (_Num(minimum=0, maximum=100), 0),
                            "nic_speed_tolerance_pct": (_Num(minimum=0, maximum=100), 0),
                        }
                    ),
                }
            ),
            _EMPTY,
        ),
    }
)


def _cross_field(spec: dict[str, Any], errors: list[str]) -> None:
    for pattern in spec.get("severity", {}):
        blocked = sorted(never for never in NEVER_WAIVABLE if fnmatch.fnmatchcase(never, pattern))
        if blocked and _targets_never_waivable(pattern):
            errors.append(f"severity.{pattern}: the severity of {', '.join(blocked)} cannot be changed")
    ids = [rule["id"] for rule in spec.get("custom", []) if "id" in rule]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        errors.append(f"custom: id {duplicate!r} is used more than once")
    names = [e.get("name") or f"{e.get('host')}:{e.get('port')}" for e in spec.get("network", {}).get("endpoints", [])]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"network.endpoints: name {duplicate!r} is used more than once")
    keys = [rule["key"] for rule in spec.get("sysctl", []) if "key" in rule]
    for duplicate in sorted({k for k in keys if keys.count(k) > 1}):
        errors.append(f"sysctl: key {duplicate!r} has more than one rule")


def spec_errors(spec: Any) -> tuple[dict[str, Any], list[str]]:
    """Validate one spec; return the normalised spec (defaults filled) and the list of errors."""
    errors: list[str] = []
    normalised = _SCHEMA.check(spec, "", errors)
    if normalised is _MISSING:
        return {}, errors
    for endpoint in normalised.get("network", {}).get("endpoints", []):
        endpoint.setdefault("name", f"{endpoint.get('host')}:{endpoint.get('port')}")
    _cross_field(normalised, errors)
    return normalised, errors


def validate_spec(spec: Any) -> dict[str, Any]:
    """The normalised spec, or ``SpecError`` listing every problem."""
    normalised, errors = spec_errors(spec)
    if errors:
        raise SpecError(errors)
    return normalised


def validate_specs(specs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Validate the spec of every host; hosts sharing the same errors (one group spec) are reported together."""
    normalised: dict[str, dict[str, Any]] = {}
    by_error: dict[str, list[str]] = {}
    for host in sorted(specs):
        if specs[host] is _MISSING or specs[host] is None:
            by_error.setdefault("opsgate_readiness_spec: not defined for this host", []).append(host)
            continue
        spec, errors = spec_errors(specs[host])
        normalised[host] = spec
        for error in errors:
            by_error.setdefault(error, []).append(host)
    if by_error:
        lines = []
        for error, hosts in by_error.items():
            shown = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")
            lines.append(f"{'host' if len(hosts) == 1 else 'hosts'} {shown}: {error}")
        raise SpecError(lines)
    return normalised
