# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A change the operations archive could not record does not start: the gate refuses before the token is consumed."""

from __future__ import annotations

from pathlib import Path

import pytest
from controller_kit import PLAYBOOK_BIN, Controller, changed, output
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ansible_collections.opsgate.release.plugins.module_utils.approval.keys import keyid_of, public_key_text
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.settings import store_settings
from ansible_collections.opsgate.release.plugins.plugin_utils.state_store.store import open_store


@pytest.fixture
def gate(tmp_path: Path) -> Controller:
    if not PLAYBOOK_BIN.exists():
        pytest.skip("ansible-playbook is not installed next to the test interpreter")
    return Controller(tmp_path)


def _pin_archive_key(controller: Controller, key: Ed25519PrivateKey) -> None:
    entry = {"keyid": keyid_of(key.public_key()), "owner": "controller-a", "public_key": public_key_text(key.public_key())}
    controller.trust_root.write_bytes(controller.kit.root_document(archive_keys=[entry]))


def _key_file(path: Path, key: Ed25519PrivateKey) -> str:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path.chmod(0o600)
    return str(path)


def _consumed(controller: Controller) -> list[tuple]:
    settings = store_settings({"backend": "sqlite"}, str(controller.root / "ledger"), environ={})
    if not Path(settings.location).exists():
        return []
    with open_store(settings) as store, store.transaction() as tx:
        return tx.rows("SELECT token_id FROM consumptions")


def test_no_signing_key_for_a_pinned_archive_key_stops_the_run_before_any_host(gate: Controller) -> None:
    _pin_archive_key(gate, Ed25519PrivateKey.generate())
    gate.extra_env["OPSGATE_ARCHIVE_SIGNING_KEY"] = ""
    done, markers = gate.play("-e", gate.write_token(gate.token()))
    assert done.returncode != 0
    assert "approval refused [APPROVAL_ARCHIVE_NOT_WRITABLE]" in done.stdout, output(done)
    assert changed(markers) == []
    assert _consumed(gate) == []


def test_an_unpinned_signing_key_cannot_stand_in_for_the_pinned_one(gate: Controller) -> None:
    _pin_archive_key(gate, Ed25519PrivateKey.generate())
    mine = Ed25519PrivateKey.generate()
    gate.extra_env["OPSGATE_ARCHIVE_SIGNING_KEY"] = _key_file(gate.root / "mine.pem", mine)
    done, markers = gate.play("-e", gate.write_token(gate.token()))
    assert done.returncode != 0
    assert "APPROVAL_ARCHIVE_NOT_WRITABLE" in done.stdout and "does not pin" in done.stdout, output(done)
    assert changed(markers) == []
    assert _consumed(gate) == []


def test_the_pinned_signing_key_lets_the_run_through(gate: Controller) -> None:
    key = Ed25519PrivateKey.generate()
    _pin_archive_key(gate, key)
    gate.extra_env["OPSGATE_ARCHIVE_SIGNING_KEY"] = _key_file(gate.root / "gate.pem", key)
    done, markers = gate.play("-e", gate.write_token(gate.token()))
    assert done.returncode == 0, output(done)
    assert changed(markers) != []
    assert len(_consumed(gate)) == 1
