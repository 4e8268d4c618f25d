#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_migrate
short_description: Apply one phase of a release's database migrations with a backup first, or put the database back
version_added: 0.3.0
description:
  - Runs on the database host the manifest names (C(migrations.database.run_on)); the task uses C(delegate_to) to it and
    C(run_once). PostgreSQL with its client tools C(psql), C(pg_dump) and C(pg_restore) (Debian's C(postgresql-client)).
  - With O(phase=expand) or O(phase=contract) it applies the steps of that phase in list order. The table
    C(public.opsgate_migrations) (created when missing) records each applied step with its sha256, release and token;
    a step already applied with the same digest is skipped, one applied with another digest refuses the whole phase
    before anything runs.
  - Before the first step that runs for the release it backs the database up with C(pg_dump -Fc) (only
    O(database.schemas) when given) to C(<backup_dir>/<app>-<release_id>.dump), mode 0600, once per release (a repeated or
    resumed run keeps the first backup), and records its sha256 in C(<backup_dir>/opsgate-migrations.jsonl).
  - Each step runs in one C(psql --single-transaction) together with the insert of its row, so a step that fails leaves
    nothing of itself. The module then undoes what the release applied and fails saying how. After an expand step,
    by the down-migrations when every applied step has one, else from the backup; after a contract step, only the
    contract steps by their down-migrations (the backup predates the expand the running release needs).
  - With O(phase=restore) it undoes what the release applied the same way; C(method) in the result says which it did.
    A backup is restored only when its sha256 is the one the ledger recorded when it was taken.
  - With O(phase=restore) and no O(steps) (the rollback role, once every host left the release), what the release applied
    is read from its rows of the migrations table, and it is undone from the release's backup (no down-migration is on
    the host); C(none) when it applied nothing. Under a rollback approval this is the only phase allowed, and the database
    and the release must be the signed change's C(migrations.database) and C(migrations.restore_release_id).
  - The action plugin checks this run's approval receipt, compares O(database) and O(steps) with the change document's
    C(migrations), reads every step's file on the controller and refuses one whose sha256 differs, before anything is sent.
    On a host with a pinned trust root, the module verifies the token, policy and change again, that the host is
    C(database.run_on), and that the database and the digests of the SQL it received are the signed ones.
author:
  - Opsgate Release Contributors (@opsgate)
extends_documentation_fragment:
  - opsgate.release.release_identity.host_check
attributes:
  check_mode:
    support: full
    description: Reports which steps would run or be skipped, and how a restore would be made; takes no backup.
  diff_mode:
    support: none
    description: Changes are reported in the return values, not as a diff.
  platform:
    support: full
    platforms: posix
    description:
      - A Linux host with the PostgreSQL client tools; as root with no O(database.host), C(runuser) (util-linux).
      - A host with a pinned trust root needs the Python library C(cryptography) (C(python3-cryptography)).
