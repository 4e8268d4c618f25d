# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real ``ansible-playbook playbooks/preflight.yml`` against this machine (connection local)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[5]
PLAYBOOK = ROOT / "playbooks" / "preflight.yml"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

pytestmark = pytest.mark.skipif(
    not (ROOT / "plugins" / "modules" / "host_facts.py").exists(), reason="plugins/modules/host_facts.py (issue 3) is not in the tree yet"
)


def _run(cwd: Path, inventory: Path | str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_CONFIG": str(cwd / "none.cfg")}  # fmt: skip
    command = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(PLAYBOOK), *extra]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def _inventory(tmp_path: Path, spec: Any, **host_vars: Any) -> Path:
    path = tmp_path / "hosts.yml"
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **host_vars}
    path.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": host}, "vars": {"opsgate_readiness_spec": spec}}}))
    return path


def test_local_inventory_is_ready_with_the_documented_waiver(tmp_path: Path) -> None:
    run = _run(tmp_path, ROOT / "inventories" / "local")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    report = json.loads((tmp_path / "reports" / "readiness.json").read_text())
    host = report["hosts"]["localhost"]
    assert host["ready"] is True
    statuses = {c["id"]: c["status"] for c in host["checks"]}
    assert statuses["facts.collected"] == "pass"
    assert statuses["sec.forbidden_software"] in ("waived", "pass")  # waived where compilers exist (this machine)
    assert (tmp_path / "reports" / "junit.xml").exists() and (tmp_path / "reports" / "hosts" / "localhost.json").exists()
    assert "1/1 hosts ready" in run.stdout


def test_failing_host_endpoints_from_the_host_and_fail_modes(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    spec = {"memory": {"min_gib": 100000}, "cpu": {"min_threads": 1},
            "network": {"endpoints": [{"name": "open", "host": "127.0.0.1", "port": listener.getsockname()[1], "timeout_s": 2},
                                      {"name": "closed", "host": "127.0.0.1", "port": closed_port, "timeout_s": 1}]},
            "security": {"forbidden_software": {"enabled": False}}}  # fmt: skip
    try:
        run = _run(tmp_path, _inventory(tmp_path, spec, opsgate_preflight_fail_mode="hosts"))
        assert run.returncode == 2, run.stdout[-3000:]
        assert "localhost is not ready" in run.stdout
        checks = {c["id"]: c for c in json.loads((tmp_path / "reports" / "readiness.json").read_text())["hosts"]["localhost"]["checks"]}
        assert checks["hw.memory.min"]["status"] == "fail"
        assert checks["hw.memory.min"]["message"].startswith("required at least 100000 GiB memory, found ")
        assert checks["hw.cpu.threads"]["status"] == "pass"
        assert checks["net.endpoint.open"]["status"] == "pass"
        assert checks["net.endpoint.closed"]["status"] == "fail"

        run = _run(tmp_path, _inventory(tmp_path, spec, opsgate_preflight_fail_mode="run"), "-e", "opsgate_report_dir=run-mode")
        assert run.returncode == 2
        assert "preflight failed: not ready: localhost" in run.stdout
        assert "PLAY [Preflight | verdict per host]" not in run.stdout  # the run stopped at the evaluation
        assert (tmp_path / "run-mode" / "readiness.html").exists()
    finally:
        listener.close()


def test_malformed_spec_stops_before_any_host_and_writes_no_report(tmp_path: Path) -> None:
    run = _run(tmp_path, _inventory(tmp_path, {"memory": {"min_gib": "lots"}, "cpu": {"min_thread": 4}}))
    assert run.returncode != 0
    assert "memory.min_gib: must be a number >= 0 (got 'lots')" in run.stdout
    assert "cpu.min_thread: unknown key" in run.stdout
    assert "Collect readiness facts" not in run.stdout
    assert not (tmp_path / "reports").exists()


def test_spec_from_extra_vars_is_refused(tmp_path: Path) -> None:
    run = _run(tmp_path, _inventory(tmp_path, {}), "-e", '{"opsgate_readiness_spec": {"security": {"forbidden_software": {"enabled": false}}}}')
    assert run.returncode != 0
    assert "must come from the inventory" in run.stdout
