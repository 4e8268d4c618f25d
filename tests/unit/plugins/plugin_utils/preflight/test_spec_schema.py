# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import datetime

import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.facts_request import facts_request
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.spec_schema import SpecError, validate_spec, validate_specs

from .synthetic_fleet import EXAMPLE, example_spec

MALFORMED = [
    ({"memory": {"min_gib": "lots"}}, "memory.min_gib: expected a number, got 'lots'"),
    ({"memory": {"min_gb": 64}}, "memory.min_gb: unknown key (allowed: min_gib, min_hugepages, min_numa_nodes, min_swap_gib)"),
    ({"cpu": {"min_threads": 0}}, "cpu.min_threads: expected an integer >= 1, got 0"),
    ({"cpu": {"min_cores": 8.5}}, "cpu.min_cores: expected an integer, got 8.5"),
    ({"hbas": {"min_count": True}}, "hbas.min_count: expected an integer, got True"),
    ({"cpu": {"models": ["Xeon(Gold"]}}, "cpu.models[0]: expected a valid regular expression, got 'Xeon(Gold'"),
    ({"network": {"allowed_subnets": ["10.0.0.0/33"]}}, "network.allowed_subnets[0]: expected a subnet in CIDR notation (10.0.0.0/24), got '10.0.0.0/33'"),
    ({"network": {"allowed_subnets": ["10.1.2.3/16"]}}, "network.allowed_subnets[0]: expected a subnet without host bits (10.1.0.0/16), got '10.1.2.3/16'"),
    ({"network": {"endpoints": [{"host": "db", "port": 70000}]}}, "network.endpoints[0].port: expected an integer <= 65535, got 70000"),
    ({"dns": {"servers": ["10.0.0.300"]}}, "dns.servers[0]: expected an IP address, got '10.0.0.300'"),
    ({"custom": [{"id": "x", "query": "cpu.[", "expected": 1}]}, "custom[0].query: expected a valid JMESPath expression, got 'cpu.['"),
    ({"waivers": [{"check": "hw.memory.min", "reason": "r", "expires": "31/12/2026"}]}, "waivers[0].expires: expected a date YYYY-MM-DD, got '31/12/2026'"),
    ({"waivers": [{"check": "hw.memory.min", "expires": "2026-12-31"}]}, "waivers[0].reason: required key is missing"),
    ({"waivers": [{"check": "facts.collected", "reason": "r", "expires": "2026-12-31"}]}, "waivers[0].check: 'facts.collected' can never be waived"),
    ({"sysctl": [{"key": "vm.swappiness", "op": "lt", "value": 10}]}, "sysctl[0].op: expected one of eq, ne, ge, le, in, got 'lt'"),
    ({"sysctl": [{"key": "vm.swappiness", "op": "ge", "value": "ten"}]}, "sysctl[0].value: expected a number for op 'ge', got 'ten'"),
    ({"filesystems": {"var": {"min_free_gib": 1}}}, "filesystems.var: expected a key that is an absolute mount point, got 'var'"),
    ({"os": {"min_version": "eight"}}, "os.min_version: expected a version such as 8.6, got 'eight'"),
    ({"severity": {"hw.memory.min": "fatal"}}, "severity.hw.memory.min: expected one of blocker, warning, info, got 'fatal'"),
    ({"severity": {"facts.*": "info"}}, "severity.facts.*: the severity of facts.collected, facts.subsets cannot be changed"),
    ({"security": {"forbidden_software": {"enabled": "yes"}}}, "security.forbidden_software.enabled: expected true or false, got 'yes'"),
    ({"disks": {"kinds": {"floppy": {"min_count": 1}}}}, "disks.kinds.floppy: expected a key that is a disk kind"),
    ({"nics": {"kinds": ["ethernet"]}}, "nics.kinds[0]: expected one of physical, bond, vlan, bridge, virtual, loopback, got 'ethernet'"),
    ({"cross_host": {"homogeneity": {"memory_tolerance_pct": 150}}}, "cross_host.homogeneity.memory_tolerance_pct: expected a number <= 100, got 150"),
    ("not a mapping", "<spec>: expected a mapping, got 'not a mapping'"),
]


