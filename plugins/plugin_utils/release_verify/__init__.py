# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller's half of release_verify: the approved suite (approved_suite), one pytest-testinfra run against
one host (runner), its JUnit report (junit) and the step's result (outcome)."""
