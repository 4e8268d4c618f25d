# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""release_migrate in real ansible-playbook runs: the approval gate, then the migration task run once and delegated to
the database host, as roles/release_host/tasks/migrate.yml runs it. Local-connection hosts; the database host pins the
trust root in its own folder (OPSGATE_HOST_TRUST_DIR, set by its Python wrapper, as make demo does); a real PostgreSQL
database reached over TCP with the password from the database host's inventory variable.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pg_cluster
import pytest
from approval_kit import ApprovalKit, live_claims

from ansible_collections.opsgate.release.plugins.module_utils.approval import host_check
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import build_change, change_digest
from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import new_token_id

REPO = Path(__file__).resolve().parents[4]
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
HOSTS = ["web1", "web2", "web3"]
RELEASE = {
    "release_id": "1.4.2-CHG-2025-0117-3f3f3f3f3f3f",
    "app": "accounts-api",
    "version": "1.4.2",
    "artifact_sha256": "3f" * 32,
    "change_id": "CHG-2025-0117",
}
SCOPE = {"action": "deploy", "app": "accounts-api", "version": "1.4.2", "artifact_sha256": "3f" * 32, "env": "prod"}
FILES = {
    "001_status.sql": "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';\n",
    "001_status.down.sql": "ALTER TABLE orders DROP COLUMN status;\n",
    "002_audit.sql": "CREATE TABLE order_audit (order_id integer REFERENCES orders (id));\n",
}

MIGRATE_TASK = """
    - name: {name}
      opsgate.release.release_migrate:
        approval: {scope}
        change: "{{{{ change }}}}"
        app: accounts-api
        version: 1.4.2
        release_id: {release_id}
        artifact_sha256: "{sha}"
        change_id: CHG-2025-0117
        phase: expand
        database: "{{{{ migrations.database }}}}"
        steps: "{{{{ {steps} }}}}"
        login_password: "{{{{ hostvars['db1'].opsgate_database_password | default(omit) }}}}"{extra}
      delegate_to: {delegate}
      run_once: true
      register: {register}
      failed_when: false
"""
PLAYBOOK = """
- name: Migrate the database behind the approval gate
  hosts: targets
  gather_facts: false
  tasks:
    - name: Verify the approval before any host is touched
      ansible.builtin.import_role:
        name: opsgate.release.approval_gate
      vars:
        approval_gate_action: deploy
        approval_gate_app: accounts-api
        approval_gate_version: 1.4.2
        approval_gate_artifact_sha256: "{sha}"
        approval_gate_env: prod
        approval_gate_change: "{{{{ change }}}}"
{tasks}
    - name: Keep the results for the test
      ansible.builtin.copy:
        content: "{{{{ {{{results}}} | to_json }}}}"
        dest: "{{{{ result_file }}}}"
        mode: "0600"
      delegate_to: localhost
      run_once: true
"""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def migrate_task(register: str, steps: str = "migrations.steps", delegate: str = "db1", extra: str = "") -> str:
    return MIGRATE_TASK.format(
        name=f"Migrate ({register})",
        scope=json.dumps(SCOPE),
        release_id=RELEASE["release_id"],
        sha="3f" * 32,
        steps=steps,
        extra=extra,
        delegate=delegate,
        register=register,
    )


