# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``operator`` object of an archive record: the one operator identity of ``plugin_utils/operator_identity.py``.

The ledger's ``who``, the approval receipt and the archive name the same person; the rule (real
uid, or the AWX launching user from the job's own files) lives in that module, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

try:  # the collection: plugin_utils.archive
    from ..operator_identity import operator_identity, real_user
except ImportError:  # bin/ scripts: plugins/plugin_utils on sys.path, archive a top-level package
    from operator_identity import operator_identity, real_user  # type: ignore[no-redef]


def local_user() -> str:
    """The account running the controller process (the real uid, not a spoofable $USER)."""
    return real_user()


def current_operator(extra_vars: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The record's ``operator``. ``extra_vars`` is accepted for older callers and ignored: no variable names the operator."""
    del extra_vars
    return dict(operator_identity().as_dict())
