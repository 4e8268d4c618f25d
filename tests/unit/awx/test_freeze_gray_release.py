# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A change freeze that begins while a gray release runs: the rollout stops before the next batch,
refuses to resume while the freeze lasts, and resumes with the same token once it is over.

The hosts are the demo's four local app slots behind a real haproxy; the freeze comes with a new
policy version that the demo's two administrators sign while the rollout is between batches.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from demo_slots import SLOTS
from demo_slots import serving as _serving

from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.state import read_state
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import SQLITE_FILE, store_settings
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import open_store

ROOT = Path(__file__).resolve().parents[3]
PYTHON = sys.executable
CLI = [PYTHON, str(ROOT / "bin/opsgate-approval")]
APPROVALS = ROOT / "molecule/deploy/approvals.sh"
# The canary, then a long enough pause for the freeze to begin, then the rest.
PLAN = {
    "steps": [{"hosts": 1}, {"pause": {"seconds": 25}}, {"hosts": "100%"}],
    "health": {"interval": 1, "consecutive_successes": 2, "failure_limit": 2, "timeout": 30},
    "failure_budget": 0,
}

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is installed by make test-env")


def _run(*argv: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False)
    if check:
        assert done.returncode == 0, f"{argv}: {done.stdout[-3000:]}{done.stderr[-2000:]}"
    return done


def _sign_policy(approvals: Path, version: int, freezes: list[dict[str, str]]) -> None:
    """What the administrators do: the current policy body plus freezes, a new version, both signatures."""
    current = json.loads((approvals / "trust/policy.json").read_text())["signed"]
    body = {key: value for key, value in current.items() if key not in ("_type", "version", "expires")}
    body["freezes"] = freezes
    (approvals / f"body-{version}.json").write_text(json.dumps(body))
    expires = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    unsigned, half = approvals / f"p{version}.json", approvals / f"p{version}-1.json"
    _run(*CLI, "policy-create", "--in", str(approvals / f"body-{version}.json"), "--version", str(version), "--expires", expires, "--out", str(unsigned))
    _run(*CLI, "admin-sign", "--key", str(approvals / "keys/admin-one.pem"), "--in", str(unsigned), "--out", str(half))
    _run(*CLI, "admin-sign", "--key", str(approvals / "keys/admin-two.pem"), "--in", str(half), "--out", str(approvals / "trust/policy.json"))


def _rollout_state(ledger: Path) -> dict[str, object] | None:
    """The demo's rollout state in the SQLite state store of its ledger folder (None before the run wrote one)."""
    if not (ledger / SQLITE_FILE).exists():
        return None
    with open_store(store_settings({"backend": "sqlite"}, str(ledger), environ={})) as store, store.transaction() as tx:
        state = read_state(tx, "sample_app", "demo")
    return None if state is None else state.as_dict()


def _freeze(start: datetime, end: datetime) -> dict[str, str]:
    return {"name": "incident-freeze", "start": f"{start:%Y-%m-%dT%H:%M}", "end": f"{end:%Y-%m-%dT%H:%M}", "timezone": "UTC", "reason": "major incident"}


def test_a_freeze_that_begins_mid_rollout_stops_it_before_the_next_batch_until_it_is_over(tmp_path: Path) -> None:
    demo, approvals = tmp_path / "demo", tmp_path / "approvals"
    (demo / "artifacts").mkdir(parents=True)
    sha = {v: _run(PYTHON, "demo/sample_app/build.py", v, str(demo / "artifacts")).stdout.split()[0] for v in ("1.0.0", "2.0.0")}
    _run("bash", str(APPROVALS), "init", str(approvals))
    env = {
        "OPSGATE_DEMO_DIR": str(demo),
        "OPSGATE_TRUST_ROOT": str(approvals / "trust/root.json"),
        "ANSIBLE_NOCOLOR": "1",
    }
    playbook = [str(ROOT / ".venv/bin/ansible-playbook"), "-i", "demo/inventory/app_slots.yml", "-e", "opsgate_target_hosts=app_slots"]
    ledger = approvals / "ledger"
    _run("bash", "demo/local_lb.sh", "start", str(demo / "lb"))
    try:
        token_v1, token_v2 = tmp_path / "deploy-1.token", tmp_path / "gray-2.token"
        _run("bash", str(APPROVALS), "token", str(approvals), str(token_v1), "deploy", "sample_app", "1.0.0", sha["1.0.0"], "demo", ",".join(SLOTS), "CHG-F-1")
        _run(*playbook, "playbooks/deploy.yml", "-e", f"opsgate_approval_token=@{token_v1}", "-e", "app_version=1.0.0",
             "-e", f"app_sha256={sha['1.0.0']}", "-e", "demo_change_id=CHG-F-1", env=env)  # fmt: skip
        assert _serving() == ["1.0.0"] * 4

        _run("bash", str(APPROVALS), "token", str(approvals), str(token_v2), "gray_release", "sample_app", "2.0.0", sha["2.0.0"], "demo", ",".join(SLOTS),
             "CHG-F-2")  # fmt: skip
        gray = [*playbook, "playbooks/gray_release.yml", "-e", f"opsgate_approval_token=@{token_v2}", "-e", json.dumps({"opsgate_rollout": PLAN}),
                "-e", "app_version=2.0.0", "-e", f"app_sha256={sha['2.0.0']}", "-e", "demo_change_id=CHG-F-2", "-e", "approval_gate_run_id=job-2"]  # fmt: skip
        rollout = subprocess.Popen(gray, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not ((_rollout_state(ledger) or {}).get("batches_done", 0) >= 1):
            time.sleep(0.5)
        assert (_rollout_state(ledger) or {}).get("batches_done") == 1, "the canary batch did not finish"
        # During the pause after the canary, the administrators sign a freeze that has just begun.
        now = datetime.now(UTC)
        _sign_policy(approvals, 2, [_freeze(now - timedelta(minutes=1), now + timedelta(hours=2))])
        output = rollout.communicate(timeout=180)[0]
        state = _rollout_state(ledger) or {}
        assert state["status"] == "paused_for_freeze", output[-3000:]
        assert "stopped before batch 2 of 2: freeze incident-freeze" in state["message"]
        assert _serving() == ["2.0.0", "1.0.0", "1.0.0", "1.0.0"]

        resume = [*gray, "-e", "opsgate_rollout_resume=true"]
        frozen = _run(*resume, env=env, check=False)
        assert frozen.returncode != 0
        assert "APPROVAL_FROZEN" in frozen.stdout
        assert _serving() == ["2.0.0", "1.0.0", "1.0.0", "1.0.0"]

        # The freeze is lifted (a new version in which it has ended); the same token, release and run resume.
        _sign_policy(approvals, 3, [_freeze(now - timedelta(minutes=1), now)])
        resumed = _run(*resume, "-v", env=env)
        assert "resumed by run job-2" in resumed.stdout
        assert _serving() == ["2.0.0"] * 4
        assert (_rollout_state(ledger) or {})["status"] == "done"
    finally:
        _run("bash", "demo/local_lb.sh", "stop", str(demo / "lb"), check=False)
        for slot in SLOTS:
            pidfile = demo / "slots" / slot / "run/sample_app.pid"
            if pidfile.exists():
                subprocess.run(["kill", pidfile.read_text().strip()], check=False)
