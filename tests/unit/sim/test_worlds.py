"""The simulator's worlds: many small seeded steps, bounded wander, the best arm never changes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from banditops.cli import main
from banditops.sim.worlds import COMMON_BASE, SLOW_BASE, common_drift, slowly_varying


def test_the_walk_is_many_small_bounded_steps_and_keeps_the_best_arm():
    world = slowly_varying()
    assert world.horizon == 20_000 and len({c.t for c in world.changes}) == 99
    means = np.array([m for _, _, m in world.segments()])
    steps = np.abs(np.diff(means, axis=0))
    assert steps.max() < 0.25 and np.median(steps) < 0.06  # N(0, 0.05²) steps
    assert np.all(np.abs(means - np.array(SLOW_BASE)) <= 0.45 + 1e-9)
    assert np.all(means.argmax(axis=1) == 4)
    assert np.ptp(means[:, 4]) > 0.3  # the played arm really wanders


def test_the_world_is_seeded():
    assert slowly_varying(seed=3) == slowly_varying(seed=3)
    assert slowly_varying(seed=3) != slowly_varying(seed=4)
    with pytest.raises(ValueError, match="step_every must be an integer >= 1"):
        slowly_varying(step_every=0)


@pytest.mark.parametrize(("world", "n_arms"), [("slowly_varying", 5), ("common_drift", 10)])
def test_the_cli_knows_the_world(capsys, world, n_arms):
    args = ["simulate", "--scenario", world, "--horizon", "1000", "--seeds", "1", "--policy", "ts", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["instance"]["horizon"] == 1000 and len(report["instance"]["changes"]) == 4 * n_arms
    bad = ["simulate", "--scenario", world, "--changes", "[]", "--horizon", "100"]
    assert main(bad) == 2
    assert "brings its own arms and changes" in capsys.readouterr().err


def test_the_common_drift_moves_every_banner_by_one_shared_level_and_keeps_the_order():
    world = common_drift()
    assert world.kind == "bernoulli" and world.n_arms == 10 and world.horizon == 20_000
    means = np.array([m for _, _, m in world.segments()])
    level = means - np.array(COMMON_BASE)
    np.testing.assert_allclose(level, level[:, :1].repeat(10, axis=1), atol=1e-4)  # one shared level
    assert np.all(np.abs(level) <= 0.08 + 1e-4) and np.ptp(level[:, 0]) > 0.05  # bounded, and it moves
    assert np.all(np.diff(means, axis=1) > 0.02)  # the order, 0.022 apart, never changes
    assert np.abs(np.diff(level[:, 0])).max() < 0.05  # N(0, 0.01²) steps


def test_the_common_drift_is_seeded_and_refuses_rates_outside_0_1():
    assert common_drift(seed=3) == common_drift(seed=3)
    assert common_drift(seed=3) != common_drift(seed=4)
    with pytest.raises(ValueError, match=r"click rates must stay in \[0, 1\]"):
        common_drift(wander=0.2)
    with pytest.raises(ValueError, match="step_sd and wander must be > 0"):
        common_drift(step_sd=0)
