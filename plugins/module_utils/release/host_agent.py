# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release agent: the only thing a restricted deploy account may run as root on a host.

With the trust bootstrap's ``opsgate_trust_release_user``, the security team installs a root-owned
copy of the approval and release packages under ``AGENT_LIBRARY``, the agent at ``AGENT_PATH``, and
a sudoers rule that lets that account run the agent and nothing else as root. The account then
changes no release directory, service or ledger by itself: a release module running as that
account hands its step to the agent (``call_agent``), which checks the arguments, verifies the
approval against the host's pinned root with its own code (steps.run_step) and applies the step.
A modified collection on the controller can send other code to the host, but that code runs as
the deploy account; all it can ask root for is a step the agent verifies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import IO, Any

from ..approval.host_check import host_is_bootstrapped
from .steps import STEP_SPECS, StepFailed, run_step

AGENT_PATH = "/usr/local/libexec/opsgate/release-step"
AGENT_LIBRARY = "/usr/local/lib/opsgate/agent"
SUDOERS_FILE = "/etc/sudoers.d/opsgate-release"
# A step's request: token, signed policy, change document, config contents. Far below this.
MAX_REQUEST_BYTES = 64 * 1024 * 1024
_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "path": (str,), "int": (int,), "bool": (bool,), "list": (list,), "dict": (dict,)}


class AgentRefused(Exception):
    pass


def _check_value(value: Any, option: Mapping[str, Any], path: str) -> Any:
    kind = option.get("type", "raw")
    if value is None:
        return None
    wanted = _TYPES.get(kind)
    if wanted and (not isinstance(value, wanted) or (kind == "int" and isinstance(value, bool))):
        raise AgentRefused(f"{path} must be of type {kind}, got {type(value).__name__}")
    if "choices" in option and value not in option["choices"]:
        raise AgentRefused(f"{path} must be one of {', '.join(option['choices'])}, got {value!r}")
    if kind == "list":
        elements = option.get("elements")
        items = []
        for index, item in enumerate(value):
            if elements == "dict" and "options" in option:
                if not isinstance(item, dict):
                    raise AgentRefused(f"{path}[{index}] must be a dict, got {type(item).__name__}")
                items.append(check_params(option["options"], item, f"{path}[{index}]"))
            elif elements and not isinstance(item, _TYPES.get(elements, (object,))):
                raise AgentRefused(f"{path}[{index}] must be of type {elements}, got {type(item).__name__}")
            else:
                items.append(item)
        return items
    return value


def check_params(spec: Mapping[str, Mapping[str, Any]], params: Mapping[str, Any], path: str = "params") -> dict[str, Any]:
    """The agent's own argument check (its caller may be any code the deploy account runs): known keys, types, defaults."""
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise AgentRefused(f"{path} has unknown keys {unknown}")
    checked: dict[str, Any] = {}
    for name, option in spec.items():
        value = params.get(name)
        if value is None:
            if option.get("required"):
                raise AgentRefused(f"{path}.{name} is required")
            value = option.get("default")
        checked[name] = _check_value(value, option, f"{path}.{name}")
    return checked


def handle_request(data: bytes) -> dict[str, Any]:
    """One step from the deploy account: check it, verify it, apply it; the answer as a result dict."""
    try:
        request = json.loads(data.decode("utf-8"))
        if not isinstance(request, dict) or set(request) != {"step", "params", "check_mode"}:
            raise AgentRefused("the request must be an object with exactly step, params and check_mode")
        step, params, check_mode = request["step"], request["params"], request["check_mode"]
        if step not in STEP_SPECS or not isinstance(params, dict) or not isinstance(check_mode, bool):
            raise AgentRefused(f"step must be one of {', '.join(sorted(STEP_SPECS))} with params and a boolean check_mode, got {step!r}")
        if not host_is_bootstrapped():
            raise AgentRefused("this host pins no trust root: the release agent runs only on hosts the security team bootstrapped")
        checked = check_params(STEP_SPECS[step], params)
        caller = os.environ.get("SUDO_USER", "")
        if caller and caller != "root" and caller in (checked.get("owner"), checked.get("group")):
            # Files the caller owns are files it can swap for symlinks that root would then follow.
            raise AgentRefused(f"the release's owner or group is {caller!r}, the account that asks: the application's files must belong to another account")
        return run_step(step, checked, check_mode)
    except (ValueError, UnicodeError, AgentRefused) as exc:
        return {"failed": True, "changed": False, "msg": f"the release agent refused the request: {exc}", "approval_error": "RELEASE_AGENT_REFUSED"}
    except StepFailed as exc:
        return {"failed": True, "msg": exc.msg, **exc.fields}


def agent_main(stdin: IO[bytes] | None = None, stdout: IO[str] | None = None) -> int:
    data = (stdin or sys.stdin.buffer).read(MAX_REQUEST_BYTES + 1)
    result = (
        {"failed": True, "changed": False, "msg": f"the release agent refused the request: larger than {MAX_REQUEST_BYTES} bytes"}
        if len(data) > MAX_REQUEST_BYTES
        else handle_request(data)
    )
    out = stdout or sys.stdout
    out.write(json.dumps(result, default=str))
    out.flush()
    return 0


def agent_installed() -> bool:
    return os.path.exists(AGENT_PATH)


def should_delegate() -> bool:
    """A module running without root on a host whose agent the security team installed hands its step over."""
    return os.geteuid() != 0 and agent_installed() and host_is_bootstrapped()


def call_agent(step: str, params: Mapping[str, Any], check_mode: bool) -> dict[str, Any]:
    """Run the step through sudo and the agent; raises StepFailed with what the agent or sudo said."""
    request = json.dumps({"step": step, "params": dict(params), "check_mode": check_mode}, default=str).encode("utf-8")
    try:
        # Called by the modules and by tests without an AnsibleModule (as service.py), hence subprocess.
        done = subprocess.run(["sudo", "-n", AGENT_PATH], input=request, capture_output=True, check=False)  # pylint: disable=ansible-bad-function
    except OSError as exc:
        raise StepFailed(f"{step}: cannot run the release agent through sudo: {exc}", changed=False) from None
    try:
        result = json.loads(done.stdout.decode("utf-8"))
    except ValueError:
        said = done.stderr.decode("utf-8", "replace").strip()[:300]
        raise StepFailed(f"{step}: the release agent did not answer (sudo exit {done.returncode}: {said})", changed=False) from None
    if not isinstance(result, dict):
        raise StepFailed(f"{step}: the release agent answered {type(result).__name__}, not a result", changed=False)
    if result.pop("failed", False):
        raise StepFailed(str(result.pop("msg", "failed")), **result)
    result["through_agent"] = True
    return result
