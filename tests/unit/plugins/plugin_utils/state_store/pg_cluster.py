# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A private PostgreSQL cluster for the tests: Debian's server binaries, its own data directory, a loopback port.

Nothing is mocked: initdb, then postgres on 127.0.0.1 with password authentication (scram) for a
role made for the test. As root (CI), the server runs as the ``postgres`` account the Debian package
creates (initdb refuses root), in a directory that account owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "opsgate-test-Secret-42"
ROLE = "opsgate"
SUPERUSER_PASSWORD = "postgres-" + PASSWORD


def server_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    directory: str
    port: int
    bin_dir: str
    run_as: str | None

    def _command(self, *argv: str) -> list[str]:
        if self.run_as:
            return ["runuser", "-u", self.run_as, "--", *argv]
        return list(argv)

    def psql(self, sql: str, dbname: str = "opsgate") -> str:
        result = subprocess.run(
            self._command(
                os.path.join(self.bin_dir, "psql"), "-X", "-q", "-t", "-A", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", dbname, "-c", sql
            ),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            cwd="/",
            env={**os.environ, "PGPASSWORD": SUPERUSER_PASSWORD},
        )
        return result.stdout.strip()

    def pinned(self, dbname: str = "opsgate") -> dict:
        """What a trust root's state_store says for this cluster."""
        return {"backend": "postgresql", "host": "127.0.0.1", "port": self.port, "dbname": dbname, "user": ROLE, "sslmode": "disable"}

    def new_database(self, name: str) -> dict:
        self.psql(f"CREATE DATABASE {name} OWNER {ROLE}", dbname="postgres")
        return self.pinned(name)

    def stop(self) -> None:
        subprocess.run(
            self._command(os.path.join(self.bin_dir, "pg_ctl"), "-D", f"{self.directory}/data", "-m", "immediate", "stop"),
            capture_output=True,
            check=False,
            cwd="/",
        )

    def start(self) -> None:
        subprocess.run(
            self._command(
                os.path.join(self.bin_dir, "pg_ctl"), "-D", f"{self.directory}/data", "-l", f"{self.directory}/server.log", "-w", "-t", "60", "start"
            ),
            capture_output=True,
            check=True,
            cwd="/",
        )


def start_cluster() -> Cluster:
    bin_dir = server_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql (make test-env installs Debian's postgresql)")
    run_as = None
    base = tempfile.mkdtemp(prefix="opsgate-pg-")
    if os.geteuid() == 0:
        run_as = "postgres"
        account = pwd.getpwnam(run_as)
        os.chmod(base, 0o700)
        os.chown(base, account.pw_uid, account.pw_gid)
    cluster = Cluster(base, _free_port(), bin_dir, run_as)
    password_file = Path(base, "pw")
    password_file.write_text(SUPERUSER_PASSWORD + "\n", encoding="utf-8")
    if run_as:
        os.chown(password_file, pwd.getpwnam(run_as).pw_uid, -1)
    subprocess.run(
        cluster._command(
            os.path.join(bin_dir, "initdb"),
            "-D",
            f"{base}/data",
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={password_file}",
            "-E",
            "UTF8",
            "--no-sync",
        ),
        capture_output=True,
        check=True,
        cwd="/",
    )
    with open(f"{base}/data/postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write(f"listen_addresses = '127.0.0.1'\nport = {cluster.port}\nunix_socket_directories = '{base}'\nfsync = off\nmax_connections = 60\n")
    cluster.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            cluster.psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'", dbname="postgres")
            break
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    cluster.psql(f"CREATE DATABASE opsgate OWNER {ROLE}", dbname="postgres")
    return cluster


def remove_cluster(cluster: Cluster) -> None:
    cluster.stop()
    shutil.rmtree(cluster.directory, ignore_errors=True)
