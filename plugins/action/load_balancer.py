# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the load balancer module of the configured kind on the task's host (the load balancer, by delegation).

Like ansible.builtin.package choosing apt or dnf: one task in the role, the kind's module on the host.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.opsgate.release.plugins.plugin_utils.load_balancer.seam import SeamError, module_call

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "settings": {"type": "dict", "required": True},
    "state": {"type": "str", "required": True},
    "hosts": {"type": "list", "elements": "str", "default": []},
    "weights": {"type": "dict", "default": {}},
    "wait": {"type": "bool", "default": True},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        settings = args["settings"]
        try:
            module, module_args = module_call(settings, args["state"], args["hosts"], args["weights"], args["wait"])
        except SeamError as exc:
            result.update(failed=True, changed=False, msg=f"load balancer: {exc}")
            return result
        result.update(self._execute_module(module_name=module, module_args=module_args, task_vars=task_vars))
        result["load_balancer"] = f"{settings['kind']} on {settings.get('host') or 'the task host'}"
        return result
