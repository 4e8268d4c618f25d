#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: trust_bootstrap
short_description: Pin the approval trust root and the host's own name and address on a managed host
version_added: 0.3.0
description:
  - Run by the security team (C(playbooks/trust_bootstrap.yml)), as root, never by the deploy roles.
  - Writes the signed trust root to C(/etc/opsgate/trust.json) and the host's identity (the inventory name and the address
    the security team reaches it at) to C(/etc/opsgate/host.json), both root-owned, mode 0644.
  - From then on every release module on the host verifies the approval token, the signed policy and the change document
    against that root before it changes anything, and refuses steps that are not this host's entry of the change.
  - Nothing is pinned without the security team's approval, the O(grant) signed by the threshold of the root's
    administrators for exactly this root, this host name and this address; the grant is kept at
    C(/etc/opsgate/host-grant.json).
  - The first root is accepted when its own threshold signed it and the grant covers it; a different root later only when
    it is the next version and signed by the administrators' thresholds of the installed and of the new version (root rotation).
  - Needs the Python library C(cryptography) on the host (C(python3-cryptography)).
author:
  - Opsgate Release Contributors (@opsgate)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  root:
    description: The signed trust root document (the content of the controller's pinned C(trust.json)).
    type: str
    required: true
  grant:
    description:
      - The signed host grant (C(opsgate-approval grant-create), then C(admin-sign) by the root's administrators) that
        names the root's sha256, this host and its address, and has not expired.
    type: str
    required: true
  name:
    description: The host's inventory name, as the change documents name it.
    type: str
    required: true
  address:
    description: The address the host is reached at (C(ansible_host)), as the change documents give it.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Pin the trust root on the host
  opsgate.release.trust_bootstrap:
    root: "{{ lookup('ansible.builtin.file', '/etc/opsgate/trust.json') }}"
    grant: "{{ lookup('ansible.builtin.file', 'grants/SEC-2026-041.json') }}"
    name: "{{ inventory_hostname }}"
    address: "{{ ansible_host | default(inventory_hostname) }}"
  become: true
"""

RETURN = r"""
root_version:
  description: Version of the root now pinned.
  type: int
  returned: success
root_sha256:
  description: sha256 of the pinned root document.
  type: str
  returned: success
previous_root_version:
  description: Version pinned before, or null on the first install.
  type: int
  returned: success
grant_id:
  description: The id of the host grant the pin was made under.
  type: str
  returned: success
grant_sha256:
  description: sha256 of the host grant document.
  type: str
  returned: success
grant_signed_by:
  description: The administrators whose signatures on the grant verified.
  type: list
  elements: str
  returned: success
"""

from datetime import UTC, datetime

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opsgate.release.plugins.module_utils.approval import errors
from ansible_collections.opsgate.release.plugins.module_utils.approval.host_trust import install


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "str", "required": True},
            "grant": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "address": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    try:
        params = module.params
        result = install(params["root"], params["grant"], params["name"], params["address"], module.check_mode, datetime.now(UTC))
    except errors.MissingLibraryError as exc:
        module.fail_json(msg=f"{exc.message} (on Debian/Ubuntu and RHEL: the package python3-cryptography)")
    except errors.ApprovalError as exc:
        module.fail_json(msg=f"trust root not installed [{exc.code}]: {exc.message}", approval_error=exc.code)
    except OSError as exc:
        module.fail_json(msg=f"trust root not installed: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
