# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""release_switch: refuse unless this run's approval gate passed for the host, then run the module."""

from __future__ import annotations

from ansible_collections.opsgate.release.plugins.plugin_utils.release_actions.host_change_action import HostChangeAction


class ActionModule(HostChangeAction):
    pass
