# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Security checks (Art. 26): no compilers, build tools or debuggers on production hosts."""

from __future__ import annotations

from typing import Any

from .. import facts_view
from ..check_result import CheckResult, compare
from .common import missing

# On by default. Compilers, build tools, debuggers and tracers: what lets someone build or inspect code on a production
# host. strace/ltrace are included because they read a process's memory (secrets); an ops team that needs them can
# `allow` them with a documented reason.
DEFAULT_FORBIDDEN_SOFTWARE: tuple[str, ...] = (
    # compilers
    "gcc", "cc", "c++", "g++", "c89", "c99", "clang", "clang++", "tcc", "gfortran", "javac", "go", "rustc", "ghc", "fpc", "nasm", "yasm",
    # build tools
    "make", "gmake", "cmake", "ninja", "meson", "scons", "autoconf", "automake", "libtool", "cargo", "mvn", "gradle", "ant", "bazel",
    # debuggers and tracers
    "gdb", "lldb", "strace", "ltrace", "valgrind",
)  # fmt: skip


def forbidden_software_names(spec: dict[str, Any]) -> list[str]:
    """The names this spec forbids: the default list plus ``extra``, minus ``allow``; empty when switched off."""
    rules = spec.get("security", {}).get("forbidden_software", {})
    if not rules.get("enabled", True):
        return []
    allow = set(rules.get("allow", []))
    names = list(DEFAULT_FORBIDDEN_SOFTWARE) + [n for n in rules.get("extra", []) if n not in DEFAULT_FORBIDDEN_SOFTWARE]
    return [n for n in names if n not in allow]


def run(spec: dict[str, Any], facts: dict[str, Any]) -> list[CheckResult]:
    names = forbidden_software_names(spec)
    if not names:
        return []
    expected = "none of " + ", ".join(names)
    if facts.get("software") is None:
        return [missing("sec.forbidden_software", expected, "software")]
    found = facts_view.software(facts)
    not_checked = [n for n in names if n not in found]
    if not_checked:
        return [missing("sec.forbidden_software", expected, "software." + ", software.".join(not_checked))]
    present = []
    for name in names:
        entry = found[name] or {}
        if entry.get("found"):
            package = entry.get("package")
            if isinstance(package, dict):
                package = " ".join(str(package[k]) for k in ("name", "version") if package.get(k))
            detail = ", ".join(str(v) for v in (entry.get("path"), f"package {package}" if package else None) if v)
            present.append(f"{name} ({detail})" if detail else name)
    return [
        compare(
            "sec.forbidden_software",
            not present,
            expected,
            [p.split(" ", 1)[0] for p in present],
            "no compilers, build tools or debuggers",
            ("; ".join(present)) if present else "none installed",
            "remove the development packages (e.g. apt-get purge / dnf remove " + " ".join(sorted({p.split(" ", 1)[0] for p in present})) + ")"
            if present
            else "",
        )
    ]
