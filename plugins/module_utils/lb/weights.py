# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Integer weights that give the switched hosts a share of the requests under weighted round robin.

Under (smooth) weighted round robin each server gets weight / sum(weights) of the requests, so with
every switched host at ``w_s`` and every other host at ``w_o`` the switched hosts together receive
``n_s * w_s / (n_s * w_s + n_o * w_o)``. haproxy takes weights 0..256, nginx 1 and up.
"""

from __future__ import annotations

from fractions import Fraction


def share_of(weights: dict[str, int], switched: list[str]) -> float:
    """Percentage of requests the ``switched`` hosts receive under these weights (0 when all weights are 0)."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return 100.0 * sum(weights[name] for name in switched) / total


def weights_for_share(switched: list[str], others: list[str], percent: int, max_weight: int, min_weight: int = 1) -> dict[str, int]:
    """Weights (all switched hosts equal, all others equal) whose share is closest to ``percent``.

    Ties go to the smaller weights. ``min_weight`` is the smallest weight allowed (0 for haproxy,
    where weight 0 takes a server out of the balancing; nginx needs 1).
    Raises ValueError for an empty or overlapping pool, a percent outside 0..100, or bounds that
    cannot express it (percent 0 needs min_weight 0).
    """
    if not switched:
        raise ValueError("weights_for_share: no switched host")
    overlap = sorted(set(switched) & set(others))
    if overlap:
        raise ValueError("weights_for_share: hosts both switched and not: {}".format(", ".join(overlap)))
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise ValueError(f"weights_for_share: percent must be an integer 0..100, got {percent!r}")
    if min_weight < 0 or max_weight < max(min_weight, 1):
        raise ValueError(f"weights_for_share: bad weight bounds {min_weight!r}..{max_weight!r}")
    if not others:
        return {name: max(min_weight, 1) for name in switched}
    n_s, n_o = len(switched), len(others)
    target = Fraction(percent, 100)
    best: tuple[Fraction, int, int, int, int] | None = None
    for w_o in range(min_weight, max_weight + 1):
        # The best w_s for this w_o is next to the exact solution n_s*w_s = target/(1-target) * n_o*w_o.
        if target == 1:
            candidates = {1, max_weight}
        else:
            exact = target * n_o * w_o / ((1 - target) * n_s)
            floor = int(exact)
            candidates = {floor, floor + 1}
        for w_s in candidates:
            w_s = min(max(w_s, min_weight), max_weight)
            total = n_s * w_s + n_o * w_o
            if total == 0:
                continue
            error = abs(Fraction(n_s * w_s, total) - target)
            key = (error, w_s + w_o, w_o, w_s, 0)
            if best is None or key < best:
                best = key
    if best is None or (best[0] and percent in (0, 100)):
        raise ValueError(f"weights_for_share: {percent}% cannot be expressed with weights {min_weight}..{max_weight}")
    w_o, w_s = best[2], best[3]
    weights = {name: w_s for name in switched}
    weights.update({name: w_o for name in others})
    return weights
