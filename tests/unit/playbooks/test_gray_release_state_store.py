# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/gray_release.yml over a real PostgreSQL state store, four local hosts (site_kit), real tokens.

- A store that accepts the approval but not the rollout state stops the run before any host changes.
- A state write that fails in the middle of the run: the role undoes the rollout (every switched host back, the
  batch the state could not record included), says that the state could not be written, does not loop; and a later
  resume that the stale state would let through is refused because the hosts no longer run the release.
- A rollout paused for an approval through one controller resumes through another (its own trust root file and
  ledger folder, the same database), which gives the load balancer back the weights the first one changed.

Faults are real: privileges revoked in the database (psql), no mock. SQLite's write failures are covered by the
action tests (tests/unit/plugins/action/test_rollout_state_store.py): its token ledger lives in the same file, so an
unwritable file stops a run at the approval gate already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pg_cluster
import pytest
from site_kit import HOST_CLASSES, HOSTS, PLAYBOOK_BIN, REPO, Site, _out

from ansible_collections.opsgate.release.plugins.module_utils.approval.claims import new_token_id
from ansible_collections.opsgate.release.plugins.plugin_utils.rollout.state import RolloutState, read_state
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import PASSWORD_ENV, store_settings
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import open_store

pytestmark = pytest.mark.skipif(not PLAYBOOK_BIN.exists(), reason="ansible-playbook is not installed next to the test interpreter")

HEALTH = {"interval": 1, "consecutive_successes": 1, "failure_limit": 1, "timeout": 10}
V2_CHANGE = "CHG-2025-0200"
# A load balancer of kind tasks (docs/load-balancers.md) whose pool is a JSON file on the controller.
POOL_SCRIPT = r"""
import json, sys
path, state, hosts, weights = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
with open(path) as handle:
    pool = json.load(handle)
before = json.loads(json.dumps(pool))
missing = [host for host in hosts if host not in pool]
if missing:
    sys.exit(f"not in the pool: {missing}")
for host in hosts:
    if state in ("drained", "disabled"):
        pool[host].update(admin="maint", status="MAINT")
    elif state == "enabled":
        pool[host].update(admin="ready", status="UP")
    elif state == "weights":
        pool[host]["weight"] = int(weights[host])
with open(path, "w") as handle:
    json.dump(pool, handle)
changed = [host for host in hosts if pool[host] != before[host]]
print(json.dumps({"changed": bool(changed), "changed_hosts": changed, "before": before, "servers": pool}))
"""
POOL_TASKS = """---
- name: Call the file pool
  ansible.builtin.command:
    argv:
      - "{{ ansible_playbook_python }}"
      - "{{ gray_release_lb_settings.script }}"
      - "{{ gray_release_lb_settings.pool_file }}"
      - "{{ gray_release_lb_state }}"
      - "{{ gray_release_lb_hosts | to_json }}"
      - "{{ gray_release_lb_weights | to_json }}"
  delegate_to: localhost
  run_once: true
  register: __file_pool
  changed_when: (__file_pool.stdout | from_json).changed

- name: Hand the pool to the role
  ansible.builtin.set_fact:
    gray_release_lb_result: "{{ __file_pool.stdout | from_json }}"
  run_once: true
"""


