# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Canonical JSON of the claims and the domain-separated bytes that approvers sign."""

from __future__ import annotations

import json
from typing import Any

# A signature over these bytes can never be replayed as a signature over another kind of document.
SIGNING_DOMAIN = b"opsgate.release/approval-token/v1\n"


def _check_canonical_value(value: Any, path: str) -> None:
    # Floats have no single text form across languages; the claims never need them.
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return
    if isinstance(value, float):
        raise ValueError(f"{path}: floats are not allowed in canonical JSON")
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_canonical_value(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: key {key!r} is not a string")
            _check_canonical_value(item, f"{path}.{key}")
        return
    raise ValueError(f"{path}: type {type(value).__name__} cannot be written as canonical JSON")


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no insignificant whitespace: one byte string per value."""
    _check_canonical_value(value, "$")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def signing_payload(claims: dict[str, Any]) -> bytes:
    """The exact bytes each approver signs."""
    return SIGNING_DOMAIN + canonical_json(claims)
