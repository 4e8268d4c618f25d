# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fleet of SSH-reachable podman hosts for benchmarks.

The podman connection runs several `podman exec` per task and hides the differences a
benchmark is meant to show, so benchmark hosts run systemd + sshd and are reached over
SSH with pipelining and ControlPersist, as production hosts are.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "localhost/opsgate-debian12:latest"


def _podman(*args: str, check: bool = True) -> str:
    env = dict(os.environ, CONTAINERS_CONF=str(ROOT / "tests/env/containers.conf"))
    done = subprocess.run(["podman", *args], check=check, capture_output=True, text=True, env=env)
    return done.stdout


def _keypair(workdir: Path) -> Path:
    key = workdir / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def start(prefix: str, count: int, workdir: Path) -> dict[str, str]:
    """Start `count` hosts, authorise a fresh key, wait for sshd; return name -> address."""
    workdir.mkdir(parents=True, exist_ok=True)
    key = _keypair(workdir)
    pub = key.with_suffix(".pub").read_text()
    names = [f"{prefix}-{i:02d}" for i in range(1, count + 1)]
    for name in names:
        _podman("rm", "-f", "-t", "0", name, check=False)
        _podman("run", "-d", "--name", name, "--hostname", name, "--systemd=always", "--label", "opsgate-bench=1", IMAGE, "/sbin/init")
    addresses: dict[str, str] = {}
    for name in names:
        authorize = f"mkdir -p /root/.ssh && printf '%s' '{pub.strip()}' > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys"
        _podman("exec", name, "sh", "-c", authorize)
        info = json.loads(_podman("inspect", name))[0]
        addresses[name] = info["NetworkSettings"]["IPAddress"]
    deadline = time.monotonic() + 120
    for name in names:
        while (
            subprocess.run(
                [
                    "ssh",
                    "-q",
                    "-i",
                    str(key),
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "StrictHostKeyChecking=no",
                    "-o",
                    "UserKnownHostsFile=/dev/null",
                    "-o",
                    "ConnectTimeout=2",
                    f"root@{addresses[name]}",
                    "true",
                ],
                check=False,
            ).returncode
            != 0
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: sshd did not answer within 120 s")
            time.sleep(0.5)
    return addresses


def write_inventory(addresses: dict[str, str], workdir: Path, group_vars: dict | None = None) -> Path:
    """An inventory of the fleet for SSH with the bench key."""
    hosts = {name: {"ansible_host": addr} for name, addr in addresses.items()}
    inventory = {
        "all": {
            "hosts": hosts,
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(workdir / "id_ed25519"),
                "ansible_python_interpreter": "/usr/bin/python3",
                **(group_vars or {}),
            },
        }
    }
    path = workdir / "inventory.json"
    path.write_text(json.dumps(inventory, indent=2))
    return path


def stop(prefix: str) -> None:
    names = _podman("ps", "-a", "--filter", f"name=^{prefix}-", "--format", "{{.Names}}", check=False).split()
    if names:
        _podman("rm", "-f", "-t", "0", *names, check=False)


@contextmanager
def fleet(prefix: str, count: int, workdir: Path) -> Iterator[dict[str, str]]:
    try:
        yield start(prefix, count, workdir)
    finally:
        stop(prefix)
