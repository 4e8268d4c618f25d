# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from typing import Any

from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.check_result import CheckResult
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.checks import custom, environment, hardware, network, security
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.spec_schema import validate_spec

from .synthetic_fleet import GIB, core_db_facts, customer_web_facts


def _by_id(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.id: r for r in results}


def _run(module: Any, spec: dict[str, Any], facts: dict[str, Any], *extra: Any) -> dict[str, CheckResult]:
    return _by_id(module.run(validate_spec(spec), facts, *extra))


def test_memory_below_minimum_fails_with_required_found_message() -> None:
    facts = core_db_facts(1)
    facts["memory"]["total_bytes"] = 251 * GIB
    result = _run(hardware, {"memory": {"min_gib": 500}}, facts)["hw.memory.min"]
    assert (result.status, result.expected, result.actual) == ("fail", ">= 500 GiB", "251 GiB")
    assert result.message == "required at least 500 GiB memory, found 251 GiB"
    assert result.remediation.startswith("add memory")


def test_cpu_threads_cores_mhz_and_model() -> None:
    spec = {"cpu": {"min_threads": 128, "min_cores": 96, "min_mhz": 3000, "models": ["EPYC"]}}
    results = _run(hardware, spec, core_db_facts(1))
    assert results["hw.cpu.threads"].status == "pass"
    assert results["hw.cpu.cores"].message == "required at least 96 CPU cores, found 64"
    assert results["hw.cpu.mhz"].status == "pass" and results["hw.cpu.mhz"].actual == "3200 MHz"
    assert results["hw.cpu.model"].status == "fail"
    assert results["hw.cpu.model"].message == "required a CPU model matching EPYC, found 'Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz'"


def test_missing_fact_is_an_error_not_a_failure() -> None:
    facts = core_db_facts(1)
    facts["cpu"]["mhz_max"] = None
    facts["cpu"]["mhz_current"] = None
    result = _run(hardware, {"cpu": {"min_mhz": 2000}}, facts)["hw.cpu.mhz"]
    assert result.status == "error"
    assert result.message == "required >= 2000 MHz, found no data: the host did not report cpu.mhz_max"


def test_nic_count_speed_link_and_kind_on_data_ports_only() -> None:
    facts = core_db_facts(1)
    spec = {"nics": {"name_pattern": "ens.*", "min_count": 4, "min_speed_mbps": 25000, "link_up": True, "required_kinds": ["bond", "vlan"]}}
    results = _run(hardware, spec, facts)
    assert results["hw.nic.count"].status == "pass" and results["hw.nic.count"].actual == 4
    assert results["hw.nic.speed"].status == "pass"
    assert results["hw.nic.link"].status == "pass"
    assert results["hw.nic.kind"].status == "fail"
    assert results["hw.nic.kind"].message == "required NIC kinds bond, vlan, found bond, loopback, physical (missing vlan)"
    facts["nics"][3]["speed_mbps"] = 10000
    facts["nics"][4].update(carrier=False, operstate="down", speed_mbps=None)
    results = _run(hardware, spec, facts)
    assert results["hw.nic.speed"].message == "required every linked physical NIC at >= 25000 Mb/s, found 1 below: ens1f0np0 10000 Mb/s"
    assert results["hw.nic.link"].message == "required link up on every physical NIC, found no link on ens1f1np1"


def test_fc_hba_count_speed_state_and_model() -> None:
    facts = core_db_facts(1)
    facts["hbas"][1].update(port_state="Linkdown", speed_gbps=None)
    spec = {"hbas": {"min_count": 4, "min_speed_gbps": 16, "port_state": "Online", "models": ["QLE27"]}}
    results = _run(hardware, spec, facts)
    assert results["hw.hba.count"].message == "required at least 4 FC HBA ports, found 2 (host1 (QLE2772), host2 (QLE2772))"
    assert results["hw.hba.count"].status == "fail"
    assert results["hw.hba.speed"].status == "pass"  # only online ports are measured; the down one fails port_state
    assert results["hw.hba.port_state"].message == "required every FC port Online, found host2 Linkdown"
    assert results["hw.hba.model"].status == "pass"


