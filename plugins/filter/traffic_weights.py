# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""traffic_weights: the load balancer weights of a rollout's setWeight step (docs in traffic_weights.yml)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.opsgate.release.plugins.module_utils.lb.weights import weights_for_share


def traffic_weights(switched: list[str], others: list[str], percent: Any, max_weight: Any = 256) -> dict[str, int]:
    try:
        # haproxy's weight 0 takes a server out of the balancing; every host keeps at least 1.
        return weights_for_share(list(switched), list(others), int(percent), int(max_weight), min_weight=1)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"traffic_weights: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"traffic_weights": traffic_weights}
