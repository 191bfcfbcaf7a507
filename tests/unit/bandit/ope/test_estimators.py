"""The estimators: exact on hand-computed cases and where the maths is exact, within stated margins of a truth."""

from __future__ import annotations

import numpy as np
import pytest

from banditops.bandit.ope import ESTIMATORS, LoggedBanditFeedback, RowTerms, evaluate
from banditops.bandit.ope.dros import DoublyRobustWithShrinkage
from banditops.bandit.ope.reward_model import LogisticRewardModel
from banditops.bandit.ope.switch_dr import SwitchDoublyRobust

# a 4-row, 2-arm, 2-position log with every number written out
ACTION = [0, 1, 1, 0]
POSITION = [0, 0, 1, 1]
REWARD = [1.0, 0.0, 1.0, 0.0]
PSCORE = [0.5, 0.25, 0.5, 0.8]


def _tiny() -> tuple[LoggedBanditFeedback, np.ndarray, np.ndarray]:
    log = LoggedBanditFeedback.build(ACTION, REWARD, PSCORE, position=POSITION)
    pi = np.zeros((4, 2, 2))
    pi[:, :, 0] = [0.6, 0.4]
    pi[:, :, 1] = [0.2, 0.8]
    q = np.zeros((4, 2, 2))
    q[:, :, 0] = [0.5, 0.1]
    q[:, :, 1] = [0.3, 0.7]
    return log, pi, q


def _by_hand() -> dict[str, float]:
    w = np.array([0.6 / 0.5, 0.4 / 0.25, 0.8 / 0.5, 0.2 / 0.8])  # 1.2, 1.6, 1.6, 0.25
    r = np.array(REWARD)
    q_logged = np.array([0.5, 0.1, 0.7, 0.3])
    q_policy = np.array([0.6 * 0.5 + 0.4 * 0.1] * 2 + [0.2 * 0.3 + 0.8 * 0.7] * 2)
    resid = r - q_logged
    lam = 1.0
    return {
        "ipw": float(np.mean(w * r)),
        "snipw": float(np.sum(w * r) / np.sum(w)),
        "dm": float(np.mean(q_policy)),
        "dr": float(np.mean(q_policy + w * resid)),
        "sndr": float(np.mean(q_policy + w / w.mean() * resid)),
        "switch_1.5": float(np.mean(q_policy + np.where(w <= 1.5, w, 0) * resid)),
        "dros_1": float(np.mean(q_policy + lam * w / (w**2 + lam) * resid)),
    }


def test_each_estimator_equals_its_formula_on_a_hand_computed_log():
    log, pi, q = _tiny()
    terms = RowTerms.compute(log, pi, q)
    hand = _by_hand()
    for name in ("ipw", "snipw", "dm", "dr", "sndr"):
        assert ESTIMATORS[name]().estimate(terms) == pytest.approx(hand[name], abs=1e-12), name
    assert SwitchDoublyRobust(tau=1.5).estimate(terms) == pytest.approx(hand["switch_1.5"], abs=1e-12)
    assert DoublyRobustWithShrinkage(lam=1.0).estimate(terms) == pytest.approx(hand["dros_1"], abs=1e-12)
    # the limits: λ = 0 and τ = 0 are the direct method; λ = τ = ∞ are DR
    assert DoublyRobustWithShrinkage(lam=0.0).estimate(terms) == pytest.approx(hand["dm"], abs=1e-12)
    assert SwitchDoublyRobust(tau=0.0).estimate(terms) == pytest.approx(hand["dm"], abs=1e-12)
    assert DoublyRobustWithShrinkage(lam=np.inf).estimate(terms) == pytest.approx(hand["dr"], abs=1e-12)
    assert SwitchDoublyRobust(tau=np.inf).estimate(terms) == pytest.approx(hand["dr"], abs=1e-12)


def test_ess_and_largest_weight_are_reported():
    log, pi, q = _tiny()
    out = evaluate(log, pi, estimators=["ipw"], q_hat=q, rng=np.random.default_rng(0), n_boot=50)
    w = np.array([1.2, 1.6, 1.6, 0.25])
    assert out["ipw"].ess == pytest.approx(w.sum() ** 2 / (w**2).sum(), abs=1e-12)
    assert out["ipw"].max_weight == pytest.approx(1.6)


