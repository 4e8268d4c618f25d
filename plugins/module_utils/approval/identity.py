# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Who a name denotes: one spelling per person, and names that cannot pass for someone else.

Separation of duties compares people, so two spellings of one person must compare equal
(``Dual.Person`` and ``dual.person``) and a name must not borrow letters from another script
(a Cyrillic ``\u0430`` in ``erin``), hide characters (U+200B) or use look-alike punctuation (U+2010).
Names are refused unless they are already in NFKC form, use letters of one script, ASCII digits,
ASCII ``._@-`` and single spaces; they are compared after NFKC and case folding.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from . import errors

_PUNCTUATION = frozenset("._@-' ")
# Japanese names mix these three; every other script stands alone.
_SCRIPT_GROUPS = {"CJK": "HAN", "HIRAGANA": "HAN", "KATAKANA": "HAN", "IDEOGRAPHIC": "HAN"}
MAX_NAME = 128


def identity_key(name: str) -> str:
    """The form two names are compared in."""
    return unicodedata.normalize("NFKC", name).casefold()


def _script(char: str) -> str:
    first = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
    return _SCRIPT_GROUPS.get(first, first)


def shown(text: Any) -> str:
    """A value as it can be printed safely: non-ASCII and control characters escaped."""
    if not isinstance(text, str):
        return repr(text)
    if text.isascii() and text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii")


def _describe(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'UNNAMED')}"


def check_person_name(value: Any, path: str, code: str) -> str:
    """Return ``value`` if it names a person unambiguously; else raise ApprovalError naming the character."""
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise errors.ApprovalError(code, f"{path} must be a name of 1 to {MAX_NAME} characters, got {shown(value)}")
    if value != value.strip() or "  " in value:
        raise errors.ApprovalError(code, f"{path} has leading, trailing or double spaces: {shown(value)}")
    if unicodedata.normalize("NFKC", value) != value:
        raise errors.ApprovalError(
            code,
            f"{path} {shown(value)} is not in NFKC form (full-width, decomposed or compatibility characters): "
            f"write {shown(unicodedata.normalize('NFKC', value))}",
        )
    scripts: set[str] = set()
    for char in value:
        category = unicodedata.category(char)
        if char in _PUNCTUATION or ("0" <= char <= "9"):
            continue
        if category.startswith("L"):
            scripts.add(_script(char))
            continue
        if category.startswith("M") and scripts:
            continue
        raise errors.ApprovalError(code, f"{path} {shown(value)} holds {_describe(char)}: only letters, digits 0-9 and ._@-' are allowed")
    if len(scripts) > 1:
        raise errors.ApprovalError(code, f"{path} {shown(value)} mixes scripts ({', '.join(sorted(scripts))}): a name uses the letters of one script")
    if not scripts and not any("0" <= char <= "9" for char in value):
        raise errors.ApprovalError(code, f"{path} {shown(value)} has no letter or digit")
    return value


def check_host_name(value: Any, path: str, code: str) -> str:
    """Inventory host names: printable, no spaces, NFKC, one script; shown escaped when refused."""
    if not isinstance(value, str) or not value or len(value) > 253:
        raise errors.ApprovalError(code, f"{path} must be a host name of 1 to 253 characters, got {shown(value)}")
    if unicodedata.normalize("NFKC", value) != value:
        raise errors.ApprovalError(code, f"{path} {shown(value)} is not in NFKC form (decomposed or look-alike characters)")
    scripts: set[str] = set()
    for char in value:
        if char.isascii() and (char.isalnum() or char in "._:-[]@"):
            if char.isalpha():
                scripts.add("LATIN")
            continue
        if unicodedata.category(char).startswith("L"):
            scripts.add(_script(char))
            continue
        raise errors.ApprovalError(code, f"{path} {shown(value)} holds {_describe(char)}, which a host name cannot hold")
    if len(scripts) > 1:
        raise errors.ApprovalError(code, f"{path} {shown(value)} mixes scripts ({', '.join(sorted(scripts))})")
    return value
