# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The whole body of each release module (and release_info): parse the arguments, run the step here or through the agent."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from .host_agent import call_agent, should_delegate
from .steps import STEP_SPECS, StepFailed, run_step


def run_module(step: str) -> None:
    module = AnsibleModule(argument_spec=STEP_SPECS[step], supports_check_mode=True)
    try:
        run = call_agent if should_delegate() else run_step
        result = run(step, module.params, module.check_mode)
    except StepFailed as exc:
        module.fail_json(msg=exc.msg, **exc.fields)
    module.exit_json(**result)
