# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bin/opsgate-approval end to end, as approvers run it: subprocesses, real files, no Ansible."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

BIN = Path(__file__).resolve().parents[5] / "bin" / "opsgate-approval"
ROLES = {"alice": "business_head", "bob": "it_head", "carol": "risk_compliance", "dave": "ops_director"}
ARTIFACT = "5e" * 32


def _cli(tmp: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # A fake "ansible" package that cannot be imported proves the CLI never needs Ansible.
    environment = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(tmp / "no-ansible"),
        "HOME": str(tmp),
        "OPSGATE_TRUST_ROOT": str(tmp / "trust" / "root.json"),
        **(env or {}),
    }
    return subprocess.run([sys.executable, str(BIN), *args], cwd=tmp, input=stdin, capture_output=True, text=True, env=environment, check=False)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    blocker = tmp_path / "no-ansible" / "ansible"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('the approvers CLI must not import ansible')\n")
    (tmp_path / "alice.pass").write_text("correct horse battery staple\n")
    entries = []
    for owner, role in ROLES.items():
        options = ["--passphrase-file", "alice.pass"] if owner == "alice" else []
        env = {"OPSGATE_APPROVAL_PASSPHRASE": "bob's secret"} if owner == "bob" else None
        done = _cli(tmp_path, "keygen", "--owner", owner, "--role", role, "--out", f"{owner}.key", *options, env=env)
        assert done.returncode == 0, done.stderr
        entries.append(json.loads(done.stdout))
    done = _cli(tmp_path, "keygen", "--owner", "erin", "--role", "requester", "--out", "erin.key")
    assert done.returncode == 0, done.stderr
    entries.append(json.loads(done.stdout))
    # The policy administrators: a trust root signed by both, pinned in the workspace, and the policy they sign.
    for admin in ("root-ann", "root-ben"):
        assert _cli(tmp_path, "keygen", "--owner", admin, "--role", "policy_admin", "--out", f"{admin}.key", "--public-out", f"{admin}.pub").returncode == 0
    steps = [
        ["root-create", "--admin", "root-ann.pub", "--admin", "root-ben.pub", "--threshold", "2", "--ledger-dir", str(tmp_path / "ledger"), "--out", "r0.json"],
        ["admin-sign", "--key", "root-ann.key", "--in", "r0.json", "--out", "r1.json"],
        ["admin-sign", "--key", "root-ben.key", "--in", "r1.json", "--out", "r2.json"],
        ["root-install", "--in", "r2.json"],
    ]
    policy = {
        "approvers": entries,
        "classes": {"core_business": {"roles": dict.fromkeys(ROLES.values(), 1)}, "decision_support": {"roles": {"ops_director": 1}}},
        # The requests below say the plan was filed two weeks before they are made (the real clock); this
        # slack lets that count. With the default (24 h) it does not: see test_the_default_slack_...
        "plan_filed_slack_hours": 15 * 24,
    }
    (tmp_path / "policy-body.json").write_text(json.dumps(policy))
    expires = _iso(datetime.now(UTC) + timedelta(days=30))
    steps += [
        ["policy-create", "--in", "policy-body.json", "--version", "1", "--expires", expires, "--out", "p0.json"],
        ["admin-sign", "--key", "root-ann.key", "--in", "p0.json", "--out", "p1.json"],
        ["admin-sign", "--key", "root-ben.key", "--in", "p1.json", "--out", "trust/policy.json"],
    ]
    for step in steps:
        done = _cli(tmp_path, *step)
        assert done.returncode == 0, (step, done.stderr)
    return tmp_path


