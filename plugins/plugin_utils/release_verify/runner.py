# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One pytest-testinfra run of the approved suite against one host, on the controller.

The suite and a one-host inventory go into a private temporary folder (0700, removed afterwards); pytest runs in a
process group of its own under the suite's timeout, with testinfra's Ansible backend (``ansible://HOST``).

Which transport testinfra uses (testinfra/utils/ansible_runner.py, get_ansible_host): for the ``local``
connection it runs the commands itself, the way Ansible's local connection does (a few milliseconds per check).
Every other connection goes through ``ansible`` ad hoc runs (``force_ansible=True``), one per command: slower
(a second or more per check), but the host is reached exactly as the deploy reached it, with the same connection
plugin (containers.podman.podman, which testinfra does not map at all), become method and passwords,
ansible.cfg ssh settings and host key policy. testinfra's own ssh mapping would drop several of these (a become
password, host_key_checking = False, sshpass through a pipe) and reach the host differently from the deploy.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .junit import MAX_JUNIT_BYTES

# The host's connection, as the inventory or the play gives it: nothing else of the host's variables (the approval
# token, the database password, the release) enters the temporary inventory.
CONNECTION_VARS = (
    "ansible_connection",
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_python_interpreter",
    "ansible_private_key_file",
    "ansible_ssh_private_key_file",
    "ansible_shell_type",
    "ansible_shell_executable",
    "ansible_remote_tmp",
    "ansible_pipelining",
    "ansible_timeout",
)
# Options of the connection and become plugins (ansible_ssh_common_args, ansible_become_user, ansible_podman_executable...).
CONNECTION_PREFIXES = ("ansible_ssh_", "ansible_become", "ansible_podman_", "ansible_docker_", "ansible_sftp_", "ansible_scp_", "ansible_paramiko_")
# Never shown: removed from everything the step returns.
SECRET_VARS = ("ansible_password", "ansible_ssh_pass", "ansible_become_password", "ansible_become_pass")
# testinfra reads the inventory name from a URL (ansible://NAME?...): other names go in under this alias.
_URL_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$")
ALIAS = "verified-host"
_SUITE_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,100}\.py$")
OUTPUT_TAIL_LINES = 60
_KILL_GRACE_SECONDS = 5


class MissingLibraryError(Exception):
    """pytest or pytest-testinfra is not installed in the Python that runs Ansible on the controller."""

    def __init__(self, package: str, import_error: str) -> None:
        reason = import_error.strip().splitlines()[-1] if import_error.strip() else "not importable"
        message = (
            f"release_verify needs the Python package {package} on the controller, in the Python that runs ansible "
            f"({sys.executable}: {reason}); install it with: {sys.executable} -m pip install {package}"
        )
        super().__init__(message)
        self.package = package
        self.message = message


def require_testinfra() -> None:
    """Fail before any file is written when the run could not start (pytest) or has no ``host`` fixture (testinfra)."""
    for module, package in (("pytest", "pytest"), ("testinfra", "pytest-testinfra")):
        try:
            __import__(module)
        except ImportError:
            raise MissingLibraryError(package, traceback.format_exc()) from None


@dataclass(frozen=True)
class SuiteRun:
    """What came back from one run: the JUnit text (None when pytest wrote none), how it ended, the output's tail."""

    exit_code: int | None  # None: stopped on timeout
    timed_out: bool
    timeout: int
    junit: str | None
    output: str
    seconds: float
    transport: str  # "local" (testinfra runs the commands) or "ansible" (ad hoc runs over the host's connection)
    host_id: str  # the name the tests were parametrized with (ansible://HOST)


def connection_vars(variables: Mapping[str, Any]) -> dict[str, Any]:
    """The host's connection variables among ``variables`` (the names only decide; values are taken as given)."""
    return {name: value for name, value in variables.items() if name in CONNECTION_VARS or name.startswith(CONNECTION_PREFIXES)}


def secret_values(variables: Mapping[str, Any]) -> list[str]:
    return [str(variables[name]) for name in SECRET_VARS if variables.get(name) not in (None, "")]


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on", "y", "t")


def uses_local_transport(variables: Mapping[str, Any]) -> bool:
    """testinfra's own local backend only where it is Ansible's local connection as is (no become)."""
    return variables.get("ansible_connection") == "local" and not _truthy(variables.get("ansible_become", False))


def _plain(value: Any) -> Any:
    # Templated values may be Ansible's own str subclasses or vaulted strings: JSON takes them as plain text.
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value)