class MigrateSite:
    """A controller with a pinned root and signed policy, three app hosts, and db1 with its own pinned root."""

    def __init__(self, root: Path, cluster: pg_cluster.Cluster) -> None:
        self.root = root
        self.cluster = cluster
        # Its playbook calls the gate without the readiness check: the class is exempt in the signed policy.
        self.kit = ApprovalKit(str(root / "ledger"), class_readiness="skip")
        self.trust_root = self.kit.install(root)
        self.dbname = f"migrate_action_{os.getpid()}_{abs(hash(root)) % 10**8}"
        cluster.new_database(self.dbname)
        self.sql(
            "CREATE TABLE orders (id integer PRIMARY KEY, item text NOT NULL);"
            f"INSERT INTO orders SELECT n, 'item-' || n FROM generate_series(1, 100) n; ALTER TABLE orders OWNER TO {pg_cluster.ROLE}"
        )
        release = root / "release"
        release.mkdir()
        for name, text in FILES.items():
            (release / name).write_text(text)
        self.backup_dir = root / "backups"
        database = {
            "kind": "postgresql",
            "run_on": "db1",
            "name": self.dbname,
            "host": "127.0.0.1",
            "port": cluster.port,
            "user": pg_cluster.ROLE,
            "os_user": "postgres",
            "schemas": [],
            "backup_dir": str(self.backup_dir),
        }
        steps = [
            {
                "id": "001_status",
                "phase": "expand",
                "file": str(release / "001_status.sql"),
                "sha256": _sha(FILES["001_status.sql"]),
                "down": {"file": str(release / "001_status.down.sql"), "sha256": _sha(FILES["001_status.down.sql"])},
            },
            {"id": "002_audit", "phase": "expand", "file": str(release / "002_audit.sql"), "sha256": _sha(FILES["002_audit.sql"]), "down": None},
        ]
        self.migrations = {"database": database, "steps": steps}
        self.change = build_change(
            action="deploy",
            env="prod",
            hosts={host: {"address": host, "inputs": RELEASE} for host in HOSTS},
            migrations=self.migrations,
            **{key: RELEASE[key] for key in ("app", "version", "artifact_sha256", "change_id")},
        )
        self._pin_database_host()
        self.runs = 0

    def _pin_database_host(self) -> None:
        trust = self.root / "db1" / "opsgate"
        trust.mkdir(parents=True, mode=0o755)
        (trust / "trust.json").write_bytes(self.kit.root_document())
        (trust / "host.json").write_text(json.dumps({"_type": host_check.HOST_IDENTITY_TYPE, "name": "db1", "address": "db1"}))
        for path in (trust / "trust.json", trust / "host.json"):
            path.chmod(0o644)
        python = self.root / "db1" / "python"
        python.write_text(f'#!/bin/sh\n{host_check.HOST_TRUST_DIR_ENV}={trust} exec {sys.executable} "$@"\n')
        python.chmod(0o755)
        local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        inventory = {
            "all": {
                "hosts": {"localhost": local},
                "children": {
                    "targets": {"hosts": dict.fromkeys(HOSTS, local)},
                    "databases": {"hosts": {"db1": {**local, "ansible_python_interpreter": str(python), "opsgate_database_password": pg_cluster.PASSWORD}}},
                },
            }
        }
        (self.root / "hosts.json").write_text(json.dumps(inventory))

    def sql(self, text: str) -> str:
        return self.cluster.psql(text, dbname=self.dbname)

    def state(self) -> str:
        orders = self.sql("SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY id)) FROM orders t")
        relations = self.sql("SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'")
        return f"{orders} {relations}"

    def play(self, tasks: str, results: str, **extra_vars: Any) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        self.runs += 1
        token = self.kit.sign(live_claims(HOSTS, change_sha256=change_digest(self.change), token_id=new_token_id()))
        playbook = self.root / f"migrate-{self.runs}.yml"
        playbook.write_text(PLAYBOOK.format(sha="3f" * 32, tasks=tasks, results=results))
        result_file = self.root / f"result-{self.runs}.json"
        variables = self.root / f"vars-{self.runs}.json"
        variables.write_text(
            json.dumps({"opsgate_approval_token": token, "change": self.change, "migrations": self.migrations, "result_file": str(result_file), **extra_vars})
        )
        env = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
            "ANSIBLE_HOME": str(self.root / ".ansible"),
            "ANSIBLE_LOCAL_TEMP": str(self.root / ".ansible" / "tmp"),
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_STDOUT_CALLBACK": "default",
            "OPSGATE_TRUST_ROOT": str(self.trust_root),
        }
        command = [str(PLAYBOOK_BIN), "-i", str(self.root / "hosts.json"), str(playbook), "-e", f"@{variables}", "-v"]
        done = subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert token not in done.stdout + done.stderr
        assert pg_cluster.PASSWORD not in done.stdout + done.stderr, "the database password was printed"
        saved = json.loads(result_file.read_text()) if result_file.exists() else {}
        return done, saved


