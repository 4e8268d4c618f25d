# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""release_stage: approval receipt first; then copy the verified artifacts (only when the release is missing) and run the module."""

from __future__ import annotations

import os
import shlex
from typing import Any

from ansible.errors import AnsibleError

from ansible_collections.opsgate.release.plugins.plugin_utils.release_actions.host_change_action import HostChangeAction

MARKER = ".opsgate-release.json"
_HOST_KEYS = ("name", "sha256", "dest", "unpack")


class ActionModule(HostChangeAction):
    TRANSFERS_FILES = True

    def _release_present(self, marker: str) -> bool:
        """Whether the release is already on the host (a rerun): then no artifact is copied again.

        A shell test over the open connection, not the stat module: no Python start-up on the host for a yes or no.
        """
        done = self._low_level_execute_command(f"test -e {shlex.quote(marker)} || test -L {shlex.quote(marker)}", sudoable=True)
        return done.get("rc") == 0

    def _before_module(self, module_args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        # Only what the host needs: the controller's src/url/local_path never reach it.
        artifacts = [{key: item[key] for key in _HOST_KEYS if key in item} for item in module_args.get("artifacts") or []]
        local_paths = [item.get("local_path") for item in module_args.get("artifacts") or []]
        module_args["artifacts"] = artifacts
        marker = os.path.join(module_args["base_dir"], "releases", module_args["release_id"], MARKER)
        if self._task.check_mode or self._release_present(marker):
            return module_args
        tmp = self._connection._shell.tmpdir or self._make_tmp_path()
        copied = []
        for item, local in zip(artifacts, local_paths, strict=True):
            if not local or not os.path.isfile(local):
                raise AnsibleError(f"artifact {item.get('name')}: no verified file on the controller (run release_manifest first)")
            remote = self._connection._shell.join_path(tmp, item["name"])
            self._transfer_file(local, remote)
            item["src"] = remote
            copied.append(remote)
        self._fixup_perms2([tmp, *copied])
        return module_args
