# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One small validation engine for every document opsgate.release reads (issue 13).

The release manifest, the rollout plan, the readiness spec and the approval policy declare their
shapes with ``engine.Field`` and ``engine.Schema``; every error is collected with its key path and
the value found. Nothing here imports Ansible or a third-party library: the approval policy runs it
on the managed hosts and in the release agent, ``bin/opsgate-approval`` imports it as plain ``schema``.
"""
