"""The simulator and the drift-aware policy: exact seeded runs, scoring, posterior agreement."""

from __future__ import annotations

import numpy as np
import pytest

from banditops.bandit.arms import BernoulliArm, GaussianArm
from banditops.bandit.policies.base import Alarm
from banditops.bandit.policies.drift_aware import DriftAwarePolicy
from banditops.bandit.posteriors import make_posterior
from banditops.bandit.posteriors.arrays import PosteriorArrays
from banditops.bandit.stats import ArmStats
from banditops.sim.simulation import Instance, refresh_blocks, score, simulate, simulate_seed

GAUSS5 = [GaussianArm(mean=m) for m in (1, 2, 3, 4, 5)]


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
def test_posterior_arrays_draw_exactly_what_the_posterior_classes_draw(kind):
    rng = np.random.default_rng(3)
    arrays = PosteriorArrays(kind, 4)
    for _ in range(200):
        arm = int(rng.integers(0, 4))
        arrays.add(arm, float(rng.random() < 0.4) if kind == "bernoulli" else float(rng.normal(arm, 1.0)))
    posterior = make_posterior(kind, arrays.stats())
    np.testing.assert_allclose(arrays.means(), posterior.mean(), rtol=1e-10)
    np.testing.assert_allclose(
        arrays.draw(np.random.default_rng(9), 5), posterior.sample(np.random.default_rng(9), 5), rtol=1e-9
    )


def test_instance_segments_and_rewards_follow_the_changes():
    instance = Instance.build(GAUSS5, '[{"t": 100, "arm": 4, "mean": 0}, {"t": 100, "arm": 0, "p": 6}]', 200)
    (s0, e0, m0), (s1, e1, m1) = instance.segments()
    assert (s0, e0, s1, e1) == (0, 100, 100, 200)
    assert m0.tolist() == [1, 2, 3, 4, 5] and m1.tolist() == [6, 2, 3, 4, 0]
    table = instance.rewards(np.random.default_rng(0))
    assert abs(table[100:, 0].mean() - 6) < 0.3 and abs(table[:100, 4].mean() - 5) < 0.3
    assert instance.dynamic_regret(np.array([4] * 100 + [0] * 100)) == 0.0
    assert instance.dynamic_regret(np.array([0] * 200)) == 400.0


def test_scoring_tells_detections_from_false_alarms():
    instance = Instance.build(GAUSS5, [{"t": 1000, "arm": 4, "mean": 0}], 3000)
    alarms = [
        Alarm(t=500, arm=2, change_point=400, magnitude=1.0, restart=False, since=0, detector="x"),
        Alarm(t=1002, arm=4, change_point=1000, magnitude=-5.0, restart=True, since=0, detector="x"),
        Alarm(t=2000, arm=4, change_point=1500, magnitude=1.0, restart=False, since=1001, detector="x"),
    ]
    scored = score(instance, np.full(3000, 4), alarms)
    assert scored["detections"] == [{"t": 1000, "arms": [4], "detected_at": 1002, "delay": 3}]
    assert scored["false_alarms"] == 2 and scored["stationary_pulls"] == 3000 - 3
    assert [a["false"] for a in scored["alarms"]] == [True, False, True]


def test_refresh_schedule_grows_then_stays():
    assert refresh_blocks(3000, 1000)[:11] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]
    assert sum(refresh_blocks(3000, 1000)) == 3000
    assert refresh_blocks(2500, 1000, growing=False) == [1000, 1000, 500]
    with pytest.raises(ValueError, match="refresh must be an integer >= 1"):
        refresh_blocks(10, 0)


def test_system_policy_detects_a_drop_of_the_played_arm_in_two_pulls():
    instance = Instance.build(GAUSS5, [{"t": 3000, "arm": 4, "mean": 0}, {"t": 3000, "arm": 0, "mean": 6}], 6000)
    result = simulate_seed(instance, seed=1, policy="system")
    assert [d["delay"] for d in result.detections] == [2]
    assert result.false_alarms == 0 and result.alarms[0]["restart"] is True
    assert result.regret == pytest.approx(simulate_seed(instance, seed=1, policy="system").regret)  # reproducible
    assert result.regret < 150


def test_system_policy_sees_a_rise_of_an_arm_it_does_not_play():
    instance = Instance.build(GAUSS5, [{"t": 4000, "arm": 0, "mean": 6}], 7000)
    seen = simulate_seed(instance, seed=2, policy="system")
    blind = simulate_seed(instance, seed=2, policy="ts:glr")  # tests only on played arms: never sees it
    assert seen.detections[0]["delay"] is not None and seen.detections[0]["delay"] <= 2000
    assert blind.detections[0]["delay"] is None
    assert seen.regret < blind.regret
    assert seen.exploration_share < 0.005


def test_plain_ts_batched_refresh_keeps_regret_close_to_sequential():
    instance = Instance.build([BernoulliArm(p=float(p)) for p in np.linspace(0.1, 0.9, 10)], horizon=20_000)
    seq = simulate(instance, 3, "ts").summary()["dynamic_regret"]["value"]
    grow = simulate(instance, 3, "ts", refresh=1000).summary()["dynamic_regret"]["value"]
    naive = simulate(instance, 3, "ts", refresh=1000, growing=False).summary()["dynamic_regret"]["value"]
    assert grow < 1.6 * seq < naive


def test_bad_policy_and_instance_input():
    with pytest.raises(ValueError, match="valid policies: system, ts"):
        simulate(Instance.build(GAUSS5, horizon=10), 1, "greedy")
    with pytest.raises(ValueError, match="all arms must have the same kind"):
        Instance.build([GAUSS5[0], BernoulliArm(p=0.5)], horizon=10)
    with pytest.raises(ValueError, match=r"change arm must be in 0..4"):
        Instance.build(GAUSS5, [{"t": 1, "arm": 9, "mean": 0}], 10)
    with pytest.raises(ValueError, match="new p must be in"):
        Instance.build([BernoulliArm(p=0.5)], [{"t": 1, "arm": 0, "p": 2}], 10)
    with pytest.raises(ValueError, match="valid detectors"):
        DriftAwarePolicy(2, "gaussian", np.random.default_rng(0), detector="magic")


@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
def test_sequential_draws_follow_the_current_posterior(kind: str) -> None:
    """The buffered sequential draws are draws of the posterior as it is now, arm by arm."""
    from scipy import stats

    rng = np.random.default_rng(3)
    arrays = PosteriorArrays(kind, 3)
    for x in (1.0, 0.0, 1.0, 1.0):
        arrays.add(0, x)
    first = arrays.draw_sequential(rng)  # fills the buffers
    assert first.shape == (3,)
    # Many rewards on arm 1 right after the fill: its next draws must already reflect them.
    for _ in range(400):
        arrays.add(1, 1.0 if kind == "bernoulli" else 5.0)
    draws = np.array([arrays.draw_sequential(rng) for _ in range(2000)])
    expected = make_posterior(kind, ArmStats(arrays.n.copy(), arrays.s.copy(), arrays.q.copy()))
    reference = expected.sample(np.random.default_rng(9), 20_000)
    for arm in range(3):
        # Same distribution as the posterior object's own sampler (two-sample KS, honest level).
        assert stats.ks_2samp(draws[:, arm], reference[:, arm]).pvalue > 0.001, arm
    # Within a buffer no draw is reused.
    assert len(np.unique(draws[:, 2])) == len(draws)
