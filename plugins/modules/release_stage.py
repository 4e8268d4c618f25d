#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_stage
short_description: Back up, then make a complete release directory on a host, or leave nothing behind
version_added: 0.1.0
description:
  - When the release is not current yet, first backs up O(backup_paths) and the config files with an absolute C(dest)
    (with a sha256 of every file) into C(<base_dir>/backups/<release_id>), before any hook of the release runs; the
    C(stage) ledger line records C(backup=true). M(opsgate.release.release_switch) refuses to switch without it, and
    M(opsgate.release.release_revert) restores it after a failed deploy. A stage that fails after an C(after_stage)
    hook started restores the backup itself.
  - Creates C(<base_dir>/releases/<release_id>) from verified artifacts, renders config files into it, links C(shared/)
    paths, applies owner and modes, and records C(deploying) in the host's release ledger.
  - The release is unpacked into C(releases/.staging-<release_id>) and renamed into place only when complete; on any
    error (a digest mismatch on the host, a full disk) the staging directory is removed, the ledger says C(failed) and
    C(current) is not touched.
  - Releases left C(deploying) by a killed run are marked C(failed) and removed (unless current).
  - The action plugin first checks that this run's approval gate passed for this host, then copies the artifacts
    (only when the release is not already on the host). C(token_id) and C(change_id) come from the verified token.
  - Part of the P(opsgate.release.deploy#role) role; use that role rather than this module directly.
author:
  - Opsgate Release Contributors (@opsgate)
extends_documentation_fragment:
  - opsgate.release.release_identity
  - opsgate.release.release_identity.host_check
attributes:
  check_mode:
    support: full
    description: Reports whether the release would be staged; changes nothing.
options:
  release_id:
    description: The release id chosen once on the controller for the whole run.
    type: str
    required: true
  artifacts:
    description: Artifacts to place in the release directory.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: File name of the artifact.
        type: str
        required: true
      sha256:
        description: Expected sha256; checked again on the host after the copy.
        type: str
        required: true
      dest:
        description: Directory inside the release to unpack (or copy) into.
        type: str
        default: "."
      unpack:
        description: Unpack a tar archive (true) or copy the file as is (false).
        type: bool
        default: true
      local_path:
        description: Controller side. The verified file on the controller; the action plugin copies it and sets O(artifacts[].src).
        type: path
      src:
        description: Path of the copied artifact on the host (set by the action plugin).
        type: path
  config_files:
    description:
      - Rendered config files; relative C(dest) lands in the release directory.
      - An absolute C(dest) is backed up here and written by M(opsgate.release.release_switch).
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: Destination path.
        type: str
        required: true
      content:
        description: Rendered content; never shown in output (no_log).
        type: str
        required: true
      mode:
        description: Mode of the file (default O(config_mode)).
        type: raw
  shared_paths:
    description: Paths inside the release replaced by links to C(shared/<path>).
    type: list
    elements: str
    default: []
  owner:
    description: Owner of the release files; empty keeps the connecting account.
    type: str
    default: ""
  group:
    description: Group of the release files.
    type: str
    default: ""
  dir_mode:
    description: Mode of directories (integer or octal string).
    type: raw
    default: "0755"
  file_mode:
    description: Mode of files; empty keeps the modes from the archive.
    type: raw
  config_mode:
    description: Mode of rendered config files.
    type: raw
    default: "0640"
  service:
    description: Service definition stored with the release (used by switch, revert and rollback).
    type: dict
    default: {}
  health:
    description: Health check stored with the release, so a rollback checks the release it returns to.
    type: dict
    default: {}
  after_stage:
    description: Commands run in the staging directory before the release is complete (after the backup); a failure stops the stage.
    type: list
    elements: str
    default: []
  backup_paths:
    description: Absolute paths backed up before any hook; restored on failure and on rollback.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Stage the release (the deploy role does this)
  opsgate.release.release_stage:
    approval: "{{ release_host_context.approval }}"
    base_dir: /srv/sample_app
    release_id: 1.0.0-CHG-1-0123456789ab
    app: sample_app
    version: 1.0.0
    artifact_sha256: "{{ release_host_release.artifact_sha256 }}"
    artifacts: "{{ release_host_release.artifacts }}"
    backup_paths:
      - /srv/sample_app/shared/data
"""

RETURN = r"""
release_id:
  description: The release id.
  returned: always
  type: str
  sample: 1.0.0-CHG-1-0123456789ab
release_dir:
  description: The release directory.
  returned: always
  type: str
current:
  description: The release C(current) pointed at (unchanged by this module).
  returned: success
  type: str
staged:
  description: Whether the release was (or would be) unpacked in this run.
  returned: success
  type: bool
interrupted:
  description: Releases a killed run had left C(deploying), now marked failed.
  returned: success
  type: list
  elements: str
backup_dir:
  description: Where the backup went (or would go).
  returned: when the release is not current
  type: str
backed_up:
  description: The paths backed up (or that would be).
  returned: when the release is not current
  type: list
  elements: str
files:
  description: Number of files unpacked.
  returned: when staged
  type: int
token_id:
  description: Id of the approval token that covered this change.
  returned: success
  type: str
"""

from ansible_collections.opsgate.release.plugins.module_utils.release.module_entry import run_module


def main() -> None:
    run_module("release_stage")


if __name__ == "__main__":
    main()
