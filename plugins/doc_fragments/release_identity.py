# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # What every host-changing release module takes to name the release in the ledger and to
    # have its action plugin check this run's approval (release_stage, _switch, _commit, _revert).
    # With HOST_CHECK (opsgate.release.release_identity.host_check), which release_migrate shares.
    DOCUMENTATION = r"""
options:
  approval:
    description:
      - Controller side. The run's approval scope (C(action), C(app), C(version), C(artifact_sha256), C(env), optionally
        C(system), C(system_class)); the action plugin requires this run's approval receipt for it and never sends it to the host.
    type: dict
  change:
    description:
      - Controller side. The run's change document (the one whose sha256 the token's C(change_sha256) signs) and this host's
        entry is compared with the step's arguments on the controller; on a host with a pinned trust root, again on the host.
    type: dict
  base_dir:
    description: Base directory holding C(releases/), C(shared/), C(current) and the ledger.
    type: path
    required: true
  app:
    description: Application name, recorded in the ledger.
    type: str
    required: true
  version:
    description: Version, recorded in the ledger and the release marker.
    type: str
    required: true
  artifact_sha256:
    description: The release digest the approval binds (the artifact's sha256 when there is one artifact).
    type: str
    required: true
  change_id:
    description: Change id for the ledger; the action plugin uses the verified token's when empty.
    type: str
    default: ""
  token_id:
    description: Set by the action plugin from the verified token; a value given here is replaced.
    type: str
    default: ""
  who:
    description:
      - Set by the action plugin to the controller's operator (the real uid's account, or under AWX the user who launched
        the job, read from the job's own files), recorded in the ledger next to the host account.
      - A value given in the task is refused (C(RELEASE_WHO_REFUSED)); no variable names the operator.
    type: str
    default: ""
attributes:
  diff_mode:
    support: none
    description: Changes are reported in the return values, not as a diff.
  platform:
    support: full
    platforms: posix
    description:
      - Linux and other POSIX hosts with Python 3.11 or newer; systemd only for releases whose service type is systemd.
      - A host with a pinned trust root (the trust bootstrap playbook) needs the Python library C(cryptography)
        (C(python3-cryptography)) and refuses every step without it.
"""

    # What the action plugin hands the host to verify the step itself: every module whose step a host with a pinned
    # trust root checks (release_stage, _switch, _commit, _revert, release_migrate).
    HOST_CHECK = r"""
options:
  host_token:
    description:
      - Set by the action plugin; a value given in the task is refused. The token the host verifies against its own pinned root.
    type: str
  host_policy:
    description: Set by the action plugin; a value given in the task is refused. The signed policy the token is verified against.
    type: str
  host_change:
    description: Set by the action plugin; a value given in the task is refused. The change document the host checks its step against.
    type: dict
"""
