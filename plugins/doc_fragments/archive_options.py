# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Options of the archive callback, shared by opsgate.release.archive and the
    # playbook-adjacent shim that turns it on for the collection's playbooks: Ansible reads a
    # callback's options from its own documentation, so both must declare the same ones.
    DOCUMENTATION = r"""
options:
  archive_dir:
    description:
      - Folder of the archive records; relative paths are taken from the working directory of C(ansible-playbook).
    type: path
    default: archive
    env:
      - name: OPSGATE_ARCHIVE_DIR
    ini:
      - section: opsgate_archive
        key: archive_dir
    vars:
      - name: opsgate_archive_dir
"""
