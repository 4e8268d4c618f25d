# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Gray release on the controller: the rollout plan, its batches, the failure budget, analysis verdicts and the resumable state."""
