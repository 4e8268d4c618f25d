# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nginx open source has no runtime API: the pool is an include file of ``server`` lines that this code
owns, written atomically, checked with ``nginx -t`` (the previous file comes back when it fails) and
applied with a graceful reload, after which the old workers finish their connections and exit.

Each line maps back to its inventory name: ``server 10.0.0.11:8080 weight=3 down; # opsgate: web1``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
import time
from typing import Any

from ansible_collections.opsgate.release.plugins.module_utils.lb.pool import PoolError, check_request, select

MAX_WEIGHT = 1000000
RELOAD_TIMEOUT = 30.0
HEADER = "# Managed by opsgate.release (nginx_pool): the servers of one upstream; edits are overwritten.\n"
_LINE = re.compile(r"^\s*server\s+(?P<address>[^\s;]+)(?P<params>[^;#]*);\s*#\s*opsgate:\s*(?P<name>\S+)\s*$")


def parse(text: str, label: str) -> dict[str, dict[str, Any]]:
    """``{name: {"address", "weight", "down", "extra"}}`` in file order; a line it does not own fails."""
    servers: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise PoolError(f"{label}: line {number} is not a server line of opsgate: {line.strip()}")
        name = match.group("name")
        if name in servers:
            raise PoolError(f"{label}: line {number}: {name} appears twice")
        weight, down, extra = 1, False, []
        for param in match.group("params").split():
            if param == "down":
                down = True
            elif param.startswith("weight="):
                try:
                    weight = int(param[len("weight=") :])
                except ValueError:
                    raise PoolError(f"{label}: line {number}: bad {param}") from None
            else:
                extra.append(param)
        servers[name] = {"address": match.group("address"), "weight": weight, "down": down, "extra": extra}
    return servers


def render(servers: dict[str, dict[str, Any]]) -> str:
    lines = [HEADER]
    for name, server in servers.items():
        params = [f"weight={server['weight']}", *server["extra"]]
        if server["down"]:
            params.append("down")
        lines.append(f"server {server['address']} {' '.join(params)}; # opsgate: {name}\n")
    return "".join(lines)


def records(servers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The common shape: nginx has no drain state and no session count; ``no check`` is haproxy's word for
    a server in rotation without active health checks (nginx open source has none)."""
    return {
        name: {
            "admin": "maint" if server["down"] else "ready",
            "weight": server["weight"],
            "sessions": None,
            "status": "MAINT" if server["down"] else "no check",
        }
        for name, server in servers.items()
    }


def write_atomic(path: str, text: str) -> None:
    """A temporary file in the same directory, flushed, then renamed over ``path`` (mode 0644)."""
    directory = os.path.dirname(path) or "."
    fd, temporary = tempfile.mkstemp(prefix=".opsgate-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def run(command: str, timeout: float = 60) -> tuple[int, str]:
    """Run a command (no shell); exit code and its stderr+stdout. A missing program is exit 127."""
    try:
        proc = subprocess.run(  # pylint: disable=ansible-bad-function
            shlex.split(command),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except OSError as exc:
        return 127, str(exc)
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout}s"
    return proc.returncode, (proc.stderr + proc.stdout).strip()


def master_pid(pid_file: str) -> int:
    """nginx's master pid from ``pid_file``; PoolError naming nginx when it is not running."""
    try:
        with open(pid_file) as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError) as exc:
        raise PoolError(f"nginx (pid file {pid_file}) is not running: {exc}") from None
    return pid


def workers(master: int) -> dict[int, bool]:
    """The master's worker processes: ``{pid: shutting_down}``, read from /proc."""
    found: dict[int, bool] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        # The command name in stat may contain spaces: the ppid is the second field after the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) != master or "nginx: worker process" not in cmdline:
            continue
        found[int(entry)] = "is shutting down" in cmdline
    return found


