# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The emergency path with real ansible-playbook runs, the real CLIs and the operations archive:
emergency accepted -> listed unratified -> next normal change refused -> ratified -> next change accepted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from approval_kit import live_claims
from archive_kit import archive_records, archive_text
from controller_kit import HOSTS, REPO, Controller, changed, controller, output
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_kit import consumed_rows

from ansible_collections.opsgate.release.plugins.module_utils.approval.keys import keyid_of, public_key_text

__all__ = ["controller"]  # the fixture
EMERGENCY = {"roles": {"it_head": 1, "ops_director": 1}, "max_window_hours": 4, "ratify_within_working_days": 2}


def _cli(name: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "bin" / name), *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def _ledger_lines(run: Controller) -> list[dict[str, object]]:
    return consumed_rows(run.root / "ledger")


def test_emergency_then_refused_normal_change_then_ratification_then_normal_change(controller: Controller) -> None:
    controller.kit.install(controller.root, emergency=EMERGENCY)
    controller.extra_env = {"ANSIBLE_CALLBACKS_ENABLED": "opsgate.release.archive"}
    cli_env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    # The archive is in the state store the pinned root names (SQLite in the ledger folder), for the runs and both CLIs.
    cli_env.update(OPSGATE_TRUST_ROOT=str(controller.trust_root))

    emergency = controller.kit.sign(
        live_claims(HOSTS, token_id="apv-emergency-0001", kind="emergency", incident_id="INC-4711", change_id="CHG-EMERG-1"), owners=("bob", "dave")
    )
    done, markers = controller.play("-e", controller.write_token(emergency))
    assert done.returncode == 0, output(done)
    assert changed(markers) == HOSTS
    assert "EMERGENCY change for incident INC-4711" in output(done)

    waiting = _cli("opsgate-archive", "report", "--unratified", "--json", env=cli_env)
    assert waiting.returncode == 0, waiting.stderr
    assert [(item["token_id"], item["incident_id"]) for item in json.loads(waiting.stdout)] == [("apv-emergency-0001", "INC-4711")]

    normal = controller.kit.sign(live_claims(HOSTS, token_id="apv-normal-0002", change_id="CHG-NORMAL-2"))
    before = _ledger_lines(controller)
    refused, markers = controller.play("-e", controller.write_token(normal))
    assert refused.returncode != 0
    assert "APPROVAL_UNRATIFIED_EMERGENCY" in output(refused)
    assert "apv-emergency-0001" in output(refused) and "INC-4711" in output(refused)
    assert changed(markers) == []
    assert _ledger_lines(controller) == before  # the refused token was not consumed

    ratification = controller.kit.sign(
        live_claims(HOSTS, token_id="apv-ratify-0003", kind="ratification", ratifies="apv-emergency-0001", change_id="CHG-EMERG-1")
    )
    token_file = controller.root / "ratification.token"
    token_file.write_text(ratification)
    # A ratification changes no host: a playbook refuses it.
    as_run, markers = controller.play("-e", controller.write_token(ratification))
    assert "APPROVAL_KIND_MISMATCH" in output(as_run)
    assert changed(markers) == []
    # From here the root pins the controller's archive key: a ratification the archive could not record is not taken.
    archive_key = Ed25519PrivateKey.generate()
    pinned = {"keyid": keyid_of(archive_key.public_key()), "owner": "controller-a", "public_key": public_key_text(archive_key.public_key())}
    controller.trust_root.write_bytes(controller.kit.root_document(archive_keys=[pinned]))
    unrecorded = _cli("opsgate-approval", "ratify", "--in", str(token_file), env={**cli_env, "OPSGATE_ARCHIVE_SIGNING_KEY": ""})
    assert unrecorded.returncode != 0
    assert "APPROVAL_ARCHIVE_NOT_WRITABLE" in unrecorded.stderr
    still = _cli("opsgate-archive", "report", "--unratified", "--json", env=cli_env)
    assert [item["token_id"] for item in json.loads(still.stdout)] == ["apv-emergency-0001"]
    key_file = controller.root / "archive-key.pem"
    key_file.write_bytes(archive_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_file.chmod(0o600)
    cli_env["OPSGATE_ARCHIVE_SIGNING_KEY"] = str(key_file)
    controller.extra_env["OPSGATE_ARCHIVE_SIGNING_KEY"] = str(key_file)
    ratified = _cli("opsgate-approval", "ratify", "--in", str(token_file), env=cli_env)
    assert ratified.returncode == 0, ratified.stderr
    assert "ratified by token apv-ratify-0003" in ratified.stderr
    assert ratification not in ratified.stdout + ratified.stderr
    again = _cli("opsgate-approval", "ratify", "--in", str(token_file), env=cli_env)
    assert again.returncode == 2
    assert "APPROVAL_RATIFICATION_INVALID" in again.stderr

    after = _cli("opsgate-archive", "report", "--unratified", "--json", env=cli_env)
    assert json.loads(after.stdout) == []
    records = archive_records(controller.root / "ledger")
    ratification_records = [record for record in records if record.get("kind") == "ratification"]
    assert [record["ratifies"]["token_id"] for record in ratification_records] == ["apv-emergency-0001"]
    assert ratification not in archive_text(controller.root / "ledger")
    # The chain is whole; only the entries written before the root pinned a key are unsigned, and verify says so.
    verified = _cli("opsgate-archive", "verify", "--json", env=cli_env)
    problems = json.loads(verified.stdout)["problems"]
    assert verified.returncode == 1 and problems
    assert {problem["code"] for problem in problems} == {"unsigned"}
    # The newest entry, the ratification written with the pinned key, is signed.
    head = json.loads(verified.stdout)["head"]
    assert head["seq"] not in {problem["seq"] for problem in problems}

    done, markers = controller.play("-e", controller.write_token(normal))
    assert done.returncode == 0, output(done)
    assert changed(markers) == HOSTS
