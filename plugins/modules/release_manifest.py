#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_manifest
short_description: Validate a release manifest, verify its artifacts and choose the release id, on the controller
version_added: 0.1.0
description:
  - Runs on the controller only (an action plugin); contacts no host.
  - Validates O(manifest) (normally the inventory variable C(opsgate_release)). An error names the key path and the value.
  - Checks the sha256 of every artifact before anything is copied (a local file in place, a URL after downloading it into
    O(artifact_cache_dir)). A mismatch fails with both digests.
  - Reads every migration file, down file and the verify suite the manifest names (a relative path is relative to the
    playbook directory) and checks its sha256; a mismatch fails naming the key path, the expected and the actual digest.
  - Chooses the release id once for the whole run from the change id, the version and the release digest, so a rerun
    of the same change gets the same id.
author:
  - Opsgate Release Contributors (@opsgate)
attributes:
  check_mode:
    support: full
    description: Same work in check mode (it changes no host; a URL download fills the controller cache).
  diff_mode:
    support: none
    description: Nothing on a host changes, so there is no diff.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller only.
options:
  manifest:
    description:
      - The release manifest; see docs/deploy.md for every key.
      - Missing or empty, the task fails naming the variable and where it goes in the inventory.
    type: raw
    required: true
  caller:
    description: The role that passes the manifest (V(deploy), V(gray_release)), to name its C(<caller>_manifest) in that message.
    type: str
    default: ""
  artifact_cache_dir:
    description: Controller directory for downloaded artifacts, each stored under its sha256.
    type: path
    default: ~/.cache/opsgate/artifacts
  download_timeout:
    description: Seconds before a download is abandoned.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Validate the manifest and verify the artifacts
  opsgate.release.release_manifest:
    manifest: "{{ opsgate_release }}"
  run_once: true
  register: checked_release
"""

RETURN = r"""
release:
  description:
    - The normalised manifest plus C(release_id), C(artifact_sha256) and each artifact's verified C(local_path).
    - C(migrations) is V({}) without migrations, else C(database) (every key, defaults filled) and C(steps), each with C(id),
      C(phase), C(file) (absolute, verified), C(sha256) and C(down) (C(file), C(sha256)) or null.
    - C(verify) is V({}) without a suite, else C(suite) (absolute, verified), C(sha256) and C(timeout).
    - C(documents) is a list (empty without documents) of C(kind), C(title), C(location) and C(sha256).
    - The release id does not depend on them; the change document binds them.
  returned: success
  type: dict
release_id:
  description: The release id for this run.
  returned: success
  type: str
  sample: 1.0.0-CHG-2025-0042-0123456789ab
artifact_sha256:
  description: The digest the approval binds (the artifact's sha256 when there is one artifact).
  returned: success
  type: str
error_path:
  description: Key path of the invalid manifest value.
  returned: failure
  type: str
"""
