# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pinned trust root: the policy administrators' keys, their threshold and where the ledger lives.

TUF's root idea, kept small. The root names its own signers (``admins``) and how many distinct
people of them must sign (``threshold``); it is signed by that threshold itself; version N+1 is
accepted only when signed by the threshold of version N and of N+1 (``verify_rotation``). The
approval policy is a separate document the same threshold signs (policy.py).

The controller reads the root only from a file that nobody but root can have written
(file_safety.py): ``/etc/opsgate/trust.json``; where that file does not exist (tests, the demo),
the path in ``OPSGATE_TRUST_ROOT``, which must pass the same checks, so an operator who is not
root cannot bring a root of their own.
Nothing from the inventory, extra vars or the playbook is consulted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import errors
from .file_safety import check_file
from .identity import check_person_name, identity_key
from .keys import key_entry
from .signed_document import SignedDocument, parse_document, valid_signers

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DEFAULT_TRUST_ROOT = "/etc/opsgate/trust.json"
TRUST_ROOT_ENV = "OPSGATE_TRUST_ROOT"
ROOT_KIND = "root"
ROOT_TYPE = "opsgate.release/root"
POLICY_FILE_NAME = "policy.json"
MIN_DOCUMENT_BYTES = 4096
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
_ROOT_KEYS = {"_type", "version", "admins", "threshold", "ledger_dir", "max_document_bytes"}
# Optional: where the controllers keep their state (default: SQLite in ledger_dir) and the keys that sign the
# operations archive. Pinned here, so neither a variable nor the environment can point a run at another store.
_OPTIONAL_ROOT_KEYS = {"state_store", "archive_keys"}
_ADMIN_KEYS = {"keyid", "owner", "public_key"}
STORE_BACKENDS = ("sqlite", "postgresql")
_STORE_KEYS = {
    "sqlite": ({"backend"}, {"path"}),
    "postgresql": ({"backend", "host", "dbname", "user"}, {"port", "sslmode"}),
}
_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


@dataclass(frozen=True)
class Admin:
    keyid: str
    owner: str
    public_key: Ed25519PublicKey


@dataclass(frozen=True)
class TrustRoot:
    version: int
    admins: dict[str, Admin]
    threshold: int
    ledger_dir: str
    max_document_bytes: int
    sha256: str
    path: str
    # The backend and where it is, never a password (that comes with the run: docs/state-store.md).
    state_store: dict[str, Any] = field(default_factory=lambda: {"backend": "sqlite"})
    # keyid -> (controller name, public key) of the controllers that sign archive records.
    archive_keys: dict[str, Admin] = field(default_factory=dict)

    @property
    def keys(self) -> dict[str, Ed25519PublicKey]:
        return {keyid: admin.public_key for keyid, admin in self.admins.items()}

    @property
    def default_policy_path(self) -> str:
        return os.path.join(os.path.dirname(self.path), POLICY_FILE_NAME)


def _fail(path: str, message: str) -> errors.ApprovalError:
    return errors.ApprovalError(errors.TRUST_ROOT_INVALID, f"{path}: {message}")


def _admins(value: Any, path: str) -> dict[str, Admin]:
    if not isinstance(value, list) or not value:
        raise _fail(path, "must be a non-empty list of policy administrators' keys")
    admins: dict[str, Admin] = {}
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict) or set(item) != _ADMIN_KEYS:
            raise _fail(item_path, f"must have exactly the keys {', '.join(sorted(_ADMIN_KEYS))}")
        keyid, public_key = key_entry(item, item_path, admins, errors.TRUST_ROOT_INVALID)
        admins[keyid] = Admin(keyid, check_person_name(item["owner"], f"{item_path}.owner", errors.TRUST_ROOT_INVALID), public_key)
    return admins


def _state_store(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("backend") not in STORE_BACKENDS:
        got = value.get("backend") if isinstance(value, dict) else value
        raise _fail(f"{path}.backend", f"must be one of {', '.join(STORE_BACKENDS)}, got {got!r}")
    required, optional = _STORE_KEYS[value["backend"]]
    unknown = sorted(set(value) - required - optional)
    missing = sorted(required - set(value))
    if unknown or missing:
        raise _fail(path, f"unknown keys {unknown}, missing keys {missing} (a password never goes here)")
    for key in sorted(set(value) - {"backend", "port"}):
        text = value[key]
        if not isinstance(text, str) or not text or len(text) > 255 or any(ord(char) < 33 for char in text):
            raise _fail(f"{path}.{key}", f"must be a non-empty string without spaces or control characters, got {text!r}")
    if "path" in value and not os.path.isabs(value["path"]):
        raise _fail(f"{path}.path", f"must be an absolute file path, got {value['path']!r}")
    port = value.get("port", 5432)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise _fail(f"{path}.port", f"must be an integer from 1 to 65535, got {port!r}")
    if value.get("sslmode", "prefer") not in _SSLMODES:
        raise _fail(f"{path}.sslmode", f"must be one of {', '.join(_SSLMODES)}, got {value['sslmode']!r}")
    return dict(value)


def _archive_keys(value: Any, path: str) -> dict[str, Admin]:
    if not isinstance(value, list):
        raise _fail(path, f"must be a list of controller signing keys, got {value!r:.80}")
    keys: dict[str, Admin] = {}
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict) or set(item) != _ADMIN_KEYS:
            raise _fail(item_path, f"must have exactly the keys {', '.join(sorted(_ADMIN_KEYS))}")
        keyid, public_key = key_entry(item, item_path, keys, errors.TRUST_ROOT_INVALID)
        owner = item["owner"]
        if not isinstance(owner, str) or not owner or len(owner) > 255 or any(ord(char) < 32 for char in owner):
            raise _fail(f"{item_path}.owner", f"must name the controller that holds the key, got {owner!r}")
        keys[keyid] = Admin(keyid, owner, public_key)
    return keys