@pytest.mark.parametrize(("spec", "message"), MALFORMED, ids=[m.split(":")[0] for _spec, m in MALFORMED])
def test_malformed_spec_names_key_path_and_value(spec: object, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        validate_spec(spec)
    assert any(e.startswith(message) for e in caught.value.errors), caught.value.errors


def test_every_error_is_collected_in_one_exception() -> None:
    spec = {"memory": {"min_gib": "lots"}, "cpu": {"min_threads": -1}, "bogus": 1, "waivers": [{"check": "x"}]}
    with pytest.raises(SpecError) as caught:
        validate_spec(spec)
    assert len(caught.value.errors) == 5
    assert "memory.min_gib: expected a number, got 'lots'" in str(caught.value)
    assert "bogus: unknown key" in str(caught.value)


def test_hosts_sharing_a_group_spec_are_reported_together() -> None:
    bad = {"memory": {"min_gib": "lots"}}
    with pytest.raises(SpecError) as caught:
        validate_specs({"db01": bad, "db02": bad, "web01": {}, "web02": None})
    assert "hosts db01, db02: memory.min_gib: expected a number, got 'lots'" in caught.value.errors
    assert "host web02: opsgate_readiness_spec: not defined for this host" in caught.value.errors


def test_defaults_switch_forbidden_software_on() -> None:
    spec = validate_spec({})
    assert spec["security"]["forbidden_software"] == {"enabled": True, "extra": [], "allow": []}
    assert spec["cross_host"]["unique"] == ["hostname", "machine_id", "addresses"]


def test_yaml_dates_are_normalised() -> None:
    spec = validate_spec({"waivers": [{"check": "hw.memory.min", "reason": "r", "expires": datetime.date(2027, 1, 31)}]})
    assert spec["waivers"][0]["expires"] == "2027-01-31"
    assert spec["waivers"][0]["hosts"] == "*"


@pytest.mark.parametrize("system_class", sorted(p.name for p in (EXAMPLE / "group_vars").iterdir() if (p / "readiness.yml").exists()))
def test_example_inventory_specs_are_valid(system_class: str) -> None:
    assert example_spec(system_class)["system_class"] == system_class


def test_facts_request_asks_only_for_what_the_spec_checks() -> None:
    request = facts_request(validate_spec({"memory": {"min_gib": 8}, "sysctl": [{"key": "vm.swappiness", "value": 10}],
                                           "security": {"forbidden_software": {"enabled": False}}, "cross_host": {"unique": []}}))  # fmt: skip
    assert request["host_facts"] == {"gather_subset": ["memory", "os", "sysctl"], "software": [], "sysctl": ["vm.swappiness"], "filesystems": [], "users": []}
    assert request["endpoints"] == [] and request["resolve_hostname"] is False


def test_facts_request_forbidden_list_is_extendable_and_reducible() -> None:
    spec = validate_spec({"security": {"forbidden_software": {"extra": ["ipython"], "allow": ["strace", "gdb"]}}, "software": {"required": ["rsync"]},
                          "custom": [{"id": "hba", "query": "length(hbas)", "op": "ge", "expected": 2}]})  # fmt: skip
    request = facts_request(spec)
    assert "ipython" in request["host_facts"]["software"] and "gcc" in request["host_facts"]["software"] and "rsync" in request["host_facts"]["software"]
    assert "strace" not in request["host_facts"]["software"] and "gdb" not in request["host_facts"]["software"]
    assert "hbas" in request["host_facts"]["gather_subset"] and "software" in request["host_facts"]["gather_subset"]


def test_facts_request_carries_endpoints_with_default_timeout() -> None:
    request = facts_request(validate_spec({"network": {"endpoints": [{"host": "10.0.0.5", "port": 1521}]}, "hostname": {"resolves": True}}))
    assert request["endpoints"] == [{"name": "10.0.0.5:1521", "host": "10.0.0.5", "port": 1521, "timeout_s": 3}]
    assert request["resolve_hostname"] is True
