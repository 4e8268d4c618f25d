# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The token as one string: ``opsgate-approval-v1.`` + unpadded base64url of the JSON envelope.

One line of URL-safe characters survives an AWX password field, ``-e``, a YAML file and e-mail.
Only the canonical encoding is accepted (canonical base64url of canonical JSON, signatures
sorted by key id), so a token id has one token string and one ``token_sha256`` per signer set.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from . import errors
from .canonical import canonical_json
from .signed_document import SignatureEntry, b64url_decode, b64url_encode, envelope_value, signature_entries
from .strict_json import DEFAULT_MAX_BYTES, load_canonical

TOKEN_PREFIX = "opsgate-approval-v1."
TOKEN_VAR = "opsgate_approval_token"

__all__ = [
    "TOKEN_PREFIX",
    "TOKEN_VAR",
    "Envelope",
    "SignatureEntry",
    "decode_token",
    "encode_token",
    "extract_token_text",
    "token_digest",
    "token_text_from_bytes",
]


@dataclass(frozen=True)
class Envelope:
    """A decoded token. ``claims`` is not validated here (see claims.validate_claims)."""

    claims: dict[str, Any]
    signatures: tuple[SignatureEntry, ...]


def token_digest(token: str) -> str:
    """sha256 of the token string: what logs and archives record instead of the token."""
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def encode_signature(sig: bytes) -> str:
    return b64url_encode(sig)


def encode_token(claims: dict[str, Any], signatures: list[SignatureEntry] | tuple[SignatureEntry, ...]) -> str:
    unsigned_times = [entry.keyid for entry in signatures if entry.signed_at is None]
    if unsigned_times:
        raise ValueError(f"token signatures need signed_at (keys {', '.join(unsigned_times)})")
    return TOKEN_PREFIX + b64url_encode(canonical_json(envelope_value(claims, tuple(signatures))))


def extract_token_text(text: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Accept the bare token, or a vars file ``{"opsgate_approval_token": "..."}`` as written by ``sign --format vars``."""
    if len(text) > max_bytes * 2:
        raise errors.ApprovalError(errors.TOKEN_TOO_LARGE, f"the token file holds {len(text)} characters, more than the limit of {max_bytes} bytes")
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except (ValueError, RecursionError):
            raise errors.ApprovalError(errors.TOKEN_MALFORMED, "token file starts with '{' but is not valid JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get(TOKEN_VAR), str):
            raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"token file is JSON but has no string key {TOKEN_VAR!r}")
        return data[TOKEN_VAR].strip()
    return stripped


def token_text_from_bytes(data: bytes, source: str, max_bytes: int) -> str:
    """The token in a file's bytes (read with at most ``max_bytes`` + 1): bounded, UTF-8, raw or a vars file."""
    if len(data) > max_bytes:
        raise errors.ApprovalError(errors.TOKEN_TOO_LARGE, f"the approval token file {source} is larger than {max_bytes} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"the approval token file {source} is not UTF-8 (byte {exc.start})") from None
    return extract_token_text(text, max_bytes)


def _looks_truncated(doc: bytes) -> bool:
    # Any prefix of a JSON object fails either at its very end or inside an unterminated string.
    try:
        json.loads(doc)
    except json.JSONDecodeError as error:
        return error.pos >= len(doc.rstrip()) or error.msg.startswith("Unterminated string")
    except (ValueError, RecursionError):
        return False
    return False


def decode_token(token: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Envelope:
    """Parse the token string. Raises ApprovalError; messages never quote the token."""
    if not isinstance(token, str) or not token.strip():
        raise errors.ApprovalError(errors.TOKEN_MISSING, "no approval token was given")
    text = token.strip()
    # The size first: nothing of an oversized token is decoded.
    if len(text) > max_bytes:
        raise errors.ApprovalError(errors.TOKEN_TOO_LARGE, f"the token has {len(text)} characters, more than the limit of {max_bytes}")
    if not text.startswith(TOKEN_PREFIX):
        raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"token does not start with {TOKEN_PREFIX!r} ({len(text)} characters given)")
    body = text[len(TOKEN_PREFIX) :]
    if not body:
        raise errors.ApprovalError(errors.TOKEN_TRUNCATED, "token ends right after its prefix")
    if not body.isascii() or not body.replace("-", "").replace("_", "").isalnum():
        bad = sorted({char for char in body if not (char.isascii() and (char.isalnum() or char in "-_"))})
        shown = "".join(bad[:5]).encode("unicode_escape").decode("ascii")
        raise errors.ApprovalError(errors.TOKEN_BAD_BASE64, f"token body has characters outside base64url: {shown!r}")
    if len(body) % 4 == 1:
        # No base64 encoding produces this length: characters were lost.
        raise errors.ApprovalError(errors.TOKEN_TRUNCATED, f"token body length {len(body)} is impossible for base64url: the token was cut short")
    try:
        raw = b64url_decode(body)
    except (binascii.Error, ValueError):
        raise errors.ApprovalError(errors.TOKEN_BAD_BASE64, "token body is not valid base64url") from None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end >= len(raw) and exc.reason == "unexpected end of data":
            raise errors.ApprovalError(errors.TOKEN_TRUNCATED, "token body ends inside a UTF-8 character: the token was cut short") from None
        raise errors.ApprovalError(errors.TOKEN_MALFORMED, "token body is not UTF-8 text") from None
    try:
        data = load_canonical(raw, "the token envelope", errors.TOKEN_MALFORMED, max_bytes=max_bytes, noncanonical_code=errors.TOKEN_NOT_CANONICAL)
    except errors.ApprovalError as exc:
        if "not valid JSON" in exc.message and _looks_truncated(raw):
            raise errors.ApprovalError(errors.TOKEN_TRUNCATED, f"token envelope JSON ends early ({len(raw)} bytes): the token was cut short") from None
        raise
    # After the JSON, so a token cut short is reported as such, not as a stray bit in its last character.
    if b64url_encode(raw) != body:
        raise errors.ApprovalError(errors.TOKEN_NOT_CANONICAL, "token body is not canonical base64url (stray bits in its last character)")
    if not isinstance(data, dict):
        raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"token envelope must be a JSON object, got {type(data).__name__}")
    if set(data) != {"signed", "signatures"}:
        raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"token envelope must have exactly the keys signed and signatures, got {sorted(data)}")
    if not isinstance(data["signed"], dict):
        raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"envelope.signed must be an object, got {type(data['signed']).__name__}")
    return Envelope(claims=data["signed"], signatures=signature_entries(data["signatures"], timed=True))
