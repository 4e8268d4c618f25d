# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The controller's archive signing key: an Ed25519 private key in the file ``OPSGATE_ARCHIVE_SIGNING_KEY`` names.

AWX injects that file from the ``opsgate state store`` credential (awx/credential_types/). Which keys
count is the pinned trust root's business (``archive_keys``): if it pins any, a key that is absent,
unreadable or not one of them stops the write (fail closed); if it pins none, entries are chained
and unsigned. The key's bytes never leave this module: errors name the file, never its content.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .chain import encode_signature, signature_payload
from .errors import ArchiveNotWritable

try:  # the collection
    from ...module_utils.approval.errors import ApprovalError, MissingLibraryError
    from ...module_utils.approval.keys import keyid_of, load_private_key, require_cryptography
except ImportError:  # bin/ scripts: plugins/module_utils on sys.path
    from approval.errors import ApprovalError, MissingLibraryError  # type: ignore[no-redef]
    from approval.keys import keyid_of, load_private_key, require_cryptography  # type: ignore[no-redef]

SIGNING_KEY_ENV = "OPSGATE_ARCHIVE_SIGNING_KEY"
_MAX_KEY_BYTES = 64 * 1024


@dataclass(frozen=True)
class ArchiveSigner:
    """Signs entry hashes; ``owner`` is the controller the trust root names for this key."""

    keyid: str
    owner: str
    _key: Any = field(repr=False, compare=False)

    def sign(self, entry_hash: str) -> str:
        return encode_signature(self._key.sign(signature_payload(entry_hash)))


def _read_key_file(path: str) -> bytes:
    where = f"archive signing key {path} ({SIGNING_KEY_ENV})"
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ArchiveNotWritable(f"{where}: not a regular file")
        with open(path, "rb") as handle:
            data = handle.read(_MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise ArchiveNotWritable(f"{where}: cannot read it: {exc.strerror}") from None
    if len(data) > _MAX_KEY_BYTES:
        raise ArchiveNotWritable(f"{where}: larger than {_MAX_KEY_BYTES} bytes, not a PEM private key")
    return data


def load_signer(root: Any, environ: Mapping[str, str] | None = None) -> ArchiveSigner | None:
    """The signer for this controller, or None when the trust root pins no archive key (entries are then unsigned).

    Raises ArchiveNotWritable when the root pins keys and the key file is missing, unreadable, not an
    unencrypted Ed25519 PEM key, or not one of the pinned keys.
    """
    environ = os.environ if environ is None else environ
    pinned = dict(getattr(root, "archive_keys", None) or {})
    if not pinned:
        return None
    path = environ.get(SIGNING_KEY_ENV, "")
    if not path:
        raise ArchiveNotWritable(
            f"the trust root pins {len(pinned)} archive signing key(s) and {SIGNING_KEY_ENV} names no key file: "
            "no record is written unsigned (AWX: attach the 'opsgate state store' credential with the signing key)"
        )
    data = _read_key_file(path)
    try:
        require_cryptography()
        key = load_private_key(data, None, f"archive signing key {path} ({SIGNING_KEY_ENV})")
    except MissingLibraryError as exc:
        raise ArchiveNotWritable(f"the archive signing key needs cryptography on the controller: {exc.message}") from None
    except ApprovalError as exc:
        raise ArchiveNotWritable(f"{exc.message} (the archive signing key must be an unencrypted Ed25519 PEM key)") from None
    keyid = keyid_of(key.public_key())
    admin = pinned.get(keyid)
    if admin is None:
        raise ArchiveNotWritable(
            f"archive signing key {path} ({SIGNING_KEY_ENV}) has keyid {keyid}, which the trust root does not pin in archive_keys "
            f"(pinned: {', '.join(sorted(pinned))})"
        )
    return ArchiveSigner(keyid, str(getattr(admin, "owner", "")), key)
