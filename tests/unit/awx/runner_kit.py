# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the ansible-runner tests share: commands that must succeed, an AWX project checkout, the demo's slots behind haproxy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from demo_slots import SLOTS

ROOT = Path(__file__).resolve().parents[3]
PYTHON = sys.executable
APPROVALS = ROOT / "molecule/deploy/approvals.sh"


def run_ok(*argv: str, env: dict[str, str] | None = None) -> str:
    """Run ``argv`` in the checkout; fail the test with its output unless it exits 0. Returns its stdout."""
    done = subprocess.run(list(argv), cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


def project_copy(destination: Path) -> None:
    """The checkout as AWX's project sync leaves it in a private data dir's project/ (tracked and new files, not ignored ones)."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    link = destination / ".collections/ansible_collections/opsgate/release"
    link.parent.mkdir(parents=True)
    link.symlink_to("../../..")


def build_demo(demo: Path) -> dict[str, str]:
    """sample_app 1.0.0 and 2.0.0 built into ``demo``/artifacts; returns the sha256 of each."""
    (demo / "artifacts").mkdir(parents=True)
    sha = {}
    for version in ("1.0.0", "2.0.0"):
        digest, _path = run_ok(PYTHON, "demo/sample_app/build.py", version, str(demo / "artifacts")).split()
        sha[version] = digest
    return sha


def start_haproxy(demo: Path) -> None:
    """The real haproxy in front of the slots (127.0.0.1:18080, admin socket ``demo``/lb/admin.sock)."""
    run_ok("bash", "demo/local_lb.sh", "start", str(demo / "lb"))


def stop_demo(demo: Path) -> None:
    """Stop haproxy and every slot's sample_app that a run started."""
    run_ok("bash", "demo/local_lb.sh", "stop", str(demo / "lb"))
    for slot in SLOTS:
        pidfile = demo / "slots" / slot / "run/sample_app.pid"
        if pidfile.exists():
            subprocess.run(["kill", pidfile.read_text().strip()], check=False)
