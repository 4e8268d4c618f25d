# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Turns the operations archive on for the collection's playbooks without touching the user's ansible.cfg.

Ansible loads callback plugins found next to the playbook. This one is the collection's
opsgate.release.archive with CALLBACK_NEEDS_ENABLED off; if the user also enables
opsgate.release.archive, only one of the two writes (see plugins/callback/archive.py).
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: opsgate_archive
type: notification
short_description: The opsgate.release.archive callback, on by default for the collection's playbooks
description:
  - See C(ansible-doc -t callback opsgate.release.archive).
author:
  - Opsgate Release Contributors (@opsgate)
"""

from ansible_collections.opsgate.release.plugins.callback.archive import CallbackModule as ArchiveCallback


class CallbackModule(ArchiveCallback):
    CALLBACK_NAME = "opsgate_archive"
    CALLBACK_NEEDS_ENABLED = False
