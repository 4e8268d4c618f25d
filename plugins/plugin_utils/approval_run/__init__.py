# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller's side of an approved run: the token ledger, the receipt of this run's gate and the readiness decision.

The ledger and the receipts live in the state store (``plugin_utils/state_store``) the pinned trust root names.

The approval checks themselves live in ``module_utils/approval`` so that the hosts run the same code.
"""
