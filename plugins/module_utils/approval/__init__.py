# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Multi-party approval tokens (issue 5).

Nothing in this package imports Ansible: ``bin/opsgate-approval`` imports it as a plain
``approval`` package on approvers' workstations, the action plugins import it by its
collection name, and the release modules run it on the managed hosts (host-side verification of
the token and the change document). Inside the package, imports are relative so all three work.
Controllers and hosts need ``cryptography``; a host without it refuses (keys.py names the package).
"""
