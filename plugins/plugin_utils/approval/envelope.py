# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The token as one string: ``opsgate-approval-v1.`` + unpadded base64url of the JSON envelope.

One line of URL-safe characters survives an AWX password field, ``-e``, a YAML file and e-mail.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from . import errors
from .canonical import canonical_json

TOKEN_PREFIX = "opsgate-approval-v1."
TOKEN_VAR = "opsgate_approval_token"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_KEYID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class SignatureEntry:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A decoded token. ``claims`` is not validated here (see claims.validate_claims)."""

    claims: dict[str, Any]
    signatures: tuple[SignatureEntry, ...]


def token_digest(token: str) -> str:
    """sha256 of the token string: what logs and archives record instead of the token."""
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_signature(sig: bytes) -> str:
    return _b64url_encode(sig)


def encode_token(claims: dict[str, Any], signatures: list[SignatureEntry] | tuple[SignatureEntry, ...]) -> str:
    envelope = {
        "signed": claims,
        "signatures": [{"keyid": entry.keyid, "sig": _b64url_encode(entry.sig)} for entry in signatures],
    }
    return TOKEN_PREFIX + _b64url_encode(canonical_json(envelope))


def extract_token_text(text: str) -> str:
    """Accept the bare token, or a vars file ``{"opsgate_approval_token": "..."}`` as written by ``sign --format vars``."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            raise errors.ApprovalError(errors.TOKEN_MALFORMED, "token file starts with '{' but is not valid JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get(TOKEN_VAR), str):
            raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"token file is JSON but has no string key {TOKEN_VAR!r}")
        return data[TOKEN_VAR].strip()
    return stripped


def _looks_truncated(doc: str, error: json.JSONDecodeError) -> bool:
    # Any prefix of a JSON object fails either at its very end or inside an unterminated string.
    return error.pos >= len(doc.rstrip()) or error.msg.startswith("Unterminated string")


def _signature_entries(raw: Any) -> tuple[SignatureEntry, ...]:
    if not isinstance(raw, list):
        raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"envelope.signatures must be a list, got {type(raw).__name__}")
    entries: list[SignatureEntry] = []
    for index, item in enumerate(raw):
        path = f"envelope.signatures[{index}]"
        if not isinstance(item, dict) or set(item) != {"keyid", "sig"}:
            keys = sorted(item) if isinstance(item, dict) else type(item).__name__
            raise errors.ApprovalError(errors.SIGNATURE_MALFORMED, f"{path} must be an object with exactly keyid and sig, got {keys}")
        keyid, sig = item["keyid"], item["sig"]
        if not isinstance(keyid, str) or not _KEYID.fullmatch(keyid):
            raise errors.ApprovalError(errors.SIGNATURE_MALFORMED, f"{path}.keyid must be 32 lowercase hex characters, got {keyid!r}")
        if not isinstance(sig, str) or not _BASE64URL.fullmatch(sig):
            raise errors.ApprovalError(errors.SIGNATURE_MALFORMED, f"{path}.sig (key {keyid}) is not unpadded base64url")
        try:
            sig_bytes = _b64url_decode(sig)
        except (binascii.Error, ValueError):
            raise errors.ApprovalError(errors.SIGNATURE_MALFORMED, f"{path}.sig (key {keyid}) is not valid base64url") from None
        if len(sig_bytes) != 64:
            raise errors.ApprovalError(errors.SIGNATURE_MALFORMED, f"{path}.sig (key {keyid}) has {len(sig_bytes)} bytes, an Ed25519 signature has 64")
        entries.append(SignatureEntry(keyid=keyid, sig=sig_bytes))
    return tuple(entries)


def decode_token(token: str) -> Envelope:
    """Parse the token string. Raises ApprovalError; messages never quote the token."""
    if not isinstance(token, str) or not token.strip():
        raise errors.ApprovalError(errors.TOKEN_MISSING, "no approval token was given")
    text = token.strip()
    if not text.startswith(TOKEN_PREFIX):
        raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"token does not start with {TOKEN_PREFIX!r} ({len(text)} characters given)")
    body = text[len(TOKEN_PREFIX) :]
    if not body:
        raise errors.ApprovalError(errors.TOKEN_TRUNCATED, "token ends right after its prefix")
    bad = sorted({char for char in body if not (char.isascii() and (char.isalnum() or char in "-_"))})
    if bad:
        shown = "".join(bad[:5]).encode("unicode_escape").decode("ascii")
        raise errors.ApprovalError(errors.TOKEN_BAD_BASE64, f"token body has characters outside base64url: {shown!r}")
    if len(body) % 4 == 1:
        # No base64 encoding produces this length: characters were lost.
        raise errors.ApprovalError(errors.TOKEN_TRUNCATED, f"token body length {len(body)} is impossible for base64url: the token was cut short")
    try:
        raw = _b64url_decode(body)
    except (binascii.Error, ValueError):
        raise errors.ApprovalError(errors.TOKEN_BAD_BASE64, "token body is not valid base64url") from None
    try:
        doc = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end >= len(raw) and exc.reason == "unexpected end of data":
            raise errors.ApprovalError(errors.TOKEN_TRUNCATED, "token body ends inside a UTF-8 character: the token was cut short") from None
        raise errors.ApprovalError(errors.TOKEN_MALFORMED, "token body is not UTF-8 text") from None
    try:
        data = json.loads(doc)
    except json.JSONDecodeError as exc:
        if _looks_truncated(doc, exc):
            raise errors.ApprovalError(
                errors.TOKEN_TRUNCATED, f"token envelope JSON ends early at byte {exc.pos} of {len(raw)}: the token was cut short"
            ) from None
        raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"token envelope is not valid JSON ({exc.msg} at byte {exc.pos})") from None
    if not isinstance(data, dict):
        raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"token envelope must be a JSON object, got {type(data).__name__}")
    if set(data) != {"signed", "signatures"}:
        raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"token envelope must have exactly the keys signed and signatures, got {sorted(data)}")
    if not isinstance(data["signed"], dict):
        raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"envelope.signed must be an object, got {type(data['signed']).__name__}")
    return Envelope(claims=data["signed"], signatures=_signature_entries(data["signatures"]))
