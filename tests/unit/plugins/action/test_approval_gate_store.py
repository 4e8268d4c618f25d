# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The approval gate over the state store in real ansible-playbook runs: a store it cannot reach stops the run before any host,
and two controllers (two checkouts, two ledger folders) sharing one PostgreSQL share single use and resume."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pg_cluster
import pytest
from approval_kit import ApprovalKit
from controller_kit import HOSTS, PLAYBOOK_BIN, SCOPE_VARS, Controller, changed, output

from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import PASSWORD_ENV, store_settings
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import open_store

# A run that stops at an approval step: the gate, the first batch, then the pause that lets go of the token.
PAUSE_PLAYBOOK = """
- name: Deploy the first batch, then wait for an approval
  hosts: targets
  gather_facts: false
  tasks:
    - name: Verify the approval before any host is touched
      ansible.builtin.import_role:
        name: opsgate.release.approval_gate
      vars: {scope}
    - name: Change the host
      ansible.builtin.file:
        path: "{{{{ marker_dir }}}}/{{{{ inventory_hostname }}}}"
        state: touch
        mode: "0644"
    - name: Pause for the approval step, resumable on any controller
      ansible.builtin.import_role:
        name: opsgate.release.approval_gate
        tasks_from: release
      vars: {scope}
"""


def _controller(root: Path, state_store: dict[str, object], kit: ApprovalKit | None = None) -> Controller:
    """A controller whose pinned root names ``state_store``; with ``kit``, the same administrators and approvers as another one."""
    if not PLAYBOOK_BIN.exists():
        pytest.skip("ansible-playbook is not installed next to the test interpreter")
    controller = Controller(root)
    if kit is not None:
        controller.kit = copy.copy(kit)
        controller.kit.ledger_dir = str(root / "ledger")
    controller.kit.state_store = state_store
    controller.trust_root = controller.kit.install(root)
    controller.extra_env[PASSWORD_ENV] = pg_cluster.PASSWORD
    (root / "pause.yml").write_text(PAUSE_PLAYBOOK.format(scope=json.dumps(SCOPE_VARS)))
    return controller


def _consumption(state_store: dict[str, object], token_id: str) -> tuple[str, str | None]:
    settings = store_settings(state_store, "/unused", environ={PASSWORD_ENV: pg_cluster.PASSWORD})
    with open_store(settings) as store, store.transaction() as tx:
        owner, released_at = tx.row("SELECT owner, released_at FROM consumptions WHERE token_id = ?", (token_id,))
    return owner, released_at


def test_an_unreachable_store_stops_the_run_at_the_gate_before_any_host(postgresql_store: dict, tmp_path: Path) -> None:
    unreachable = {**postgresql_store, "port": pg_cluster._free_port()}
    controller = _controller(tmp_path, unreachable)
    done, markers = controller.play("-vvv", "-e", controller.write_token(controller.token()))
    assert done.returncode != 0
    assert changed(markers) == []
    text = output(done)
    assert "approval refused [APPROVAL_STATE_STORE_ERROR]" in done.stdout
    assert f"state store postgresql://opsgate@127.0.0.1:{unreachable['port']}/{postgresql_store['dbname']} (postgresql): cannot connect" in done.stdout
    assert "the gate stopped the run before any host was touched" in done.stdout
    assert "Change the host" not in done.stdout
    assert pg_cluster.PASSWORD not in text
    assert not (tmp_path / "ledger").exists()  # nothing fell back to a local file


def test_a_token_used_through_one_controller_is_refused_through_another(postgresql_store: dict, tmp_path: Path) -> None:
    first = _controller(tmp_path / "a", postgresql_store)
    second = _controller(tmp_path / "b", postgresql_store, kit=first.kit)
    token = first.token()
    done, markers = first.play("-e", first.write_token(token), "-e", "approval_gate_run_id=job-1")
    assert done.returncode == 0, output(done)
    assert changed(markers) == HOSTS
    replayed, markers = second.play("-e", second.write_token(token))
    assert replayed.returncode != 0
    assert changed(markers) == []
    assert "APPROVAL_REPLAYED" in replayed.stdout
    assert "token apv-0123456789abcdef (change CHG-2025-0117) was consumed at" in replayed.stdout
    assert "job-1" not in replayed.stdout


def test_a_run_paused_on_one_controller_is_released_and_resumes_on_another(postgresql_store: dict, tmp_path: Path) -> None:
    first = _controller(tmp_path / "a", postgresql_store)
    second = _controller(tmp_path / "b", postgresql_store, kit=first.kit)
    token = first.token()
    paused, markers = first.play("-v", "-e", first.write_token(token), "-e", "approval_gate_run_id=job-7", playbook="pause.yml")
    assert paused.returncode == 0, output(paused)
    assert changed(markers) == HOSTS
    assert "run job-7 of approval apv-0123456789abcdef paused and released" in paused.stdout
    owner, released_at = _consumption(postgresql_store, "apv-0123456789abcdef")
    assert released_at is not None
    resumed, markers = second.play("-v", "-e", second.write_token(token), "-e", "approval_gate_run_id=job-7")
    assert resumed.returncode == 0, output(resumed)
    assert "resumed by run job-7" in resumed.stdout
    assert changed(markers) == HOSTS
    new_owner, released_at = _consumption(postgresql_store, "apv-0123456789abcdef")
    assert released_at is None and new_owner != owner  # the resuming run held it, then ended it
    again, markers = first.play("-e", first.write_token(token), "-e", "approval_gate_run_id=job-7")
    assert again.returncode != 0
    assert changed(markers) == []
    assert "finished (succeeded) and cannot be resumed" in again.stdout
