# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Waivers, severities, cross-host checks and the fleet verdict on the synthetic six-host fleet."""

from __future__ import annotations

import copy
import datetime

from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.check_result import CheckResult
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.evaluation import HostInput, evaluate_fleet, severity_for
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.spec_schema import validate_spec
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.task_inputs import (
    collected_record,
    facts_from_result,
    host_input,
    host_input_from_collected,
    probes_from_result,
)
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.waivers import apply_waivers

from .synthetic_fleet import GIB, TODAY, core_db_facts, example_spec, six_hosts


def _check(verdict, host: str, check_id: str) -> CheckResult:
    return next(c for c in verdict.hosts[host].checks if c.id == check_id)


def test_six_host_fleet_statuses_host_by_host() -> None:
    verdict = evaluate_fleet(six_hosts(), today=TODAY)
    assert {h: v.ready for h, v in verdict.hosts.items()} == {
        "cb-db01": True, "cb-db02": False, "cb-db03": False, "cs-web01": True, "cs-web02": False, "it-bak01": False,
    }  # fmt: skip
    assert _check(verdict, "cb-db02", "sec.forbidden_software").status == "fail"
    assert _check(verdict, "cb-db03", "hw.memory.min").status == "fail"
    assert _check(verdict, "cb-db03", "hw.hba.speed").status == "waived"
    assert _check(verdict, "cs-web01", "hw.nic.speed").status == "waived"
    assert _check(verdict, "cs-web02", "env.sysctl.net.ipv4.tcp_syncookies").status == "fail"
    assert _check(verdict, "cs-web02", "env.sysctl.net.core.somaxconn").status == "warn"  # severity warning in the spec
    assert _check(verdict, "it-bak01", "facts.collected").status == "fail"
    assert verdict.not_ready() == ["cb-db02", "cb-db03", "cs-web02", "it-bak01"]
    summary = verdict.summary()
    assert summary["hosts_ready"] == 2 and summary["checks"]["waived"] == 2
    assert [(w["host"], w["check"]) for w in summary["expired_waivers"]] == [("cs-web02", "env.sysctl.net.ipv4.tcp_syncookies")]


def test_every_check_runs_no_stop_at_first_failure() -> None:
    verdict = evaluate_fleet(six_hosts(), today=TODAY)
    failing = [c for c in verdict.hosts["cs-web02"].checks if c.status == "fail"]
    assert len(failing) == 2  # syncookies (expired waiver) and time sync, both reported
    assert len(verdict.hosts["cs-web02"].checks) == len(verdict.hosts["cs-web01"].checks)


def test_waiver_valid_until_the_end_of_its_expiry_day_then_expired() -> None:
    waiver = {"check": "hw.memory.min", "hosts": "db*", "reason": "RAM on order", "expires": "2026-11-27", "approved_by": "IT head"}
    result = CheckResult("hw.memory.min", "fail", ">= 64 GiB", "32 GiB", "required at least 64 GiB memory, found 32 GiB")
    outcome = apply_waivers("db01", [result], [waiver], datetime.date(2026, 11, 27))
    assert result.status == "waived" and result.waiver["reason"] == "RAM on order" and outcome.applied
    late = CheckResult("hw.memory.min", "fail", ">= 64 GiB", "32 GiB", "required at least 64 GiB memory, found 32 GiB")
    outcome = apply_waivers("db01", [late], [waiver], datetime.date(2026, 11, 28))
    assert late.status == "fail"
    assert late.message.endswith("(waiver expired on 2026-11-27, not applied)")
    assert outcome.expired[0]["check"] == "hw.memory.min" and late.waiver["expired"] is True


def test_waiver_host_pattern_and_unused_waivers() -> None:
    waiver = {"check": "hw.memory.*", "hosts": "web*", "reason": "r", "expires": "2027-01-01"}
    result = CheckResult("hw.memory.min", "fail", "", "", "m")
    outcome = apply_waivers("db01", [result], [waiver], TODAY)
    assert result.status == "fail" and outcome.unused == []  # the pattern does not cover db01 at all
    outcome = apply_waivers("web01", [CheckResult("hw.cpu.threads", "fail", "", "", "m")], [waiver], TODAY)
    assert outcome.unused == [{"check": "hw.memory.*", "hosts": "web*", "reason": "r", "expires": "2027-01-01"}]


def test_never_waivable_check_stays_failed_even_under_a_wildcard_waiver() -> None:
    spec = validate_spec({"waivers": [{"check": "*", "hosts": "*", "reason": "everything", "expires": "2099-01-01"}]})
    verdict = evaluate_fleet({"db01": HostInput("db01", spec, None, "UNREACHABLE: timeout")}, today=TODAY)
    check = _check(verdict, "db01", "facts.collected")
    assert check.status == "fail" and "can never be waived" in check.message
    assert verdict.hosts["db01"].ready is False


