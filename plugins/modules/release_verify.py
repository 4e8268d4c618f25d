#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file holds only the documentation: the work is done on the controller by plugins/action/release_verify.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_verify
short_description: Run the release's approved testinfra suite against one host and gate on its JUnit result
version_added: 0.3.0
description:
  - Runs on the controller, once per host, after the host is switched and healthy and before it is recorded as good
    (in a gray release, before it is back in the load balancer). A failing suite fails the task, so the caller puts
    the host back like after a failed health check.
  - First the approval, as for every release step. This run's approval receipt must cover the host; when the token
    binds a change document, the host's release (O(release_id), O(app), O(version)) must be its entry in O(change) and
    O(verify) (the suite's sha256 and name, O(verify.timeout)) must be the change's C(verify).
  - Then the suite file (O(verify.suite)) is read on the controller; its sha256 must be O(verify.sha256) and the signed
    change's C(verify.suite_sha256). A file changed after the approval is refused before anything runs.
  - The suite runs with C(python -m pytest) (the Python that runs Ansible) and pytest-testinfra's Ansible backend
    (C(--hosts=ansible://HOST)) against a temporary inventory that holds only this host and its connection variables
    (C(ansible_connection), C(ansible_host), C(ansible_port), C(ansible_user), the password, private key, become and
    connection plugin options); the folder is private (0700) and removed afterwards. Only testinfra's plugin is loaded,
    with no C(conftest.py) and no ini file from around it.
  - With the V(local) connection testinfra runs the suite's commands itself. Every other connection (ssh,
    C(containers.podman.podman), docker) goes through C(ansible) ad hoc runs, one per command, so the host is reached
    exactly as the deploy reached it (same connection plugin, become and passwords, C(ansible.cfg)); count a second or
    more per check there and write the suite with a few broad checks.
  - The gate passes when at least one test ran and none failed or errored. A suite that collects no test or skips
    every one, a suite that does not end within O(verify.timeout) (its process group is killed), and a report pytest
    did not write all fail it.
  - Connection and become passwords and the approval token never appear in the result; they are masked in the
    JUnit text and the output should a test print them.
  - A passed run (not in check mode) writes this C(ansible-playbook) process's verification receipt for the host (the
    suite's and the JUnit report's sha256, the counts, the release) in the state store; M(opsgate.release.release_commit)
    of a change whose signed document has a C(verify) refuses without it.
author:
  - Opsgate Release Contributors (@opsgate)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - opsgate.release.controller_action
attributes:
  check_mode:
    support: partial
    details: Checks the approval and the suite's digest; the suite is not run (the host still runs the release before).
requirements:
  - pytest and pytest-testinfra in the Python that runs Ansible on the controller.
options:
  approval:
    description:
      - The run's approval scope (C(action), C(app), C(version), C(artifact_sha256), C(env)); this run's approval receipt
        must cover it and the host.
    type: dict
    required: true
  change:
    description:
      - The run's change document. When the token binds one, this host's entry must hold O(release_id), O(app) and
        O(version), and its C(verify) must be O(verify).
    type: dict
  release_id:
    description: The release the host runs now, the one the suite verifies.
    type: str
    required: true
  app:
    description: Application name.
    type: str
    required: true
  version:
    description: Version of the release.
    type: str
    required: true
  artifact_sha256:
    description: The release digest the approval binds.
    type: str
  change_id:
    description: Change id; when given it must be the verified token's.
    type: str
  verify:
    description: The release's C(verify), as M(opsgate.release.release_manifest) returns it.
    type: dict
    required: true
    suboptions:
      suite:
        description: Path of the suite file (one Python file of testinfra tests) on the controller; relative to the playbook's folder.
        type: str
        required: true
      sha256:
        description: The suite file's sha256 (64 hex characters).
        type: str
        required: true
      timeout:
        description: Seconds the whole suite may take on this host before it is stopped and the gate fails.
        type: int
        required: true
seealso:
  - module: opsgate.release.release_manifest
  - module: opsgate.release.release_health
"""

EXAMPLES = r"""
- name: Run the release's verification suite against this host
  opsgate.release.release_verify:
    approval: "{{ release_host_approval }}"
    change: "{{ release_host_change }}"
    release_id: "{{ release_host_step_inputs.release_id }}"
    app: "{{ release_host_step_inputs.app }}"
    version: "{{ release_host_step_inputs.version }}"
    artifact_sha256: "{{ release_host_step_inputs.artifact_sha256 }}"
    change_id: "{{ release_host_step_inputs.change_id }}"
    verify:
      suite: "{{ playbook_dir }}/tests/test_sample_app.py"
      sha256: 6f1c0c2b7d4e8a9f3b5d7e1a2c4f6b8d0e2a4c6f8b0d2e4a6c8f0b2d4e6a8c0f
      timeout: 300
"""

RETURN = r"""
verify:
  description: The run on this host.
  returned: when the suite ran (also when it failed)
  type: dict
  contains:
    host:
      description: The inventory host the suite ran against.
      type: str
    suite_sha256:
      description: sha256 of the suite file that ran.
      type: str
    suite_name:
      description: The suite file's name.
      type: str
    tests:
      description: Tests in the JUnit report (each parametrized case counts).
      type: int
    passed:
      description: Tests that passed.
      type: int
    failed:
      description: Tests that failed (a test failing in its call and erroring in teardown counts here once).
      type: int
    errors:
      description: Tests that errored (fixture or collection errors).
      type: int
    skipped:
      description: Tests skipped (and expected failures).
      type: int
    duration:
      description: Seconds the run took on the controller, pytest's start-up and the connection included.
      type: float
    failures:
      description: Names of the failed and errored tests (C(Class::test[params]), without the host's id).
      type: list
      elements: str
    timed_out:
      description: Whether the run was stopped at O(verify.timeout).
      type: bool
    transport:
      description: V(local) (testinfra ran the commands itself) or V(ansible) (one C(ansible) ad hoc run per command).
      type: str
    junit_sha256:
      description: sha256 of RV(verify.junit) (its UTF-8 bytes); empty when there is no report.
      type: str
    junit:
      description: The JUnit XML report pytest wrote; empty when it wrote none (timeout, usage error).
      type: str
    output:
      description: The last lines of pytest's output.
      type: str
token_id:
  description: The id of the approval token the step ran under.
  returned: when the approval passed
  type: str
who:
  description: The controller's operator (the real uid's account, or the AWX launching user).
  returned: when the approval passed
  type: str
approval_error:
  description: Stable code of an approval refusal, for example C(APPROVAL_CHANGE_STEP_MISMATCH).
  returned: when the approval refused the step
  type: str
verify_error:
  description:
    - Stable code when the suite was not run or could not run; V(RELEASE_VERIFY_DIGEST_MISMATCH),
      V(RELEASE_VERIFY_SUITE_UNREADABLE), V(RELEASE_VERIFY_LIBRARY_MISSING), V(RELEASE_VERIFY_RUN_ERROR); or, when the suite
      passed but its receipt could not be written, the state store's code (for example V(APPROVAL_STATE_STORE_ERROR)).
  returned: when the suite was not run, or its receipt was not written
  type: str
"""
