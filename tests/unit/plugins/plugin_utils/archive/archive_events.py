# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Synthetic event sequences shaped like the collection's deploy, rollback and preflight runs."""

from __future__ import annotations

import hashlib
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


# Issue 15: what release_change, release_verify and release_migrate return (docs: .work/issue15-spec.md, sections 2-4).
RID = "1.1.0-CHG-2025-0042-abababababab"
SUITE_SHA = "5e" * 32
BACKUP_SHA = "b4" * 32
DB_PASSWORD = "pg-Secret-Password-0123"
SQL_EXPAND = "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new' -- expand"
SQL_DOWN = "ALTER TABLE orders DROP COLUMN status -- down"
DOCUMENTS = [
    {"kind": "deployment_manual", "title": "Deployment manual 2.0", "location": "https://wiki.example/app/2.0/deploy", "sha256": "d0" * 32},
    {"kind": "backup_restore_guide", "title": "Backup & restore <appdb>", "location": "/srv/docs/app 2.0/restore.pdf", "sha256": "d1" * 32},
]
DATABASE = {
    "kind": "postgresql",
    "run_on": "db1",
    "name": "appdb",
    "host": "",
    "port": 5432,
    "user": "postgres",
    "os_user": "postgres",
    "schemas": [],
    "backup_dir": "/var/backups/opsgate",
}


def junit(host: str, failing: tuple[str, ...] = (), skipped: tuple[str, ...] = ()) -> str:
    """A JUnit report as pytest --junitxml writes it for a testinfra suite run against one host."""
    cases = ["test_service_running", "test_port_listening", "test_orders_table_readable", *failing, *skipped]
    body = []
    for name in cases:
        case = f'<testcase classname="test_sample_app" name="{name}[ansible://{host}]" time="0.412"'
        if name in failing:
            body.append(f'{case}><failure message="AssertionError: assert 503 == 200">def {name}(host):&#10;&gt;  assert 503 == 200</failure></testcase>')
        elif name in skipped:
            body.append(f'{case}><skipped type="pytest.skip" message="no TLS on this host">skipped</skipped></testcase>')
        else:
            body.append(f"{case} />")
    return (
        '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
        f'<testsuite name="pytest" errors="0" failures="{len(failing)}" skipped="{len(skipped)}" tests="{len(cases)}" time="2.345" '
        f'timestamp="2025-05-30T20:03:00.000000+00:00" hostname="controller">{"".join(body)}</testsuite></testsuites>\n'
    )


def verify_result(host: str, failing: tuple[str, ...] = (), skipped: tuple[str, ...] = ()) -> dict[str, Any]:
    text = junit(host, failing, skipped)
    names = [f"test_sample_app.py::{name}[ansible://{host}]" for name in failing]
    result: dict[str, Any] = {
        "changed": False,
        "verify": {
            "host": host,
            "suite_sha256": SUITE_SHA,
            "suite_name": "test_sample_app.py",
            "tests": 3 + len(failing) + len(skipped),
            "passed": 3,
            "failed": len(failing),
            "errors": 0,
            "skipped": len(skipped),
            "duration": 2.345,
            "failures": names,
            "junit_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "junit": text,
        },
        "msg": f"{host}: 3 of {3 + len(failing) + len(skipped)} tests passed",
    }
    if failing:
        result.update(failed=True, msg=f"verification failed: {len(failing)} of {3 + len(failing) + len(skipped)} tests failed: {', '.join(names)}")
    return result


def migrate_result(phase: str, applied: list[str], restored: dict[str, Any] | None = None, failed: bool = False, msg: str = "") -> dict[str, Any]:
    """release_migrate's result (plugins/modules/release_migrate.py RETURN, as registered with failed_when: false), with what
    an action or module must never pass on (and the archive must never copy): SQL, the password, a token."""
    result: dict[str, Any] = {
        "changed": bool(applied or restored),
        "phase": phase,
        "database": {"kind": "postgresql", "run_on": "db1", "name": "appdb"},
        "applied": applied,
        "already_applied": ["000_baseline"],
        "backup": {"path": f"/var/backups/opsgate/accounts-api-{RID}.dump", "sha256": BACKUP_SHA, "bytes": 48213},
        "migrations_table": [{"step_id": "000_baseline", "sha256": "00" * 32, "release_id": "1.0.0-CHG-2025-0001-aaaaaaaaaaaa"}]
        + [{"step_id": step, "sha256": "01" * 32, "release_id": RID} for step in applied],
        "msg": msg or f"{phase}: applied {len(applied)} step(s)",
        # A careless module would echo these; the record copies none of them.
        "steps": [{"id": "001_orders_status", "phase": "expand", "sha256": "01" * 32, "sql": SQL_EXPAND, "down_sql": SQL_DOWN}],
        "sql": SQL_EXPAND,
        "down_sql": SQL_DOWN,
        "login_password": DB_PASSWORD,
        "token": "opsgate-approval-token-" + "x" * 40,
        "invocation": {
            "module_args": {
                "phase": phase,
                "database": dict(DATABASE),
                "login_password": DB_PASSWORD,
                "steps": [{"id": "001_orders_status", "sql": SQL_EXPAND}],
            }
        },
    }
    if restored is not None:
        result["restored"] = restored
    # The action sets migration_failed on every outcome; the roles' failed_when: false turns "failed" false.
    result.update(host_verified=True, migration_failed=failed, failed=False)
    return result


def change_result(documents: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "changed": False,
        "change": {"app": "accounts-api", "change_id": "CHG-2025-0042", "documents": DOCUMENTS if documents is None else documents, "migrations": None},
        "change_sha256": "ce" * 32,
        "summary": ["..."],
    }


def release_check_events() -> list[TaskEvent]:
    """A deploy with an expand migration (run once, on db1, reported for web1), web1's suite passing,
    web2's failing (the host is put back), and the database restored from the backup."""
    events = [
        event("web1", "opsgate.release.release_change", "ok", change_result(), task_name="Build the change document"),
        event("web1", "opsgate.release.approval_gate", "changed", dict(APPROVAL)),
        event(
            "web1",
            "opsgate.release.release_migrate",
            "changed",
            migrate_result("expand", ["001_orders_status"]),
            task_name="Apply the migration phase on the database host, or put the database back",
        ),
    ]
    for host in ("web1", "web2"):
        events.append(event(host, "opsgate.release.release_switch", "changed", {**args("1.1.0", RID), "previous": "1.0.0-old", "switched": True}))
    verify_task = "Run the release's verification suite against this host"
    events.append(event("web1", "opsgate.release.release_verify", "ok", verify_result("web1"), task_name=verify_task))
    web2 = verify_result("web2", failing=("test_orders_table_readable_v2",), skipped=("test_tls",))
    events.append(event("web2", "opsgate.release.release_verify", "failed", web2, task_name=verify_task))
    events.append(event("web2", "opsgate.release.release_revert", "changed", {**args("1.1.0", RID, mode="failed"), "reverted_to": "1.0.0-old"}))
    restored = {"method": "backup", "steps": ["001_orders_status"]}
    events.append(event("web1", "opsgate.release.release_migrate", "ok", migrate_result("restore", [], restored=restored, msg="restored from the backup")))
    return events
