# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``{"signatures": [...], "signed": {...}}``: the one envelope of tokens, policies and trust roots.

Signatures are sorted by key id, each key at most once, each 64 bytes with a canonical S, so
one set of signatures over one document has exactly one encoding. A token's signature entries
also carry ``signed_at``, the signer's time, which the signature covers; a root's or a policy's
never do (``{keyid, sig}`` exactly).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import errors
from .canonical import canonical_json, document_payload
from .claims import parse_timestamp
from .keys import signature_is_canonical, verify_signature
from .strict_json import DEFAULT_MAX_BYTES, load_canonical

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_KEYID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class SignatureEntry:
    keyid: str
    sig: bytes
    # Tokens only: the signer's time, ISO-8601 UTC with a Z, as signed (canonical.approval_signature_payload).
    signed_at: str | None = None


@dataclass(frozen=True)
class SignedDocument:
    signed: dict[str, Any]
    signatures: tuple[SignatureEntry, ...]
    sha256: str


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signature_entries(raw: Any, code: str = errors.SIGNATURE_MALFORMED, timed: bool = False) -> tuple[SignatureEntry, ...]:
    """Parse ``signatures``; refuse anything but sorted, unique, canonical 64-byte Ed25519 signatures.

    ``timed`` (tokens): each entry must also carry ``signed_at``. Otherwise (roots, policies) an
    entry with ``signed_at`` is refused like any other unknown key.
    """
    if not isinstance(raw, list):
        raise errors.ApprovalError(errors.TOKEN_MALFORMED, f"envelope.signatures must be a list, got {type(raw).__name__}")
    allowed = {"keyid", "sig", "signed_at"} if timed else {"keyid", "sig"}
    shape = "keyid, sig and signed_at" if timed else "keyid and sig"
    entries: list[SignatureEntry] = []
    for index, item in enumerate(raw):
        path = f"envelope.signatures[{index}]"
        # A timed entry without signed_at gets its own error below, naming the key.
        if not isinstance(item, dict) or not {"keyid", "sig"} <= set(item) or not set(item) <= allowed:
            keys = sorted(item) if isinstance(item, dict) else type(item).__name__
            raise errors.ApprovalError(code, f"{path} must be an object with exactly {shape}, got {keys}")
        keyid, sig = item["keyid"], item["sig"]
        if not isinstance(keyid, str) or not _KEYID.fullmatch(keyid):
            raise errors.ApprovalError(code, f"{path}.keyid must be 32 lowercase hex characters, got {keyid!r}")
        if not isinstance(sig, str) or not _BASE64URL.fullmatch(sig):
            raise errors.ApprovalError(code, f"{path}.sig (key {keyid}) is not unpadded base64url")
        try:
            sig_bytes = b64url_decode(sig)
        except (binascii.Error, ValueError):
            raise errors.ApprovalError(code, f"{path}.sig (key {keyid}) is not valid base64url") from None
        if len(sig_bytes) != 64:
            raise errors.ApprovalError(code, f"{path}.sig (key {keyid}) has {len(sig_bytes)} bytes, an Ed25519 signature has 64")
        if b64url_encode(sig_bytes) != sig:
            raise errors.ApprovalError(code, f"{path}.sig (key {keyid}) is not in canonical base64url")
        if not signature_is_canonical(sig_bytes):
            raise errors.ApprovalError(code, f"{path}.sig (key {keyid}) is not canonical (S >= L): no signer produces it")
        if entries and keyid == entries[-1].keyid:
            raise errors.ApprovalError(errors.KEY_DUPLICATE, f"key {keyid} signed more than once: each key counts once")
        if entries and keyid < entries[-1].keyid:
            raise errors.ApprovalError(code, f"{path}: signatures must be sorted by keyid (canonical form)")
        signed_at = None
        if timed:
            if "signed_at" not in item:
                raise errors.ApprovalError(
                    errors.SIGNATURE_TIME_INVALID,
                    f"{path} (key {keyid}) has no signed_at: every signature on a token carries the signer's time; "
                    "a token signed before opsgate-approval recorded signer times must be signed again",
                )
            signed_at = item["signed_at"]
            parse_timestamp(signed_at, f"{path}.signed_at (key {keyid})", errors.SIGNATURE_TIME_INVALID)
        entries.append(SignatureEntry(keyid=keyid, sig=sig_bytes, signed_at=signed_at))
    return tuple(entries)


def _entry_value(entry: SignatureEntry) -> dict[str, str]:
    value = {"keyid": entry.keyid, "sig": b64url_encode(entry.sig)}
    if entry.signed_at is not None:
        value["signed_at"] = entry.signed_at
    return value


def envelope_value(signed: dict[str, Any], signatures: tuple[SignatureEntry, ...] | list[SignatureEntry]) -> dict[str, Any]:
    ordered = sorted(signatures, key=lambda entry: entry.keyid)
    return {"signed": signed, "signatures": [_entry_value(entry) for entry in ordered]}


def encode_document(signed: dict[str, Any], signatures: tuple[SignatureEntry, ...] | list[SignatureEntry]) -> bytes:
    """The file form: canonical JSON and one newline. Roots and policies carry no signer times."""
    if any(entry.signed_at is not None for entry in signatures):
        raise ValueError("a trust root or policy signature carries no signed_at; only token signatures do")
    return canonical_json(envelope_value(signed, signatures)) + b"\n"


def parse_document(data: bytes, what: str, code: str, max_bytes: int = DEFAULT_MAX_BYTES, unsigned_code: str | None = None) -> SignedDocument:
    """``unsigned_code`` is the code for well-formed JSON that is not a signed envelope (default ``code``)."""
    value = load_canonical(data, what, code, max_bytes=max_bytes, trailing_newline=True)
    if not isinstance(value, dict) or set(value) != {"signed", "signatures"}:
        keys = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise errors.ApprovalError(unsigned_code or code, f"{what} must be an object with exactly the keys signed and signatures, got {keys}")
    if not isinstance(value["signed"], dict):
        raise errors.ApprovalError(code, f"{what}: signed must be an object, got {type(value['signed']).__name__}")
    return SignedDocument(value["signed"], signature_entries(value["signatures"], code), hashlib.sha256(data).hexdigest())


def sign_document(kind: str, signed: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    return key.sign(document_payload(kind, signed))


def valid_signers(kind: str, document: SignedDocument, keys: Mapping[str, Ed25519PublicKey]) -> set[str]:
    """Key ids among ``keys`` whose signature over the document verifies; other signatures are ignored."""
    payload = document_payload(kind, document.signed)
    return {entry.keyid for entry in document.signatures if entry.keyid in keys and verify_signature(keys[entry.keyid], entry.sig, payload)}
