# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Schema of ``opsgate_readiness_spec``: validates and normalises a spec, collecting every error.

Declared with the shared engine (``module_utils/schema/engine.py``), like the release manifest, the rollout plan
and the approval policy: each error names the key path and the bad value, e.g. ``memory.min_gib: must be a number
(got 'lots')``. ``validate_spec`` returns the spec with defaults filled in, or raises one ``SpecError`` listing all errors.
"""

from __future__ import annotations

import datetime
import fnmatch
import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.schema.engine import MISSING, Field, Issues, Schema, SchemaIssue, collect, join

from .check_result import SEVERITIES
from .libraries import jmespath, netaddr, require_jmespath, require_netaddr

# Checks whose failure means the evidence itself is missing: neither a waiver nor a severity override may hide them.
NEVER_WAIVABLE = frozenset({"facts.collected", "facts.subsets"})

NIC_KINDS = ("physical", "bond", "vlan", "bridge", "virtual", "loopback")
DISK_KINDS = ("hdd", "ssd", "nvme", "multipath", "md", "lvm", "virtual")
SYSCTL_OPS = ("eq", "ne", "ge", "le", "in")
CUSTOM_OPS = ("eq", "ne", "ge", "le", "in", "contains", "regex", "truthy")
UNIQUE_KEYS = ("hostname", "machine_id", "addresses")
# Sections mapping free names to constraints: ``users: {app:}`` (YAML null) is an entry without constraints.
_FREE_KEY_SECTIONS = ("filesystems", "users", "env_vars", "ulimits")


class SpecError(Exception):
    """A spec (or several) failed validation; ``errors`` holds one line per problem, ``issues`` the engine's issues."""

    def __init__(self, errors: list[str], issues: list[SchemaIssue] | None = None) -> None:
        self.errors = errors
        self.issues = list(issues or [])
        super().__init__(f"opsgate_readiness_spec is invalid ({len(errors)} error{'s' if len(errors) != 1 else ''}):\n" + "\n".join(f"  - {e}" for e in errors))

    @property
    def path(self) -> str:
        """The key path of the first problem (empty for the grouped errors of ``validate_specs``)."""
        return self.issues[0].path if self.issues else ""


def _line(issue: SchemaIssue) -> str:
    return str(issue if issue.path else SchemaIssue("<spec>", issue.message, issue.value))


def _regex_problem(text: str) -> str | None:
    try:
        re.compile(text)
    except re.error as exc:
        return f"must be a valid regular expression ({exc})"
    return None


def _network(text: str) -> Any:
    require_netaddr()
    if "/" not in text:
        return None
    try:
        return netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None


def _cidr_problem(text: str) -> str | None:
    network = _network(text)
    if network is None:
        return "must be a subnet in CIDR notation (10.0.0.0/24)"
    if network.ip != network.network:
        return f"must be a subnet without host bits ({network.cidr})"
    return None


def _cidr(text: str) -> str:
    return str(_network(text).cidr)