def test_disks_total_and_per_kind_and_pci_and_host_model() -> None:
    spec = {"disks": {"min_total_gib": 2000, "kinds": {"nvme": {"min_count": 2}, "hdd": {"min_count": 4}}},
            "pci": [{"name": "fc_hba", "class": "0x0c04", "min_count": 2}, {"name": "gpu", "class": "0x0302"}],
            "host_models": ["PowerEdge R7[56]0"]}  # fmt: skip
    results = _run(hardware, spec, core_db_facts(1))
    # md0 and the multipath LUNs are not internal disks: only the two NVMe count.
    assert results["hw.disk.total"].message == "required at least 2000 GiB on hdd/ssd/nvme/virtual disks, found 1920 GiB on 2 disk(s)"
    assert results["hw.disk.kind.nvme"].status == "pass"
    assert results["hw.disk.kind.hdd"].message == "required at least 4 hdd disk(s), found 0 hdd disk(s), 0 GiB"
    assert results["hw.pci.fc_hba"].status == "pass"
    assert results["hw.pci.gpu"].message == "required at least 1 gpu card(s) (PCI class 0x0302), found 0"
    assert results["hw.host.model"].status == "pass"


def test_os_kernel_hostname_dns_time() -> None:
    facts = customer_web_facts(1)
    facts["os"]["time_sync"] = {"services": ["chronyd"], "synchronized": False}
    spec = {"os": {"families": ["RedHat"], "distributions": ["rhel"], "min_version": "9.2", "min_kernel": "4.18.0"},
            "hostname": {"pattern": "cs-[a-z]+[0-9]{2}", "resolves": True}, "dns": {"servers": ["10.20.0.53", "10.99.0.53"]},
            "time_sync": {"required": True}}  # fmt: skip
    results = _run(environment, spec, facts)
    assert results["env.os.family"].status == "pass" and results["env.os.family"].actual == "RedHat"
    assert results["env.os.distribution"].status == "pass"
    assert results["env.os.version"].message == "required OS version 9.2 or newer, found 8.9"
    assert results["env.kernel.min"].status == "pass"
    assert results["env.hostname.pattern"].status == "pass"
    assert results["env.hostname.resolves"].status == "pass"
    assert results["env.dns.servers"].message == "required DNS servers 10.20.0.53, 10.99.0.53, found 10.20.0.53, 10.10.0.53 (missing 10.99.0.53)"
    assert results["env.time.sync"].message == "required the clock synchronised (NTP/chrony), found not synchronised (chronyd)"


