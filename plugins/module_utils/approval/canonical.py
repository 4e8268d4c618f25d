# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Canonical JSON and the domain-separated bytes that approvers and policy administrators sign."""

from __future__ import annotations

import json
from typing import Any

# What an approver's (or the requester's) signature on a token covers: the claims and that signer's
# own time. The prefix keeps it from ever being replayed as a signature over a root or a policy, or
# as a signature of the earlier token format (b"opsgate.release/approval-token/v1\n" + claims).
SIGNATURE_DOMAIN = b"opsgate.release/approval-signature/v1\n"
MAX_DEPTH = 32
MAX_INT = 2**53


def _check_canonical_value(value: Any, path: str, depth: int = 1) -> None:
    # Floats have no single text form across languages; the claims never need them.
    if depth > MAX_DEPTH:
        raise ValueError(f"{path}: nesting deeper than {MAX_DEPTH} levels")
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{path}: a lone surrogate is not text") from None
        return
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ValueError(f"{path}: integer out of range (at most 2**53)")
        return
    if isinstance(value, float):
        raise ValueError(f"{path}: floats are not allowed in canonical JSON")
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_canonical_value(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: key {key!r} is not a string")
            _check_canonical_value(key, f"{path} key", depth + 1)
            _check_canonical_value(item, f"{path}.{key}", depth + 1)
        return
    raise ValueError(f"{path}: type {type(value).__name__} cannot be written as canonical JSON")


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no insignificant whitespace: one byte string per value."""
    _check_canonical_value(value, "$")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def approval_signature_payload(claims: dict[str, Any], signed_at: str) -> bytes:
    """The exact bytes one signer of a token signs: the claims and the signer's ``signed_at``, together.

    ``SIGNATURE_DOMAIN + canonical_json({"claims": claims, "signed_at": signed_at})``: changing
    the claims or that signature's time after signing makes the signature fail.
    """
    return SIGNATURE_DOMAIN + canonical_json({"claims": claims, "signed_at": signed_at})


def document_payload(kind: str, signed: dict[str, Any]) -> bytes:
    """The bytes policy administrators sign for a trust root or a policy; ``kind`` separates the two."""
    return b"opsgate.release/" + kind.encode("ascii") + b"/v1\n" + canonical_json(signed)
