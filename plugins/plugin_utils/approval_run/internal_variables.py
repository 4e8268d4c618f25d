# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles' working variables, which an extra var (-e) would outrank.

deploy, gray_release, rollback, the approval gate and the readiness tasks keep what they computed
(the release, each host's step inputs, the change document, the gate's result) in variables with
these prefixes. Extra vars outrank set_fact and register, so ``-e release_host_step_inputs=...`` would
replace what the role computed. Nothing legitimate sets them from outside: the gate refuses the run
before the token is consumed.
"""

from __future__ import annotations

from collections.abc import Iterable

# release_host_ are the inputs and results of the internal role release_host: only the collection's roles set them.
INTERNAL_PREFIXES = ("__deploy_", "__gray_release_", "__rollback_", "__approval_gate_", "__preflight_", "__release_host_", "release_host_")
# Inputs the change roles pass to another role's entry point: -e would outrank them (the record's release before each host).
INTERNAL_NAMES = frozenset({"preflight_release_base_dir"})


def internal_extra_vars(names: Iterable[str]) -> list[str]:
    return sorted(str(name) for name in names if str(name).startswith(INTERNAL_PREFIXES) or str(name) in INTERNAL_NAMES)
