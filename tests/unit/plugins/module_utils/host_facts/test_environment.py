# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""os, sysctl, software, filesystems and users against the fixture hosts."""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.host_facts.filesystems import collect_filesystems, parse_mounts, statvfs_with_deadline
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.os_release import collect_os, parse_resolv_conf
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.software import collect_software, parse_rpm_header
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.sysctl import collect_sysctl, sysctl_path, validate_sysctl_keys
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.sysfs import FactReader
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.users import collect_users

from .fixture_trees import rpm_header


def test_server_os(server_root: Path) -> None:
    reader = FactReader(str(server_root))
    facts = collect_os(reader)
    assert {k: facts[k] for k in ("name", "id", "id_like", "version_id", "version", "pretty_name", "kernel", "architecture")} == {
        "name": "Red Hat Enterprise Linux",
        "id": "rhel",
        "id_like": ["fedora"],
        "version_id": "9.4",
        "version": "9.4 (Plow)",
        "pretty_name": "Red Hat Enterprise Linux 9.4 (Plow)",
        "kernel": "5.14.0-427.13.1.el9_4.x86_64",
        "architecture": "x86_64",
    }
    assert (facts["hostname"], facts["static_hostname"], facts["machine_id"]) == (
        "db01.prod.example.com",
        "db01.prod.example.com",
        "8a1f0c2e4b6d4f1e9c3a5b7d9e1f2a3b",
    )
    assert (facts["timezone"], facts["uptime_seconds"], facts["selinux"]) == ("Asia/Shanghai", 8640012, "enforcing")
    assert facts["dns"] == {"nameservers": ["10.0.0.53", "10.0.1.53"], "search": ["prod.example.com", "example.com"], "options": ["timeout:1", "attempts:2"]}
    # chrony configured; whether the clock is synchronised is a kernel fact, unknown for a fixture tree
    assert facts["time_sync"] == {"services": ["chrony"], "synchronized": None, "timesyncd_synchronized": False}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert facts["ulimits"]["nofile"] == {"soft": soft, "hard": hard}
    assert facts["environment"]["variable_names"] == sorted(os.environ)
    assert reader.errors == []


def test_guest_os(guest_root: Path) -> None:
    facts = collect_os(FactReader(str(guest_root)))
    assert (facts["id"], facts["version_id"], facts["timezone"], facts["static_hostname"], facts["selinux"]) == ("debian", "12", "Etc/UTC", None, "disabled")
    assert facts["time_sync"] == {"services": ["systemd-timesyncd"], "synchronized": True, "timesyncd_synchronized": True}


def test_resolv_conf_last_search_wins() -> None:
    assert parse_resolv_conf("domain a.example\nsearch b.example c.example\nnameserver 10.0.0.1 # primary\n;nameserver 10.9.9.9\n") == {
        "nameservers": ["10.0.0.1"],
        "search": ["b.example", "c.example"],
        "options": [],
    }


def test_sysctl(server_root: Path) -> None:
    reader = FactReader(str(server_root))
    keys = ["vm.swappiness", "net.ipv4.ip_local_port_range", "net/ipv4/conf/bond0.100/rp_filter", "kernel.no_such_key"]
    assert collect_sysctl(reader, keys) == {
        "vm.swappiness": 10,
        "net.ipv4.ip_local_port_range": "32768 60999",
        "net/ipv4/conf/bond0.100/rp_filter": 1,
        "kernel.no_such_key": None,
    }
    assert [(e["path"], e["error"]) for e in reader.errors] == [("/proc/sys/kernel/no_such_key", "ENOENT: No such file or directory")]
    assert sysctl_path("net.ipv4.conf.all.forwarding") == "/proc/sys/net/ipv4/conf/all/forwarding"


@pytest.mark.parametrize("bad", ["../../etc/shadow", "net..ipv4", "net/../../x", "", "vm.swappiness; rm"])
def test_sysctl_rejects_paths_outside_proc_sys(bad: str) -> None:
    with pytest.raises(ValueError, match=r"^sysctl\[1\]: "):
        validate_sysctl_keys(["vm.swappiness", bad])


def test_software_rpm_server(server_root: Path) -> None:
    reader = FactReader(str(server_root))
    found = collect_software(reader, ["gcc", "java-17-openjdk", "java", "notexec", "make"])
    assert found == {
        "gcc": {"found": True, "path": "/usr/bin/gcc", "package": {"name": "gcc", "version": "11.4.1-3.el9", "architecture": "x86_64", "manager": "rpm"}},
        "java-17-openjdk": {
            "found": True,
            "path": None,
            "package": {"name": "java-17-openjdk", "version": "1:17.0.11.0.9-2.el9", "architecture": "x86_64", "manager": "rpm"},
        },
        "java": {"found": True, "path": "/usr/bin/java", "package": None},
        "notexec": {"found": False, "path": None, "package": None},  # a file without the execute bit is not a program
        "make": {"found": False, "path": None, "package": None},
    }
    assert reader.errors == []