def people_who_signed(kind: str, document: SignedDocument, admins: dict[str, Admin]) -> set[str]:
    """Distinct people (owner identities) among ``admins`` whose signature over ``document`` verifies."""
    keys = {keyid: admin.public_key for keyid, admin in admins.items()}
    return {identity_key(admins[keyid].owner) for keyid in valid_signers(kind, document, keys)}


def parse_root(document: SignedDocument, path: str, check_signatures: bool = True) -> TrustRoot:
    """Check the root's fields and (unless ``check_signatures`` is false: a root being written) that its own threshold signed it."""
    signed = document.signed
    where = "trust root"
    if signed.get("_type") != ROOT_TYPE:
        raise _fail(f"{where}._type", f"must be {ROOT_TYPE!r}, got {signed.get('_type')!r}")
    unknown = sorted(set(signed) - _ROOT_KEYS - _OPTIONAL_ROOT_KEYS)
    missing = sorted(_ROOT_KEYS - set(signed))
    if unknown or missing:
        raise _fail(where, f"unknown keys {unknown}, missing keys {missing}")
    version = signed["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _fail(f"{where}.version", f"must be an integer >= 1, got {version!r}")
    admins = _admins(signed["admins"], f"{where}.admins")
    people = {identity_key(admin.owner) for admin in admins.values()}
    threshold = signed["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= len(people):
        raise _fail(f"{where}.threshold", f"must be an integer from 1 to the {len(people)} distinct administrators, got {threshold!r}")
    ledger_dir = signed["ledger_dir"]
    if not isinstance(ledger_dir, str) or not os.path.isabs(ledger_dir) or "\x00" in ledger_dir:
        raise _fail(f"{where}.ledger_dir", f"must be an absolute folder path, got {ledger_dir!r}")
    limit = signed["max_document_bytes"]
    if isinstance(limit, bool) or not isinstance(limit, int) or not MIN_DOCUMENT_BYTES <= limit <= MAX_DOCUMENT_BYTES:
        raise _fail(f"{where}.max_document_bytes", f"must be an integer from {MIN_DOCUMENT_BYTES} to {MAX_DOCUMENT_BYTES}, got {limit!r}")
    signers = people_who_signed(ROOT_KIND, document, admins) if check_signatures else set()
    if check_signatures and len(signers) < threshold:
        raise errors.ApprovalError(
            errors.TRUST_ROOT_INVALID,
            f"trust root {path} version {version} carries valid signatures of {len(signers)} of its administrators, its threshold is {threshold}",
        )
    state_store = _state_store(signed["state_store"], f"{where}.state_store") if "state_store" in signed else {"backend": "sqlite"}
    archive_keys = _archive_keys(signed["archive_keys"], f"{where}.archive_keys") if "archive_keys" in signed else {}
    return TrustRoot(version, admins, threshold, os.path.normpath(ledger_dir), limit, document.sha256, path, state_store, archive_keys)


def trust_root_path(explicit: str | None = None) -> str:
    """``explicit`` (the admin CLI's --trust-root), else the pinned file, else ``$OPSGATE_TRUST_ROOT``.

    A controller with /etc/opsgate/trust.json ignores the environment variable: there, no
    other root-owned root (a demo's, an old one) can be chosen by whoever starts the run.
    """
    if explicit:
        return explicit
    if os.path.lexists(DEFAULT_TRUST_ROOT):
        return DEFAULT_TRUST_ROOT
    return os.environ.get(TRUST_ROOT_ENV) or DEFAULT_TRUST_ROOT


def load_trust_root(explicit: str | None = None) -> TrustRoot:
    """Read and check the pinned root; refuse a file anyone but root could have written."""
    path = os.path.abspath(trust_root_path(explicit))
    if not os.path.lexists(path):
        raise errors.ApprovalError(
            errors.TRUST_ROOT_MISSING,
            f"no trust root at {path}: the security team installs it (bin/opsgate-approval root-install, docs/approvals.md 'Trust root')",
        )
    check_file(path, "the trust root", errors.TRUST_ROOT_UNSAFE, owners=(0,))
    with open(path, "rb") as handle:
        data = handle.read(MAX_DOCUMENT_BYTES + 1)
    document = parse_document(data, f"trust root {path}", errors.TRUST_ROOT_INVALID, max_bytes=MAX_DOCUMENT_BYTES)
    return parse_root(document, path)


def verify_rotation(current: TrustRoot, document: SignedDocument, path: str) -> TrustRoot:
    """Accept root version N+1 only if the thresholds of version N and of N+1 both signed it."""
    new = parse_root(document, path)
    if new.version != current.version + 1:
        raise errors.ApprovalError(
            errors.TRUST_ROOT_ROTATION,
            f"the new root has version {new.version}; the pinned root has {current.version}, so the next must be {current.version + 1}",
        )
    old_signers = people_who_signed(ROOT_KIND, document, current.admins)
    if len(old_signers) < current.threshold:
        raise errors.ApprovalError(
            errors.TRUST_ROOT_ROTATION,
            f"root version {new.version} is signed by {len(old_signers)} administrators of version {current.version}, whose threshold is {current.threshold}",
        )
    return new
