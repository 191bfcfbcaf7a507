"""The contextual snapshot's Monte Carlo propensities agree with the posterior's own Thompson draws."""

from __future__ import annotations

import numpy as np
import pytest

from banditops.bandit.context_model import ContextModelSpec
from banditops.bandit.posteriors.linear_gaussian import LinearGaussianStats
from banditops.serving.contextual import ContextualSnapshot


def trained(shared: int, seed: int = 0) -> tuple[ContextModelSpec, LinearGaussianStats]:
    rng = np.random.default_rng(seed)
    spec = ContextModelSpec(numeric=("a", "b"), arm_features=tuple(f"f{i}" for i in range(shared)), scale=1.0)
    n = 60  # few pulls: wide posteriors, so several arms have real chances to be first
    arms = rng.integers(0, 4, size=n)
    X = np.hstack([np.ones((n, 1)), rng.normal(size=(n, 2))])
    Z = rng.normal(size=(n, shared)) if shared else None
    rewards = (rng.random(n) < 0.3).astype(float)
    return spec, LinearGaussianStats.from_batch(4, arms, X, rewards, Z)


@pytest.mark.parametrize("shared", [0, 2])
def test_propensities_match_the_frequency_of_thompson_decisions(shared: int) -> None:
    spec, stats = trained(shared)
    snap = ContextualSnapshot.build(spec, stats, np.random.default_rng(1), draws=4000)
    x = np.array([1.0, 0.3, -0.8])
    allowed = [0, 1, 3]
    Z = np.random.default_rng(2).normal(size=(len(allowed), shared)) if shared else None
    # Reference: the posterior's own sampler, 40,000 independent decisions for this context.
    full_z = None
    if shared:
        full_z = np.zeros((4, shared))
        full_z[allowed] = Z
    scores = snap.posterior.sample_scores(np.random.default_rng(3), np.tile(x, (40_000, 1)), full_z)
    reference = np.bincount(np.array(allowed)[scores[:, allowed].argmax(axis=1)], minlength=4)[allowed] / 40_000
    firsts: dict[int, int] = {}
    for _ in range(2000):  # the decisions themselves: their first arms follow the same law
        choice = snap.decide(x, allowed, 2, np.random.default_rng(_ + 10), Z)
        firsts[choice.arms[0]] = firsts.get(choice.arms[0], 0) + 1
        assert len(set(choice.arms)) == 2 and set(choice.arms) <= set(allowed)
    estimate = snap.decide(x, allowed, 3, np.random.default_rng(4), Z)
    by_arm = dict(zip(estimate.arms, estimate.propensities, strict=True))
    # MC error of the estimate (M=4000): sd <= 0.008; of the reference (40,000): <= 0.0025; margin ~4.5 sd.
    for arm, p in zip(allowed, reference, strict=True):
        assert abs(by_arm[arm] - p) < 0.04, (arm, by_arm[arm], p)
        assert abs(firsts.get(arm, 0) / 2000 - p) < 0.05, (arm, firsts.get(arm, 0), p)  # sd <= 0.011
    assert 0.05 < reference.max() < 0.95  # the check is not trivial: no arm is certain


def test_the_first_arm_never_gets_propensity_zero() -> None:
    spec, stats = trained(0)
    snap = ContextualSnapshot.build(spec, stats, np.random.default_rng(0), draws=16)
    x = np.array([1.0, 0.0, 0.0])
    for seed in range(200):
        choice = snap.decide(x, [0, 1, 2, 3], 1, np.random.default_rng(seed))
        assert choice.propensities[0] >= 1 / 17  # its own draw counts: (count + 1) / (M + 1)


def brute_force_counts(snap: ContextualSnapshot, x: np.ndarray, allowed: list[int]) -> np.ndarray:
    """Every Monte Carlo row of every allowed arm, no pruning: how often each arm is first."""
    m = snap.posterior.moments(x[None], None, np.asarray(allowed))
    rows = snap.noise[allowed].T * m.sd[0] + m.mean[0]
    return np.bincount(rows.argmax(axis=1), minlength=len(allowed)).astype(float)


def test_pruned_propensities_equal_the_full_monte_carlo_count() -> None:
    """The request path counts only arms that can win a row; the count must be exactly the full one."""
    rng = np.random.default_rng(5)
    spec = ContextModelSpec(numeric=("a", "b"))
    n, k_arms = 4000, 12
    arms = rng.integers(0, k_arms, size=n)
    X = np.hstack([np.ones((n, 1)), rng.normal(size=(n, 2))])
    rewards = (rng.random(n) < 0.1 + 0.05 * (arms % 5)).astype(float)  # clear winners: most arms prune
    snap = ContextualSnapshot.build(spec, LinearGaussianStats.from_batch(k_arms, arms, X, rewards),
                                    np.random.default_rng(6), draws=256)
    pruned_any = False
    for i in range(30):
        x = np.array([1.0, *rng.normal(size=2)])
        allowed = sorted(rng.choice(k_arms, size=8, replace=False).tolist())
        choice = snap.decide(x, allowed, 8, np.random.default_rng(i))
        counts = brute_force_counts(snap, x, allowed)
        m = snap.posterior.moments(x[None], None, np.asarray(allowed))
        alive = m.mean[0] + m.sd[0] * snap.noise_max[allowed] >= (m.mean[0] + m.sd[0] * snap.noise_min[allowed]).max()
        pruned_any |= not alive.all()
        counts[allowed.index(choice.arms[0])] += 1
        expected = dict(zip(allowed, counts / 257, strict=True))
        assert dict(zip(choice.arms, choice.propensities, strict=True)) == pytest.approx(expected, abs=1e-12)
    assert pruned_any  # the exactness check above covered real pruning


def test_the_service_decision_is_the_simulators_draw() -> None:
    """Same posterior, same generator state: the request path's ranking is the simulator's sampled scores."""
    spec, stats = trained(0)
    snap = ContextualSnapshot.build(spec, stats, np.random.default_rng(0), draws=64)
    x = np.array([1.0, 0.4, -1.2])
    for seed in range(20):
        scores = snap.posterior.sample_scores(np.random.default_rng(seed), x[None])[0]
        choice = snap.decide(x, [0, 1, 2, 3], 4, np.random.default_rng(seed))
        assert choice.arms == tuple(np.argsort(-scores, kind="stable").tolist())


@pytest.mark.parametrize("shared", [0, 2])
def test_every_arm_as_none_decides_exactly_as_listing_them(shared: int) -> None:
    """``allowed=None`` (the service's default when no arm is retired) skips the gathers, nothing else:
    the same ranking and the same propensities, to the bit, as naming every arm."""
    spec, stats = trained(shared, seed=3)
    snap = ContextualSnapshot.build(spec, stats, np.random.default_rng(7), draws=256)
    Z = np.random.default_rng(8).normal(size=(4, shared)) if shared else None
    for seed in range(40):
        x = np.array([1.0, *np.random.default_rng(100 + seed).normal(size=2)])
        listed = snap.decide(x, [0, 1, 2, 3], 3, np.random.default_rng(seed), Z)
        default = snap.decide(x, None, 3, np.random.default_rng(seed), Z)
        assert default == listed
        assert sum(listed.propensities) <= 1.0 + 1e-12 and listed.propensities[0] > 0
