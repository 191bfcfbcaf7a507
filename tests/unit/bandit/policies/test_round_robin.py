"""Round-robin forced exploration: deterministic cycles, continuation, retired arms, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from banditops.bandit.policies import RoundRobin


def test_cycles_from_start() -> None:
    rr = RoundRobin(3)
    assert rr.select(7, start=0).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert rr.select(4, start=2).tolist() == [2, 0, 1, 2]
    assert rr.select(2, start=10).tolist() == [1, 2]
    assert rr.select(1).dtype == np.int64


def test_consecutive_batches_continue_one_sweep() -> None:
    rr = RoundRobin(5)
    whole = rr.select(23, start=4, retired=[2])
    pieces = np.concatenate([rr.select(7, start=4, retired=[2]), rr.select(9, start=11, retired=[2]),
                             rr.select(7, start=20, retired=[2])])
    assert np.array_equal(whole, pieces)


def test_retired_arms_are_skipped_and_the_rest_stay_balanced() -> None:
    counts = np.bincount(RoundRobin(6).select(50, start=3, retired=[0, 4]), minlength=6)
    assert counts[0] == counts[4] == 0
    active = counts[[1, 2, 3, 5]]
    assert active.sum() == 50 and active.max() - active.min() <= 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda rr: rr.select(0, 0), "n must be an integer >= 1"),
        (lambda rr: rr.select(2, -1), "start must be an integer >= 0"),
        (lambda rr: rr.select(2, 0, retired=[5]), r"valid arms are 0..2"),
        (lambda rr: rr.select(2, 0, retired=[0, 1, 2]), "all 3 arms are retired"),
    ],
)
def test_bad_input_is_refused(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(RoundRobin(3))  # type: ignore[operator]


def test_bad_arm_count_is_refused() -> None:
    with pytest.raises(ValueError, match="n_arms must be an integer >= 1"):
        RoundRobin(0)