@pytest.fixture
def site(tmp_path: Path, postgresql_cluster: pg_cluster.Cluster) -> MigrateSite:
    if not PLAYBOOK_BIN.exists():
        pytest.skip("ansible-playbook is not installed next to the test interpreter")
    return MigrateSite(tmp_path, postgresql_cluster)


def _out(done: subprocess.CompletedProcess[str]) -> str:
    return (done.stdout + done.stderr)[-6000:]


def test_the_approved_migrations_run_once_on_the_database_host_which_verifies_them(site: MigrateSite) -> None:
    before = site.state()
    done, results = site.play(migrate_task("migrated"), "'migrated': migrated")
    assert done.returncode == 0, _out(done)
    migrated = results["migrated"]
    assert migrated["migration_failed"] is False, migrated
    assert migrated["applied"] == ["001_status", "002_audit"] and migrated["already_applied"] == []
    assert "warnings" not in migrated, migrated["warnings"]
    assert migrated["host_verified"] is True and migrated["host_verification"]["host"] == "db1"
    assert migrated["backup"]["sha256"] in (site.backup_dir / "opsgate-migrations.jsonl").read_text()
    assert migrated["token_id"] == migrated["host_verification"]["token_id"]
    assert "invocation" not in migrated
    assert pg_cluster.PASSWORD not in json.dumps(results)
    assert site.state() != before and "order_audit" in site.state()


def test_a_step_file_swapped_after_the_approval_is_refused_before_anything_is_sent(site: MigrateSite) -> None:
    before = site.state()
    swapped = "DROP TABLE orders CASCADE;\n"
    (site.root / "release" / "002_audit.sql").write_text(swapped)
    done, results = site.play(migrate_task("migrated"), "'migrated': migrated")
    assert done.returncode == 0, _out(done)
    migrated = results["migrated"]
    # failed_when: false (as the role registers it) makes failed false; migration_failed still says it.
    assert migrated["migration_failed"] is True and migrated["failed"] is False
    assert migrated["migration_error"] == "RELEASE_MIGRATION_DIGEST_MISMATCH"
    assert "steps[1] (002_audit)" in migrated["msg"] and _sha(swapped) in migrated["msg"] and _sha(FILES["002_audit.sql"]) in migrated["msg"]
    assert site.state() == before
    assert not site.backup_dir.exists()


def test_tasks_that_fill_in_what_the_action_plugin_sends_or_run_elsewhere_are_refused(site: MigrateSite) -> None:
    before = site.state()
    with_sql = "migrations.steps | map('combine', {'sql': 'DROP TABLE orders;'}) | list"
    # The swapped file and its own digest: the signed change names the other one.
    resigned = "[migrations.steps[0], migrations.steps[1] | combine({'sha256': evil_sha})]"
    tasks = "".join(
        (
            migrate_task("with_sql", steps=with_sql),
            migrate_task("with_token", extra='\n        host_token: "forged"'),
            migrate_task("resigned", steps=resigned),
            migrate_task("elsewhere", delegate="web1"),
        )
    )
    done, results = site.play(tasks, "'with_sql': with_sql, 'with_token': with_token, 'resigned': resigned, 'elsewhere': elsewhere", evil_sha="ab" * 32)
    assert done.returncode == 0, _out(done)
    assert results["with_sql"]["approval_error"] == "RELEASE_HOST_CHECK_REFUSED" and "steps[0]: sql" in results["with_sql"]["msg"]
    assert results["with_token"]["approval_error"] == "RELEASE_HOST_CHECK_REFUSED" and "host_token" in results["with_token"]["msg"]
    assert results["resigned"]["approval_error"] == "APPROVAL_CHANGE_STEP_MISMATCH" and "migrations.steps[1].sha256" in results["resigned"]["msg"]
    assert results["elsewhere"]["migration_error"] == "RELEASE_MIGRATION_HOST_MISMATCH" and "database.run_on db1" in results["elsewhere"]["msg"]
    assert all(result["migration_failed"] is True for result in results.values())
    assert site.state() == before
    assert not site.backup_dir.exists()
