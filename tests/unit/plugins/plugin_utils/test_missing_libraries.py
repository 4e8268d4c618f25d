# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A controller without cryptography, jmespath or netaddr imports the plugins and fails only where one is used, naming the package.

Each case runs in a fresh interpreter whose path puts a package that refuses to import in front of the real one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
BIN = REPO / "bin" / "opsgate-approval"
COLLECTIONS = REPO / ".collections"


def _python(tmp_path: Path, blocked: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    for name in blocked:
        package = tmp_path / "blocked" / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(f'raise ImportError("No module named {name!r} (blocked by the test)")\n')
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": os.pathsep.join([str(tmp_path / "blocked"), str(COLLECTIONS)])}
    return subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, env=environment, check=False, timeout=120)


def test_approval_cli_without_cryptography_names_the_package(tmp_path: Path) -> None:
    done = _python(tmp_path, ["cryptography"], str(BIN), "keygen", "--owner", "alice", "--role", "it_head", "--out", "alice.key")
    assert done.returncode == 1, done.stderr
    assert "the Python library cryptography is needed for approval tokens" in done.stderr
    assert "pip install cryptography" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "alice.key").exists()


def test_approval_policy_without_cryptography_raises_missing_library(tmp_path: Path) -> None:
    code = (
        "from ansible_collections.opsgate.release.plugins.module_utils.approval import errors, policy\n"
        "try:\n"
        "    policy.parse_policy({'approvers': [{'keyid': '0' * 32, 'owner': 'alice', 'role': 'it_head', 'public_key': 'AAAA'}],\n"
        "                         'classes': {'core': {'roles': {'it_head': 1}}}}, '/ledger')\n"
        "except errors.MissingLibraryError as exc:\n"
        "    print(exc.library, '|', exc.message)\n"
    )
    done = _python(tmp_path, ["cryptography"], "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("cryptography | "), done.stdout


@pytest.mark.parametrize(
    ("blocked", "spec"),
    [
        ("netaddr", {"network": {"allowed_subnets": ["10.0.0.0/24"]}}),
        ("jmespath", {"custom": [{"id": "cpus", "query": "cpu.threads", "op": "ge", "expected": 2}]}),
    ],
)
def test_preflight_spec_without_a_library_raises_missing_library(tmp_path: Path, blocked: str, spec: dict[str, object]) -> None:
    code = (
        "import sys\n"
        "from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.libraries import MissingLibraryError\n"
        "from ansible_collections.opsgate.release.plugins.plugin_utils.preflight.spec_schema import validate_specs\n"
        "validate_specs({'web1': {}})\n"  # a spec that needs neither library still validates
        f"try:\n    validate_specs({{'web1': {spec!r}}})\n"
        "except MissingLibraryError as exc:\n"
        "    print(exc.library, '|', exc.message)\n"
    )
    done = _python(tmp_path, [blocked], "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{blocked} | preflight needs the Python library {blocked}"), done.stdout
    assert f"pip install {blocked}" in done.stdout
