# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pin the trust root and the host's own identity on a managed host (the trust bootstrap).

The first root on a host is trusted because the security team installs it (with root on the host,
in a playbook of its own); every later root only by rotation, signed by the thresholds of the
installed version and of the new one (trust_root.verify_rotation), so whoever runs deploys cannot
install a root of their own even with this module. Every install, the first included, needs the
security team's approval: a host grant (host_grant.py) signed by the threshold of the root being
pinned, naming this root, this host and its address.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from . import errors
from .atomic_file import write_atomic
from .host_check import HOST_IDENTITY_TYPE, host_trust_paths
from .host_grant import check_address, check_grant_covers, parse_grant
from .identity import check_host_name
from .signed_document import parse_document
from .trust_root import MAX_DOCUMENT_BYTES, TrustRoot, load_trust_root, parse_root, verify_rotation


def _write_root_owned(path: str, data: bytes) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    os.chown(directory, 0, 0)
    os.chmod(directory, 0o755)
    write_atomic(path, data, 0o644, owner=(0, 0))


def identity_bytes(name: str, address: str) -> bytes:
    return (json.dumps({"_type": HOST_IDENTITY_TYPE, "name": name, "address": address}, sort_keys=True, indent=2) + "\n").encode("utf-8")


def install(
    root_text: str,
    grant_text: str,
    name: str,
    address: str,
    check_mode: bool,
    now: datetime,
    root_path: str | None = None,
    identity_path: str | None = None,
    grant_path: str | None = None,
) -> dict[str, Any]:
    """Install or rotate the root and write the identity, as the security team's grant says; returns what changed."""
    paths = host_trust_paths()
    root_path, identity_path, grant_path = root_path or paths.root, identity_path or paths.identity, grant_path or paths.grant
    check_host_name(name, "name", errors.HOST_IDENTITY_INVALID)
    check_address(address, "address", errors.HOST_IDENTITY_INVALID)
    data = root_text.encode("utf-8")
    if not data.endswith(b"\n"):
        data += b"\n"
    document = parse_document(data, "the trust root to install", errors.TRUST_ROOT_INVALID, max_bytes=MAX_DOCUMENT_BYTES)
    current: TrustRoot | None = load_trust_root(root_path) if os.path.lexists(root_path) else None
    if current is None:
        new = parse_root(document, root_path)
        root_changed = True
    elif current.sha256 == document.sha256:
        new, root_changed = current, False
    else:
        new = verify_rotation(current, document, root_path)
        root_changed = True
    grant_data = grant_text.encode("utf-8")
    if not grant_data.endswith(b"\n"):
        grant_data += b"\n"
    grant = parse_grant(parse_document(grant_data, "the host grant", errors.HOST_GRANT_INVALID), new, now)
    check_grant_covers(grant, document.sha256, name, address)
    identity = identity_bytes(name, address)
    try:
        with open(identity_path, "rb") as handle:
            identity_changed = handle.read() != identity
    except FileNotFoundError:
        identity_changed = True
    try:
        with open(grant_path, "rb") as handle:
            grant_changed = handle.read() != grant_data
    except FileNotFoundError:
        grant_changed = True
    if not check_mode:
        if root_changed:
            _write_root_owned(root_path, data)
        if identity_changed:
            _write_root_owned(identity_path, identity)
        if grant_changed:
            # The approval the pin was made under stays on the host for whoever audits it.
            _write_root_owned(grant_path, grant_data)
    return {
        "changed": root_changed or identity_changed or grant_changed,
        "root_version": new.version,
        "root_sha256": document.sha256,
        "previous_root_version": current.version if current else None,
        "host": name,
        "address": address,
        "root_path": root_path,
        "grant_id": grant.grant_id,
        "grant_sha256": grant.sha256,
        "grant_signed_by": sorted(grant.signers),
    }
