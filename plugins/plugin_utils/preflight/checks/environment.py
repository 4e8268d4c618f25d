# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Environment checks (Art. 6): OS, kernel, hostname, DNS, time, sysctl, filesystems, users, env vars, ulimits, tools."""

from __future__ import annotations

import re
from typing import Any

from .. import facts_view
from ..check_result import CheckResult, compare
from .common import GIB, gib, missing, version_at_least

# Environment variables whose value must never reach a report.
_SECRET_NAME = re.compile(r"(?i)(pass|secret|token|key|credential|auth)")


def _os(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    rules = spec.get("os", {})
    results: list[CheckResult] = []
    for key, accessor, check_id, noun in (
        ("families", "family", "env.os.family", "OS family"),
        ("distributions", "distribution", "env.os.distribution", "distribution"),
    ):
        if key not in rules:
            continue
        have = facts_view.os_family(facts) if accessor == "family" else facts_view.os_value(facts, accessor)
        if have is None:
            results.append(missing(check_id, rules[key], f"os.{accessor}"))
            continue
        allowed = [a.lower() for a in rules[key]]
        names = {str(have).lower()}
        if accessor == "distribution" and facts_view.os_value(facts, "distribution_name"):
            names.add(str(facts_view.os_value(facts, "distribution_name")).lower())
        results.append(
            compare(check_id, bool(names & set(allowed)), rules[key], have, f"{noun} {' or '.join(rules[key])}", str(have), f"install an approved {noun}")
        )
    for key, accessor, check_id, noun in (("min_version", "version", "env.os.version", "OS version"), ("min_kernel", "kernel", "env.kernel.min", "kernel")):
        if key not in rules:
            continue
        have = facts_view.os_value(facts, accessor)
        if have is None:
            results.append(missing(check_id, f">= {rules[key]}", f"os.{accessor}"))
            continue
        results.append(
            compare(
                check_id,
                version_at_least(have, rules[key]),
                f">= {rules[key]}",
                str(have),
                f"{noun} {rules[key]} or newer",
                str(have),
                f"upgrade the {noun} to {rules[key]} or newer",
            )
        )
    return results


def _hostname(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    rules = spec.get("hostname", {})
    results: list[CheckResult] = []
    name = facts_view.os_value(facts, "hostname")
    if "pattern" in rules:
        if name is None:
            results.append(missing("env.hostname.pattern", rules["pattern"], "os.hostname"))
        else:
            ok = re.fullmatch(rules["pattern"], str(name)) is not None
            results.append(
                compare(
                    "env.hostname.pattern",
                    ok,
                    rules["pattern"],
                    name,
                    f"a hostname matching {rules['pattern']}",
                    repr(name),
                    "set the hostname per the naming standard",
                )
            )
    if rules.get("resolves"):
        resolves = facts_view.os_value(facts, "hostname_resolves")
        if resolves is None:
            results.append(missing("env.hostname.resolves", "resolves", "os.hostname_resolves"))
        else:
            results.append(
                compare(
                    "env.hostname.resolves",
                    resolves is True,
                    "resolves",
                    "resolves" if resolves is True else "does not resolve",
                    f"hostname {name!r} to resolve on the host",
                    "it resolves" if resolves is True else "it does not resolve",
                    "add the host to DNS (or /etc/hosts, per standard)",
                )
            )
    return results


def _dns(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    rules = spec.get("dns", {})
    if not rules:
        return []
    have = facts_view.os_value(facts, "dns_servers")
    expected: list[str] = []
    if rules.get("servers"):
        expected.append(", ".join(rules["servers"]))
    if "min_servers" in rules:
        expected.append(f">= {rules['min_servers']} servers")
    if have is None:
        return [missing("env.dns.servers", "; ".join(expected), "os.dns_servers")]
    absent = [s for s in rules.get("servers", []) if s not in have]
    ok = not absent and len(have) >= rules.get("min_servers", 0)
    found = ", ".join(have) or "none"
    if absent:
        found += f" (missing {', '.join(absent)})"
    return [
        compare("env.dns.servers", ok, "; ".join(expected), have, f"DNS servers {'; '.join(expected)}", found, "set the resolvers in the network configuration")
    ]


def _time_sync(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    if not spec.get("time_sync", {}).get("required"):
        return []
    synced = facts_view.os_value(facts, "time_synchronized")
    if synced is None:
        return [missing("env.time.sync", "synchronised", "os.time_sync.synchronized")]
    source = facts_view.os_value(facts, "time_sync_source")
    found = "synchronised" if synced is True else "not synchronised"
    if source:
        found += f" ({', '.join(source) if isinstance(source, list) else source})"
    return [
        compare(
            "env.time.sync",
            synced is True,
            "synchronised",
            found,
            "the clock synchronised (NTP/chrony)",
            found,
            "enable and start chronyd (or systemd-timesyncd)",
        )
    ]


def _number(value: Any) -> float | None:
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _same(actual: Any, wanted: Any) -> bool:
    """sysctl values arrive as strings ("4096\\t87380"); numbers compare as numbers, text with whitespace collapsed."""
    a, w = _number(actual), _number(wanted)
    if a is not None and w is not None and not isinstance(wanted, bool):
        return a == w
    if isinstance(wanted, bool):
        wanted = int(wanted)
    return " ".join(str(actual).split()) == " ".join(str(wanted).split())


def _sysctl(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    values = facts.get("sysctl")
    for rule in spec.get("sysctl", []):
        key, op, wanted = rule["key"], rule["op"], rule["value"]
        check_id = f"env.sysctl.{key}"
        symbol = {"eq": "=", "ne": "!=", "ge": ">=", "le": "<=", "in": "in"}[op]
        expected = f"{symbol} {', '.join(map(str, wanted)) if isinstance(wanted, list) else wanted}"
        if values is None:
            results.append(missing(check_id, expected, "sysctl"))
            continue
        have = values.get(key)
        if have is None:
            results.append(compare(check_id, False, expected, None, f"{key} {expected}", "the key is not present", f"check the kernel supports {key}"))
            continue
        if op == "eq":
            ok = _same(have, wanted)
        elif op == "ne":
            ok = not _same(have, wanted)
        elif op == "in":
            ok = any(_same(have, w) for w in wanted)
        else:
            number = _number(have)
            ok = number is not None and (number >= wanted if op == "ge" else number <= wanted)
        results.append(compare(check_id, ok, expected, have, f"{key} {expected}", str(have), f"set {key} in /etc/sysctl.d/ and run sysctl --system"))
    return results


def _options(value: Any) -> list[str]:
    if isinstance(value, str):
        return [o.strip() for o in value.split(",") if o.strip()]
    return [str(o) for o in value or []]


def _filesystems(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    measured = facts.get("filesystems")
    for mount, rules in spec.get("filesystems", {}).items():
        prefix = f"env.fs.{mount}"
        if measured is None:
            results.append(missing(f"{prefix}.mounted", f"{mount} mounted", "filesystems"))
            continue
        fs = measured.get(mount)
        if not isinstance(fs, dict) or (fs.get("size_bytes") is None and fs.get("fstype") is None):
            results.append(
                compare(
                    f"{prefix}.mounted",
                    False,
                    f"{mount} mounted",
                    None,
                    f"a filesystem mounted on {mount}",
                    "nothing mounted there",
                    f"create and mount {mount}",
                )
            )
            continue
        if not rules:
            results.append(
                compare(f"{prefix}.mounted", True, f"{mount} mounted", fs.get("fstype"), f"a filesystem mounted on {mount}", f"{fs.get('fstype')}", "")
            )
        if "min_free_gib" in rules:
            need = rules["min_free_gib"] * GIB
            have = fs.get("available_bytes") if fs.get("available_bytes") is not None else fs.get("free_bytes")
            if have is None:
                results.append(missing(f"{prefix}.free", f">= {gib(need)} free", f"filesystems.{mount}.available_bytes"))
            else:
                results.append(
                    compare(
                        f"{prefix}.free",
                        have >= need,
                        f">= {gib(need)} free",
                        gib(have),
                        f"at least {gib(need)} free on {mount}",
                        f"{gib(have)} free",
                        f"free space or grow the filesystem on {mount}",
                    )
                )
        if "min_size_gib" in rules:
            need = rules["min_size_gib"] * GIB
            have = fs.get("size_bytes")
            results.append(
                compare(
                    f"{prefix}.size",
                    have is not None and have >= need,
                    f">= {gib(need)}",
                    gib(have or 0),
                    f"{mount} of at least {gib(need)}",
                    gib(have or 0),
                    f"grow the filesystem on {mount}",
                )
            )
        if "fstype" in rules:
            have = fs.get("fstype")
            results.append(
                compare(
                    f"{prefix}.fstype",
                    have == rules["fstype"],
                    rules["fstype"],
                    have,
                    f"{mount} formatted {rules['fstype']}",
                    str(have),
                    f"recreate {mount} as {rules['fstype']}",
                )
            )
        if "options" in rules or "forbidden_options" in rules:
            have = _options(fs.get("options"))
            absent = [o for o in rules.get("options", []) if o not in have]
            present = [o for o in rules.get("forbidden_options", []) if o in have]
            parts = [
                f"options {', '.join(rules['options'])}" if rules.get("options") else "",
                f"none of {', '.join(rules['forbidden_options'])}" if rules.get("forbidden_options") else "",
            ]
            expected = "; ".join(p for p in parts if p)
            problems = ([f"missing {', '.join(absent)}"] if absent else []) + ([f"has {', '.join(present)}"] if present else [])
            results.append(
                compare(
                    f"{prefix}.options",
                    not absent and not present,
                    expected,
                    have,
                    f"{mount} mounted with {expected}",
                    f"{','.join(have) or 'no options'}" + (f" ({'; '.join(problems)})" if problems else ""),
                    f"fix the mount options of {mount} in /etc/fstab and remount",
                )
            )
    return results


def _users(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    known = facts.get("users")
    for name, rules in spec.get("users", {}).items():
        check_id = f"env.user.{name}"
        attributes = {k: rules[k] for k in ("uid", "shell", "home") if k in rules}
        expected = f"user {name}" + "".join(f" {k}={v}" for k, v in attributes.items())
        if known is None:
            results.append(missing(check_id, expected, "users"))
            continue
        user = known.get(name) or {}
        if not user.get("exists"):
            results.append(compare(check_id, False, expected, None, expected, "no such user", f"create the operator user {name}"))
        else:
            wrong = [f"{k}={user.get(k)}" for k, v in attributes.items() if user.get(k) != v]
            found = f"user {name}" + "".join(f" {k}={user.get(k)}" for k in attributes) if attributes else f"user {name}"
            results.append(
                compare(
                    check_id,
                    not wrong,
                    expected,
                    {k: user.get(k) for k in attributes} or "exists",
                    expected,
                    found,
                    f"fix the account {name}: {', '.join(wrong)}" if wrong else "",
                )
            )
        if rules.get("groups"):
            have = [str(g) for g in user.get("groups") or []]
            absent = [g for g in rules["groups"] if g not in have]
            results.append(
                compare(
                    f"{check_id}.groups",
                    bool(user.get("exists")) and not absent,
                    rules["groups"],
                    have,
                    f"{name} in groups {', '.join(rules['groups'])}",
                    (", ".join(have) or "no groups") + (f" (missing {', '.join(absent)})" if absent else ""),
                    f"usermod -aG {','.join(absent)} {name}" if absent else "",
                )
            )
    return results


def _env_vars(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    rules_by_name = spec.get("env_vars", {})
    if not rules_by_name:
        return []
    environment = facts_view.environment_variable(facts)
    for name, rules in rules_by_name.items():
        check_id = f"env.envvar.{name}"
        expected = f"{name}={rules['value']}" if "value" in rules else (f"{name} matching {rules['pattern']}" if "pattern" in rules else f"{name} set")
        if environment is None:
            results.append(missing(check_id, expected, "os.environment"))
            continue
        values, names = environment
        have = values.get(name)
        if name not in names and name not in values:
            ok, shown = False, "not set"
        elif "value" in rules or "pattern" in rules:
            if have is None:
                results.append(missing(check_id, expected, f"the value of {name} (the host reports only names, except PATH, LANG, LC_ALL)"))
                continue
            ok = have == rules["value"] if "value" in rules else re.fullmatch(rules["pattern"], have) is not None
            shown = f"set ({len(have)} characters, value hidden)" if _SECRET_NAME.search(name) else f"{name}={have}"
        else:
            ok, shown = True, "set"
        results.append(compare(check_id, ok, expected, shown, expected, shown, f"set {name} in /etc/environment or the operator's profile"))
    return results


def _ulimits(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    for name, rules in spec.get("ulimits", {}).items():
        check_id = f"env.ulimit.{name}"
        expected = " and ".join(p for p in (f">= {rules['min']}" if "min" in rules else "", f"<= {rules['max']}" if "max" in rules else "") if p)
        have = facts_view.ulimit_soft(facts, name)
        if have is None:
            results.append(missing(check_id, expected, f"os.ulimits.{name}"))
            continue
        unlimited = str(have).lower() in ("unlimited", "infinity", "-1")
        value = float("inf") if unlimited else float(have) if isinstance(have, int | float) else None
        ok = value is not None and value >= rules.get("min", 0) and value <= rules.get("max", float("inf"))
        results.append(
            compare(check_id, ok, expected, have, f"ulimit {name} {expected}", str(have), f"set {name} in /etc/security/limits.d/ for the operator user")
        )
    return results


def _software(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    required = spec.get("software", {}).get("required", [])
    found = facts_view.software(facts) if facts.get("software") is not None else None
    for name in required:
        check_id = f"env.software.{name}"
        if found is None or name not in found:
            results.append(missing(check_id, f"{name} installed", f"software.{name}"))
            continue
        entry = found[name] or {}
        where = entry.get("path") or entry.get("package") or "found"
        results.append(
            compare(
                check_id,
                bool(entry.get("found")),
                f"{name} installed",
                where if entry.get("found") else None,
                f"{name} installed",
                str(where) if entry.get("found") else "not installed",
                f"install {name} (operator tooling)",
            )
        )
    return results


def run(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    results: list[CheckResult] = []
    for family in (_os, _hostname, _dns, _time_sync, _sysctl, _filesystems, _users, _env_vars, _ulimits, _software):
        results.extend(family(spec, facts))
    return results
