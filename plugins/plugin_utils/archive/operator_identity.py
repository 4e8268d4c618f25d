# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Who ran the playbook: the local account, or the AWX / Automation Controller user and job."""

from __future__ import annotations

import getpass
import os
import pwd
import socket
from collections.abc import Mapping
from typing import Any

# AWX passes these to every job as extra vars (awx_* and the older tower_* names);
# ansible-runner under AWX also exports JOB_ID. AWX_* env names are what some EE setups export.
_USER_VARS = ("awx_user_name", "tower_user_name")
_JOB_VARS = ("awx_job_id", "tower_job_id")
_TEMPLATE_VARS = ("awx_job_template_name", "tower_job_template_name")
_USER_ENV = ("AWX_USER_NAME",)
_JOB_ENV = ("AWX_JOB_ID", "JOB_ID")


def _first(sources: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = sources.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def local_user() -> str:
    """The account running the controller process (the real uid, not a spoofable $USER)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return getpass.getuser()


def operator_from(extra_vars: Mapping[str, Any], environ: Mapping[str, str], user: str, controller: str) -> dict[str, Any]:
    """The ``operator`` object of a record; AWX identity when the job came from AWX, else the local account."""
    awx_user = _first(extra_vars, _USER_VARS) or _first(environ, _USER_ENV)
    job_id = _first(extra_vars, _JOB_VARS) or _first(environ, _JOB_ENV)
    operator: dict[str, Any] = {"source": "awx" if (awx_user or job_id) else "local", "user": awx_user or user, "local_user": user, "controller": controller}
    if job_id:
        operator["awx_job_id"] = job_id
    template = _first(extra_vars, _TEMPLATE_VARS)
    if template:
        operator["awx_job_template"] = template
    return operator


def current_operator(extra_vars: Mapping[str, Any]) -> dict[str, Any]:
    return operator_from(extra_vars, os.environ, local_user(), socket.gethostname())
