# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""deploy.yml and gray_release.yml against an inventory without opsgate_release says what is missing and where it goes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"


def _play(tmp_path: Path, playbook: str, inventory: str) -> str:
    """Run ``playbook`` against a one-host inventory; returns its output on one line (the run must fail)."""
    if not PLAYBOOK_BIN.exists():
        pytest.skip("ansible-playbook is not installed next to the test interpreter")
    (tmp_path / "hosts.yml").write_text(inventory)
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
        "ANSIBLE_HOME": str(tmp_path / ".ansible"),
        "ANSIBLE_NOCOLOR": "1",
    }
    done = subprocess.run(
        [str(PLAYBOOK_BIN), "-i", str(tmp_path / "hosts.yml"), str(REPO / "playbooks" / playbook), "-e", "opsgate_approval_token=x"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode != 0
    return " ".join((done.stdout + done.stderr).split())


HOST = "all:\n  hosts:\n    app-1:\n      ansible_connection: local\n"


@pytest.mark.parametrize("playbook", ["deploy.yml", "gray_release.yml"])
def test_a_missing_manifest_is_named_with_where_it_goes(tmp_path: Path, playbook: str) -> None:
    rollout = "  vars:\n    opsgate_rollout: {steps: [{hosts: 1}]}\n" if playbook == "gray_release.yml" else ""
    output = _play(tmp_path, playbook, HOST + rollout)
    assert "no release manifest for app-1: set opsgate_release" in output, output[-2000:]
    assert "group_vars" in output
    assert "'opsgate_release' is undefined" not in output


def test_a_missing_rollout_plan_is_named_with_where_it_goes(tmp_path: Path) -> None:
    output = _play(tmp_path, "gray_release.yml", HOST)
    assert "no rollout plan for app-1: set opsgate_rollout" in output, output[-2000:]
