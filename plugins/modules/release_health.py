#!/usr/bin/python
# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_health
short_description: The health gate of a release on one host
version_added: 0.2.0
description:
  - Probes the manifest's health URL (status, a condition on the JSON answer, the version) or runs its health command
    until the gate decides. The deploy's check, the rollback's check and each rollout gate use this one module.
  - With O(gate) the rollout plan's rule applies (N consecutive good probes, at most F failed, within T seconds);
    without it the manifest's (the first good probe of C(health.retries)).
  - With O(sample) the module judges nothing and returns the JSON answers of a metrics URL, for an analysis step.
  - Runs on the host and needs nothing installed there; the condition C(health.jmespath) is the part of JMESPath a health
    answer needs (key paths, literals, comparisons, V(!), V(&&), V(||)).
author:
  - Opsgate Release Contributors (@opsgate)
attributes:
  check_mode:
    support: full
    description: Probes nothing in check mode and reports the gate as not run.
  diff_mode:
    support: none
    description: Changes nothing.
  platform:
    support: full
    platforms: posix
    description: Python 3.9 or newer.
options:
  health:
    description: The manifest's C(health) as the manifest check normalized it.
    type: dict
    required: true
  version:
    description: The version C(health.version_field) must report.
    type: str
    default: ""
  label:
    description: What is checked, for the message (for example V(sample_app 2.0.0 on web1)).
    type: str
    default: the release
  wait_for_start:
    description:
      - With O(gate), first probe by the manifest's retries until the release answers well once (its start-up), then
        hold it to O(gate). Without it O(gate) replaces the manifest's retries.
      - The answer's RV(health_gate) says which of the two decided a failure.
    type: bool
    default: false
  gate:
    description: A rollout plan's gate instead of (or, with O(wait_for_start), after) the manifest's retries.
    type: dict
    suboptions:
      consecutive_successes:
        description: Good probes in a row that pass the gate.
        type: int
        default: 1
      failure_limit:
        description: Failed probes allowed; one more fails the gate.
        type: int
        default: 0
      interval:
        description: Seconds between probes.
        type: float
        default: 2
      timeout:
        description: Seconds for the whole gate; V(0) for no limit but the failure limit.
        type: float
        default: 0
  sample:
    description: Take this many answers, judge none (an analysis step's measurements).
    type: dict
    suboptions:
      count:
        description: Number of answers.
        type: int
        required: true
      interval:
        description: Seconds between them.
        type: float
        default: 10
"""

EXAMPLES = r"""
- name: Check the health of the new release
  opsgate.release.release_health:
    health: "{{ release.health }}"
    version: 2.0.0
    label: sample_app 2.0.0 on web1

- name: The rollout plan's gate
  opsgate.release.release_health:
    health: "{{ release.health }}"
    version: 2.0.0
    gate:
      consecutive_successes: 3
      failure_limit: 2
      interval: 1
      timeout: 60
"""

RETURN = r"""
passed:
  description: Whether the gate passed.
  returned: always
  type: bool
verdict:
  description: How it decided, in words.
  returned: always
  type: str
probes:
  description: Probes made.
  returned: always
  type: int
failures:
  description: Failed probes.
  returned: always
  type: int
last_status:
  description: HTTP status (or command exit code) of the last probe.
  returned: always
  type: int
health_gate:
  description: Which rule decided, V(release) (the manifest's retries) or V(rollout) (the plan's gate).
  returned: when the gate ran
  type: str
last_excerpt:
  description: The first 300 characters of the last answer (the last of a command's output).
  returned: always
  type: str
measurements:
  description: With O(sample), the JSON answers (null for a probe without a good answer).
  returned: when sample is set
  type: list
  elements: raw
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.opsgate.release.plugins.module_utils.release.health_gate import (
    GATE_OPTIONS,
    check_spec,
    hold_to_health,
    probe_spec,
    sample,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "health": {"type": "dict", "required": True},
            "version": {"type": "str", "default": ""},
            "label": {"type": "str", "default": "the release"},
            "gate": {"type": "dict", "options": GATE_OPTIONS},
            "wait_for_start": {"type": "bool", "default": False},
            "sample": {
                "type": "dict",
                "options": {"count": {"type": "int", "required": True}, "interval": {"type": "float", "default": 10}},
            },
        },
        mutually_exclusive=[("gate", "sample")],
        supports_check_mode=True,
    )
    health, version = module.params["health"], module.params["version"]
    spec = probe_spec(health, version)
    problems = check_spec(spec)
    if problems:
        module.fail_json(msg="health: " + "; ".join(problems), passed=False)
    if spec.kind == "none" or module.check_mode:
        module.exit_json(
            changed=False,
            passed=True,
            verdict="not run" if module.check_mode else "no health check",
            probes=0,
            failures=0,
            last_status=None,
            last_excerpt="",
            measurements=[],
        )
    if module.params["sample"]:
        count = module.params["sample"]["count"]
        if count < 1:
            module.fail_json(msg=f"sample.count: must be at least 1, got {count}")
        measurements = sample(spec, count, module.params["sample"]["interval"])
        module.exit_json(
            changed=False, passed=True, verdict=f"{count} answers taken", probes=count, failures=0, last_status=None, last_excerpt="", measurements=measurements
        )
    outcome = hold_to_health(health, version, module.params["label"], module.params["gate"], module.params["wait_for_start"])
    if not outcome.passed:
        module.fail_json(msg=outcome.msg, **outcome.answer)
    module.exit_json(changed=False, **outcome.answer)


if __name__ == "__main__":
    main()
