# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""release_verify: approval receipt and the change's verify suite first; then the suite file, read and checked here,
run with pytest-testinfra on the controller against the task's host over that host's own connection. A passed run
(not in check mode) leaves this controller process's verification receipt, which release_commit requires."""

from __future__ import annotations

import os
from typing import Any

from ansible import constants as C

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.envelope import TOKEN_VAR
from ansible_collections.opsgate.release.plugins.plugin_utils.approval_run.host_approval import ApprovalRefused, record_host_verification
from ansible_collections.opsgate.release.plugins.plugin_utils.release_actions.host_change_action import HostChangeAction
from ansible_collections.opsgate.release.plugins.plugin_utils.release_verify.approved_suite import SuiteRefused, read_suite
from ansible_collections.opsgate.release.plugins.plugin_utils.release_verify.outcome import redact, verification_result
from ansible_collections.opsgate.release.plugins.plugin_utils.release_verify.runner import MissingLibraryError, connection_vars, run_suite, secret_values

# The same as plugins/modules/release_verify.py documents (ansible-doc); nothing has a default, so the arguments the
# approval compares (the task's own) are the ones validated here.
ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "approval": {"type": "dict", "required": True},
    "change": {"type": "dict"},
    "release_id": {"type": "str", "required": True},
    "app": {"type": "str", "required": True},
    "version": {"type": "str", "required": True},
    "artifact_sha256": {"type": "str"},
    "change_id": {"type": "str"},
    "verify": {
        "type": "dict",
        "required": True,
        "options": {
            "suite": {"type": "str", "required": True},
            "sha256": {"type": "str", "required": True},
            "timeout": {"type": "int", "required": True},
        },
    },
}

# What the play itself decides about the connection (remote_user:, become:, -u, -k, -K) when no variable does.
_PLAY_CONTEXT_VARS = (
    ("remote_user", "ansible_user"),
    ("port", "ansible_port"),
    ("private_key_file", "ansible_private_key_file"),
    ("password", "ansible_password"),
    ("become", "ansible_become"),
    ("become_user", "ansible_become_user"),
    ("become_method", "ansible_become_method"),
    ("become_pass", "ansible_become_password"),
)


class ActionModule(HostChangeAction):
    """Nothing is sent to the host as a module: the suite's checks reach it over its connection, read-only by intent."""

    def _connection_vars(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        host = str(task_vars.get("inventory_hostname", ""))
        names = connection_vars(task_vars)
        variables = {name: self._templar.template(task_vars[name]) for name in names}
        variables["ansible_host"] = self._templar.template(task_vars.get("ansible_host", host))
        if not variables.get("ansible_connection"):
            variables["ansible_connection"] = self._play_context.connection
        for attribute, name in _PLAY_CONTEXT_VARS:
            value = getattr(self._play_context, attribute, None)
            if name not in variables and value not in (None, "", False):
                variables[name] = value
        return variables

    def _secrets(self, approval: dict[str, Any], variables: dict[str, Any], task_vars: dict[str, Any]) -> list[str]:
        secrets = secret_values(variables)
        secrets.append(str((approval.get("host_check") or {}).get("host_token") or ""))
        token = task_vars.get(TOKEN_VAR)
        if isinstance(token, str) and not token.startswith("@"):
            secrets.append(str(self._templar.template(token)))
        return [secret for secret in secrets if secret]

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super(HostChangeAction, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host = str(task_vars.get("inventory_hostname", ""))
        try:
            approval = self._approve(task_vars)
            # The same checks as every release step (change_id is the token's, no rollback token); nothing is sent.
            who = self._module_args(approval)["who"]
            signed = (approval.get("host_check") or {}).get("host_change")
            suite = read_suite(args["verify"], self._loader.get_basedir(), signed)
        except ApprovalRefused as exc:
            result.update(failed=True, changed=False, approval_error=exc.code, msg=str(exc))
            return result
        except errors.MissingLibraryError as exc:
            result.update(failed=True, changed=False, approval_error="APPROVAL_INTERNAL_ERROR", msg=exc.message)
            return result
        except SuiteRefused as exc:
            result.update(failed=True, changed=False, verify_error=exc.code, msg=f"release_verify refused on {host}: {exc.message}")
            return result
        result.update(changed=False, token_id=approval["token_id"], who=who)
        if self._task.check_mode:
            result["msg"] = f"check mode: the suite {suite.name} (sha256 {suite.sha256}) is the approved one; it was not run on {host}"
            return result
        variables = self._connection_vars(task_vars)
        secrets = self._secrets(approval, variables, task_vars)
        ansible_env = {"ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(C.COLLECTIONS_PATHS)}
        if C.CONFIG_FILE:
            ansible_env["ANSIBLE_CONFIG"] = C.CONFIG_FILE
        try:
            run = run_suite(suite.content, suite.name, host, variables, int(args["verify"]["timeout"]), ansible_env)
        except MissingLibraryError as exc:
            result.update(failed=True, verify_error="RELEASE_VERIFY_LIBRARY_MISSING", msg=exc.message)
            return result
        except (OSError, ValueError) as exc:
            result.update(failed=True, verify_error="RELEASE_VERIFY_RUN_ERROR", msg=redact(f"release_verify could not run the suite on {host}: {exc}", secrets))
            return result
        result.update(verification_result(host, suite.sha256, suite.name, run, secrets))
        if not result["failed"]:
            # The proof release_commit asks for: this process's receipt, never a variable or the registered result.
            try:
                record_host_verification(approval, host, task_vars, self._templar.template, result["verify"], str(args["release_id"]))
            except ApprovalRefused as exc:
                result.update(failed=True, verify_error=exc.code, msg=redact(str(exc), secrets))
        return result