def _world(n: int, seed: int) -> tuple[LoggedBanditFeedback, np.ndarray, float, np.ndarray]:
    """5 arms × 2 positions, contextual clicks; logger ε-greedy-ish, candidate prefers arm 3."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    base = np.array([-2.0, -1.5, -1.0, -0.5, -1.2])
    position = rng.integers(0, 2, n)
    logit = base[None, :] + 0.5 * x[:, :1] - 0.4 * position[:, None]
    mean = 1 / (1 + np.exp(-logit))  # (n, arms) at each row's position
    logger = np.array([0.3, 0.25, 0.2, 0.1, 0.15])
    action = rng.choice(5, size=n, p=logger)
    reward = (rng.random(n) < mean[np.arange(n), action]).astype(float)
    candidate = np.array([0.05, 0.05, 0.1, 0.7, 0.1])
    truth = float(np.mean(mean @ candidate))
    pi = np.broadcast_to(candidate[None, :, None], (n, 5, 2)).copy()
    log = LoggedBanditFeedback.build(action, reward, logger[action], position=position, context=x)
    return log, pi, truth, logger


def test_candidate_equal_to_logger_makes_ipw_the_mean_reward_exactly():
    log, _, _, logger = _world(3000, 0)
    same = np.broadcast_to(logger[None, :, None], (log.n_rows, 5, 2)).copy()
    out = evaluate(log, same, estimators=["ipw", "snipw"], rng=np.random.default_rng(0), n_boot=20)
    assert out["ipw"].estimate == pytest.approx(float(log.reward.mean()), abs=1e-15)
    assert out["snipw"].estimate == pytest.approx(float(log.reward.mean()), abs=1e-15)
    assert out["ipw"].ess == pytest.approx(log.n_rows)


def test_every_estimator_is_near_the_known_truth_and_its_interval_covers_it():
    # n = 20,000: IPW's standard error here is about 0.006; a margin of 0.02 is > 3 standard errors,
    # and the model-based estimators are within it because the reward model is well specified.
    log, pi, truth, _ = _world(20_000, 1)
    q = LogisticRewardModel(C=1.0).fit_predict(log, n_actions=5, n_positions=2, rng=np.random.default_rng(2))
    out = evaluate(log, pi, q_hat=q, rng=np.random.default_rng(3), n_boot=200)
    for name, result in out.items():
        assert abs(result.estimate - truth) < 0.02, (name, result.estimate, truth)
        assert result.lo <= result.estimate <= result.hi, name
    for name in ("ipw", "snipw", "dr", "sndr"):
        assert out[name].lo <= truth <= out[name].hi, (name, out[name], truth)


def test_estimates_are_unbiased_over_seeds_within_stated_margin():
    # mean of 40 independent IPW and DR estimates: the standard error of the mean is about 0.002
    # (n=2,000 rows each), so a margin of 0.008 is 4 standard errors.
    ipw, dr, truths = [], [], []
    for seed in range(40):
        log, pi, truth, _ = _world(2000, 100 + seed)
        q = LogisticRewardModel(C=1.0).fit_predict(log, n_actions=5, n_positions=2, rng=np.random.default_rng(seed))
        terms = RowTerms.compute(log, pi, q)
        ipw.append(ESTIMATORS["ipw"]().estimate(terms))
        dr.append(ESTIMATORS["dr"]().estimate(terms))
        truths.append(truth)
    assert abs(np.mean(ipw) - np.mean(truths)) < 0.008
    assert abs(np.mean(dr) - np.mean(truths)) < 0.008
    assert np.std(dr) < np.std(ipw)  # the reward model takes variance out


def test_slope_picks_the_unbiased_end_when_the_model_is_wrong():
    log, pi, _, _ = _world(20_000, 5)
    wrong = np.full(pi.shape, 0.9)  # a reward model far off: DM is badly biased
    terms = RowTerms.compute(log, pi, wrong)
    lam = DoublyRobustWithShrinkage().chosen_lambda(terms)
    tau = SwitchDoublyRobust().chosen_tau(terms)
    assert lam >= 100 and tau >= 10  # not the small-weight (DM-like) end
