"""The slowly varying world: many small seeded steps, bounded wander, the best arm never changes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from banditops.cli import main
from banditops.sim.worlds import SLOW_BASE, slowly_varying


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


def test_the_cli_knows_the_world(capsys):
    args = ["simulate", "--scenario", "slowly_varying", "--horizon", "1000", "--seeds", "1", "--policy", "ts", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["instance"]["horizon"] == 1000 and len(report["instance"]["changes"]) == 4 * 5
    bad = ["simulate", "--scenario", "slowly_varying", "--changes", "[]", "--horizon", "100"]
    assert main(bad) == 2
    assert "brings its own arms and changes" in capsys.readouterr().err
