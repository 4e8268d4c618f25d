# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The play's change document from the hosts' step inputs: one builder for release_change and the approval gate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.change_document import build_change


def change_from_hostvars(
    task_vars: Mapping[str, Any],
    template: Callable[[Any], Any],
    inputs_var: str,
    header: Mapping[str, Any],
    rollout: Any = None,
) -> dict[str, Any]:
    """For the play's hosts (after --limit): each host's ``inputs_var`` and the address it is reached at.

    ``header`` gives the action, app, version, digest, change id and env, and the release's ``migrations``, ``verify``
    and ``documents`` when it has them: release_change's arguments, or the change document handed to the gate (their
    document form gives the same document again).
    """
    hostvars = task_vars.get("hostvars") or {}
    hosts: dict[str, dict[str, Any]] = {}
    for name in task_vars.get("ansible_play_hosts_all") or []:
        variables = hostvars.get(name) or {}
        inputs = variables.get(inputs_var)
        if not isinstance(inputs, Mapping):
            raise errors.ApprovalError(errors.CHANGE_INVALID, f"{name}: the release step inputs ({inputs_var}) were not computed for this host")
        hosts[str(name)] = {"address": template(variables.get("ansible_host", name)), "inputs": template(dict(inputs))}
    return build_change(
        action=header["action"],
        app=header["app"],
        version=header["version"],
        artifact_sha256=header["artifact_sha256"],
        change_id=header["change_id"],
        env=header["env"],
        hosts=hosts,
        rollout=rollout or None,
        # Task arguments, templated already (a title with "{{" in it stays text).
        migrations=header.get("migrations"),
        verify=header.get("verify"),
        documents=header.get("documents"),
    )
