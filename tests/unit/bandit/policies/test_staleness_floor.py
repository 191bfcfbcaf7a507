"""The staleness floor: stale arms get a pull, within budget, with a growing, capped limit."""

from __future__ import annotations

import numpy as np
import pytest

from banditops.bandit.policies.staleness_floor import StalenessFloor


def test_limit_grows_with_time_and_is_capped():
    floor = StalenessFloor(2, np.random.default_rng(0), min_staleness=1700, growth=0.15, max_staleness=5000)
    assert floor.limit(0) == 1700 and floor.limit(20_000) == 3000 and floor.limit(10**6) == 5000


def test_only_the_unplayed_arm_falls_due_exactly_after_its_limit():
    floor = StalenessFloor(3, np.random.default_rng(0), min_staleness=100, jitter=0.0, budget=1.0)
    due = []
    for t in range(400):
        arm = floor.due(t)
        if arm is not None:
            due.append((t, arm))
            floor.pulled(arm, t, forced=True)
        else:
            floor.pulled(0, t)
    # arms 1 and 2 fall due at t=101 (stale for > 100 pulls); one forced pull per decision.
    assert due[:2] == [(101, 1), (102, 2)]
    assert due[2:4] == [(202, 1), (203, 2)]
    assert floor.forced == len(due) == 6


def test_budget_caps_the_forced_share():
    floor = StalenessFloor(50, np.random.default_rng(0), min_staleness=10, jitter=0.0, budget=0.01)
    forced = 0
    for t in range(5000):
        arm = floor.due(t)
        if arm is not None:
            floor.pulled(arm, t, forced=True)
            forced += 1
        else:
            floor.pulled(0, t)
    assert forced <= 0.01 * 5000 + 1 and forced >= 40


def test_restart_makes_every_arm_fresh():
    floor = StalenessFloor(2, np.random.default_rng(0), min_staleness=10, jitter=0.0)
    assert floor.stale_arms(50).tolist() == [0, 1]
    floor.restart(50)
    assert floor.stale_arms(55).size == 0 and floor.forced == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_staleness": 0}, "min_staleness must be >= 1"),
        ({"growth": 1.5}, r"growth must be in \[0, 1\)"),
        ({"max_staleness": 10}, "max_staleness must be None or >= min_staleness"),
        ({"jitter": 1.0}, r"jitter must be in \[0, 1\)"),
        ({"budget": 0.0}, r"budget must be in \(0, 1\]"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StalenessFloor(3, np.random.default_rng(0), **kwargs)