def test_severity_override_most_specific_pattern_and_never_waivable_fixed() -> None:
    overrides = {"env.*": "info", "env.sysctl.*": "warning", "env.sysctl.vm.swappiness": "blocker"}
    assert severity_for("env.sysctl.vm.swappiness", overrides) == "blocker"
    assert severity_for("env.sysctl.net.core.somaxconn", overrides) == "warning"
    assert severity_for("env.time.sync", overrides) == "info"
    assert severity_for("hw.memory.min", overrides) == "blocker"
    assert severity_for("facts.collected", {"*": "info"}) == "blocker"


def test_cross_host_uniqueness_and_homogeneity() -> None:
    spec = example_spec("core_business")
    a, b, c = core_db_facts(1), core_db_facts(2), core_db_facts(3)
    b["os"]["machine_id"] = a["os"]["machine_id"]  # a cloned VM template
    c["nics"][7]["addresses"][0]["address"] = a["nics"][7]["addresses"][0]["address"]
    c["memory"]["total_bytes"] = 480 * GIB  # 4.7% under the median: inside 5%
    b["cpu"]["model"] = "Intel(R) Xeon(R) Gold 6438N"
    hosts = {n: HostInput(n, copy.deepcopy(spec), f) for n, f in (("cb-db01", a), ("cb-db02", b), ("cb-db03", c))}
    verdict = evaluate_fleet(hosts, today=TODAY)
    assert _check(verdict, "cb-db01", "fleet.unique.machine_id").message == (
        f"required a machine id no other host uses, found {a['os']['machine_id']} also on cb-db02"
    )
    assert _check(verdict, "cb-db03", "fleet.unique.machine_id").status == "pass"
    assert _check(verdict, "cb-db03", "fleet.unique.addresses").message == "required a address no other host uses, found 10.10.1.11 also on cb-db01"
    assert _check(verdict, "cb-db02", "fleet.homogeneous.cpu_model").message == (
        "required CPU model 'Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz' like 2 of 3 hosts in group core_business, found 'Intel(R) Xeon(R) Gold 6438N'"
    )
    assert _check(verdict, "cb-db03", "fleet.homogeneous.memory").status == "pass"
    assert _check(verdict, "cb-db01", "fleet.homogeneous.nic_speed").status == "pass"


def test_task_inputs_from_registered_results() -> None:
    assert facts_from_result({"unreachable": True, "msg": "ssh: connect timed out"}) == (None, "UNREACHABLE: ssh: connect timed out")
    assert facts_from_result({"failed": True, "msg": "boom"}) == (None, "host_facts failed: boom")
    facts, error = facts_from_result({"ansible_facts": {"opsgate_host": {"os": {"hostname": "x"}}}})
    assert facts == {"os": {"hostname": "x"}} and error is None
    loop = {"results": [{"item": {"name": "db"}, "state": "started", "elapsed": 0.012, "failed": False},
                        {"item": {"name": "api"}, "failed": True, "elapsed": 3, "msg": "Timeout when waiting for 10.0.0.1:443"}]}  # fmt: skip
    assert probes_from_result(loop) == {
        "db": {"reachable": True, "elapsed_ms": 12, "error": None},
        "api": {"reachable": False, "elapsed_ms": 3000, "error": "Timeout when waiting for 10.0.0.1:443"},
    }
    host = host_input("x", {}, {"ansible_facts": {"opsgate_host": {"os": {"hostname": "x"}}}}, None, {"rc": 2, "changed": False})
    assert host.facts["os"]["hostname_resolves"] is False


def test_task_inputs_from_what_a_host_answered_to_preflight_collect() -> None:
    probes = {"db": {"reachable": True, "elapsed_ms": 3, "error": None}}
    answer = {"ansible_facts": {"opsgate_host": {"os": {"hostname": "x", "hostname_resolves": True}}}, "probes": probes}
    record = collected_record(answer, "d1")
    assert record == {"spec_sha256": "d1", "facts": {"os": {"hostname": "x", "hostname_resolves": True}}, "error": None, "probes": answer["probes"]}

    host = host_input_from_collected("x", {}, record, "d1")
    assert (host.facts, host.facts_error, host.probes) == (record["facts"], None, answer["probes"])

    # Nothing answered in this run, an answer for another spec, a failed host_facts: no facts, each saying why.
    assert host_input_from_collected("x", {}, None, "d1").facts_error.startswith("no readiness facts from this host in this run")
    assert host_input_from_collected("x", {}, record, "d2").facts_error.startswith("the readiness facts of this run were collected for another spec")
    failed = host_input_from_collected("x", {}, collected_record({"failed": True, "msg": "boom"}, "d1"), "d1")
    assert (failed.facts, failed.facts_error) == (None, "host_facts failed: boom")