def _request(tmp: Path, out: str = "request.token", plan_filed_at: str | None = None) -> subprocess.CompletedProcess[str]:
    now = datetime.now(UTC)
    done = _cli(
        tmp,
        "request",
        "--change-id", "CHG-2025-0200",
        "--system", "accounts",
        "--system-class", "core_business",
        "--action", "deploy",
        "--app", "accounts-api",
        "--version", "2.0.1",
        "--artifact-sha256", ARTIFACT.upper(),
        "--env", "prod",
        "--hosts", "web2,web1",
        "--hosts", "web3",
        "--plan-filed-at", plan_filed_at or _iso(now - timedelta(days=14)),
        "--not-before", (now - timedelta(hours=1)).astimezone().isoformat(timespec="seconds"),
        "--not-after", _iso(now + timedelta(hours=3)),
        "--requested-by", "erin",
        "--key", "erin.key",
        "--test-report", "TR-88",
        "--acceptance-report", "UAT-12",
        "--out", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def _sign_all(tmp: Path) -> Path:
    _request(tmp)
    current = "request.token"
    for number, owner in enumerate(ROLES, start=1):
        options = ["--passphrase-file", "alice.pass"] if owner == "alice" else []
        env = {"OPSGATE_APPROVAL_PASSPHRASE": "bob's secret"} if owner == "bob" else None
        output_format = ["--format", "vars"] if number == len(ROLES) else []
        done = _cli(tmp, "sign", "--key", f"{owner}.key", "--in", current, "--out", f"signed-{number}.token", *options, *output_format, env=env)
        assert done.returncode == 0, done.stderr
        assert "accounts-api" in done.stderr  # the approver sees what they sign
        current = f"signed-{number}.token"
    return tmp / current


SCOPE = ["--action", "deploy", "--app", "accounts-api", "--version", "2.0.1", "--artifact-sha256", ARTIFACT, "--env", "prod", "--hosts", "web1,web2,web3"]


def test_keygen_writes_private_keys_0600_and_encrypts_with_a_passphrase(workspace: Path) -> None:
    for owner in ROLES:
        assert _mode(workspace / f"{owner}.key") == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in (workspace / "alice.key").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in (workspace / "bob.key").read_bytes()
    assert b"BEGIN PRIVATE KEY" in (workspace / "carol.key").read_bytes()
    again = _cli(workspace, "keygen", "--owner", "carol", "--role", "risk_compliance", "--out", "carol.key")
    assert again.returncode == 2
    assert "exists; pass --force" in again.stderr


def test_request_sign_four_times_and_verify(workspace: Path) -> None:
    final = _sign_all(workspace)
    for path in [workspace / "request.token", *workspace.glob("signed-*.token")]:
        assert _mode(path) == 0o600, path
    token = json.loads(final.read_text())["opsgate_approval_token"]
    done = _cli(workspace, "verify", "--in", final.name, "--policy", "trust/policy.json", *SCOPE)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["signer_roles"] == sorted(ROLES.values())
    assert summary["hosts"] == ["web1", "web2", "web3"]
    assert summary["scope_checked"] is True
    assert token not in done.stdout + done.stderr
    # The same token, piped on stdin.
    piped = _cli(workspace, "verify", "--policy", "trust/policy.json", stdin=token)
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["scope_checked"] is False


def test_verify_refuses_with_the_plugin_codes(workspace: Path) -> None:
    final = _sign_all(workspace)
    wrong = [*SCOPE[:5], "2.0.2", *SCOPE[6:]]
    done = _cli(workspace, "verify", "--in", final.name, "--policy", "trust/policy.json", *wrong)
    assert done.returncode == 2
    assert "REFUSED APPROVAL_VERSION_MISMATCH: version differs: the token approves '2.0.1', this run has '2.0.2'" in done.stderr
    partial = _cli(workspace, "verify", "--in", "signed-3.token", "--policy", "trust/policy.json")
    assert partial.returncode == 2
    assert "REFUSED APPROVAL_ROLE_MISSING: role ops_director" in partial.stderr


def test_verify_uses_the_policy_beside_the_pinned_root_and_says_what_it_did_not_check(workspace: Path) -> None:
    final = _sign_all(workspace)
    done = _cli(workspace, "verify", "--in", final.name)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["policy_version"] == 1
    assert "NOT CHECKED: the scope" in done.stderr
    assert "NOT CHECKED: single use" in done.stderr
    checked = _cli(workspace, "verify", "--in", final.name, "--check-ledger", *SCOPE)
    assert checked.returncode == 0, checked.stderr
    assert "NOT CHECKED" not in checked.stderr


def test_policy_body_may_be_yaml(workspace: Path) -> None:
    yaml = pytest.importorskip("yaml")
    body = json.loads((workspace / "policy-body.json").read_text())
    (workspace / "body.yml").write_text(yaml.safe_dump(body))
    env = {"PYTHONPATH": f"{workspace / 'no-ansible'}{os.pathsep}{Path(yaml.__file__).parent.parent}"}
    done = _cli(workspace, "policy-create", "--in", "body.yml", "--version", "2", "--expires", "2030-01-01T00:00:00Z", "--out", "p2.json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads((workspace / "p2.json").read_text())["signed"]["approvers"] == body["approvers"]


def test_sign_refuses_wrong_passphrase_and_a_second_signature(workspace: Path) -> None:
    _request(workspace)
    wrong = _cli(workspace, "sign", "--key", "bob.key", "--in", "request.token", "--out", "x.token", env={"OPSGATE_APPROVAL_PASSPHRASE": "guess"})
    assert wrong.returncode == 2
    assert "APPROVAL_KEY_FILE_INVALID: bob.key: not a readable PEM private key, or the passphrase is wrong" in wrong.stderr
    missing = _cli(workspace, "sign", "--key", "alice.key", "--in", "request.token", "--out", "x.token")
    assert "the key is encrypted; give --passphrase-file" in missing.stderr
    assert _cli(workspace, "sign", "--key", "dave.key", "--in", "request.token", "--out", "d.token").returncode == 0
    twice = _cli(workspace, "sign", "--key", "dave.key", "--in", "d.token", "--out", "dd.token")
    assert twice.returncode == 2
    assert "APPROVAL_ALREADY_SIGNED" in twice.stderr


def test_inspect_names_signers_but_shows_no_token_or_signature(workspace: Path) -> None:
    final = _sign_all(workspace)
    token = json.loads(final.read_text())["opsgate_approval_token"]
    done = _cli(workspace, "inspect", "--in", final.name, "--policy", "trust/policy.json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert sorted(s["owner"] for s in shown["signatures"]) == sorted([*ROLES, "erin"])
    assert shown["claims"]["artifact_sha256"] == ARTIFACT
    assert token.split(".", 1)[1][100:140] not in done.stdout
    assert "sig" not in {key for s in shown["signatures"] for key in s}


def test_the_cli_is_an_executable_script() -> None:
    assert os.access(BIN, os.X_OK)
    assert BIN.read_text().startswith("#!/usr/bin/env python3\n")


def test_sign_refuses_a_private_key_others_can_read(workspace: Path) -> None:
    _request(workspace)
    (workspace / "dave.key").chmod(0o644)
    done = _cli(workspace, "sign", "--key", "dave.key", "--in", "request.token", "--out", "d.token")
    assert done.returncode == 2
    assert "APPROVAL_KEY_FILE_INVALID" in done.stderr
    assert "readable by group or others (mode 0644); chmod 600" in done.stderr
    assert not (workspace / "d.token").exists()


def _envelope_file(workspace: Path, name: str, raw: bytes) -> str:
    import base64

    (workspace / name).write_bytes(b"opsgate-approval-v1." + base64.urlsafe_b64encode(raw).rstrip(b"="))
    return name


def _raw_file(workspace: Path, name: str, data: bytes) -> str:
    (workspace / name).write_bytes(data)
    return name


HOSTILE_FILES = {
    "non_utf8_file": (lambda w: _raw_file(w, "bad.token", b"\xff\xfe\x00garbage"), "APPROVAL_TOKEN_MALFORMED"),
    "deep_nesting": (lambda w: _envelope_file(w, "deep.token", b"[" * 100_000 + b"]" * 100_000), "APPROVAL_TOKEN_MALFORMED"),
    "huge_integer": (lambda w: _envelope_file(w, "int.token", b'{"signatures":[],"signed":{"a":' + b"9" * 5000 + b"}}"), "APPROVAL_TOKEN_MALFORMED"),
    "lone_surrogate": (lambda w: _envelope_file(w, "sur.token", b'{"signatures":[],"signed":{"a":"\\ud800"}}'), "APPROVAL_TOKEN_MALFORMED"),
    "nan": (lambda w: _envelope_file(w, "nan.token", b'{"signatures":[],"signed":{"a":NaN}}'), "APPROVAL_TOKEN_MALFORMED"),
    "thirteen_megabytes": (lambda w: _raw_file(w, "big.token", b"opsgate-approval-v1." + b"A" * (13 * 1024 * 1024)), "APPROVAL_TOKEN_TOO_LARGE"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_hostile_token_files_get_a_code_never_a_traceback(workspace: Path, name: str) -> None:
    build, code = HOSTILE_FILES[name]
    path = build(workspace)
    for command in (["verify", "--in", path], ["inspect", "--in", path]):
        done = _cli(workspace, *command)
        assert done.returncode == 2, done.stderr
        assert f"REFUSED {code}" in done.stderr
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_a_hostile_policy_file_gets_a_code_never_a_traceback(workspace: Path) -> None:
    final = _sign_all(workspace)
    text = (workspace / "trust/policy.json").read_bytes()
    for name, data in {"nan": text.replace(b'"version":1', b'"version":NaN'), "latin1": text.replace(b"erin", b"\xe9rin")}.items():
        (workspace / f"{name}.json").write_bytes(data)
        done = _cli(workspace, "verify", "--in", final.name, "--policy", f"{name}.json")
        assert done.returncode == 2, done.stderr
        assert "REFUSED APPROVAL_POLICY_INVALID" in done.stderr
        assert "Traceback" not in done.stderr


# --- signer times (issue 16) -------------------------------------------------------------------


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_request_and_sign_record_when_each_signer_signed(workspace: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    final = _sign_all(workspace)
    after = datetime.now(UTC)
    shown = json.loads(_cli(workspace, "inspect", "--in", final.name, "--policy", "trust/policy.json").stdout)
    requested_at = _parse(shown["claims"]["requested_at"])
    assert before <= requested_at <= after
    times = {s["owner"]: _parse(s["signed_at"]) for s in shown["signatures"]}
    assert sorted(times) == sorted([*ROLES, "erin"])
    assert times["erin"] == requested_at  # the requester signs when the request is made
    assert all(requested_at <= moment <= after for moment in times.values())
    done = _cli(workspace, "verify", "--in", final.name, *SCOPE)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["requested_at"] == shown["claims"]["requested_at"]
    # Filed two weeks before the request, within this workspace's 15-day slack: counted from plan_filed_at.
    assert summary["lead_counted_from"] == summary["plan_filed_at"] == shown["claims"]["plan_filed_at"]
    assert {s["owner"]: s["signed_at"] for s in summary["signers"]} == {owner: _iso(times[owner]) for owner in ROLES}


def test_the_default_slack_refuses_a_plan_filed_two_weeks_before_the_request(workspace: Path) -> None:
    final = _sign_all(workspace)
    body = json.loads((workspace / "policy-body.json").read_text())
    del body["plan_filed_slack_hours"]
    (workspace / "body-2.json").write_text(json.dumps(body))
    expires = _iso(datetime.now(UTC) + timedelta(days=30))
    for step in (
        ["policy-create", "--in", "body-2.json", "--version", "2", "--expires", expires, "--out", "q0.json"],
        ["admin-sign", "--key", "root-ann.key", "--in", "q0.json", "--out", "q1.json"],
        ["admin-sign", "--key", "root-ben.key", "--in", "q1.json", "--out", "policy-2.json"],
    ):
        assert _cli(workspace, *step).returncode == 0, step
    done = _cli(workspace, "verify", "--in", final.name, "--policy", "policy-2.json", *SCOPE)
    assert done.returncode == 2, done.stdout
    assert "REFUSED APPROVAL_LEAD_TIME_TOO_SHORT: plan_filed_at " in done.stderr
    assert "is more than 24 h (plan_filed_slack_hours) before the first signature, by " in done.stderr
    assert "(erin, requester)" in done.stderr


def test_request_refuses_a_plan_filed_after_it_and_notes_one_filed_long_before(workspace: Path) -> None:
    later = _iso(datetime.now(UTC) + timedelta(hours=2))
    with pytest.raises(AssertionError, match=rf"REFUSED APPROVAL_SIGNED_BEFORE_PLAN: --plan-filed-at {later} is later than now"):
        _request(workspace, plan_filed_at=later)
    assert not (workspace / "request.token").exists()
    done = _request(workspace)
    assert "note: plan_filed_at" in done.stderr
    assert "more than 24 h before this request" in done.stderr
    recent = _request(workspace, out="recent.token", plan_filed_at=_iso(datetime.now(UTC) - timedelta(hours=1)))
    assert "note:" not in recent.stderr


def test_root_create_pins_the_state_store_but_never_a_password(tmp_path: Path) -> None:
    assert _cli(tmp_path, "keygen", "--owner", "root-ann", "--role", "policy_admin", "--out", "ann.key", "--public-out", "ann.pub").returncode == 0
    base = ["root-create", "--admin", "ann.pub", "--threshold", "1", "--ledger-dir", str(tmp_path / "ledger")]
    store = {"backend": "postgresql", "host": "db.example", "port": 5432, "dbname": "opsgate", "user": "opsgate", "sslmode": "verify-full"}
    done = _cli(tmp_path, *base, "--state-store-json", json.dumps(store), "--out", "root.json")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "root.json").read_text())["signed"]["state_store"] == store
    with_password = _cli(tmp_path, *base, "--state-store-json", json.dumps({**store, "password": "s3cret"}), "--out", "bad.json")
    assert with_password.returncode == 2
    assert "APPROVAL_TRUST_ROOT_INVALID" in with_password.stderr and "a password never goes here" in with_password.stderr
    assert "s3cret" not in with_password.stdout + with_password.stderr
    assert not (tmp_path / "bad.json").exists()
    not_json = _cli(tmp_path, *base, "--state-store-json", "{backend: sqlite}", "--out", "bad.json")
    assert not_json.returncode == 2 and "--state-store-json is not JSON" in not_json.stderr


def test_root_create_pins_archive_signing_keys(tmp_path: Path) -> None:
    for owner in ("root-ann", "controller-a"):
        assert _cli(tmp_path, "keygen", "--owner", owner, "--role", "policy_admin", "--out", f"{owner}.key", "--public-out", f"{owner}.pub").returncode == 0
    base = ["root-create", "--admin", "root-ann.pub", "--threshold", "1", "--ledger-dir", str(tmp_path / "ledger")]
    done = _cli(tmp_path, *base, "--archive-key", "controller-a.pub", "--out", "root.json")
    assert done.returncode == 0, done.stderr
    pinned = json.loads((tmp_path / "root.json").read_text())["signed"]["archive_keys"]
    entry = json.loads((tmp_path / "controller-a.pub").read_text())
    assert [(key["keyid"], key["owner"]) for key in pinned] == [(entry["keyid"], "controller-a")]
    twice = _cli(tmp_path, *base, "--archive-key", "controller-a.pub", "--archive-key", "controller-a.pub", "--out", "bad.json")
    assert twice.returncode == 2 and "listed twice" in twice.stderr
