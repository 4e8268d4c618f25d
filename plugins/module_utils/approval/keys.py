# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ed25519 keys of approvers: key ids, loading public keys from the policy, private keys from PEM files."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import traceback
from collections.abc import Collection

# Imported like community.crypto does: a controller without cryptography can still import the
# collection's plugins (ansible-doc, ansible-test's import test); using a key says what is missing.
try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
except ImportError:
    InvalidSignature = Ed25519PrivateKey = Ed25519PublicKey = serialization = None
    CRYPTOGRAPHY_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

from . import errors

KEYID_BYTES = 16

# Ed25519 (RFC 8032): the field prime, the curve constant d and the group order L.
_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_L = 2**252 + 27742317777372353535851937790883648493
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _decode_point(raw: bytes) -> tuple[int, int]:
    """Decode a 32-byte point as RFC 8032 5.1.3 does, refusing every non-canonical encoding."""
    encoded = int.from_bytes(raw, "little")
    sign = encoded >> 255
    y = encoded & ((1 << 255) - 1)
    if y >= _P:
        raise ValueError("non-canonical point encoding (y >= p)")
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    if (v * x * x - u) % _P != 0:
        x = (x * _SQRT_M1) % _P
        if (v * x * x - u) % _P != 0:
            raise ValueError("not a point on the Ed25519 curve")
    if x == 0 and sign:
        raise ValueError("non-canonical point encoding (negative zero x)")
    if x & 1 != sign:
        x = _P - x
    return x, y


def _double(point: tuple[int, int, int]) -> tuple[int, int, int]:
    """Projective doubling on -x^2 + y^2 = 1 + d x^2 y^2 (no inversion: this runs for every key loaded)."""
    x, y, z = point
    a, b, c = x * x % _P, y * y % _P, 2 * z * z % _P
    e = ((x + y) * (x + y) - a - b) % _P
    g = (b - a) % _P
    f, h = (g - c) % _P, (-a - b) % _P
    return (e * f % _P, g * h % _P, f * g % _P)


@functools.lru_cache(maxsize=256)
def check_public_point(raw: bytes) -> None:
    """Refuse a public key that is non-canonical or of small order (raises ValueError).

    OpenSSL (behind ``cryptography``) accepts both; with a small-order key a fixed signature
    (R = identity, S = 0) verifies for any message, so anyone could sign as that approver.
    A point P has small order exactly when [8]P is the identity (X = 0, Y = Z).
    """
    x, y = _decode_point(raw)
    point = _double(_double(_double((x, y, 1))))
    if point[0] == 0 and point[1] == point[2]:
        raise ValueError("a small-order point (order 1, 2, 4 or 8): it would accept forged signatures")


def signature_is_canonical(sig: bytes) -> bool:
    """S < L (RFC 8032 5.1.7). OpenSSL checks this too; the code does not rely on it."""
    return len(sig) == 64 and int.from_bytes(sig[32:], "little") < _L


def require_cryptography() -> None:
    """Raise MissingLibraryError naming the package if cryptography could not be imported."""
    if CRYPTOGRAPHY_IMPORT_ERROR is not None:
        raise errors.MissingLibraryError("cryptography", "cryptography", CRYPTOGRAPHY_IMPORT_ERROR)


def raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def keyid_of(public_key: Ed25519PublicKey) -> str:
    """Hex of the first 16 bytes of sha256 over the raw 32-byte public key."""
    return hashlib.sha256(raw_public_bytes(public_key)).digest()[:KEYID_BYTES].hex()


def public_key_text(public_key: Ed25519PublicKey) -> str:
    """The form the policy stores: base64 of the raw 32 bytes (one line, easy to paste into YAML)."""
    return base64.b64encode(raw_public_bytes(public_key)).decode("ascii")


def load_public_key(text: str) -> Ed25519PublicKey:
    """PEM (SubjectPublicKeyInfo) or base64 of the raw 32 bytes. Raises ValueError naming what is wrong."""
    require_cryptography()
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty public key")
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(stripped.encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise ValueError(f"not a readable PEM public key ({exc.__class__.__name__})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"PEM holds a {type(key).__name__}, not an Ed25519 public key")
        check_public_point(raw_public_bytes(key))
        return key
    try:
        raw = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("neither PEM nor base64") from None
    if len(raw) != 32:
        raise ValueError(f"base64 decodes to {len(raw)} bytes, a raw Ed25519 public key has 32")
    check_public_point(raw)
    return Ed25519PublicKey.from_public_bytes(raw)


def key_entry(item: dict, path: str, known: Collection[str], code: str) -> tuple[str, Ed25519PublicKey]:
    """The key id and key of a policy or root entry ``{keyid, public_key, ...}``: the key loads, its id matches, it is new."""
    try:
        public_key = load_public_key(item["public_key"])
    except ValueError as exc:
        raise errors.ApprovalError(code, f"{path}.public_key: not an Ed25519 public key (PEM or base64 raw): {exc}") from None
    keyid = keyid_of(public_key)
    if item["keyid"] != keyid:
        raise errors.ApprovalError(code, f"{path}.keyid: {item['keyid']!r} does not match its public key, whose keyid is {keyid!r}")
    if keyid in known:
        raise errors.ApprovalError(code, f"{path}: keyid {keyid} is listed twice")
    return keyid, public_key


def verify_signature(public_key: Ed25519PublicKey, sig: bytes, payload: bytes) -> bool:
    if not signature_is_canonical(sig):
        return False
    try:
        public_key.verify(sig, payload)
    except InvalidSignature:
        return False
    return True


def generate_private_key() -> Ed25519PrivateKey:
    require_cryptography()
    return Ed25519PrivateKey.generate()


def private_key_pem(private_key: Ed25519PrivateKey, passphrase: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption
    encryption = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def load_private_key(pem: bytes, passphrase: bytes | None, source: str) -> Ed25519PrivateKey:
    """Load an approver's key; the error names the file, never its content."""
    require_cryptography()
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase or None)
    except TypeError:
        if passphrase:
            raise errors.ApprovalError(errors.KEY_FILE_INVALID, f"{source}: the key is not encrypted but a passphrase was given") from None
        raise errors.ApprovalError(errors.KEY_FILE_INVALID, f"{source}: the key is encrypted; give --passphrase-file or OPSGATE_APPROVAL_PASSPHRASE") from None
    except ValueError:
        raise errors.ApprovalError(errors.KEY_FILE_INVALID, f"{source}: not a readable PEM private key, or the passphrase is wrong") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise errors.ApprovalError(errors.KEY_FILE_INVALID, f"{source}: holds a {type(key).__name__}, not an Ed25519 private key")
    return key
