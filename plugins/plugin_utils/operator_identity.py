# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Who runs a change: the one answer the host ledger's ``who``, the approval receipt and the archive record share.

The rule (issue 12, "one identity"):

* The operator is the account of the controller process's **real uid**
  (``pwd.getpwuid(os.getuid())``), never ``$USER``, ``$LOGNAME`` or a variable.
* Under AWX / Automation Controller it is the user who **launched the job**, as AWX hands it to
  the job. AWX exports ``JOB_ID`` to the job's environment (``RunJob.build_env``) and
  ansible-runner ``AWX_ISOLATED_DATA_DIR`` (the job's artifact directory,
  ``<private data dir>/artifacts/<ident>``, ``/runner/artifacts/<ident>`` in an execution
  environment). AWX does not export the user's name as an environment variable: it writes
  ``awx_user_name`` (and ``awx_job_id``, ``awx_job_template_name``, the older ``tower_*`` names)
  into the private data dir's ``env/extravars``, *after* the template's, the survey's and the
  launch's extra vars, so whoever launches the job cannot override them in that file. This module
  reads that file, found from the job's environment, and checks that its ``awx_job_id`` is the
  environment's ``JOB_ID``. It never reads the play's variables: ``-e awx_user_name=...`` or
  ``-e deploy_who=...`` changes nothing.

Without ``JOB_ID`` the run is a local one and ``awx_*`` variables are ignored. When ``JOB_ID`` is
set but the launching user cannot be read (no ``AWX_ISOLATED_DATA_DIR``, a file that is missing,
writable by others or of another job), the operator is the real uid's account and
``awx_unverified`` says why.

What this cannot prove: on a machine where people run ``ansible-playbook`` themselves, the
environment is theirs, and someone who forges ``JOB_ID``, ``AWX_ISOLATED_DATA_DIR`` and a file can
name an AWX user. The record keeps ``local_user`` (the real uid's account, which they cannot
forge without root) next to ``user`` for that reason.

Standard library plus PyYAML (which ansible-core requires), no Ansible import: ``bin/`` scripts
import it with ``plugins/plugin_utils`` on ``sys.path``.
"""

from __future__ import annotations

import os
import pwd
import socket
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_USER_KEYS = ("awx_user_name", "tower_user_name")
_JOB_KEYS = ("awx_job_id", "tower_job_id")
_TEMPLATE_KEYS = ("awx_job_template_name", "tower_job_template_name")
_MAX_EXTRAVARS = 16 * 1024 * 1024
_MAX_NAME = 256


@dataclass(frozen=True)
class Operator:
    """``user`` is the name every record uses; the rest says where it came from."""

    user: str
    local_user: str
    controller: str
    source: str = "local"
    awx_job_id: str = ""
    awx_job_template: str = ""
    awx_unverified: str = ""

    def as_dict(self) -> dict[str, str]:
        data = {"source": self.source, "user": self.user, "local_user": self.local_user, "controller": self.controller}
        for key in ("awx_job_id", "awx_job_template", "awx_unverified"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        return data


def real_user(uid: int | None = None) -> str:
    """The account name of the real uid (``uid`` when given); its number when the account has no name."""
    number = os.getuid() if uid is None else uid
    try:
        return pwd.getpwuid(number).pw_name
    except KeyError:
        return str(number)


class _Unverified(Exception):
    pass


def _first(values: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = values.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return ""


def _clean_name(value: str) -> str:
    if len(value) > _MAX_NAME or any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise _Unverified("awx_user_name holds control characters or is too long")
    return value


def _load_extravars(text: str) -> Any:
    import yaml  # ansible-core requires PyYAML

    class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
        """AWX tags the values it writes ``!unsafe`` (awx.main.utils.safe_yaml): read them as plain strings."""

    _Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass


def _extravars_of_job(environ: Mapping[str, str], uid: int) -> dict[str, Any]:
    artifact_dir = environ.get("AWX_ISOLATED_DATA_DIR", "")
    if not artifact_dir or os.path.basename(os.path.dirname(os.path.normpath(artifact_dir))) != "artifacts":
        raise _Unverified("AWX_ISOLATED_DATA_DIR does not name the job's artifacts/<ident> directory")
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.normpath(artifact_dir))), "env", "extravars")
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise _Unverified(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _Unverified(f"{path} is not a regular file")
    if info.st_uid not in (uid, 0) or info.st_mode & 0o022:
        raise _Unverified(f"{path} is owned by uid {info.st_uid} or writable by others")
    if info.st_size > _MAX_EXTRAVARS:
        raise _Unverified(f"{path} is larger than {_MAX_EXTRAVARS} bytes")
    try:
        with open(path, encoding="utf-8") as handle:
            data = _load_extravars(handle.read())
    except Exception as exc:  # any parse error: the name is unverified, never a crash of the run
        raise _Unverified(f"{path} is not a YAML mapping ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise _Unverified(f"{path} is not a YAML mapping")
    return data


def operator_identity(environ: Mapping[str, str] | None = None, uid: int | None = None, controller: str | None = None) -> Operator:
    """The operator of this controller process (see the module's rule); arguments only for tests."""
    environ = os.environ if environ is None else environ
    number = os.getuid() if uid is None else uid
    local = real_user(number)
    host = controller if controller is not None else socket.gethostname()
    job_id = str(environ.get("JOB_ID", "")).strip()
    if not job_id:
        return Operator(user=local, local_user=local, controller=host)
    try:
        extravars = _extravars_of_job(environ, number)
        if _first(extravars, _JOB_KEYS) != job_id:
            raise _Unverified(f"the job's extravars name job {_first(extravars, _JOB_KEYS) or '(none)'}, the environment JOB_ID {job_id}")
        awx_user = _clean_name(_first(extravars, _USER_KEYS))
        if not awx_user:
            raise _Unverified("the job's extravars hold no awx_user_name")
    except _Unverified as exc:
        return Operator(user=local, local_user=local, controller=host, awx_job_id=job_id, awx_unverified=str(exc))
    template = _first(extravars, _TEMPLATE_KEYS)
    return Operator(user=awx_user, local_user=local, controller=host, source="awx", awx_job_id=job_id, awx_job_template=template[:_MAX_NAME])
