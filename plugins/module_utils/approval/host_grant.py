# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The security team's approval of a trust bootstrap: which hosts, at which addresses, get which root.

A host grant is a signed document of kind ``host-grant``, signed by the threshold of the trust
root's administrators (the same people who sign the root and the policy). It names the sha256 of
the root to pin, every host with the address it is reached at, and when it expires. The
trust_bootstrap module pins a root and a host identity only when a grant for exactly that root,
name and address verifies against the root being pinned: the identity a host later checks every
change against comes from signatures, not from the inventory of whoever ran the bootstrap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import errors
from .claims import format_timestamp, parse_timestamp
from .identity import check_host_name, shown
from .signed_document import SignedDocument
from .trust_root import TrustRoot, people_who_signed

GRANT_KIND = "host-grant"
GRANT_TYPE = "opsgate.release/host-grant"
MAX_ADDRESS_LENGTH = 255
# A grant authorises one bootstrap campaign, not a standing permission.
MAX_GRANT_DAYS = 31
_GRANT_KEYS = {"_type", "grant_id", "root_sha256", "hosts", "issued", "expires"}


@dataclass(frozen=True)
class HostGrant:
    grant_id: str
    root_sha256: str
    hosts: dict[str, str]
    issued: datetime
    expires: datetime
    sha256: str
    signers: frozenset[str]


def _invalid(path: str, message: str) -> errors.ApprovalError:
    return errors.ApprovalError(errors.HOST_GRANT_INVALID, f"{path} {message}")


def check_address(value: Any, path: str, code: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ADDRESS_LENGTH or not value.isprintable() or value != value.strip():
        raise errors.ApprovalError(
            code, f"{path} must be the address the host is reached at (1 to {MAX_ADDRESS_LENGTH} printable characters), got {shown(value)}"
        )
    return value


def grant_body(grant_id: str, root_sha256: str, hosts: Mapping[str, str], issued: datetime, expires: datetime) -> dict[str, Any]:
    """The signed part of a grant (the admin CLI writes it, parse_grant reads it back)."""
    return {
        "_type": GRANT_TYPE,
        "grant_id": grant_id,
        "root_sha256": root_sha256,
        "hosts": dict(sorted(hosts.items())),
        "issued": format_timestamp(issued),
        "expires": format_timestamp(expires),
    }


def check_grant_fields(signed: Mapping[str, Any], where: str = "host grant") -> tuple[str, str, dict[str, str], datetime, datetime]:
    if signed.get("_type") != GRANT_TYPE:
        raise _invalid(f"{where}._type", f"must be {GRANT_TYPE!r}, got {shown(signed.get('_type'))}")
    unknown, missing = sorted(set(signed) - _GRANT_KEYS), sorted(_GRANT_KEYS - set(signed))
    if unknown or missing:
        raise _invalid(where, f"has unknown keys {unknown} and misses keys {missing}")
    grant_id = signed["grant_id"]
    if not isinstance(grant_id, str) or not grant_id or len(grant_id) > 128 or not grant_id.isprintable() or grant_id != grant_id.strip():
        raise _invalid(f"{where}.grant_id", f"must be a printable id of 1 to 128 characters (the security team's change number), got {shown(grant_id)}")
    root_sha256 = signed["root_sha256"]
    if not isinstance(root_sha256, str) or len(root_sha256) != 64 or any(char not in "0123456789abcdef" for char in root_sha256):
        raise _invalid(f"{where}.root_sha256", f"must be 64 lowercase hex characters, got {shown(root_sha256)}")
    hosts = signed["hosts"]
    if not isinstance(hosts, dict) or not hosts:
        raise _invalid(f"{where}.hosts", f"must map each host name to its address, got {shown(hosts)}")
    for name, address in hosts.items():
        check_host_name(name, f"{where}.hosts key", errors.HOST_GRANT_INVALID)
        check_address(address, f"{where}.hosts.{name}", errors.HOST_GRANT_INVALID)
    issued = parse_timestamp(signed["issued"], f"{where}.issued", errors.HOST_GRANT_INVALID)
    expires = parse_timestamp(signed["expires"], f"{where}.expires", errors.HOST_GRANT_INVALID)
    if issued >= expires or (expires - issued).days >= MAX_GRANT_DAYS:
        raise _invalid(f"{where}.expires", f"must be after issued and less than {MAX_GRANT_DAYS} days later, got {signed['issued']} to {signed['expires']}")
    return grant_id, root_sha256, dict(hosts), issued, expires


def parse_grant(document: SignedDocument, root: TrustRoot, now: datetime, leeway_seconds: int = 300) -> HostGrant:
    """A grant whose fields hold, that is valid at ``now`` and signed by the threshold of ``root``'s administrators."""
    grant_id, root_sha256, hosts, issued, expires = check_grant_fields(document.signed)
    if (issued - now).total_seconds() > leeway_seconds:
        raise errors.ApprovalError(
            errors.HOST_GRANT_REFUSED, f"host grant {grant_id} is issued for {format_timestamp(issued)}, later than now ({format_timestamp(now)})"
        )
    if now >= expires:
        raise errors.ApprovalError(errors.HOST_GRANT_REFUSED, f"host grant {grant_id} expired at {format_timestamp(expires)}")
    signers = people_who_signed(GRANT_KIND, document, root.admins)
    if len(signers) < root.threshold:
        raise errors.ApprovalError(
            errors.HOST_GRANT_REFUSED,
            f"host grant {grant_id} carries valid signatures of {len(signers)} administrators of trust root version {root.version}, "
            f"its threshold is {root.threshold}",
        )
    return HostGrant(grant_id, root_sha256, hosts, issued, expires, document.sha256, frozenset(signers))


def check_grant_covers(grant: HostGrant, root_sha256: str, name: str, address: str) -> None:
    """The grant is for this root, names this host and gives it this address."""
    if grant.root_sha256 != root_sha256:
        raise errors.ApprovalError(
            errors.HOST_GRANT_REFUSED, f"host grant {grant.grant_id} is for the trust root with sha256 {grant.root_sha256}, not for {root_sha256}"
        )
    if name not in grant.hosts:
        raise errors.ApprovalError(errors.HOST_GRANT_REFUSED, f"host grant {grant.grant_id} does not name host {shown(name)}")
    if grant.hosts[name] != address:
        raise errors.ApprovalError(
            errors.HOST_GRANT_REFUSED,
            f"host grant {grant.grant_id} gives {shown(name)} the address {shown(grant.hosts[name])}, not {shown(address)}",
        )
