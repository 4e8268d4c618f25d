# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Synthetic event sequences shaped like the collection's deploy, rollback and preflight runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ansible_collections.opsgate.release.plugins.plugin_utils.archive.record import RunRecorder, TaskEvent

SHA = "ab" * 32
APPROVAL = {
    "token_id": "apv-0123456789abcdef",
    "token_sha256": "cd" * 32,
    "change_id": "CHG-2025-0042",
    "system_class": "core_business",
    "signer_roles": ["business_head", "it_head", "ops_director", "risk_compliance"],
    "signers": [{"keyid": "k1", "owner": "alice", "role": "business_head"}],
    "hosts": ["web1", "web2"],
    "not_after": "2025-06-01T22:00:00Z",
    "consumed": True,
    "resumed": False,
    "changed": True,
    "msg": "approval apv-0123456789abcdef valid",
}
START = datetime(2025, 5, 30, 20, 0, tzinfo=UTC)


def recorder(playbook: str = "playbooks/deploy.yml", operator: dict[str, Any] | None = None, start: datetime = START, **kwargs: Any) -> RunRecorder:
    return RunRecorder(
        "11111111-2222-4333-8444-555555555555", playbook, start, operator or {"source": "local", "user": "ops"}, kwargs.pop("limit", None), False, **kwargs
    )


def args(version: str, release_id: str, **extra: Any) -> dict[str, Any]:
    return {"invocation": {"module_args": {"app": "accounts-api", "version": version, "change_id": "CHG-2025-0042", "release_id": release_id, **extra}}}


def event(host: str, action: str, outcome: str = "ok", result: dict[str, Any] | None = None, **kwargs: Any) -> TaskEvent:
    return TaskEvent(host=host, action=action, outcome=outcome, result=result or {}, **kwargs)


def deploy_events(new: str = "1.1.0", old_release: str = "1.0.0-CHG-2025-0001-aaaaaaaaaaaa") -> list[TaskEvent]:
    """web1 switches and commits; web2 fails its health check and is reverted (rescued, then failed on purpose)."""
    rid = f"{new}-CHG-2025-0042-abababababab"
    manifest = {"release": {"app": "accounts-api", "version": new, "change_id": "CHG-2025-0042"}, "release_id": rid}
    events = [event("web1", "opsgate.release.release_manifest", "ok", manifest), event("web1", "opsgate.release.approval_gate", "changed", dict(APPROVAL))]
    for host in ("web1", "web2"):
        events.append(
            event(
                host, "opsgate.release.release_stage", "changed", {**args(new, rid), "current": old_release, "staged": True, "token_id": "apv-0123456789abcdef"}
            )
        )
        events.append(event(host, "opsgate.release.release_switch", "changed", {**args(new, rid), "previous": old_release, "switched": True}))
    events.append(event("web1", "ansible.builtin.uri", "ok", task_name="Probe the health URL", task_path="/c/roles/deploy/tasks/health.yml:28"))
    events.append(event("web1", "opsgate.release.release_commit", "changed", {**args(new, rid), "state": "good"}))
    events.append(
        event(
            "web2",
            "ansible.builtin.uri",
            "failed",
            {"msg": "Status code was 503"},
            task_name="Probe the health URL",
            task_path="/c/roles/deploy/tasks/health.yml:28",
        )
    )
    events.append(event("web2", "opsgate.release.release_revert", "changed", {**args(new, rid, mode="failed"), "release_id": rid, "reverted_to": old_release}))
    events.append(event("web2", "ansible.builtin.fail", "failed", {"msg": "web2: deploy failed"}, task_name="Stop this host with the reason"))
    return events


def at(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)
