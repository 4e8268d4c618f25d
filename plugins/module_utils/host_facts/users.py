# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Local accounts from /etc/passwd and /etc/group.

Only the files are read, never NSS: an LDAP/SSSD lookup can hang on a network timeout,
and an account the deployment relies on should be local anyway.
"""

from __future__ import annotations

from typing import Any

from .sysfs import FactReader


def validate_user_names(names: list[str]) -> None:
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name or any(c in name for c in ":\n/"):
            raise ValueError(f"users[{index}]: {name!r} is not a user name")


def parse_passwd(text: str) -> dict[str, dict[str, Any]]:
    accounts: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 7 or line.startswith(("#", "+", "-")) or not fields[2].isdigit() or not fields[3].isdigit():
            continue
        accounts.setdefault(fields[0], {"uid": int(fields[2]), "gid": int(fields[3]), "home": fields[5], "shell": fields[6]})
    return accounts


def parse_group(text: str) -> tuple[dict[int, str], dict[str, list[str]]]:
    """(gid -> group name, user -> supplementary group names)."""
    names: dict[int, str] = {}
    members: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 4 or line.startswith(("#", "+", "-")) or not fields[2].isdigit():
            continue
        names.setdefault(int(fields[2]), fields[0])
        for member in filter(None, fields[3].split(",")):
            members.setdefault(member.strip(), []).append(fields[0])
    return names, members


def collect_users(reader: FactReader, names: list[str]) -> dict[str, Any]:
    if not names:
        return {}
    accounts = parse_passwd(reader.read_text("/etc/passwd") or "")
    group_names, memberships = parse_group(reader.read_text("/etc/group") or "")
    users: dict[str, Any] = {}
    for name in names:
        account = accounts.get(name)
        if account is None:
            users[name] = {"exists": False, "uid": None, "gid": None, "home": None, "shell": None, "groups": []}
            continue
        primary = group_names.get(account["gid"])
        supplementary = sorted(set(memberships.get(name, [])) - {primary})
        users[name] = {"exists": True, **account, "groups": ([primary] if primary else []) + supplementary}
    return users
