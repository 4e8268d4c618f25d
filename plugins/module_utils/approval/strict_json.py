# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Strict, bounded JSON for signed documents: one byte string per value, or a refusal with a code.

Tokens, policies and trust roots are accepted only in canonical form (canonical.py): sorted keys,
no whitespace, no duplicate keys, no NaN/Infinity, no floats, UTF-8 without BOM, integers within
2**53, nesting within MAX_DEPTH, no lone surrogates. The size is checked before anything is decoded.
Two encodings of one document can therefore never carry two digests.
"""

from __future__ import annotations

import json
from typing import Any

from . import errors
from .canonical import MAX_DEPTH, canonical_json

DEFAULT_MAX_BYTES = 1024 * 1024
_MAX_INT_DIGITS = 16


class _Refused(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            raise _Refused(f"duplicate key {key!r}")
        mapping[key] = value
    return mapping


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _no_float(text: str) -> Any:
    raise _Refused(f"the number {text[:20]} is not an integer (floats have no canonical form)")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits is out of range (at most {_MAX_INT_DIGITS})")
    return int(text)


def _check_tree(value: Any) -> None:
    """Depth and text checks without recursion: a hostile document cannot exhaust the stack here."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _Refused(f"nesting deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Refused("a string holds a lone surrogate (\\ud800-\\udfff), which is not text") from None


def load_canonical(
    data: bytes, what: str, code: str, max_bytes: int = DEFAULT_MAX_BYTES, trailing_newline: bool = False, noncanonical_code: str | None = None
) -> Any:
    """Parse ``data`` as canonical JSON or raise ApprovalError(code) with a one-line reason.

    ``trailing_newline`` allows one final ``\\n`` (files written by the CLI end with one);
    ``noncanonical_code`` is the code for valid JSON in another spelling (default ``code``).
    """
    if len(data) > max_bytes:
        raise errors.ApprovalError(code, f"{what} is {len(data)} bytes, more than the limit of {max_bytes} bytes")
    if data.startswith(b"\xef\xbb\xbf"):
        raise errors.ApprovalError(code, f"{what} starts with a UTF-8 byte order mark; write it without one")
    body = data[:-1] if trailing_newline and data.endswith(b"\n") else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.ApprovalError(code, f"{what} is not UTF-8 (byte {exc.start} is 0x{body[exc.start]:02x})") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_no_float, parse_int=_bounded_int)
        _check_tree(value)
    except _Refused as exc:
        raise errors.ApprovalError(code, f"{what} is refused: {exc}") from None
    except RecursionError:
        raise errors.ApprovalError(code, f"{what} is refused: nesting deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise errors.ApprovalError(code, f"{what} is not valid JSON ({exc.msg} at byte {exc.pos})") from None
    try:
        again = canonical_json(value)
    except ValueError as exc:
        raise errors.ApprovalError(code, f"{what} is refused: {exc}") from None
    if again != body:
        raise errors.ApprovalError(
            noncanonical_code or code,
            f"{what} is not in canonical form (sorted keys, no spaces, no escapes where UTF-8 will do); rewrite it with bin/opsgate-approval",
        )
    return value