def _address(text: str) -> Any:
    require_netaddr()
    try:
        return netaddr.IPAddress(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None


def _address_problem(text: str) -> str | None:
    return None if _address(text) is not None else "must be an IP address"


def _jmespath_problem(text: str) -> str | None:
    require_jmespath()
    try:
        jmespath.compile(text)
    except jmespath.exceptions.JMESPathError as exc:
        return f"must be a valid JMESPath expression ({str(exc).splitlines()[0]})"
    return None


def _as_date(value: Any) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _date_problem(value: Any) -> str | None:
    return None if _as_date(value) is not None else "must be a date YYYY-MM-DD"


def _iso_date(value: Any) -> str:
    return _as_date(value).isoformat()  # type: ignore[union-attr]  # the check accepted it


def _obj(fields: dict[str, Field], checks: tuple = ()) -> Schema:
    # A key holding null (``memory:`` with nothing after it) is absent, as it always was in readiness specs.
    return Schema(fields, none_is_missing=True, checks=checks)


def _section(fields: dict[str, Field], checks: tuple = (), filled: bool = False) -> Field:
    """A mapping with known keys; ``filled``: always present, holding its own defaults when absent."""
    return Field("mapping", schema=_obj(fields, checks), default=dict if filled else MISSING)


def _text(pattern: str | None = None, hint: str = "", choices: tuple[str, ...] | None = None, regex: bool = False, default: Any = MISSING) -> Field:
    return Field("str", pattern=pattern, hint=hint, choices=choices, check=_regex_problem if regex else None, default=default)


def _integer(minimum: int, maximum: int | None = None, default: Any = MISSING) -> Field:
    return Field("int", minimum=minimum, maximum=maximum, default=default)


def _number(minimum: float, maximum: float | None = None, default: Any = MISSING) -> Field:
    return Field("float", minimum=minimum, maximum=maximum, default=default)


def _list(item: Field, min_items: int = 0, default: Any = MISSING) -> Field:
    return Field("list", item=item, min_items=min_items, default=default)


def _free_keys(value: Field, key_pattern: str, key_hint: str) -> Field:
    return Field("mapping", values=value, key_pattern=key_pattern, key_hint=key_hint)


_VERSION = r"\d+(\.\d+)*"
_NAME = r"[A-Za-z0-9_.+-]+"
_NAME_HINT = "a name of letters, digits, _ . + -"
_GIB = _number(0)
_COUNT = _integer(0)
_REGEXES = _list(_text(regex=True))


def _sysctl_rule(rule: dict[str, Any], path: str, issues: Issues) -> None:
    if rule["op"] == "in" and not isinstance(rule["value"], list):
        issues.add(join(path, "value"), "must be a list for op 'in'", rule["value"])
    if rule["op"] in ("ge", "le") and (isinstance(rule["value"], bool) or not isinstance(rule["value"], (int, float))):
        issues.add(join(path, "value"), f"must be a number for op '{rule['op']}'", rule["value"])


def _custom_rule(rule: dict[str, Any], path: str, issues: Issues) -> None:
    if rule["op"] == "regex" and isinstance(rule.get("expected"), str):
        problem = _regex_problem(rule["expected"])
        if problem:
            issues.add(join(path, "expected"), problem, rule["expected"])
    if rule["op"] != "truthy" and "expected" not in rule:
        issues.add(join(path, "expected"), "is required (unless op is truthy)")
    if rule["op"] == "in" and "expected" in rule and not isinstance(rule["expected"], list):
        issues.add(join(path, "expected"), "must be a list for op 'in'", rule["expected"])


def _targets_never_waivable(pattern: str) -> bool:
    """A pattern aimed at the facts checks (``facts.collected``, ``facts.*``). Broader patterns (``*``) are allowed:
    the engine never applies them to a never-waivable check."""
    return pattern in NEVER_WAIVABLE or (pattern.startswith("facts.") and any(fnmatch.fnmatchcase(n, pattern) for n in NEVER_WAIVABLE))


def _waiver_rule(waiver: dict[str, Any], path: str, issues: Issues) -> None:
    check = waiver["check"]
    if _targets_never_waivable(check):
        issues.add(join(path, "check"), f"{check!r} can never be waived (it covers {', '.join(sorted(NEVER_WAIVABLE))})")


def _spec_rules(spec: dict[str, Any], path: str, issues: Issues) -> None:
    """Rules across entries: the facts checks keep their severity, ids, endpoint names and sysctl keys are unique."""
    for pattern in spec.get("severity", {}):
        blocked = sorted(never for never in NEVER_WAIVABLE if fnmatch.fnmatchcase(never, pattern))
        if blocked and _targets_never_waivable(pattern):
            issues.add(join(join(path, "severity"), pattern), f"the severity of {', '.join(blocked)} cannot be changed")
    ids = [rule["id"] for rule in spec.get("custom", [])]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        issues.add(join(path, "custom"), f"id {duplicate!r} is used more than once")
    names = [e.get("name") or f"{e['host']}:{e['port']}" for e in spec.get("network", {}).get("endpoints", [])]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        issues.add(join(path, "network.endpoints"), f"name {duplicate!r} is used more than once")
    keys = [rule["key"] for rule in spec.get("sysctl", [])]
    for duplicate in sorted({k for k in keys if keys.count(k) > 1}):
        issues.add(join(path, "sysctl"), f"key {duplicate!r} has more than one rule")


_PROGRAM = _text(_NAME, "a program name")
_SCHEMA = _obj(
    {
        "system_class": _text(_NAME, _NAME_HINT),
        "description": _text(),
        "cpu": _section(
            {
                "min_threads": _integer(1),
                "min_cores": _integer(1),
                "min_sockets": _integer(1),
                "min_mhz": _number(1),
                "models": _REGEXES,
            }
        ),
        "memory": _section({"min_gib": _GIB, "min_swap_gib": _GIB, "min_hugepages": _COUNT, "min_numa_nodes": _integer(1)}),
        "nics": _section(
            {
                "kinds": _list(_text(choices=NIC_KINDS), min_items=1, default=lambda: ["physical"]),
                "name_pattern": _text(regex=True),
                "min_count": _COUNT,
                "min_speed_mbps": _integer(1),
                "link_up": Field("bool", default=False),
                "required_kinds": _list(_text(choices=NIC_KINDS)),
                "min_mtu": _integer(68, 65535),
            }
        ),
        "hbas": _section({"min_count": _COUNT, "min_speed_gbps": _number(1), "port_state": _text(), "models": _REGEXES}),
        "disks": _section(
            {
                "min_total_gib": _GIB,
                "count_kinds": _list(_text(choices=DISK_KINDS), min_items=1, default=lambda: ["hdd", "ssd", "nvme", "virtual"]),
                "kinds": _free_keys(
                    _section({"min_count": _COUNT, "min_total_gib": _GIB}), "|".join(DISK_KINDS), "a disk kind (" + ", ".join(DISK_KINDS) + ")"
                ),
            }
        ),
        "pci": _list(
            _section(
                {
                    "name": Field("str", required=True, pattern=_NAME, hint=_NAME_HINT),
                    "class": Field("str", required=True, pattern=r"(0x)?[0-9a-fA-F]{2,6}", hint="a PCI class prefix in hex such as 0x0c04"),
                    "vendor_id": _text(r"(0x)?[0-9a-fA-F]{4}", "a 4-digit hex vendor id"),
                    "min_count": _integer(1, default=1),
                }
            )
        ),
        "host_models": _REGEXES,
        "os": _section(
            {
                "families": _list(_text(), min_items=1),
                "distributions": _list(_text(), min_items=1),
                "min_version": _text(_VERSION, "a version such as 8.6"),
                "min_kernel": _text(_VERSION, "a kernel version such as 5.14"),
            }
        ),
        "hostname": _section({"pattern": _text(regex=True), "resolves": Field("bool", default=False)}),
        "dns": _section(
            {
                "servers": _list(Field("str", hint="an IP address", check=_address_problem, normalize=lambda text: str(_address(text)))),
                "min_servers": _integer(1),
            }
        ),
        "time_sync": _section({"required": Field("bool", default=True)}),
        "sysctl": _list(
            _section(
                {
                    "key": Field("str", required=True, pattern=r"[a-z0-9_][a-z0-9_./-]*", hint="a sysctl key such as vm.swappiness"),
                    "op": _text(choices=SYSCTL_OPS, default="eq"),
                    "value": Field("any", required=True),
                },
                checks=(_sysctl_rule,),
            )
        ),
        "filesystems": _free_keys(
            _section({"min_free_gib": _GIB, "min_size_gib": _GIB, "fstype": _text(), "options": _list(_text()), "forbidden_options": _list(_text())}),
            r"/[^\s]*",
            "an absolute mount point",
        ),
        "users": _free_keys(
            _section({"uid": _COUNT, "groups": _list(_text()), "shell": _text(), "home": _text(r"/.*", "an absolute path")}),
            r"[a-z_][a-z0-9_.-]*\$?",
            "a user name",
        ),
        "env_vars": _free_keys(_section({"value": _text(), "pattern": _text(regex=True)}), r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name"),
        "ulimits": _free_keys(_section({"min": _integer(0), "max": _integer(0)}), r"[a-z_]+", "a ulimit name such as nofile"),
        "software": _section({"required": _list(_PROGRAM)}),
        "network": _section(
            {
                "allowed_subnets": _list(Field("str", hint="a subnet in CIDR notation (10.0.0.0/24)", check=_cidr_problem, normalize=_cidr), min_items=1),
                "endpoints": _list(
                    _section(
                        {
                            "name": _text(_NAME, _NAME_HINT),
                            "host": Field("str", required=True, pattern=r"[A-Za-z0-9_.:-]+", hint="a host name or address"),
                            "port": Field("int", required=True, minimum=1, maximum=65535),
                            "timeout_s": _number(0.1, 60, default=3),
                        }
                    )
                ),
            }
        ),
        "security": _section(
            {
                "forbidden_software": _section(
                    {"enabled": Field("bool", default=True), "extra": _list(_PROGRAM, default=list), "allow": _list(_PROGRAM, default=list)}, filled=True
                )
            },
            filled=True,
        ),
        "custom": _list(
            _section(
                {
                    "id": Field("str", required=True, pattern=r"[a-z0-9_][a-z0-9_.-]*", hint="an id of lower-case letters, digits, _ . -"),
                    "description": _text(),
                    "query": Field("str", required=True, hint="a JMESPath expression", check=_jmespath_problem),
                    "op": _text(choices=CUSTOM_OPS, default="eq"),
                    "expected": Field("any"),
                    "remediation": _text(),
                },
                checks=(_custom_rule,),
            )
        ),
        "severity": _free_keys(_text(choices=SEVERITIES), r"[A-Za-z0-9_.*?/\[\]!-]+", "a check id or fnmatch pattern"),
        "waivers": _list(
            _section(
                {
                    "check": Field("str", required=True),
                    "hosts": _text(default="*"),
                    "reason": Field("str", required=True),
                    "expires": Field("any", required=True, check=_date_problem, normalize=_iso_date),
                    "approved_by": _text(),
                },
                checks=(_waiver_rule,),
            )
        ),
        "cross_host": _section(
            {
                "unique": _list(_text(choices=UNIQUE_KEYS), default=lambda: list(UNIQUE_KEYS)),
                "homogeneity": _section(
                    {
                        "group": _text(_NAME, "a group label"),
                        "cpu_model": Field("bool", default=True),
                        "memory_tolerance_pct": _number(0, 100, default=0),
                        "nic_speed_tolerance_pct": _number(0, 100, default=0),
                    }
                ),
            },
            filled=True,
        ),
    },
    checks=(_spec_rules,),
)


def _empty_entries(spec: Any) -> Any:
    """``users: {app:}``: a free-key entry holding null is one without constraints (``{}``), as readiness specs always allowed."""
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        return spec
    out = dict(spec)
    for key in _FREE_KEY_SECTIONS:
        if isinstance(out.get(key), Mapping):
            out[key] = {name: {} if entry is None else entry for name, entry in out[key].items()}
    disks = out.get("disks")
    if isinstance(disks, Mapping) and isinstance(disks.get("kinds"), Mapping):
        out["disks"] = {**disks, "kinds": {name: {} if entry is None else entry for name, entry in disks["kinds"].items()}}
    return out


def spec_issues(spec: Any) -> tuple[dict[str, Any], list[SchemaIssue]]:
    """Validate one spec; return the normalised spec (defaults filled; ``{}`` when invalid) and every issue found."""
    normalised, issues = collect(_SCHEMA, _empty_entries(spec))
    if issues:
        return {}, issues
    for endpoint in normalised.get("network", {}).get("endpoints", []):
        endpoint.setdefault("name", f"{endpoint['host']}:{endpoint['port']}")
    return normalised, []


def spec_errors(spec: Any) -> tuple[dict[str, Any], list[str]]:
    """Validate one spec; return the normalised spec (defaults filled) and one ``path: message (got VALUE)`` line per error."""
    normalised, issues = spec_issues(spec)
    return normalised, [_line(issue) for issue in issues]


def validate_spec(spec: Any) -> dict[str, Any]:
    """The normalised spec, or ``SpecError`` listing every problem."""
    normalised, issues = spec_issues(spec)
    if issues:
        raise SpecError([_line(issue) for issue in issues], issues)
    return normalised


def validate_specs(specs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Validate the spec of every host; hosts sharing the same errors (one group spec) are reported together."""
    normalised: dict[str, dict[str, Any]] = {}
    by_error: dict[str, list[str]] = {}
    for host in sorted(specs):
        if specs[host] is MISSING or specs[host] is None:
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