def test_software_dpkg_guest(guest_root: Path) -> None:
    found = collect_software(FactReader(str(guest_root)), ["gcc", "make", "libc6"])
    assert found["gcc"] == {
        "found": True,
        "path": "/usr/bin/gcc",
        "package": {"name": "gcc", "version": "4:12.2.0-3", "architecture": "amd64", "manager": "dpkg"},
    }
    assert found["make"] == {"found": False, "path": None, "package": None}  # only config files left: not installed
    assert found["libc6"]["package"]["architecture"] == "amd64"  # first of the multi-arch stanzas


def test_rpm_header_round_trip() -> None:
    assert parse_rpm_header(rpm_header("kernel", "5.14.0", "427.el9", "x86_64", epoch=2)) == {
        "name": "kernel",
        "version": "2:5.14.0-427.el9",
        "architecture": "x86_64",
        "manager": "rpm",
    }


def test_filesystems(server_root: Path) -> None:
    reader = FactReader(str(server_root))
    found = collect_filesystems(reader, ["/data", "/mnt/archive old", "/srv"], timeout=5)
    stat = os.statvfs(server_root / "data")
    assert found["/data"] == {
        "mount_point": "/data",
        "mounted": True,
        "device": "/dev/mapper/mpatha",
        "fstype": "xfs",
        "options": ["rw", "noatime", "attr2", "inode64", "noquota"],
        "size_bytes": stat.f_blocks * stat.f_frsize,
        "free_bytes": found["/data"]["free_bytes"],  # changes between two statvfs calls
        "available_bytes": found["/data"]["available_bytes"],
        "inodes_total": stat.f_files,
        "inodes_free": found["/data"]["inodes_free"],
    }
    assert 0 < found["/data"]["available_bytes"] <= found["/data"]["free_bytes"] <= found["/data"]["size_bytes"]
    assert (found["/mnt/archive old"]["fstype"], found["/mnt/archive old"]["device"]) == ("nfs4", "nfs01:/export/archive")  # \040 unescaped
    assert found["/srv"]["mounted"] is False
    assert found["/srv"]["size_bytes"] is None
    assert reader.errors == []


def test_hung_mount_times_out_without_hanging(server_root: Path) -> None:
    """A statvfs that never returns (dead NFS server) costs the deadline, not the play."""
    release = threading.Event()

    def hanging_statvfs(path: str) -> os.statvfs_result:
        if path.endswith("archive old"):
            release.wait(30)
        return os.statvfs(path)

    reader = FactReader(str(server_root))
    started = time.monotonic()
    try:
        found = collect_filesystems(reader, ["/mnt/archive old", "/data"], timeout=0.2, statvfs=hanging_statvfs)
    finally:
        release.set()
    assert time.monotonic() - started < 5
    assert found["/mnt/archive old"]["size_bytes"] is None
    assert found["/data"]["size_bytes"] is not None
    assert [(e["path"], e["error"]) for e in reader.errors] == [("/mnt/archive old", "statvfs timed out after 0.2 s")]


def test_statvfs_error_is_reported(tmp_path: Path) -> None:
    results = statvfs_with_deadline([str(tmp_path / "missing")], 5)
    assert isinstance(results[str(tmp_path / "missing")], FileNotFoundError)


def test_later_mount_hides_earlier() -> None:
    mounts = parse_mounts("tmpfs /data tmpfs rw 0 0\n/dev/sdb1 /data ext4 ro,noatime 0 0\n")
    assert mounts["/data"] == {"device": "/dev/sdb1", "fstype": "ext4", "options": ["ro", "noatime"]}


def test_users(server_root: Path) -> None:
    reader = FactReader(str(server_root))
    assert collect_users(reader, ["appdeploy", "oracle", "ghost"]) == {
        "appdeploy": {"exists": True, "uid": 1001, "gid": 1001, "home": "/home/appdeploy", "shell": "/bin/bash", "groups": ["appdeploy", "dba", "wheel"]},
        "oracle": {"exists": True, "uid": 54321, "gid": 54321, "home": "/home/oracle", "shell": "/bin/bash", "groups": ["oinstall", "dba"]},
        "ghost": {"exists": False, "uid": None, "gid": None, "home": None, "shell": None, "groups": []},
    }
    assert reader.errors == []
