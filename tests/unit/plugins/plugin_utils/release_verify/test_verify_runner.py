# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real pytest-testinfra runs of a suite against a local-connection host: counts, the gate's verdict, the timeout,
a suite that runs no test, the private folder, the ansible transport, and that no password comes back."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.opsgate.release.plugins.plugin_utils.release_verify.junit import parse_junit
from ansible_collections.opsgate.release.plugins.plugin_utils.release_verify.outcome import verification_result
from ansible_collections.opsgate.release.plugins.plugin_utils.release_verify.runner import (
    ALIAS,
    SuiteRun,
    connection_vars,
    run_suite,
    secret_values,
    uses_local_transport,
)

REPO = Path(__file__).resolve().parents[5]
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
SHA = "ab" * 32

MIXED = """
import pytest

def test_hostname_file(host):
    assert host.file("/etc/hostname").exists

def test_true_runs(host):
    assert host.run("true").rc == 0

def test_false_is_not_true(host):
    assert host.run("false").rc == 0, "false exited non-zero"

@pytest.mark.skip(reason="not on this host")
def test_skipped(host):
    pass
"""

PASSING = """
def test_hostname_file(host):
    assert host.file("/etc/hostname").exists

def test_true_runs(host):
    assert host.run("true").rc == 0
"""


def _run(suite: str, variables: Mapping[str, Any] | None = None, timeout: int = 120, host: str = "web1", **kwargs: Any) -> SuiteRun:
    return run_suite(suite.encode(), "test_app.py", host, dict(variables or LOCAL), timeout, **kwargs)


def _result(run: SuiteRun, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    return verification_result("web1", SHA, "test_app.py", run, secrets)


def test_passing_failing_and_skipped_tests_are_counted_and_the_gate_fails() -> None:
    run = _run(MIXED)
    assert (run.exit_code, run.timed_out, run.transport, run.host_id) == (1, False, "local", "ansible://web1")
    result = _result(run)
    verify = result["verify"]
    assert result["failed"] is True
    assert result["msg"] == "verification failed on web1: 1 of 4 tests failed: test_false_is_not_true"
    assert {key: verify[key] for key in ("host", "suite_sha256", "suite_name", "tests", "passed", "failed", "errors", "skipped", "failures")} == {
        "host": "web1",
        "suite_sha256": SHA,
        "suite_name": "test_app.py",
        "tests": 4,
        "passed": 2,
        "failed": 1,
        "errors": 0,
        "skipped": 1,
        "failures": ["test_false_is_not_true"],
    }
    # The report itself comes back with its digest, for the archive.
    assert parse_junit(verify["junit"]).tests == 4
    assert "false exited non-zero" in verify["junit"]
    assert verify["junit_sha256"] == hashlib.sha256(verify["junit"].encode()).hexdigest()
    assert verify["duration"] > 0
    assert "1 failed, 2 passed, 1 skipped" in verify["output"]


def test_a_passing_suite_passes_the_gate() -> None:
    result = _result(_run(PASSING))
    assert result["failed"] is False
    assert result["msg"].startswith("verification passed on web1: 2 of 2 tests passed (test_app.py, ")
    assert result["verify"]["failures"] == []


def test_a_suite_that_does_not_end_in_time_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    suite = f"""
import subprocess, time
def test_hangs(host):
    child = subprocess.Popen(["sleep", "300"])
    open({str(pid_file)!r}, "w").write(str(child.pid))
    time.sleep(300)
"""
    started = time.monotonic()
    run = _run(suite, timeout=3)
    assert time.monotonic() - started < 30
    assert (run.timed_out, run.exit_code, run.junit) == (True, None, None)
    result = _result(run)
    assert result["failed"] is True
    assert result["msg"] == "verification failed on web1: the suite test_app.py did not finish within 3 s and was stopped (verify.timeout)"
    assert result["verify"]["timed_out"] is True
    assert (result["verify"]["tests"], result["verify"]["junit"], result["verify"]["junit_sha256"]) == (0, "", "")
    # The process group went with pytest: the command the test started is gone too.
    pid = int(pid_file.read_text())
    for _attempt in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"sleep {pid} started by the suite still runs")


@pytest.mark.parametrize(
    ("suite", "reason"),
    [
        ("X = 1\n", "the suite ran no test (none collected)"),
        (
            "import pytest\n\n@pytest.mark.skip(reason='x')\ndef test_a(host):\n    pass\n\ndef test_b(host):\n    pytest.skip('no')\n",
            "(2 collected, all skipped)",
        ),
    ],
)
def test_a_suite_that_runs_no_test_fails_the_gate(suite: str, reason: str) -> None:
    result = _result(_run(suite))
    assert result["failed"] is True
    assert result["msg"].startswith("verification failed on web1: the suite ran no test")
    assert reason in result["msg"]


def test_a_suite_that_cannot_be_collected_is_an_error() -> None:
    result = _result(_run("def test_broken(host):\n    return (\n"))
    assert result["failed"] is True
    assert result["verify"]["errors"] == 1
    assert result["msg"] == "verification failed on web1: 1 of 1 tests failed: test_app"


