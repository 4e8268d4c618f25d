# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Change freezes in the signed policy: the calendar, the gate's refusal, and a real run refused inside a freeze."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from approval_kit import NOW, ApprovalKit, live_claims
from controller_kit import HOSTS, Controller, changed, controller
from ledger_kit import consumed_rows

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.freezes import freezes_at, freezes_overlapping, parse_freezes
from ansible_collections.opsgate.release.plugins.module_utils.approval.verification import check_freeze_window, verify_token

__all__ = ["controller"]  # the fixture
SHANGHAI = ZoneInfo("Asia/Shanghai")
CLASSES = ("core_business", "customer_service", "decision_support")
# The kit's window: 2025-03-07 12:00 to 20:00 UTC, i.e. 20:00 to 04:00 (next day) in Shanghai.
MONTH_END = {"name": "month-end", "start": "2025-03-07T20:00", "end": "2025-03-08T08:00", "reason": "month-end closing", "classes": ["core_business"]}


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_freeze_is_read_in_its_own_time_zone() -> None:
    [freeze] = parse_freezes([MONTH_END], "policy.freezes", SHANGHAI, CLASSES)
    assert (freeze.start, freeze.end) == (_utc(2025, 3, 7, 12), _utc(2025, 3, 8, 0))
    [utc] = parse_freezes([{**MONTH_END, "timezone": "UTC"}], "policy.freezes", SHANGHAI, CLASSES)
    assert utc.start == _utc(2025, 3, 7, 20)


@pytest.mark.parametrize(
    ("start", "end", "overlaps"),
    [
        (_utc(2025, 3, 7, 4), _utc(2025, 3, 7, 12), False),  # ends exactly when the freeze starts
        (_utc(2025, 3, 8, 0), _utc(2025, 3, 8, 6), False),  # starts exactly when it ends
        (_utc(2025, 3, 7, 11, 59), _utc(2025, 3, 7, 12, 1), True),  # two minutes across the start
        (_utc(2025, 3, 7, 23, 59), _utc(2025, 3, 8, 2), True),  # across the end
        (_utc(2025, 3, 7, 0), _utc(2025, 3, 9, 0), True),  # around it
    ],
)
def test_overlap_edges(start: datetime, end: datetime, overlaps: bool) -> None:
    freezes = parse_freezes([MONTH_END], "policy.freezes", SHANGHAI, CLASSES)
    assert bool(freezes_overlapping(freezes, start, end, "accounts", "core_business")) is overlaps


def test_in_force_from_start_to_just_before_end_and_only_for_what_it_covers() -> None:
    freezes = parse_freezes([MONTH_END, {**MONTH_END, "name": "audit", "classes": None, "systems": ["ledger"]}], "f", SHANGHAI, CLASSES)
    assert [f.name for f in freezes_at(freezes, _utc(2025, 3, 7, 12), "accounts", "core_business")] == ["month-end"]
    assert freezes_at(freezes, _utc(2025, 3, 8, 0), "accounts", "core_business") == []
    assert freezes_at(freezes, _utc(2025, 3, 7, 13), "crm", "customer_service") == []
    assert [f.name for f in freezes_at(freezes, _utc(2025, 3, 7, 13), "ledger", "decision_support")] == ["audit"]
    everything = parse_freezes([{**MONTH_END, "classes": None}], "f", SHANGHAI, CLASSES)
    assert freezes_at(everything, _utc(2025, 3, 7, 13), "crm", "customer_service")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"end": "2025-03-07T19:00"}, "policy.freezes[0].end: 2025-03-07T19:00 is not after start"),
        ({"start": "2025-03-07 20:00"}, "policy.freezes[0].start: must be a local time YYYY-MM-DDTHH:MM"),
        ({"classes": ["trading"]}, "policy.freezes[0].classes: trading is not a class of the policy"),
        ({"timezone": "Mars/Base"}, "policy.freezes[0].timezone: must be an IANA time zone"),
        ({"reason": ""}, "policy.freezes[0].reason: must say why"),
        ({"until": "x"}, "unknown keys ['until']"),
        ({"start": "0001-01-01T00:00"}, "year 1 is outside 2000-2199"),
    ],
)
def test_a_bad_freeze_names_the_key_and_the_value(change: dict[str, object], fragment: str) -> None:
    with pytest.raises(errors.ApprovalError) as caught:
        parse_freezes([{**MONTH_END, **change}], "policy.freezes", SHANGHAI, CLASSES)
    assert caught.value.code == errors.POLICY_INVALID
    assert fragment in caught.value.message


