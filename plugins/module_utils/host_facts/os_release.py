# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""OS, kernel and environment facts: os-release, hostname, DNS, time sync, limits of this process.

(Named ``os_release`` so that it cannot shadow the standard ``os`` module.)
"""

from __future__ import annotations

import os
import resource
import shlex
from typing import Any

from .sysfs import FactReader, describe_os_error

# Limits as limits.conf names them; the ones measured in bytes say so. -1 means unlimited.
_LIMITS = (
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("core_bytes", "RLIMIT_CORE"),
    ("stack_bytes", "RLIMIT_STACK"),
    ("memlock_bytes", "RLIMIT_MEMLOCK"),
    ("as_bytes", "RLIMIT_AS"),
    ("fsize_bytes", "RLIMIT_FSIZE"),
)
_TIME_SYNC_CONFIG = (
    ("chrony", ("/etc/chrony.conf", "/etc/chrony/chrony.conf")),
    ("ntp", ("/etc/ntp.conf", "/etc/ntpsec/ntp.conf")),
    ("systemd-timesyncd", ("/etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service",)),
)
_STA_UNSYNC = 0x0040
_TIME_ERROR = 5


def parse_os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        try:
            parts = shlex.split(value)
        except ValueError:
            parts = [value.strip("\"'")]
        values[key] = parts[0] if parts else ""
    return values


def parse_resolv_conf(text: str) -> dict[str, list[str]]:
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) < 2:
            continue
        if fields[0] == "nameserver":
            nameservers.append(fields[1])
        elif fields[0] in ("search", "domain"):
            search = fields[1:]  # the last search/domain line wins, as in the resolver
        elif fields[0] == "options":
            options.extend(fields[1:])
    return {"nameservers": nameservers, "search": search, "options": options}


def kernel_clock_synchronized() -> bool | None:
    """Whether the kernel clock is disciplined (chrony, ntpd and timesyncd all clear STA_UNSYNC).

    adjtimex(2) with ``modes = 0`` only reads; it is what ``timedatectl`` reports as "System clock synchronized".
    """
    try:
        import ctypes
    except ImportError:
        return None

    class _Timeval(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]

    class _Timex(ctypes.Structure):
        _fields_ = [
            ("modes", ctypes.c_uint),
            ("offset", ctypes.c_long),
            ("freq", ctypes.c_long),
            ("maxerror", ctypes.c_long),
            ("esterror", ctypes.c_long),
            ("status", ctypes.c_int),
            ("constant", ctypes.c_long),
            ("precision", ctypes.c_long),
            ("tolerance", ctypes.c_long),
            ("time", _Timeval),
            ("tick", ctypes.c_long),
            ("ppsfreq", ctypes.c_long),
            ("jitter", ctypes.c_long),
            ("shift", ctypes.c_int),
            ("stabil", ctypes.c_long),
            ("jitcnt", ctypes.c_long),
            ("calcnt", ctypes.c_long),
            ("errcnt", ctypes.c_long),
            ("stbcnt", ctypes.c_long),
            ("tai", ctypes.c_int),
            ("_reserved", ctypes.c_int * 24),  # more than the kernel's 11 spare ints: never write past us
        ]

    try:
        # CDLL(None): the symbols already loaded into Python, libc among them (find_library would run ldconfig).
        libc = ctypes.CDLL(None, use_errno=True)
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR and not (timex.status & _STA_UNSYNC)


def _timezone(reader: FactReader) -> str | None:
    configured = reader.read_str("/etc/timezone", optional=True)
    if configured:
        return configured
    try:
        target = os.readlink(reader.path("/etc/localtime"))
    except OSError:
        return "UTC" if not os.path.lexists(reader.path("/etc/localtime")) else None
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else None


def _time_sync(reader: FactReader) -> dict[str, Any]:
    services = [name for name, paths in _TIME_SYNC_CONFIG if any(os.path.lexists(reader.path(p)) for p in paths)]
    timesyncd_synchronized = reader.exists("/run/systemd/timesync/synchronized")
    synchronized = kernel_clock_synchronized() if reader.root == "/" else None
    if synchronized is None and timesyncd_synchronized:
        synchronized = True
    return {"services": services, "synchronized": synchronized, "timesyncd_synchronized": timesyncd_synchronized}


def _limits(reader: FactReader) -> dict[str, dict[str, int] | None]:
    limits: dict[str, dict[str, int] | None] = {}
    for name, constant in _LIMITS:
        try:
            soft, hard = resource.getrlimit(getattr(resource, constant))
        except (AttributeError, ValueError, OSError) as exc:
            reader.record(f"getrlimit({constant})", describe_os_error(exc) if isinstance(exc, OSError) else str(exc))
            limits[name] = None
            continue
        limits[name] = {"soft": -1 if soft == resource.RLIM_INFINITY else soft, "hard": -1 if hard == resource.RLIM_INFINITY else hard}
    return limits


def _selinux(reader: FactReader) -> str:
    enforce = reader.read_str("/sys/fs/selinux/enforce", optional=True)
    if enforce is None:
        return "disabled"
    return "enforcing" if enforce == "1" else "permissive"


def collect_os(reader: FactReader) -> dict[str, Any]:
    release_text = reader.read_text("/etc/os-release", optional=True)
    if release_text is None:
        release_text = reader.read_text("/usr/lib/os-release")
    release = parse_os_release(release_text or "")
    uptime = reader.read_str("/proc/uptime")
    architecture = reader.read_str("/proc/sys/kernel/arch", optional=True)
    if architecture is None and reader.root == "/":
        architecture = os.uname().machine
    path_dirs = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    return {
        "name": release.get("NAME"),
        "id": release.get("ID"),
        "id_like": release.get("ID_LIKE", "").split(),
        "version_id": release.get("VERSION_ID"),
        "version": release.get("VERSION"),
        "pretty_name": release.get("PRETTY_NAME"),
        "kernel": reader.read_str("/proc/sys/kernel/osrelease"),
        "architecture": architecture,
        "hostname": reader.read_str("/proc/sys/kernel/hostname"),
        "static_hostname": reader.read_str("/etc/hostname", optional=True),
        "machine_id": reader.read_str("/etc/machine-id"),
        "timezone": _timezone(reader),
        "uptime_seconds": int(float(uptime.split()[0])) if uptime else None,
        "selinux": _selinux(reader),
        "dns": parse_resolv_conf(reader.read_text("/etc/resolv.conf", optional=True) or ""),
        "time_sync": _time_sync(reader),
        # Of the module's own process: what a service started the same way would inherit.
        "ulimits": _limits(reader),
        # Names only: values may hold secrets. PATH and the locale are safe and often checked.
        "environment": {
            "path": path_dirs,
            "lang": os.environ.get("LANG"),
            "lc_all": os.environ.get("LC_ALL"),
            "variable_names": sorted(os.environ),
        },
    }
