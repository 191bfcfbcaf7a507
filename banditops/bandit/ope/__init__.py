"""Off-policy evaluation: would a candidate policy beat the live one, from the decision log alone?

One estimator per module (dm, ipw, snipw, dr, sndr, switch_dr, dros), all functions of the
same per-row terms; :func:`evaluate` is the one entry point the CLI, the benchmark and the
evaluation DAG call::

    results = evaluate(log, candidate_action_dist, estimators=["dm", "dr", "dros"], rng=rng)
    results["dros"].estimate, results["dros"].lo, results["dros"].hi, results["dros"].ess

>>> rng = np.random.default_rng(0)
>>> n = 4000
>>> action = rng.integers(0, 2, n)
>>> reward = (rng.random(n) < np.where(action == 1, 0.6, 0.2)).astype(float)
>>> log = LoggedBanditFeedback.build(action, reward, np.full(n, 0.5))
>>> always_one = np.zeros((n, 2, 1)); always_one[:, 1, 0] = 1.0
>>> out = evaluate(log, always_one, estimators=["ipw", "snipw"], rng=np.random.default_rng(1), n_boot=200)
>>> round(out["ipw"].estimate, 3), out["ipw"].lo < 0.6 < out["ipw"].hi, round(out["ipw"].ess)
(0.612, True, 2029)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from banditops.bandit.ope.base import (
    EstimateResult,
    Estimator,
    FloatArray,
    LoggedBanditFeedback,
    RowTerms,
    check_action_dist,
    effective_sample_size,
)
from banditops.bandit.ope.bootstrap import bootstrap_interval
from banditops.bandit.ope.dm import DirectMethod
from banditops.bandit.ope.dr import DoublyRobust
from banditops.bandit.ope.dros import DoublyRobustWithShrinkage
from banditops.bandit.ope.ipw import InverseProbabilityWeighting
from banditops.bandit.ope.sndr import SelfNormalizedDoublyRobust
from banditops.bandit.ope.snipw import SelfNormalizedInverseProbabilityWeighting
from banditops.bandit.ope.switch_dr import SwitchDoublyRobust

ESTIMATORS: dict[str, Callable[[], Estimator]] = {
    "dm": DirectMethod,
    "ipw": InverseProbabilityWeighting,
    "snipw": SelfNormalizedInverseProbabilityWeighting,
    "dr": DoublyRobust,
    "sndr": SelfNormalizedDoublyRobust,
    "switch_dr": SwitchDoublyRobust,
    "dros": DoublyRobustWithShrinkage,
}

__all__ = [
    "ESTIMATORS",
    "EstimateResult",
    "Estimator",
    "LoggedBanditFeedback",
    "RowTerms",
    "check_action_dist",
    "effective_sample_size",
    "evaluate",
    "make_estimators",
]


def make_estimators(names: Sequence[str]) -> list[Estimator]:
    unknown = [n for n in names if n not in ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown estimators {unknown}; valid: {', '.join(ESTIMATORS)}")
    return [ESTIMATORS[n]() for n in names]


def _frozen(estimator: Estimator, terms: RowTerms) -> tuple[Estimator, dict[str, float]]:
    """A tuned estimator with its hyperparameter fixed at the value chosen on the full log."""
    if isinstance(estimator, SwitchDoublyRobust):
        fixed = estimator.fixed(terms)
        return fixed, {"tau": float(fixed.tau or 0.0)}
    if isinstance(estimator, DoublyRobustWithShrinkage):
        fixed_dros = estimator.fixed(terms)
        return fixed_dros, {"lambda": float(fixed_dros.lam or 0.0)}
    return estimator, {}


def evaluate(log: LoggedBanditFeedback, action_dist: FloatArray, *, estimators: Sequence[str] = tuple(ESTIMATORS),
             q_hat: FloatArray | None = None, rng: np.random.Generator, alpha: float = 0.05,
             n_boot: int = 1000) -> dict[str, EstimateResult]:  # fmt: skip
    """Estimate the candidate's value with each named estimator, with interval, ESS and largest weight.

    ``q_hat`` (n_rows, n_actions, n_positions) is the reward model's prediction; the direct
    method and the doubly robust estimators need it. Refuses (ValueError) a log with missing
    or zero propensities, and a candidate that plays arms the log never saw.
    """
    log.validate()
    chosen = make_estimators(estimators)
    if q_hat is None and any(e.needs_reward_model for e in chosen):
        needing = [e.name for e in chosen if e.needs_reward_model]
        raise ValueError(f"estimators {needing} need a reward model's q_hat")
    terms = RowTerms.compute(log, action_dist, q_hat)
    ess, max_weight = effective_sample_size(terms.weight), float(terms.weight.max())
    results = {}
    for estimator in chosen:
        fixed, params = _frozen(estimator, terms)
        lo, hi = bootstrap_interval(fixed, terms, alpha=alpha, n_boot=n_boot, rng=rng)
        results[estimator.name] = EstimateResult(
            estimator.name, fixed.estimate(terms), lo, hi, ess, max_weight, log.n_rows, params
        )
    return results
