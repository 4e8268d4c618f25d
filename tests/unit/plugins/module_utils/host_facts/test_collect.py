# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Subset selection, option validation, error isolation, and a run on this machine's real /."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.host_facts import collect as collect_module
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.collect import SUBSETS, collect, select_subsets
from ansible_collections.opsgate.release.plugins.module_utils.host_facts.memory import parse_meminfo


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (["all"], list(SUBSETS)),
        (["cpu", "memory"], ["cpu", "memory"]),
        (["memory", "cpu"], ["cpu", "memory"]),
        (["!pci", "!hbas"], [s for s in SUBSETS if s not in ("pci", "hbas")]),
        (["all", "!os"], [s for s in SUBSETS if s != "os"]),
        (["!all", "nics"], ["nics"]),
        (["!all"], []),
        (["cpu", "!cpu"], []),
    ],
)
def test_select_subsets(requested: list[str], expected: list[str]) -> None:
    assert select_subsets(requested) == expected


def test_unknown_subset_names_field_and_value() -> None:
    with pytest.raises(ValueError, match=r"^gather_subset\[1\]: '!hba' is not one of all, system, cpu"):
        select_subsets(["cpu", "!hba"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"filesystems": ["data"]}, r"^filesystems\[0\]: 'data' is not an absolute mount point"),
        ({"users": ["ok", "bad:name"]}, r"^users\[1\]: 'bad:name' is not a user name"),
        ({"software": ["gcc", "../bin/sh"]}, r"^software\[1\]: '../bin/sh' is not a program or package name"),
        ({"filesystem_timeout": -1}, r"^filesystem_timeout: -1 must be 0 or more seconds"),
        ({"root": "/no/such/root"}, r"^root: '/no/such/root' is not a directory"),
    ],
)
def test_bad_options_fail_before_reading(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        collect(**options)


def test_collect_server_shape(server_root: Path) -> None:
    facts = collect(str(server_root), ["!os"], users=["oracle"])
    assert facts["gather_subset"] == [s for s in SUBSETS if s != "os"]
    assert "os" not in facts
    assert sorted(facts["timings_ms"]) == sorted(facts["gather_subset"])
    assert all(isinstance(v, float) and v >= 0 for v in facts["timings_ms"].values())
    assert (facts["sysctl"], facts["software"], facts["filesystems"]) == ({}, {}, {})  # nothing asked, nothing read
    assert facts["users"]["oracle"]["uid"] == 54321
    assert [e["subset"] for e in facts["errors"]] == ["nics", "nics", "nics"]  # the down igb port
    assert len(facts["hbas"]) == 4


def test_a_failing_collector_costs_only_its_subset(server_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(reader: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(collect_module, "collect_pci", broken)
    facts = collect(str(server_root), ["pci", "cpu"])
    assert facts["pci"] is None
    assert facts["cpu"]["threads"] == 8
    assert facts["errors"] == [{"subset": "pci", "path": str(server_root), "error": "pci collector failed: KeyError: 'surprise'"}]


def test_real_root_agrees_with_the_machine() -> None:
    """On this machine: no exception, and the values match what the kernel shows by other means."""
    facts = collect("/", software=["sh"], sysctl=["kernel.osrelease"], filesystems=["/"], users=["root"])
    with open("/proc/meminfo") as handle:
        meminfo = parse_meminfo(handle.read())
    assert facts["memory"]["total_bytes"] == meminfo["MemTotal"]
    assert facts["cpu"]["threads"] == os.cpu_count()
    nic_names = sorted(n for n in os.listdir("/sys/class/net") if os.path.isdir(f"/sys/class/net/{n}"))
    assert [n["name"] for n in facts["nics"]] == nic_names
    assert [n["name"] for n in facts["nics"] if n["kind"] == "loopback"] == ["lo"]
    assert facts["os"]["kernel"] == os.uname().release == facts["sysctl"]["kernel.osrelease"]
    assert facts["os"]["hostname"] == socket.gethostname()
    assert facts["users"]["root"]["uid"] == 0
    assert facts["software"]["sh"]["found"] is True
    root_fs = facts["filesystems"]["/"]
    assert root_fs["mounted"] is True
    assert root_fs["size_bytes"] == os.statvfs("/").f_blocks * os.statvfs("/").f_frsize
    for disk in facts["disks"]:
        assert not disk["name"].startswith(("loop", "ram", "zram"))
        with open(f"/sys/block/{disk['name']}/size") as size:
            assert disk["size_bytes"] == int(size.read()) * 512
    for error in facts["errors"]:
        assert set(error) == {"subset", "path", "error"} and error["error"]