def test_the_run_is_private_and_holds_only_the_hosts_connection(tmp_path: Path) -> None:
    """The suite looks at its own folder: 0700, inventory 0600 with this host's connection only; gone afterwards."""
    seen = tmp_path / "seen.json"
    suite = f"""
import json, os, stat

def test_folder(host):
    folder = os.path.dirname(os.path.abspath(__file__))
    inventory = os.path.join(folder, "inventory.json")
    facts = {{
        "folder": folder,
        "folder_mode": stat.S_IMODE(os.stat(folder).st_mode),
        "inventory_mode": stat.S_IMODE(os.stat(inventory).st_mode),
        "inventory": json.load(open(inventory)),
        "variables": host.ansible.get_variables()["inventory_hostname"],
        "addopts": os.environ.get("PYTEST_ADDOPTS"),
    }}
    open({str(seen)!r}, "w").write(json.dumps(facts))
"""
    variables = {**LOCAL, "ansible_become_password": "b3come-s3cret", "opsgate_approval_token": "tok", "opsgate_database_password": "db"}
    os.environ["PYTEST_ADDOPTS"] = "--collect-only"  # a controller's setting never changes how the suite runs
    try:
        result = _result(_run(suite, variables))
    finally:
        del os.environ["PYTEST_ADDOPTS"]
    assert result["failed"] is False, result["msg"]
    facts = json.loads(seen.read_text())
    assert (facts["folder_mode"], facts["inventory_mode"]) == (0o700, 0o600)
    assert facts["inventory"] == {"all": {"hosts": {"web1": {**LOCAL, "ansible_become_password": "b3come-s3cret"}}}}
    assert facts["variables"] == "web1"
    assert facts["addopts"] is None
    assert not os.path.exists(facts["folder"])


def test_a_host_name_that_is_not_url_safe_runs_under_an_alias() -> None:
    run = _run(PASSING, host="web[1]:x")
    assert run.host_id == f"ansible://{ALIAS}"
    assert _result(run)["failed"] is False


def test_passwords_never_come_back_even_when_a_test_prints_them() -> None:
    variables = {**LOCAL, "ansible_password": "c0nn-s3cret", "ansible_become_pass": "b3come-s3cret"}
    suite = """
import json, os

def test_leaks_the_inventory(host):
    inventory = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "inventory.json")).read()
    print(inventory)
    assert inventory == "", inventory

def test_c0nn_s3cret_named(host):
    assert False
"""
    run = _run(suite, variables)
    assert "c0nn-s3cret" in (run.junit or "")  # the run itself saw it: the masking below is what keeps it out
    result = verification_result("web1", SHA, "test_app.py", run, [*secret_values(variables), "c0nn_s3cret"])
    text = json.dumps(result)
    assert "c0nn-s3cret" not in text and "b3come-s3cret" not in text and "c0nn_s3cret" not in text
    assert result["verify"]["failed"] == 2
    assert "********" in result["verify"]["junit"]


def test_other_connections_go_through_ansible_with_the_controllers_collections(tmp_path: Path) -> None:
    """``ansible.builtin.local`` is not a name testinfra maps, like ``containers.podman.podman``: each command is an
    ``ansible`` ad hoc run, which finds this collection's modules through the ANSIBLE_COLLECTIONS_PATH handed over."""
    base = tmp_path / "app"
    base.mkdir()
    suite = f"""
def test_command(host):
    assert host.run("true").rc == 0

def test_a_module_of_the_collection(host):
    assert host.ansible("opsgate.release.release_info", "base_dir={base}", check=False)["current"] is None
"""
    variables = {**LOCAL, "ansible_connection": "ansible.builtin.local"}
    assert not uses_local_transport(variables)
    run = _run(suite, variables, ansible_env={"ANSIBLE_COLLECTIONS_PATH": str(REPO / ".collections")})
    result = _result(run)
    assert run.transport == "ansible"
    assert result["failed"] is False, result["verify"]["output"]


def test_become_on_a_local_host_goes_through_ansible() -> None:
    assert uses_local_transport({"ansible_connection": "local"})
    assert not uses_local_transport({"ansible_connection": "local", "ansible_become": "yes"})
    assert not uses_local_transport({"ansible_connection": "containers.podman.podman"})
    assert not uses_local_transport({})


def test_only_connection_variables_enter_the_inventory() -> None:
    variables = {
        "ansible_connection": "podman",
        "ansible_podman_executable": "podman",
        "ansible_host": "opsgate-verify-1",
        "ansible_user": "root",
        "ansible_become": True,
        "ansible_become_password": "x",
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no",
        "opsgate_approval_token": "tok",
        "opsgate_database_password": "db",
        "opsgate_release": {"app": "a"},
        "hostvars": {},
        "ansible_facts": {},
    }
    assert sorted(connection_vars(variables)) == [
        "ansible_become",
        "ansible_become_password",
        "ansible_connection",
        "ansible_host",
        "ansible_podman_executable",
        "ansible_ssh_common_args",
        "ansible_user",
    ]


def test_without_testinfra_the_error_names_the_package(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked" / "testinfra"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError(\"No module named 'testinfra' (blocked by the test)\")\n")
    code = (
        "from ansible_collections.opsgate.release.plugins.plugin_utils.release_verify.runner import MissingLibraryError, run_suite\n"
        "try:\n"
        "    run_suite(b'', 'test_a.py', 'web1', {'ansible_connection': 'local'}, 10)\n"
        "except MissingLibraryError as exc:\n"
        "    print(exc.package, '|', exc.message)\n"
    )
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": os.pathsep.join([str(tmp_path / "blocked"), str(REPO / ".collections")])}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=environment, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pytest-testinfra | release_verify needs the Python package pytest-testinfra on the controller"), done.stdout
    assert "-m pip install pytest-testinfra" in done.stdout