def _write_private(path: str, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _child_environment(folder: str, ansible_env: Mapping[str, str] | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(ansible_env or {})
    # testinfra starts ansible-inventory and ansible by name: the ones installed with this Python first.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", os.defpath)])
    env.update(
        {
            # Only testinfra's plugin: nothing else installed in the controller's Python joins the run.
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "ANSIBLE_LOCAL_TEMP": os.path.join(folder, "ansible-tmp"),
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            # The ad hoc runs load no callbacks (an archive callback enabled for playbooks records nothing here).
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "0",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_VERBOSITY": "0",
        }
    )
    env.pop("ANSIBLE_INVENTORY", None)
    return env


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The whole process group: pytest, the ansible runs it started and what the tests started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_KILL_GRACE_SECONDS)
    # What ignored SIGTERM, and the children of a pytest that ended on it.
    _kill_group(process.pid)
    process.wait()


def _tail(path: str, lines: int = OUTPUT_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 65536))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _read_junit(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_JUNIT_BYTES + 1)
    except FileNotFoundError:
        return None
    return data.decode("utf-8", "replace")


def run_suite(
    suite: bytes,
    suite_name: str,
    host: str,
    variables: Mapping[str, Any],
    timeout: int,
    ansible_env: Mapping[str, str] | None = None,
) -> SuiteRun:
    """Run ``suite`` against ``host`` reached with ``variables`` (its connection variables, templated) within ``timeout`` seconds.

    ``ansible_env``: ANSIBLE_* settings the controller runs with (ANSIBLE_CONFIG, ANSIBLE_COLLECTIONS_PATH), so the
    ad hoc runs find the same configuration and collections (containers.podman for molecule's hosts).
    """
    require_testinfra()
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1:
        raise ValueError(f"verify.timeout must be a positive number of seconds, got {timeout!r}")
    name = host if _URL_SAFE_NAME.match(host) else ALIAS
    inventory_vars = {key: _plain(value) for key, value in connection_vars(variables).items()}
    inventory_vars.setdefault("ansible_host", host)  # the alias must still reach the host by its inventory name
    local = uses_local_transport(inventory_vars)
    if local:
        # testinfra puts the address into a local:// URL it never uses, where a name like "web[1]" breaks the parse.
        del inventory_vars["ansible_host"]
    folder = tempfile.mkdtemp(prefix="opsgate-verify-")  # 0700: the inventory may hold a connection password
    try:
        module = suite_name if _SUITE_MODULE.match(suite_name or "") else "test_verify_suite.py"
        suite_path = os.path.join(folder, module)
        inventory = os.path.join(folder, "inventory.json")
        junit = os.path.join(folder, "junit.xml")
        ini = os.path.join(folder, "pytest.ini")
        output = os.path.join(folder, "output.txt")
        _write_private(suite_path, suite)
        _write_private(inventory, json.dumps({"all": {"hosts": {name: inventory_vars}}}).encode("utf-8"))
        # An ini file of its own and no conftest: nothing above the folder (/tmp/pytest.ini, /tmp/conftest.py) joins the run.
        _write_private(ini, b"[pytest]\n")
        os.mkdir(os.path.join(folder, "ansible-tmp"), 0o700)
        target = f"ansible://{name}" + ("" if local else "?force_ansible=True")
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "testinfra.plugin",
            "--noconftest",
            "-c",
            ini,
            "--rootdir",
            folder,
            "-q",
            "--tb=short",
            f"--junitxml={junit}",
            f"--hosts={target}",
            f"--ansible-inventory={inventory}",
            suite_path,
        ]
        started = time.monotonic()
        with open(output, "wb") as sink:
            process = subprocess.Popen(  # a fixed command; the suite is the approved file
                command,
                cwd=folder,
                env=_child_environment(folder, ansible_env),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            timed_out = False
            try:
                exit_code: int | None = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                exit_code = None
                _stop(process)
            else:
                # Whatever the tests left running in the group (a background command on a local host) ends with the run.
                _kill_group(process.pid)
        seconds = round(time.monotonic() - started, 3)
        return SuiteRun(
            exit_code=exit_code,
            timed_out=timed_out,
            timeout=timeout,
            junit=None if timed_out else _read_junit(junit),
            output=_tail(output),
            seconds=seconds,
            transport="local" if local else "ansible",
            host_id=f"ansible://{name}",
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