def apply(
    upstream_file: str,
    hosts: list[str],
    state: str,
    servers: dict[str, str] | None = None,
    weights: dict[str, Any] | None = None,
    drain_timeout: float = 60,
    reload_command: str = "nginx -s reload",
    test_command: str = "nginx -t",
    pid_file: str = "/run/nginx.pid",
    check_mode: bool = False,
    poll_interval: float = 0.2,
) -> dict[str, Any]:
    """Bring ``hosts`` to ``state`` in the include file and reload nginx gracefully; returns changed, before, servers.

    ``servers`` ({name: "address:port"}) is the whole pool: the file is made to hold exactly those names
    (new ones in rotation at weight 1, changed addresses updated, others removed); required when the file
    does not exist. drained and disabled mark the hosts ``down``; drained then waits until the workers that
    ran before the reload have exited (their connections finished) or ``drain_timeout`` passes.
    """
    label = f"nginx upstream file {upstream_file}"
    previous: str | None
    try:
        with open(upstream_file) as handle:
            previous = handle.read()
    except FileNotFoundError:
        previous = None
    except OSError as exc:
        raise PoolError(f"{label}: {exc}") from None
    current = parse(previous, label) if previous is not None else {}
    if previous is None and not servers:
        raise PoolError(f"{label}: does not exist; servers (the whole pool, name: address) is needed to create it")
    wanted_pool = dict(current)
    if servers:
        wanted_pool = {}
        for name, address in servers.items():
            if not re.match(r"^[^\s;#{}]+$", str(address)):
                raise PoolError(f"{label}: bad address for {name}: {address!r}")
            record = dict(current.get(name) or {"weight": 1, "down": False, "extra": []})
            record["address"] = str(address)
            wanted_pool[name] = record
    wanted_weights = check_request(label, list(wanted_pool), hosts, state, weights, 1, MAX_WEIGHT)
    before = records(current)
    target = {name: dict(record) for name, record in wanted_pool.items()}
    for name in hosts:
        if state in ("drained", "disabled"):
            target[name]["down"] = True
        elif state == "enabled":
            target[name]["down"] = False
        elif state == "weights":
            target[name]["weight"] = wanted_weights[name]
    text = render(target)
    changed = previous is None or target != current
    after = records(target)
    result: dict[str, Any] = {
        "changed": changed,
        "before": before,
        "servers": select(after, []),
        "changed_hosts": [name for name in target if before.get(name) != after[name]],
        "reloaded": False,
    }
    if check_mode or (not changed and state != "drained"):
        return result
    master = master_pid(pid_file)
    old_workers = set(workers(master))
    if changed:
        try:
            write_atomic(upstream_file, text)
        except OSError as exc:
            raise PoolError(f"{label}: {exc}", {"before": before}) from None

        def restore(why: str) -> PoolError:
            try:
                if previous is None:
                    os.unlink(upstream_file)
                else:
                    write_atomic(upstream_file, previous)
            except OSError as exc:
                why += f"; restoring the previous file failed too: {exc}"
            return PoolError(why, {"before": before, "servers": before})

        code, output = run(test_command)
        if code != 0:
            raise restore(f"{label}: {test_command} failed (previous file restored): {output}")
        code, output = run(reload_command)
        if code != 0:
            raise restore(f"{label}: nginx reload ({reload_command}) failed (previous file restored): {output}")
        result["reloaded"] = True
        try:
            with open(upstream_file) as handle:
                written = records(parse(handle.read(), label))
        except OSError as exc:
            raise PoolError(f"{label}: reading it back: {exc}", result) from None
        if written != after:
            differ = ", ".join(name for name in after if written.get(name) != after[name])
            raise PoolError(f"{label}: read back differs for {differ or 'the pool'}", dict(result, servers=written))
        # The reload is asynchronous: nginx took the new file once a new generation of workers runs and every
        # old worker is gone or shutting down (it no longer accepts connections).
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while True:
            now = workers(master)
            if set(now) - old_workers and all(now[pid] for pid in old_workers if pid in now):
                break
            if time.monotonic() > deadline:
                raise PoolError(f"{label}: nginx (master pid {master}) did not replace its workers {RELOAD_TIMEOUT}s after the reload", result)
            time.sleep(0.02)
    if state == "drained":
        # Without a reload now, only workers an earlier reload left shutting down are still draining.
        if not changed:
            old_workers = set()
        deadline = time.monotonic() + drain_timeout
        while True:
            current_workers = workers(master)
            busy = sorted(pid for pid, shutting_down in current_workers.items() if shutting_down or pid in old_workers)
            if not busy or time.monotonic() >= deadline:
                break
            time.sleep(poll_interval)
        result["drain_timed_out"] = list(hosts) if busy else []
        result["draining_workers"] = busy
    return result
