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
    ({"memory": {"min_gib": "lots"}}, "memory.min_gib: must be a number >= 0 (got 'lots')"),
    ({"memory": {"min_gb": 64}}, "memory.min_gb: unknown key (allowed: min_gib, min_hugepages, min_numa_nodes, min_swap_gib) (got 64)"),
    ({"cpu": {"min_threads": 0}}, "cpu.min_threads: must be an integer >= 1 (got 0)"),
    ({"cpu": {"min_cores": 8.5}}, "cpu.min_cores: must be an integer >= 1 (got 8.5)"),
    ({"cpu": {"min_cores": "30"}}, "cpu.min_cores: must be an integer >= 1 (got '30')"),
    ({"hbas": {"min_count": True}}, "hbas.min_count: must be an integer >= 0 (got True)"),
    (
        {"cpu": {"models": ["Xeon(Gold"]}},
        "cpu.models[0]: must be a valid regular expression (missing ), unterminated subpattern at position 4) (got 'Xeon(Gold')",
    ),
    ({"network": {"allowed_subnets": ["10.0.0.0/33"]}}, "network.allowed_subnets[0]: must be a subnet in CIDR notation (10.0.0.0/24) (got '10.0.0.0/33')"),
    ({"network": {"allowed_subnets": ["10.1.2.3/16"]}}, "network.allowed_subnets[0]: must be a subnet without host bits (10.1.0.0/16) (got '10.1.2.3/16')"),
    ({"network": {"endpoints": [{"host": "db", "port": 70000}]}}, "network.endpoints[0].port: must be an integer from 1 to 65535 (got 70000)"),
    ({"dns": {"servers": ["10.0.0.300"]}}, "dns.servers[0]: must be an IP address (got '10.0.0.300')"),
    ({"custom": [{"id": "x", "query": "cpu.[", "expected": 1}]}, "custom[0].query: must be a valid JMESPath expression ("),
    ({"waivers": [{"check": "hw.memory.min", "reason": "r", "expires": "31/12/2026"}]}, "waivers[0].expires: must be a date YYYY-MM-DD (got '31/12/2026')"),
    ({"waivers": [{"check": "hw.memory.min", "expires": "2026-12-31"}]}, "waivers[0].reason: is required"),
    ({"waivers": [{"check": "facts.collected", "reason": "r", "expires": "2026-12-31"}]}, "waivers[0].check: 'facts.collected' can never be waived"),
    ({"sysctl": [{"key": "vm.swappiness", "op": "lt", "value": 10}]}, "sysctl[0].op: must be one of eq, ne, ge, le, in (got 'lt')"),
    ({"sysctl": [{"key": "vm.swappiness", "op": "ge", "value": "ten"}]}, "sysctl[0].value: must be a number for op 'ge' (got 'ten')"),
    ({"custom": [{"id": "x", "query": "cpu.threads", "op": "ge"}]}, "custom[0].expected: is required (unless op is truthy)"),
    ({"filesystems": {"var": {"min_free_gib": 1}}}, "filesystems.var: must be a key that is an absolute mount point (got 'var')"),
    ({"os": {"min_version": "eight"}}, "os.min_version: must be a version such as 8.6 (got 'eight')"),
    ({"severity": {"hw.memory.min": "fatal"}}, "severity.hw.memory.min: must be one of blocker, warning, info (got 'fatal')"),
    ({"severity": {"facts.*": "info"}}, "severity.facts.*: the severity of facts.collected, facts.subsets cannot be changed"),
    ({"security": {"forbidden_software": {"enabled": "yes"}}}, "security.forbidden_software.enabled: must be true or false (got 'yes')"),
    ({"disks": {"kinds": {"floppy": {"min_count": 1}}}}, "disks.kinds.floppy: must be a key that is a disk kind"),
    ({"nics": {"kinds": ["ethernet"]}}, "nics.kinds[0]: must be one of physical, bond, vlan, bridge, virtual, loopback (got 'ethernet')"),
    ({"cross_host": {"homogeneity": {"memory_tolerance_pct": 150}}}, "cross_host.homogeneity.memory_tolerance_pct: must be a number from 0 to 100 (got 150)"),
    ("not a mapping", "<spec>: must be a mapping (got 'not a mapping')"),
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
    assert caught.value.errors == [
        "bogus: unknown key (allowed: cpu, cross_host, custom, description, disks, dns, env_vars, filesystems, hbas, host_models, hostname, "
        "memory, network, nics, os, pci, security, severity, software, sysctl, system_class, time_sync, ulimits, users, waivers) (got 1)",
        "cpu.min_threads: must be an integer >= 1 (got -1)",
        "memory.min_gib: must be a number >= 0 (got 'lots')",
        "waivers[0].reason: is required",
        "waivers[0].expires: is required",
    ]
    assert "memory.min_gib: must be a number >= 0 (got 'lots')" in str(caught.value)
    assert "opsgate_readiness_spec is invalid (5 errors):" in str(caught.value)


def test_three_different_errors_are_reported_with_their_key_paths() -> None:
    spec = {"cpu": {"min_threads": "30"}, "network": {"allowed_subnets": ["10.1.2.3/16"]}, "users": {"app": {"home": "opt/app"}}}
    with pytest.raises(SpecError) as caught:
        validate_spec(spec)
    assert [issue.path for issue in caught.value.issues] == ["cpu.min_threads", "users.app.home", "network.allowed_subnets[0]"]
    assert caught.value.path == "cpu.min_threads"
    assert caught.value.errors == [
        "cpu.min_threads: must be an integer >= 1 (got '30')",
        "users.app.home: must be an absolute path (got 'opt/app')",
        "network.allowed_subnets[0]: must be a subnet without host bits (10.1.0.0/16) (got '10.1.2.3/16')",
    ]


@pytest.mark.parametrize("value", ["30", True, 30.0, None, [30]])
def test_an_integer_is_never_text_a_bool_or_a_float(value: object) -> None:
    if value is None:  # a key holding null is absent, as it always was in readiness specs
        assert "min_count" not in validate_spec({"nics": {"min_count": value}})["nics"]
        return
    with pytest.raises(SpecError) as caught:
        validate_spec({"nics": {"min_count": value}})
    assert caught.value.errors == [f"nics.min_count: must be an integer >= 0 (got {value!r})"]


def test_a_free_key_entry_holding_null_has_no_constraints() -> None:
    spec = validate_spec({"users": {"app": None}, "filesystems": {"/var": None}, "disks": {"kinds": {"ssd": None}}})
    assert spec["users"] == {"app": {}} and spec["filesystems"] == {"/var": {}} and spec["disks"]["kinds"] == {"ssd": {}}
    assert validate_spec(None) == validate_spec({})


def test_hosts_sharing_a_group_spec_are_reported_together() -> None:
    bad = {"memory": {"min_gib": "lots"}}
    with pytest.raises(SpecError) as caught:
        validate_specs({"db01": bad, "db02": bad, "web01": {}, "web02": None})
    assert "hosts db01, db02: memory.min_gib: must be a number >= 0 (got 'lots')" in caught.value.errors
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