def test_sysctl_rules_eq_ge_le_in_and_missing_key() -> None:
    facts = core_db_facts(1)
    facts["sysctl"]["net.ipv4.tcp_rmem"] = "4096\t87380\t6291456"
    spec = {"sysctl": [{"key": "vm.swappiness", "op": "le", "value": 1}, {"key": "net.core.somaxconn", "op": "ge", "value": 1024},
                       {"key": "vm.overcommit_memory", "op": "in", "value": [0, 2]}, {"key": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"},
                       {"key": "kernel.unknown_knob", "value": 1}]}  # fmt: skip
    results = _run(environment, spec, facts)
    assert results["env.sysctl.vm.swappiness"].message == "required vm.swappiness <= 1, found 10"
    assert results["env.sysctl.vm.swappiness"].status == "fail"
    assert results["env.sysctl.net.core.somaxconn"].status == "pass"
    assert results["env.sysctl.vm.overcommit_memory"].status == "pass"
    assert results["env.sysctl.net.ipv4.tcp_rmem"].status == "pass"
    assert results["env.sysctl.kernel.unknown_knob"].message == "required kernel.unknown_knob = 1, found the key is not present"


def test_filesystems_users_env_ulimits_tools() -> None:
    facts = core_db_facts(1)
    facts["os"]["ulimits"]["nofile"] = {"soft": 1024, "hard": 4096}
    spec = {"filesystems": {"/opt/app": {"min_free_gib": 700, "fstype": "xfs"}, "/tmp": {"options": ["noexec"], "forbidden_options": ["exec"]}, "/data": {}},
            "users": {"appop": {"groups": ["appop", "wheel"], "shell": "/bin/bash"}, "ghost": {}},
            "env_vars": {"LANG": {"value": "en_US.UTF-8"}, "HOME": {}, "ORACLE_HOME": {}, "API_TOKEN": {"value": "x"}},
            "ulimits": {"nofile": {"min": 65536}, "core_bytes": {"max": 0}},
            "software": {"required": ["rsync", "sosreport"]}}  # fmt: skip
    results = _run(environment, spec, facts)
    assert results["env.fs./opt/app.free"].message == "required at least 700 GiB free on /opt/app, found 610 GiB free"
    assert results["env.fs./opt/app.fstype"].status == "pass"
    assert results["env.fs./tmp.options"].status == "pass"
    assert results["env.fs./data.mounted"].message == "required a filesystem mounted on /data, found nothing mounted there"
    assert results["env.user.appop"].status == "pass"
    assert results["env.user.appop.groups"].message == "required appop in groups appop, wheel, found appop, dba (missing wheel)"
    assert results["env.user.ghost"].message == "required user ghost, found no such user"
    assert results["env.envvar.LANG"].status == "pass"
    assert results["env.envvar.HOME"].status == "pass"
    assert results["env.envvar.ORACLE_HOME"].message == "required ORACLE_HOME set, found not set"
    # The host never sends values other than PATH/LANG/LC_ALL, so a value check on another variable cannot be decided.
    assert results["env.envvar.API_TOKEN"].status == "fail"  # not set at all on this host
    assert results["env.ulimit.nofile"].message == "required ulimit nofile >= 65536, found 1024"
    assert results["env.ulimit.core_bytes"].status == "pass"
    assert results["env.software.rsync"].status == "pass"


def test_network_subnets_and_endpoint_probes() -> None:
    facts = core_db_facts(1)
    endpoints = [{"name": "oracle", "host": "10.10.5.10", "port": 1521}, {"name": "backup", "host": "10.30.1.31", "port": 8400}, {"host": "x", "port": 1}]
    spec = {"network": {"allowed_subnets": ["10.10.0.0/16"], "endpoints": endpoints}}
    probes = {"oracle": {"reachable": True, "elapsed_ms": 2}, "backup": {"reachable": False, "error": "Timeout when waiting for 10.30.1.31:8400"}}
    results = _run(network, spec, facts, probes)
    assert results["net.subnets"].message == "required every host address inside 10.10.0.0/16, found 10.40.1.11 on eno1 outside"
    assert results["net.endpoint.oracle"].status == "pass"
    assert results["net.endpoint.backup"].message == (
        "required TCP 10.30.1.31:8400 reachable from the host, found not reachable within 3 s (Timeout when waiting for 10.30.1.31:8400)"
    )
    assert results["net.endpoint.x:1"].status == "error"


def test_forbidden_software_on_by_default_names_what_was_found() -> None:
    facts = core_db_facts(1)
    assert _run(security, {}, facts)["sec.forbidden_software"].status == "pass"
    facts["software"]["gcc"] = {"found": True, "path": "/usr/bin/gcc", "package": {"name": "gcc", "version": "8.5.0"}}
    facts["software"]["strace"] = {"found": True, "path": "/usr/bin/strace", "package": None}
    result = _run(security, {}, facts)["sec.forbidden_software"]
    assert result.status == "fail"
    assert result.message == "required no compilers, build tools or debuggers, found gcc (/usr/bin/gcc, package gcc 8.5.0); strace (/usr/bin/strace)"
    assert result.actual == ["gcc", "strace"]
    allowed = _run(security, {"security": {"forbidden_software": {"allow": ["strace"]}}}, facts)["sec.forbidden_software"]
    assert allowed.actual == ["gcc"]
    facts["software"]["ipython"] = {"found": True, "path": "/usr/bin/ipython", "package": None}
    extended = _run(security, {"security": {"forbidden_software": {"extra": ["ipython"]}}}, facts)["sec.forbidden_software"]
    assert extended.actual == ["gcc", "strace", "ipython"]
    assert _run(security, {"security": {"forbidden_software": {"enabled": False}}}, facts) == {}


def test_custom_jmespath_rules() -> None:
    spec = {"custom": [{"id": "multipath", "query": "length(disks[?kind=='multipath'])", "op": "ge", "expected": 3},
                       {"id": "selinux", "query": "os.selinux", "expected": "enforcing"},
                       {"id": "qlogic", "query": "hbas[].driver", "op": "contains", "expected": "qla2xxx"}]}  # fmt: skip
    results = _run(custom, spec, core_db_facts(1))
    assert results["custom.multipath"].status == "fail"
    assert results["custom.multipath"].message == "required length(disks[?kind=='multipath']) ge 3, found 2"
    assert results["custom.selinux"].status == "pass"
    assert results["custom.qlogic"].status == "pass"
