# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Operations archive (issue 8): one JSON record per playbook run, kept on the controller.

Nothing in this package imports Ansible: ``bin/opsgate-archive`` imports it as a plain
``archive`` package, the ``opsgate.release.archive`` callback by its collection name.
Inside the package, imports are relative so both work.
"""
