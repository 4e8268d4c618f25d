# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Readiness before a change run: the refusal names each host and its failed checks; the archive keeps the summary."""

from __future__ import annotations

import sys
from pathlib import Path

from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.evaluation import HostInput, evaluate_fleet
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.readiness_gate import internal_extra_vars, readiness_record, refusal, spec_sha256
from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.spec_schema import validate_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "archive"))
from archive_events import event, recorder

GIB = 2**30
FACTS = {"memory": {"total_bytes": 8 * GIB}, "os": {"id": "debian", "id_like": "", "version_id": "12"}}


def _verdict(spec: dict[str, object]):
    normalised = validate_spec(spec)
    hosts = {"web1": HostInput("web1", normalised, FACTS), "web2": HostInput("web2", normalised, None, "UNREACHABLE: timed out")}
    return evaluate_fleet(hosts), {"web1": normalised, "web2": normalised}


def test_the_refusal_names_each_host_that_is_not_ready_and_its_failed_checks() -> None:
    verdict, _specs = _verdict({"memory": {"min_gib": 16}, "security": {"forbidden_software": {"enabled": False}}, "cross_host": {"unique": []}})
    lines = refusal(verdict).splitlines()
    assert lines[0].startswith("readiness refused: 2 of 2 target host(s) not ready")
    assert lines[1].startswith("web1: hw.memory.min: required")
    assert lines[2].startswith("web2: facts.collected: required host facts, found none: UNREACHABLE: timed out")


def test_the_record_keeps_ready_and_not_ready_hosts_and_each_specs_digest() -> None:
    spec = {"system_class": "core", "memory": {"min_gib": 4}, "security": {"forbidden_software": {"enabled": False}}, "cross_host": {"unique": []}}
    verdict, specs = _verdict(spec)
    record = readiness_record({"required": True, "system_class": "core_business", "reason": "r"}, verdict, specs, "/reports")
    assert (record["ready"], record["hosts_ready"], list(record["not_ready"])) == (False, ["web1"], ["web2"])
    assert record["specs"]["web1"] == {"system_class": "core", "sha256": spec_sha256(specs["web1"])}
    assert spec_sha256(specs["web1"]) != spec_sha256({**specs["web1"], "memory": {"min_gib": 2}})
    skipped = readiness_record({"required": False, "system_class": "it_infrastructure", "reason": "policy"}, None, {}, None)
    assert (skipped["required"], skipped["checked"], skipped["ready"]) == (False, False, None)


def test_extra_vars_that_would_stand_in_for_the_hosts_answers_are_refused() -> None:
    assert internal_extra_vars({"app_version", "opsgate_approval_token"}) is None
    problem = internal_extra_vars({"__preflight_host_facts", "__preflight_validation", "app_version"})
    assert problem is not None
    assert "__preflight_host_facts, __preflight_validation set by extra vars" in problem
    # Where the readiness call reads each host's running release for the record: -e would point it at another directory.
    assert "preflight_release_base_dir set by extra vars" in (internal_extra_vars({"preflight_release_base_dir"}) or "")
    assert internal_extra_vars({"preflight_report_dir"}) is None


def test_the_archive_keeps_the_readiness_of_a_refused_run() -> None:
    run = recorder()
    readiness = {"required": True, "checked": True, "ready": False, "hosts_ready": ["web1"], "not_ready": {"web2": ["hw.memory.min: required 16, found 8"]}}
    run.task_result(event("web1", "opsgate.release.preflight_evaluate", "failed", {"failed": True, "msg": "readiness refused", "readiness": readiness}))
    record = run.record()
    assert record["readiness"] == readiness
    assert record["hosts"]["web2"]["failed_gate"]["gate"] == "preflight"
    assert "hw.memory.min" in record["hosts"]["web2"]["failed_gate"]["message"]
    assert recorder().record()["readiness"] is None
