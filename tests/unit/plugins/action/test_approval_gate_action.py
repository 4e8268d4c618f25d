# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The approval_gate role and the approval_check task in real ansible-playbook runs."""

from __future__ import annotations

import json

from approval_kit import live_claims
from controller_kit import HOSTS, Controller, changed, controller, output
from ledger_kit import consumed_rows, receipt_rows

__all__ = ["controller"]  # the fixture


def test_good_token_passes_and_the_hosts_change(controller: Controller) -> None:
    token = controller.token()
    done, markers = controller.play("-v", "-e", controller.write_token(token))
    assert done.returncode == 0, output(done)
    assert changed(markers) == HOSTS
    assert "apv-0123456789abcdef" in done.stdout
    assert "consumed by run ansible-playbook-" in done.stdout
    assert token not in output(done)
    ledger = json.dumps(consumed_rows(controller.root / "ledger"))
    assert "apv-0123456789abcdef" in ledger
    assert token not in ledger
    assert token not in json.dumps(receipt_rows(controller.root / "ledger"))


def test_token_never_printed_even_at_vvv_or_given_on_the_command_line(controller: Controller) -> None:
    token = controller.token()
    done, markers = controller.play("-vvv", "-e", f"opsgate_approval_token={token}")
    assert done.returncode == 0, output(done)[-3000:]
    assert changed(markers) == HOSTS
    body = token.split(".", 1)[1]
    for piece in (token, body[:48], body[-48:]):
        assert piece not in output(done)
    assert '"token_sha256"' in done.stdout


def test_bad_token_stops_the_play_before_any_host_changes(controller: Controller) -> None:
    token = controller.kit.sign(live_claims(HOSTS), owners=("alice", "bob", "dave"))
    done, markers = controller.play("-vvv", "-e", controller.write_token(token))
    assert done.returncode != 0
    assert changed(markers) == []
    assert "approval refused [APPROVAL_ROLE_MISSING]: role risk_compliance must approve" in done.stdout
    assert "Refuse unless this run's gate covered this host" not in done.stdout
    assert token not in output(done)


def test_limit_changes_the_host_set_and_is_refused(controller: Controller) -> None:
    done, markers = controller.play("--limit", "web1,web2", "-e", controller.write_token(controller.token()))
    assert done.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_HOSTS_MISMATCH" in done.stdout
    assert "approved but not targeted: web3" in done.stdout


def test_replay_is_refused_but_an_interrupted_run_resumes_with_its_run_id(controller: Controller) -> None:
    token_file = controller.write_token(controller.token())
    first, first_markers = controller.play("-e", token_file, "-e", "approval_gate_run_id=job-77", "-e", "interrupt=true")
    assert first.returncode != 0
    assert changed(first_markers) == HOSTS
    resumed, markers = controller.play("-v", "-e", token_file, "-e", "approval_gate_run_id=job-77")
    assert resumed.returncode == 0, output(resumed)
    assert "resumed by run job-77" in resumed.stdout
    replayed, markers = controller.play("-e", token_file)
    assert replayed.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_REPLAYED" in replayed.stdout
    assert "job-77" not in replayed.stdout  # the refusal never prints what a resume must match


def test_a_finished_run_cannot_be_resumed_with_its_run_id(controller: Controller) -> None:
    # Issue 11: the refusal printed the run id, and -e approval_gate_run_id=<it> redeployed after a rollback.
    token_file = controller.write_token(controller.token())
    first, _markers = controller.play("-e", token_file, "-e", "approval_gate_run_id=job-9")
    assert first.returncode == 0, output(first)
    again, markers = controller.play("-e", token_file, "-e", "approval_gate_run_id=job-9")
    assert again.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_REPLAYED" in again.stdout
    assert "finished (succeeded) and cannot be resumed" in again.stdout


def test_check_mode_verifies_without_consuming(controller: Controller) -> None:
    token_file = controller.write_token(controller.token())
    checked, markers = controller.play("-v", "--check", "-e", token_file)
    assert checked.returncode == 0, output(checked)
    assert "verified in check mode, not consumed" in checked.stdout
    assert changed(markers) == []
    assert consumed_rows(controller.root / "ledger") == []
    real, markers = controller.play("-e", token_file)
    assert real.returncode == 0, output(real)
    assert changed(markers) == HOSTS


def test_skipping_the_gate_with_skip_tags_is_refused_even_after_an_earlier_good_run(controller: Controller) -> None:
    token_file = controller.write_token(controller.token())
    earlier, _earlier_markers = controller.play("-e", token_file, "-e", "approval_gate_run_id=job-1", "-e", "interrupt=true")
    assert "interrupted" in earlier.stdout, output(earlier)
    # The earlier run left its receipt; this run never passed the gate.
    assert [row for row in receipt_rows(controller.root / "ledger") if row["token_id"] == "apv-0123456789abcdef"]
    skipped, markers = controller.play("-e", token_file, "--skip-tags", "approval_gate")
    assert skipped.returncode != 0
    assert changed(markers) == []
    assert "approval check refused web1 [APPROVAL_RECEIPT_MISSING]" in skipped.stdout


def test_start_at_task_and_faked_vars_cannot_stand_in_for_the_gate(controller: Controller) -> None:
    token_file = controller.write_token(controller.token())
    faked = '{"approval_gate_passed": true, "opsgate_approval_receipt": {"token_id": "apv-0123456789abcdef"}, "approval_gate_action": "noop"}'
    done, markers = controller.play("-e", token_file, "-e", faked, "--start-at-task", "Refuse unless this run's gate covered this host")
    assert done.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_RECEIPT_MISSING" in done.stdout


def test_policy_from_extra_vars_is_refused(controller: Controller) -> None:
    policy = json.dumps({"opsgate_approval_policy": controller.kit.policy_raw()})
    done, markers = controller.play("-e", controller.write_token(controller.token()), "-e", policy)
    assert done.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_POLICY_UNSIGNED" in done.stdout


def test_a_narrowed_host_list_from_extra_vars_is_ignored_and_the_play_is_refused_before_consumption(controller: Controller) -> None:
    # Issue 12: approval_gate_hosts once named the hosts; now the gate compares the play's hosts only.
    token = controller.kit.sign(live_claims(["web1", "web2"]))
    narrowed = json.dumps({"approval_gate_hosts": ["web1", "web2"]})
    done, markers = controller.play("-e", controller.write_token(token), "-e", narrowed)
    assert done.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_HOSTS_MISMATCH" in done.stdout
    assert "not approved: web3" in done.stdout
    assert consumed_rows(controller.root / "ledger") == []
