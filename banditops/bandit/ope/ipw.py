"""Inverse probability weighting (IPW, also called IPS).

Why: it is unbiased whenever the logging policy gave every arm the candidate plays a
positive probability, and it needs no reward model, so it is the reference every other
estimator is checked against. Its price is variance when weights are large.

References
----------
Horvitz, D. G. and Thompson, D. J. (1952). A generalization of sampling without replacement
from a finite universe. Journal of the American Statistical Association 47(260).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from banditops.bandit.ope.base import RowTerms


@dataclass(frozen=True)
class InverseProbabilityWeighting:
    """V̂ = mean(w_t r_t), w_t = π_e(a_t|x_t,k_t) / π_b(a_t|x_t,k_t).

    >>> rng = np.random.default_rng(7)
    >>> reward = (rng.random(1000) < 0.2).astype(float)
    >>> terms = RowTerms(np.full(1000, 2.0), reward, np.zeros(1000), np.zeros(1000))
    >>> round(InverseProbabilityWeighting().estimate(terms), 3), float(round(2 * reward.mean(), 3))
    (0.426, 0.426)
    """

    name: str = "ipw"
    needs_reward_model: bool = False

    def estimate(self, terms: RowTerms) -> float:
        return float(np.mean(terms.weight * terms.reward))