class Fleet:
    """The site's four hosts with a trust root that pins the PostgreSQL store; ``controller()`` adds another controller."""

    def __init__(self, root: Path, pinned: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(PASSWORD_ENV, pg_cluster.PASSWORD)
        self.site = Site(root)
        self.pinned = pinned
        self.site.kit.state_store = pinned
        self.site.trust_root = self.site.kit.install(root, host_classes=HOST_CLASSES)
        self.settings = store_settings(pinned, str(root / "ledger"), environ={PASSWORD_ENV: pg_cluster.PASSWORD})
        self.cluster: pg_cluster.Cluster | None = None

    def controller(self, name: str) -> Path:
        """A second controller's trust root: the same administrators and store, its own file and ledger folder."""
        self.site.kit.ledger_dir = str(self.site.root / name / "ledger")
        try:
            return self.site.kit.install(self.site.root / name, host_classes=HOST_CLASSES)
        finally:
            self.site.kit.ledger_dir = str(self.site.root / "ledger")

    def inventory(self) -> dict[str, Any]:
        return json.loads((self.site.root / "hosts.json").read_text())

    def set_hosts(self, **host_vars: Any) -> None:
        inventory = self.inventory()
        for host in inventory["all"]["hosts"].values():
            host.update(host_vars)
        (self.site.root / "hosts.json").write_text(json.dumps(inventory))

    def deploy_v1(self) -> None:
        done = self.site.play("deploy.yml", self.site.token(token_id=new_token_id()))
        assert done.returncode == 0, _out(done)[-4000:]

    def release_v2(self, rollout: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        """The inventory moved to 2.0.0 with ``rollout``; returns the gray release token and the run's arguments."""
        built = subprocess.run(
            [sys.executable, str(REPO / "demo/sample_app/build.py"), "2.0.0", str(self.site.root / "artifacts")], capture_output=True, text=True, check=True
        )
        sha2, artifact2 = built.stdout.split()
        inventory = self.inventory()
        for host in inventory["all"]["hosts"].values():
            host["opsgate_release"].update(version="2.0.0", change_id=V2_CHANGE)
            host["opsgate_release"]["artifacts"][0]["src"] = artifact2
            host["opsgate_rollout"] = rollout
        (self.site.root / "hosts.json").write_text(json.dumps(inventory))
        token = self.site.token(action="gray_release", version="2.0.0", artifact_sha256=sha2, change_id=V2_CHANGE, token_id=new_token_id())
        return token, ("-e", f"app_sha256={sha2}", "-e", "approval_gate_run_id=job-7")

    def current(self) -> dict[str, str]:
        """The release each host's current link points at."""
        return {host: Path(self.site.root, "hosts", host, "current").resolve().name for host in HOSTS}

    def state(self) -> RolloutState | None:
        with open_store(self.settings) as store, store.transaction() as tx:
            return read_state(tx, "sample_app", "prod", store.settings.location)

    def psql(self, request: pytest.FixtureRequest, sql: str) -> None:
        cluster = self.cluster or request.getfixturevalue("postgresql_cluster")
        self.cluster = cluster
        cluster.psql(sql, dbname=self.pinned["dbname"])


@pytest.fixture
def fleet(tmp_path: Path, postgresql_store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Fleet:
    return Fleet(tmp_path, postgresql_store, monkeypatch)


def _play_in_background(site: Site, playbook: str, token: str, *args: str) -> subprocess.Popen[str]:
    """Site.play, started without waiting (the same command and environment)."""
    token_file = site.root / "token-background.json"
    token_file.write_text(json.dumps({"opsgate_approval_token": token}))
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections"),
        "ANSIBLE_HOME": str(site.root / ".ansible"),
        "ANSIBLE_LOCAL_TEMP": str(site.root / ".ansible" / "tmp"),
        "ANSIBLE_REMOTE_TMP": str(site.root / ".ansible" / "remote-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_STDOUT_CALLBACK": "default",
        "OPSGATE_TRUST_ROOT": str(site.trust_root),
    }
    command = [str(PLAYBOOK_BIN), "-i", str(site.root / "hosts.json"), str(REPO / "playbooks" / playbook)]
    command += ["-e", f"@{token_file}", "-e", f"app_sha256={site.sha}", "-e", f"opsgate_report_dir={site.root / 'reports'}", *args]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_store_that_refuses_the_rollout_state_stops_the_run_before_any_host(fleet: Fleet, request: pytest.FixtureRequest) -> None:
    fleet.deploy_v1()
    token, args = fleet.release_v2({"steps": [{"hosts": 1}, {"hosts": "100%"}], "health": HEALTH})
    before = fleet.site.hosts_snapshot()
    fleet.psql(request, f"REVOKE INSERT ON rollout_states FROM {pg_cluster.ROLE}")
    done = fleet.site.play("gray_release.yml", token, *args)
    assert done.returncode != 0
    assert "rollout state unavailable [STATE_STORE_ERROR]" in done.stdout, _out(done)[-4000:]
    assert f"state store {fleet.settings.location} (postgresql): a statement failed: permission denied for table rollout_states" in done.stdout
    assert "Deploy this host" not in done.stdout
    assert fleet.site.hosts_snapshot() == before
    assert pg_cluster.PASSWORD not in _out(done)
    assert fleet.state() is None


def test_a_state_write_that_fails_mid_run_undoes_the_rollout_and_a_resume_is_refused(fleet: Fleet, request: pytest.FixtureRequest) -> None:
    fleet.deploy_v1()
    v1 = fleet.current()
    rollout = {"steps": [{"hosts": 1}, {"pause": {"seconds": 8}}, {"hosts": "100%"}], "health": HEALTH}
    token, args = fleet.release_v2(rollout)
    run = _play_in_background(fleet.site, "gray_release.yml", token, *args)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and run.poll() is None:
            state = fleet.state()
            if state is not None and state.batches_done == 1:
                break
            time.sleep(0.3)
        assert run.poll() is None, run.communicate()[0][-4000:]
        # During the pause after the canary the store stops taking updates of the rollout state, and the token ledger
        # cannot record how the run ended either: the worst case, the store down for the rest of the run.
        fleet.psql(request, f"REVOKE UPDATE ON rollout_states FROM {pg_cluster.ROLE}")
        fleet.psql(request, f"REVOKE INSERT, UPDATE ON run_outcomes FROM {pg_cluster.ROLE}")
        output = run.communicate(timeout=300)[0]
        (fleet.site.root / "gray_release.out").write_text(output)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode != 0, output[-4000:]
    # Batch 2 ran, could not be recorded, and everything was undone: the canary (recorded) and batch 2 (not recorded).
    assert fleet.current() == v1, output[-4000:]
    assert "the rollout state could not be written after batch 2: rollout state unavailable [STATE_STORE_ERROR]" in output
    assert "permission denied for table rollout_states" in output
    assert "rolled back: core-a1, core-a2, core-a3, core-a4" in output
    assert "THE ROLLOUT STATE COULD NOT BE WRITTEN" in output
    assert "it still says running after 1 of 2 batches (switched: core-a1), which is no longer true: do not resume this rollout" in output
    assert "the token ledger could not record the end of the run" in output
    aborts = [line for line in output.splitlines() if "roles/gray_release/tasks/abort.yml for " in line]
    assert len(aborts) == 1, aborts  # no second abort
    assert pg_cluster.PASSWORD not in output
    stale = fleet.state()
    assert (stale.status, stale.batches_done, stale.hosts_switched) == ("running", 1, ("core-a1",))

    # The store is back. The stale state and the unfinished token would let a resume through: the hosts say otherwise.
    fleet.psql(request, f"GRANT UPDATE ON rollout_states TO {pg_cluster.ROLE}")
    fleet.psql(request, f"GRANT INSERT, UPDATE ON run_outcomes TO {pg_cluster.ROLE}")
    before = fleet.site.hosts_snapshot()
    resumed = fleet.site.play("gray_release.yml", token, *args, "-e", "opsgate_rollout_resume=true")
    assert resumed.returncode != 0
    assert "resume refused before any host changed: the rollout state says core-a1 run 2.0.0-" in resumed.stdout, _out(resumed)[-4000:]
    assert f"but core-a1 runs {v1['core-a1']}" in resumed.stdout
    assert fleet.site.hosts_snapshot() == before
    assert fleet.state() == stale


def test_a_rollout_paused_on_one_controller_resumes_on_another_with_the_weights(fleet: Fleet, tmp_path: Path) -> None:
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps({host: {"admin": "ready", "weight": 10, "sessions": 0, "status": "UP"} for host in HOSTS}))
    (tmp_path / "pool.py").write_text(POOL_SCRIPT)
    (tmp_path / "pool.yml").write_text(POOL_TASKS)
    lb = {"kind": "tasks", "host": "localhost", "tasks_file": str(tmp_path / "pool.yml"), "script": str(tmp_path / "pool.py"), "pool_file": str(pool)}
    fleet.set_hosts(opsgate_load_balancer=lb)
    rollout = {"steps": [{"hosts": 1}, {"setWeight": 50}, {"approval": {"reason": "watch the canary"}}, {"hosts": "100%"}], "health": HEALTH}
    token, args = fleet.release_v2(rollout)

    paused = fleet.site.play("gray_release.yml", token, *args)
    assert paused.returncode == 0, _out(paused)[-4000:]
    state = fleet.state()
    assert state.status == "paused_for_approval" and state.hosts_switched == ("core-a1",)
    assert state.lb_weights_before == dict.fromkeys(HOSTS, 10)
    shifted = json.loads(pool.read_text())
    assert [shifted[host]["weight"] for host in HOSTS] != [10] * 4, shifted
    assert not (tmp_path / "ledger").exists()  # nothing of the rollout on the first controller's disk

    fleet.site.trust_root = fleet.controller("second")
    resumed = fleet.site.play("gray_release.yml", token, *args, "-e", "opsgate_rollout_resume=true", "-v")
    assert resumed.returncode == 0, _out(resumed)[-4000:]
    assert "resumed by run job-7" in resumed.stdout
    done = fleet.state()
    assert done.status == "done" and done.batches_done == 2 and done.lb_weights_before == {}
    assert set(fleet.current().values()) == {done.release_id}
    # The second controller gave the pool back the weights the first one kept in the state, and every host is in rotation.
    assert json.loads(pool.read_text()) == {host: {"admin": "ready", "weight": 10, "sessions": 0, "status": "UP"} for host in HOSTS}
    assert not (tmp_path / "second" / "ledger").exists()
