# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release_manifest action in real ansible-playbook runs: migrations, verify and documents come back normalised, their
files resolved against the playbook directory and checked by digest, and the release id does not depend on them."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[4]
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
PLAYBOOK = """
- name: Check the manifest
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Check
      opsgate.release.release_manifest:
        manifest: "{{ opsgate_release }}"
      register: __checked
      ignore_errors: true
    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ __checked | to_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
"""

pytestmark = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason="ansible-playbook is not installed next to the test interpreter")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Play:
    """A playbook directory with an artifact, two migrations (one with a down), a suite; run from another directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "play"
        for name, text in {
            "files/app-2.0.0.tar.gz": "artifact",
            "migrations/001.sql": "ALTER TABLE orders ADD COLUMN status text;\n",
            "migrations/002.sql": "ALTER TABLE orders DROP COLUMN state;\n",
            "migrations/002.down.sql": "ALTER TABLE orders ADD COLUMN state text;\n",
            "tests/test_app.py": "def test_up(host):\n    assert host.file('/etc').is_directory\n",
        }.items():
            (self.dir / name).parent.mkdir(parents=True, exist_ok=True)
            (self.dir / name).write_text(text)
        (self.dir / "manifest.yml").write_text(PLAYBOOK)
        self.base: dict[str, Any] = {
            "app": "app",
            "version": "2.0.0",
            "change_id": "CHG-2025-0300",
            "base_dir": "/srv/app",
            "artifacts": [{"src": "files/app-2.0.0.tar.gz", "sha256": self.sha("files/app-2.0.0.tar.gz")}],
        }

    def sha(self, name: str) -> str:
        return _sha(self.dir / name)

    def full(self) -> dict[str, Any]:
        return {
            **self.base,
            "migrations": {
                "database": {"kind": "postgresql", "run_on": "db-1", "name": "appdb"},
                "steps": [
                    {"id": "001", "phase": "expand", "file": "migrations/001.sql", "sha256": self.sha("migrations/001.sql")},
                    {
                        "id": "002",
                        "phase": "contract",
                        "file": "migrations/002.sql",
                        "sha256": self.sha("migrations/002.sql"),
                        "down": {"file": "migrations/002.down.sql", "sha256": self.sha("migrations/002.down.sql")},
                    },
                ],
            },
            "verify": {"suite": "tests/test_app.py", "sha256": self.sha("tests/test_app.py"), "timeout": 120},
            "documents": [{"kind": "handover_note", "title": "Handover 2.0", "location": "https://wiki.example/h", "sha256": "ab" * 32}],
        }

    def run(self, manifest: dict[str, Any]) -> dict[str, Any]:
        result_file = self.root / "result.json"
        result_file.unlink(missing_ok=True)
        (self.root / "vars.json").write_text(json.dumps({"opsgate_release": manifest, "result_file": str(result_file)}))
        env = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
            "ANSIBLE_HOME": str(self.root / ".ansible"),
            "ANSIBLE_LOCAL_TEMP": str(self.root / ".ansible" / "tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        }
        # Run from elsewhere: relative paths are the playbook directory's, not the working directory's.
        command = [str(PLAYBOOK_BIN), "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"@{self.root / 'vars.json'}", str(self.dir / "manifest.yml")]
        done = subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, timeout=180, check=False)
        assert result_file.exists(), done.stdout + done.stderr
        return json.loads(result_file.read_text())


@pytest.fixture
def play(tmp_path: Path) -> Play:
    return Play(tmp_path)


def test_the_release_carries_them_normalised_with_absolute_verified_paths(play: Play) -> None:
    result = play.run(play.full())
    assert not result.get("failed"), result.get("msg")
    release = result["release"]
    assert release["migrations"] == {
        "database": {
            "kind": "postgresql",
            "run_on": "db-1",
            "name": "appdb",
            "host": "",
            "port": 5432,
            "user": "postgres",
            "os_user": "postgres",
            "schemas": [],
            "backup_dir": "/var/backups/opsgate",
        },
        "steps": [
            {"id": "001", "phase": "expand", "file": str(play.dir / "migrations/001.sql"), "sha256": play.sha("migrations/001.sql"), "down": None},
            {
                "id": "002",
                "phase": "contract",
                "file": str(play.dir / "migrations/002.sql"),
                "sha256": play.sha("migrations/002.sql"),
                "down": {"file": str(play.dir / "migrations/002.down.sql"), "sha256": play.sha("migrations/002.down.sql")},
            },
        ],
    }
    assert release["verify"] == {"suite": str(play.dir / "tests/test_app.py"), "sha256": play.sha("tests/test_app.py"), "timeout": 120}
    assert release["documents"] == play.full()["documents"]
    # The change document binds them; the release id is the artifacts' alone.
    without = play.run(play.base)
    assert without["release"]["migrations"] == {} and without["release"]["verify"] == {} and without["release"]["documents"] == []
    assert without["release_id"] == result["release_id"] == release["release_id"]


def test_a_migration_changed_after_its_digest_was_written_stops_the_run_naming_both_digests(play: Play) -> None:
    manifest = play.full()
    expected = manifest["migrations"]["steps"][1]["sha256"]
    (play.dir / "migrations/002.sql").write_text("DROP TABLE orders;\n")
    result = play.run(manifest)
    assert result["failed"] is True
    assert "nothing was copied to any host" in result["msg"]
    assert (
        f"opsgate_release.migrations.steps[1].sha256: {play.dir / 'migrations/002.sql'} has sha256 {play.sha('migrations/002.sql')}, "
        f"the manifest says {expected}"
    ) in result["msg"]
    assert "release" not in result


def test_an_invalid_key_is_reported_with_its_path(play: Play) -> None:
    manifest = play.full()
    manifest["verify"]["timeout"] = 0
    result = play.run(manifest)
    assert result["failed"] is True
    assert result["error_path"] == "opsgate_release.verify.timeout"
    assert "opsgate_release.verify.timeout: must be an integer from 1 to 86400 (got 0)" in result["msg"]