options:
  approval:
    description:
      - Controller side. The run's approval scope (C(action), C(app), C(version), C(artifact_sha256), C(env)); the action
        plugin requires this run's approval receipt for it and never sends it to the host.
    type: dict
  change:
    description:
      - Controller side. The run's change document; its C(migrations) must be O(database) and O(steps) (ids, phases, sha256)
        and the release must be the one of the host the task runs for.
    type: dict
  app:
    description: Application name; the migrations table keeps the steps of each application apart.
    type: str
    required: true
  version:
    description: Version of the release, recorded in the migration ledger.
    type: str
    required: true
  release_id:
    description: The release whose migrations these are; names its backup and its rows in the migrations table.
    type: str
    required: true
  artifact_sha256:
    description: The release digest the approval binds.
    type: str
    required: true
  change_id:
    description: Change id for the ledger; the action plugin uses the verified token's.
    type: str
    default: ""
  token_id:
    description: Set by the action plugin from the verified token; recorded with each applied step.
    type: str
    default: ""
  who:
    description: Set by the action plugin to the controller's operator; a value given in the task is refused.
    type: str
    default: ""
  phase:
    description:
      - V(expand) before the first host of the release changes, V(contract) after the last one passed its gates,
        V(restore) to undo what the release applied.
    type: str
    choices: [expand, contract, restore]
    required: true
  database:
    description: The database the steps run against (the manifest's C(migrations.database)).
    type: dict
    required: true
    suboptions:
      kind:
        description: The database engine.
        type: str
        choices: [postgresql]
        required: true
      run_on:
        description: The inventory host that runs the client tools; the task must be delegated to it.
        type: str
        required: true
      name:
        description: The database name.
        type: str
        required: true
      host:
        description:
          - Empty for the local socket of O(database.run_on) (or a socket directory); else the address to connect to over TCP
            as O(database.user) with O(login_password).
        type: str
        default: ""
      port:
        description: The server's port.
        type: int
        default: 5432
      user:
        description: The database role the tools connect as.
        type: str
        default: postgres
      os_user:
        description: On the local socket, as root, the tools run as this account (C(runuser)), so peer authentication applies.
        type: str
        default: postgres
      schemas:
        description: Back up and restore only these schemas (C(pg_dump -n)); empty for the whole database.
        type: list
        elements: str
        default: []
      backup_dir:
        description: Folder on O(database.run_on) for the backups and the migration ledger (created with mode 0700).
        type: path
        default: /var/backups/opsgate
  steps:
    description:
      - Every migration step of the release (all phases, in the manifest's order); the steps of O(phase) are applied.
      - Empty with O(phase=restore) for a rollback; the release's rows and backup then decide the restore.
    type: list
    elements: dict
    required: true
    suboptions:
      id:
        description: The step's id, unique for the application; the key of the migrations table.
        type: str
        required: true
      phase:
        description: When the step runs.
        type: str
        choices: [expand, contract]
        required: true
      sha256:
        description: The sha256 of the step's SQL file, as approved.
        type: str
        required: true
      file:
        description: Controller side. The SQL file; the action plugin reads it and sends its content as O(steps[].sql).
        type: str
      down:
        description: Controller side. The step's down-migration, C(file) and C(sha256); sent as O(steps[].down_sql).
        type: dict
        suboptions:
          file:
            description: The down-migration's SQL file on the controller.
            type: str
          sha256:
            description: Its sha256.
            type: str
      sql:
        description: Set by the action plugin from O(steps[].file); a value given in the task is refused.
        type: str
      down_sha256:
        description: Set by the action plugin from O(steps[].down); a value given in the task is refused.
        type: str
        default: ""
      down_sql:
        description: Set by the action plugin from the down-migration's file; a value given in the task is refused.
        type: str
  login_password:
    description:
      - Password of O(database.user) when connecting over TCP; given to the tools in their environment (C(PGPASSWORD)),
        never on a command line, never in a result. Usually the inventory variable C(opsgate_database_password) of the
        database host (vault or AWX credential).
    type: str
notes:
  - A step file must not contain C(BEGIN)/C(COMMIT) of its own, nor statements that cannot run in a transaction
    (C(CREATE INDEX CONCURRENTLY), C(VACUUM)), since the step and its row commit together.
  - A restore from the backup drops, in its transaction, the tables, views, sequences, functions, types (and, for a whole
    database, schemas) that the backup does not hold, then restores the backup with C(pg_restore --clean --if-exists).
    Data written after the backup is lost, which is why a rollback with down-migrations is preferred when all steps have one.
seealso:
  - module: opsgate.release.release_manifest
"""

EXAMPLES = r"""
- name: Apply the expand migrations on the database host
  opsgate.release.release_migrate:
    approval: "{{ release_host_approval }}"
    change: "{{ release_host_change }}"
    app: sample_app
    version: 2.0.0
    release_id: "{{ release_host_release.release_id }}"
    artifact_sha256: "{{ release_host_release.artifact_sha256 }}"
    change_id: CHG-2.0.0
    phase: expand
    database: "{{ release_host_release.migrations.database }}"
    steps: "{{ release_host_release.migrations.steps }}"
    login_password: "{{ hostvars['db-1'].opsgate_database_password | default(omit) }}"
  delegate_to: db-1
  run_once: true
  register: migrated
"""

RETURN = r"""
phase:
  description: The phase that ran (also when it failed); absent when the step was refused before it ran (approval, file digest).
  returned: when the phase ran
  type: str
  sample: expand
applied:
  description: Ids of the steps applied by this call, in order.
  returned: success
  type: list
  elements: str
  sample: [001_orders_status]
already_applied:
  description: Ids of the steps of the phase that were applied before with the same digest, so skipped.
  returned: success
  type: list
  elements: str
would_apply:
  description: In check mode, the steps that would be applied.
  returned: check mode
  type: list
  elements: str
refused:
  description: Steps applied before with another digest; the phase ran nothing.
  returned: when refused
  type: list
  elements: str
failed_step:
  description: The step that failed.
  returned: when a step failed
  type: str
backup:
  description: The release's backup (taken by this call or an earlier one), or null when none was needed yet.
  returned: when the phase ran
  type: dict
  sample: {path: /var/backups/opsgate/sample_app-2.0.0-CHG-2.0.0-0123456789ab.dump, sha256: 5d41402abc4b2a76b9719d911017c592..., bytes: 48213}
restored:
  description:
    - How the release's migrations were undone; C(method) is C(down), C(backup) or C(none), C(steps) the steps undone.
    - C(kept) lists contract steps left applied after a failed contract step (no down-migration).
  returned: with phase restore, and when a step failed
  type: dict
  sample: {method: backup, steps: [003_orders_priority]}
database:
  description: The database, as C(kind), C(run_on) and C(name).
  returned: when the phase ran
  type: dict
  sample: {kind: postgresql, run_on: db-1, name: appdb}
migrations_table:
  description: The application's rows of C(public.opsgate_migrations) after the call.
  returned: success
  type: list
  elements: dict
  sample: [{step_id: 001_orders_status, sha256: 9f86d081884c7d65..., release_id: 2.0.0-CHG-2.0.0-0123456789ab}]
host_verified:
  description: Whether the host verified the approval against its own pinned trust root (C(host_verification) says what it verified).
  returned: when the module ran past its own checks
  type: bool
host_verification:
  description: What the host verified (its name, the token id, the change's sha256, the root version, the signers' roles).
  returned: when host_verified is true
  type: dict
migration_failed:
  description:
    - Set by the action plugin on every outcome; true when the phase failed or was refused (on the controller or the host).
    - Unlike C(failed) it stays true under C(failed_when=false), with which the release roles register this task.
  returned: always
  type: bool
migration_error:
  description: Why the action plugin refused before anything was sent (C(RELEASE_MIGRATION_DIGEST_MISMATCH), C(RELEASE_MIGRATION_HOST_MISMATCH), ...).
  returned: when the controller refused a step file or the delegation
  type: str
approval_error:
  description: The approval code when the controller or the host refused the step (C(APPROVAL_CHANGE_STEP_MISMATCH), ...).
  returned: when the approval refused it
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opsgate.release.plugins.module_utils.release.migration.migrate import MIGRATE_SPEC, MigrationFailed, run_migration


def main() -> None:
    module = AnsibleModule(argument_spec=MIGRATE_SPEC, supports_check_mode=True)
    try:
        result = run_migration(module.params, module.check_mode)
    except MigrationFailed as exc:
        module.fail_json(msg=exc.msg, **exc.fields)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
