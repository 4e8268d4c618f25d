# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Restart the application: a systemd unit, or a plain start/stop command for hosts without systemd.

Command mode needs neither systemd nor root: the start command runs detached in its own
session from ``<base>/current``, its pid goes to ``<base>/run/<name>.pid`` and its output
to ``<base>/run/<name>.log``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from ..approval.atomic_file import write_atomic

UNIT_DIR = "/etc/systemd/system"


class ServiceError(Exception):
    pass


@dataclass(frozen=True)
class ServiceDefinition:
    type: str
    name: str
    unit: str = ""
    start: str = ""
    stop: str = ""
    stop_timeout: int = 10

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceDefinition:
        kind = data.get("type", "systemd")
        if kind not in ("systemd", "command", "none"):
            raise ServiceError(f"service.type must be systemd, command or none, got {kind!r}")
        name = data.get("name") or ""
        if kind != "none" and not name:
            raise ServiceError("service.name is required")
        if kind == "command" and not data.get("start"):
            raise ServiceError("service.start is required when service.type is command")
        return cls(kind, name, data.get("unit") or "", data.get("start") or "", data.get("stop") or "", int(data.get("stop_timeout") or 10))

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "unit": self.unit, "start": self.start, "stop": self.stop, "stop_timeout": self.stop_timeout}


def unit_path(service: ServiceDefinition) -> str:
    return os.path.join(UNIT_DIR, f"{service.name}.service")


def unit_differs(service: ServiceDefinition) -> bool:
    if service.type != "systemd" or not service.unit:
        return False
    try:
        with open(unit_path(service), encoding="utf-8") as handle:
            return handle.read() != service.unit
    except FileNotFoundError:
        return True


SYSTEMCTL_TIMEOUT = 120


def _systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    # Pure functions without an AnsibleModule (tested directly), hence subprocess rather than run_command.
    # A bounded wait: a restart queued behind a boot that never finishes must fail, not hang the run.
    try:
        return subprocess.run(  # pylint: disable=ansible-bad-function
            ["systemctl", *args], capture_output=True, text=True, check=False, timeout=SYSTEMCTL_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise ServiceError(
            f"systemctl {' '.join(args)} did not finish within {SYSTEMCTL_TIMEOUT} s (is systemd still starting? see systemctl list-jobs)"
        ) from None


def install_unit(service: ServiceDefinition) -> bool:
    """Write the unit file when it differs and reload systemd; True if written."""
    if not unit_differs(service):
        return False
    write_atomic(unit_path(service), service.unit, 0o644)
    result = _systemctl("daemon-reload")
    if result.returncode != 0:
        raise ServiceError(f"systemctl daemon-reload failed: {result.stderr.strip()}")
    return True


def _pidfile(run_dir: str, service: ServiceDefinition) -> str:
    return os.path.join(run_dir, f"{service.name}.pid")


def running_pid(run_dir: str, service: ServiceDefinition) -> int | None:
    try:
        with open(_pidfile(run_dir, service), encoding="ascii") as handle:
            pid = int(handle.read().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def is_active(service: ServiceDefinition, run_dir: str) -> bool:
    if service.type == "systemd":
        return _systemctl("is-active", "--quiet", f"{service.name}.service").returncode == 0
    if service.type == "command":
        return running_pid(run_dir, service) is not None
    return True


def _stop_command_mode(service: ServiceDefinition, run_dir: str, cwd: str) -> None:
    if service.stop:
        subprocess.run(  # pylint: disable=ansible-bad-function
            service.stop, shell=True, cwd=cwd if os.path.isdir(cwd) else run_dir, capture_output=True, check=False, timeout=service.stop_timeout + 5
        )
    pid = running_pid(run_dir, service)
    if pid is None:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + service.stop_timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    # Reap it if it happens to be our child (it is not, normally: the start detached it).
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _start_command_mode(service: ServiceDefinition, run_dir: str, cwd: str) -> None:
    os.makedirs(run_dir, exist_ok=True)
    log = open(os.path.join(run_dir, f"{service.name}.log"), "ab")  # noqa: SIM115 - handed to the child
    try:
        # Detached on purpose: run_command would wait for the service to exit.
        process = subprocess.Popen(  # pylint: disable=ansible-bad-function
            ["/bin/sh", "-c", f"exec {service.start}"],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        log.close()
    with open(_pidfile(run_dir, service), "w", encoding="ascii") as handle:
        handle.write(f"{process.pid}\n")
    time.sleep(0.2)
    if process.poll() is not None:
        raise ServiceError(f"start command of {service.name} exited at once with status {process.returncode}; see {run_dir}/{service.name}.log")


def restart(service: ServiceDefinition, run_dir: str, cwd: str) -> None:
    """Restart the service so that it runs the release ``current`` points at."""
    if service.type == "none":
        return
    if service.type == "systemd":
        install_unit(service)
        result = _systemctl("restart", f"{service.name}.service")
        if result.returncode != 0:
            raise ServiceError(f"systemctl restart {service.name} failed: {result.stderr.strip()}")
        return
    _stop_command_mode(service, run_dir, cwd)
    _start_command_mode(service, run_dir, cwd)
