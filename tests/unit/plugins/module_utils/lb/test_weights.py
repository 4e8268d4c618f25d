# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""weights_for_share: the integers whose weighted round robin share is closest to the percent asked."""

from __future__ import annotations

import itertools

import pytest

from ansible_collections.opsgate.release.plugins.module_utils.lb.weights import share_of, weights_for_share


def hosts(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(1, count + 1)]


def brute_force_error(n_s: int, n_o: int, percent: int, low: int, high: int) -> float:
    return min(
        abs(100.0 * n_s * w_s / (n_s * w_s + n_o * w_o) - percent) for w_s, w_o in itertools.product(range(low, high + 1), repeat=2) if n_s * w_s + n_o * w_o
    )


def test_one_of_four_at_ten_percent_is_exact() -> None:
    weights = weights_for_share(["a"], ["b", "c", "d"], 10, 256, min_weight=0)
    assert weights == {"a": 1, "b": 3, "c": 3, "d": 3}
    assert share_of(weights, ["a"]) == pytest.approx(10.0)


def test_one_of_three_at_ten_percent() -> None:
    weights = weights_for_share(["web1"], ["web2", "web3"], 10, 256)
    assert weights == {"web1": 2, "web2": 9, "web3": 9}
    assert share_of(weights, ["web1"]) == pytest.approx(10.0)


def test_equal_share_needs_equal_weights() -> None:
    assert weights_for_share(["a"], ["b", "c", "d"], 25, 256) == {"a": 1, "b": 1, "c": 1, "d": 1}


def test_inexact_share_is_the_closest_possible() -> None:
    # 1 of 7 hosts at 33%: n_s*w_s/(w_s+6*w_o) - no exact integers below 10
    for n_s, n_o, percent, high in [(1, 6, 33, 10), (2, 5, 7, 9), (3, 2, 1, 20), (1, 1, 99, 256)]:
        weights = weights_for_share(hosts("s", n_s), hosts("o", n_o), percent, high)
        assert max(weights.values()) <= high
        assert min(weights.values()) >= 1
        achieved = share_of(weights, hosts("s", n_s))
        assert abs(achieved - percent) == pytest.approx(brute_force_error(n_s, n_o, percent, 1, high)), (n_s, n_o, percent)


def test_nginx_bounds_never_give_zero() -> None:
    weights = weights_for_share(["a"], ["b"], 1, 100)
    assert weights == {"a": 1, "b": 99}


def test_zero_and_hundred_percent_need_weight_zero() -> None:
    assert weights_for_share(["a"], ["b"], 0, 256, min_weight=0) == {"a": 0, "b": 1}
    assert weights_for_share(["a"], ["b"], 100, 256, min_weight=0) == {"a": 1, "b": 0}
    with pytest.raises(ValueError, match=r"0% cannot be expressed with weights 1\.\.100"):
        weights_for_share(["a"], ["b"], 0, 100)


def test_no_other_host_takes_everything() -> None:
    assert weights_for_share(["a", "b"], [], 10, 256) == {"a": 1, "b": 1}


@pytest.mark.parametrize(
    ("switched", "others", "percent", "message"),
    [
        ([], ["b"], 10, "no switched host"),
        (["a"], ["a"], 10, "both switched and not: a"),
        (["a"], ["b"], 101, r"percent must be an integer 0\.\.100"),
        (["a"], ["b"], True, r"percent must be an integer 0\.\.100"),
    ],
)
def test_bad_requests(switched: list[str], others: list[str], percent: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        weights_for_share(switched, others, percent, 256)