def test_the_gate_refuses_a_window_that_overlaps_a_freeze_and_a_run_inside_one() -> None:
    kit = ApprovalKit()
    policy = kit.policy(timezone="Asia/Shanghai", freezes=[MONTH_END])
    approval = verify_token(kit.token(), policy, now=_utc(2025, 3, 7, 11, 59), scope=kit.scope())  # a minute before: valid...
    with pytest.raises(errors.ApprovalError) as window:
        check_freeze_window(approval.claims, policy)  # ...but the window runs into the freeze
    assert window.value.code == errors.FROZEN
    assert "overlaps freeze month-end (2025-03-07 20:00 to 2025-03-08 08:00 Asia/Shanghai; core_business): month-end closing" in window.value.message
    with pytest.raises(errors.ApprovalError) as inside:
        verify_token(kit.token(), policy, now=NOW, scope=kit.scope())
    assert inside.value.code == errors.FROZEN
    assert "now is 2025-03-07T13:00:00Z" in inside.value.message


def test_a_freeze_for_another_class_leaves_the_change_alone() -> None:
    kit = ApprovalKit()
    policy = kit.policy(timezone="Asia/Shanghai", freezes=[{**MONTH_END, "classes": ["customer_service"]}])
    check_freeze_window(verify_token(kit.token(), policy, now=NOW, scope=kit.scope()).claims, policy)


def test_a_deploy_planned_into_a_freeze_is_refused_and_no_host_changes(controller: Controller) -> None:
    now = datetime.now(UTC)
    freeze = {
        "name": "audit-week",
        "start": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "end": (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "timezone": "UTC",
        "reason": "external audit",
    }
    controller.kit.install(controller.root, version=2, freezes=[freeze])
    done, markers = controller.play("-e", controller.write_token(controller.kit.sign(live_claims(HOSTS))))
    assert done.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_FROZEN" in done.stdout
    assert "overlaps freeze audit-week" in done.stdout
    assert consumed_rows(controller.root / "ledger") == []  # refused before it was consumed


def test_an_interrupted_run_resumes_once_the_freeze_is_over_but_a_new_run_into_it_is_refused(controller: Controller) -> None:
    token_file = controller.write_token(controller.token())
    first, _markers = controller.play("-e", token_file, "-e", "approval_gate_run_id=job-5", "-e", "interrupt=true")
    assert "interrupted" in first.stdout
    now = datetime.now(UTC)
    # A freeze the administrators added afterwards, inside this token's window and already over.
    freeze = {"name": "short-freeze", "start": f"{now - timedelta(minutes=30):%Y-%m-%dT%H:%M}", "end": f"{now - timedelta(minutes=10):%Y-%m-%dT%H:%M}"}
    controller.kit.install(controller.root, version=2, freezes=[{**freeze, "timezone": "UTC", "reason": "incident review"}])
    resumed, markers = controller.play("-v", "-e", token_file, "-e", "approval_gate_run_id=job-5")
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert "resumed by run job-5" in resumed.stdout
    assert changed(markers) == HOSTS
    fresh = controller.kit.sign(live_claims(HOSTS, token_id="apv-after-freeze-01"))
    refused, markers = controller.play("-e", controller.write_token(fresh))
    assert refused.returncode != 0
    assert changed(markers) == []
    assert "overlaps freeze short-freeze" in refused.stdout
