# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""haproxy's runtime API (the stats socket at level admin): read a backend's servers, drain,
disable, enable and weigh a whole batch of them in one go, waiting for all of them together.

One command per connection (haproxy's non-interactive mode): the socket closes after the answer.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.lb.pool import PoolError, check_request, select

MAX_WEIGHT = 256

# srv_admin_state bits (haproxy include/haproxy/server-t.h)
_MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40  # FMAINT IMAINT CMAINT RMAINT HMAINT
_DRAIN_BITS = 0x08 | 0x10  # FDRAIN IDRAIN


class HaproxyRuntime:
    """A client of one runtime API socket: a unix socket path or ``host:port``."""

    def __init__(self, address: str, timeout: float = 10.0) -> None:
        self.address = address
        self.timeout = timeout
        self.label = f"haproxy at {address}"

    def _connect(self) -> socket.socket:
        if "/" in self.address or ":" not in self.address:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: Any = self.address
        else:
            host, port = self.address.rsplit(":", 1)
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            target = (host.strip("[]"), int(port))
        sock.settimeout(self.timeout)
        try:
            sock.connect(target)
        except BaseException:
            sock.close()
            raise
        return sock

    def command(self, line: str) -> str:
        """Send one command, return haproxy's whole answer; socket failures raise PoolError naming haproxy."""
        try:
            sock = self._connect()
            try:
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
            finally:
                sock.close()
        except (OSError, ValueError) as exc:
            raise PoolError(f"{self.label}: {exc}") from None
        return b"".join(chunks).decode("utf-8", "replace")

    def _action(self, line: str) -> None:
        """A command that answers nothing on success; any text back is haproxy's error."""
        answer = self.command(line).strip()
        if answer:
            raise PoolError(f"{self.label}: {line}: {answer}")

    def servers(self, backend: str) -> dict[str, dict[str, Any]]:
        """Every server of ``backend``: admin state and user weight from ``show servers state``,
        sessions and status from ``show stat``, in the backend's order."""
        answer = self.command(f"show servers state {backend}")
        lines = [line for line in answer.splitlines() if line.strip()]
        header = next((line[2:].split() for line in lines if line.startswith("# ")), None)
        if header is None or "srv_name" not in header:
            raise PoolError("{}: show servers state {}: {}".format(self.label, backend, answer.strip() or "no answer"))
        servers: dict[str, dict[str, Any]] = {}
        for line in lines[1:]:
            if line.startswith("#"):
                continue
            fields = dict(zip(header, line.split()))  # noqa: B905 - strict= needs Python 3.10, hosts may run 3.9
            if fields.get("be_name") != backend:
                continue
            admin_bits = int(fields["srv_admin_state"])
            admin = "maint" if admin_bits & _MAINT_BITS else "drain" if admin_bits & _DRAIN_BITS else "ready"
            servers[fields["srv_name"]] = {"admin": admin, "weight": int(fields["srv_uweight"]), "sessions": None, "status": "UNKNOWN"}
        stat = self.command(f"show stat {backend} 4 -1")
        stat_lines = stat.splitlines()
        if not stat_lines or not stat_lines[0].startswith("# "):
            raise PoolError("{}: show stat {}: {}".format(self.label, backend, stat.strip() or "no answer"))
        columns = stat_lines[0][2:].split(",")
        for line in stat_lines[1:]:
            if not line.strip():
                continue
            row = dict(zip(columns, line.split(",")))  # noqa: B905 - Python 3.9 hosts
            record = servers.get(row.get("svname", ""))
            if row.get("pxname") != backend or record is None:
                continue
            record["sessions"] = int(row["scur"]) if row.get("scur", "").isdigit() else None
            record["status"] = row.get("status", "UNKNOWN")
        return servers

    def set_state(self, backend: str, server: str, admin: str) -> None:
        self._action(f"set server {backend}/{server} state {admin}")

    def set_weight(self, backend: str, server: str, weight: int) -> None:
        self._action(f"set weight {backend}/{server} {int(weight)}")

    def get_weight(self, backend: str, server: str) -> int:
        answer = self.command(f"get weight {backend}/{server}").strip()
        try:
            return int(answer.split()[0])
        except (IndexError, ValueError):
            raise PoolError("{}: get weight {}/{}: {}".format(self.label, backend, server, answer or "no answer")) from None


def is_up(record: dict[str, Any]) -> bool:
    """In rotation per health checks: ``UP`` or ``no check``. Not ``UP 1/2``: after maintenance haproxy shows a
    server so until its first check passes (and while checks fail, before it goes DOWN)."""
    return record.get("admin") == "ready" and record.get("status") in ("UP", "no check")


def _wait(
    runtime: HaproxyRuntime,
    backend: str,
    hosts: list[str],
    done: Callable[[dict[str, Any]], bool],
    timeout: float,
    poll_interval: float,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Poll the backend until ``done`` holds for every host or ``timeout`` passes; returns the last read and the hosts not done."""
    deadline = time.monotonic() + timeout
    while True:
        servers = runtime.servers(backend)
        pending = [name for name in hosts if not done(servers[name])]
        if not pending or time.monotonic() >= deadline:
            return servers, pending
        time.sleep(max(0.05, min(poll_interval, deadline - time.monotonic())))


def apply(
    runtime: HaproxyRuntime,
    backend: str,
    hosts: list[str],
    state: str,
    weights: dict[str, Any] | None = None,
    drain_timeout: float = 60,
    wait_timeout: float = 60,
    wait: bool = True,
    poll_interval: float = 0.25,
    check_mode: bool = False,
) -> dict[str, Any]:
    """Bring ``hosts`` of ``backend`` to ``state`` in one call; returns changed, before, servers (whole backend).

    drained: drain (no new connections), wait until every host's sessions are 0 or drain_timeout
    passes, then maint (out of rotation, health checks stop); hosts still busy are listed in
    ``drain_timed_out``. disabled: maint at once. enabled: ready, then wait for UP (unless wait is false).
    weights: set weight, read it back, fail when it differs. read: nothing.
    """
    label = f"{runtime.label} backend {backend}"
    before = runtime.servers(backend)
    if not before:
        raise PoolError(f"{label}: no servers")
    wanted = check_request(label, list(before), hosts, state, weights, 0, MAX_WEIGHT)
    after = select(before, [])
    actions: list[tuple[str, str, Any]] = []
    if state == "drained":
        actions = [(name, "state", "drain") for name in hosts if before[name]["admin"] == "ready"]
    elif state == "disabled":
        actions = [(name, "state", "maint") for name in hosts if before[name]["admin"] != "maint"]
    elif state == "enabled":
        actions = [(name, "state", "ready") for name in hosts if before[name]["admin"] != "ready"]
    elif state == "weights":
        actions = [(name, "weight", wanted[name]) for name in hosts if before[name]["weight"] != wanted[name]]
    # Drained ends in maint; a host already in drain only needs the wait and the maint.
    changed_hosts = [name for name in hosts if before[name]["admin"] != "maint"] if state == "drained" else [action[0] for action in actions]
    result: dict[str, Any] = {"changed": bool(changed_hosts), "before": select(before, []), "changed_hosts": changed_hosts}
    if check_mode:
        for name, kind, value in actions:
            after[name]["admin" if kind == "state" else "weight"] = value
        if state == "drained":
            for name in hosts:
                after[name]["admin"] = "maint"
        result["servers"] = after
        return result

    def fail(msg: str) -> PoolError:
        with contextlib.suppress(PoolError):
            result["servers"] = runtime.servers(backend)
        return PoolError(msg, result)

    for name, kind, value in actions:
        try:
            if kind == "state":
                runtime.set_state(backend, name, value)
            else:
                runtime.set_weight(backend, name, value)
        except PoolError as exc:
            raise fail(exc.msg) from None
    servers = None
    if state == "drained":
        servers, busy = _wait(runtime, backend, hosts, lambda record: not record["sessions"], drain_timeout, poll_interval)
        result["drain_timed_out"] = busy
        for name in hosts:
            if servers[name]["admin"] != "maint":
                try:
                    runtime.set_state(backend, name, "maint")
                except PoolError as exc:
                    raise fail(exc.msg) from None
        servers = None
    elif state == "enabled" and wait:
        servers, down = _wait(runtime, backend, hosts, is_up, wait_timeout, poll_interval)
        if down:
            result["servers"] = servers
            detail = ", ".join("{} ({})".format(name, servers[name]["status"]) for name in down)
            raise PoolError(f"{label}: not UP after {wait_timeout}s: {detail}", result)
    elif state == "weights":
        read_back = {}
        for name in hosts:
            try:
                read_back[name] = runtime.get_weight(backend, name)
            except PoolError as exc:
                raise fail(exc.msg) from None
        differ = {name: value for name, value in read_back.items() if value != wanted[name]}
        if differ:
            detail = ", ".join(f"{name} is {value}, wanted {wanted[name]}" for name, value in differ.items())
            raise fail(f"{label}: weights read back differ: {detail}")
    result["servers"] = servers if servers is not None else runtime.servers(backend)
    return result
